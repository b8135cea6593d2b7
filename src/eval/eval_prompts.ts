import { chatRendererOf, encodeForGeneration } from '../data/prompt.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import type { EvalReference } from './references.ts';
import { displayPrompt, renderPrompt } from './references.ts';
import type { EvalExample } from './report.ts';

// The two steps around generation that `webtune eval` and the app's eval table share: each
// reference's prompt as token ids, and a finished example as buildEvalReport takes it.

/** Ids to generate from: plain prompts after BOS, chat prompts through the model's template (renderPrompt). */
export function encodeEvalPrompts(tokenizer: TextTokenizer, references: readonly EvalReference[]): number[][] {
  const chat = references.some((r) => r.prompt.kind === 'chat') ? chatRendererOf(tokenizer) : null;
  return references.map((r) => {
    const rendered = r.prompt.kind === 'text' ? { text: r.prompt.text, addSpecialTokens: true } : renderPrompt(r.prompt, chat!);
    return encodeForGeneration(tokenizer, rendered.text, rendered.addSpecialTokens);
  });
}

export function evalExampleOf(ref: EvalReference, baseOutput: string, tunedOutput: string | null): EvalExample {
  return { prompt: displayPrompt(ref.prompt), reference: ref.reference, baseOutput, tunedOutput, line: ref.line };
}
