// The Stanford Alpaca prompt (tatsu-lab/stanford_alpaca, `PROMPT_DICT` in train.py), the one the
// Alpaca-format datasets were written for. An example becomes prompt + completion, with
//
//   completion = output + EOS        (EOS appended by the encoder, as for prompt-completion)
//
// and only the completion trained by default. With a non-empty input:
//
//   Below is an instruction that describes a task, paired with an input that provides further
//   context. Write a response that appropriately completes the request.\n\n
//   ### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n
//
// Without (input absent, null or empty):
//
//   Below is an instruction that describes a task. Write a response that appropriately
//   completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n

const withInput =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n';

const withoutInput =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Response:\n';

export function alpacaPrompt(instruction: string, input: string): string {
  // One pass with a function replacer: "{input}" or "$&" inside the user's text stay as written.
  const template = input.trim() === '' ? withoutInput : withInput;
  return template.replace(/\{(instruction|input)\}/g, (_, key: string) => (key === 'instruction' ? instruction : input));
}
