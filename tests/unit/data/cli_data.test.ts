import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { memoryIo } from '../../../src/cli/io.ts';
import { generateJsonl } from '../../fixtures/datasets/generate.ts';
import { modelDir } from './tokenizers.ts';

// `webtune data` end to end through main(): exit codes, the one-line errors, the report.

const slow = { timeout: 120_000 };
const dir = mkdtempSync(join(tmpdir(), 'webtune-cli-data-'));
const qwen = join(dir, 'qwen3');
mkdirSync(qwen);
for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(modelDir('qwen3'), f), join(qwen, f));
writeFileSync(join(qwen, 'config.json'), JSON.stringify({ vocab_size: 151936 }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function webtune(...argv: string[]) {
  const io = memoryIo();
  const code = await main(['data', ...argv], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const chat = file(
  'chat.jsonl',
  '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello there!"}]}\r\n\r\n' +
    '{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}\r\n',
);

describe('webtune data', slow, () => {
  it('prints format, statistics, batches and a marked preview', async () => {
    const r = await webtune('--model', qwen, '--data', chat);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`model      ${qwen}: vocab 151936, BOS not added, EOS <|im_end|>, chat template model`);
    expect(r.stdout).toContain('format     messages (detected from line 1)');
    expect(r.stdout).toContain('examples   2 kept, 0 bad lines skipped, 0 fully masked dropped, 0 truncated');
    expect(r.stdout).toContain(
      'line 1: 18 tokens, 8 trained\n' +
        '  ----- "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n"\n' +
        '  train "<think>\\n\\n</think>\\n\\nHello there!<|im_end|>"\n' +
        '  ----- "\\n"\n',
    );
  });

  it('prints the same as JSON with --json', async () => {
    const r = await webtune('--model', qwen, '--data', chat, '--json', '--preview', '2');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.data).toMatchObject({ format: 'messages', stats: { examples: 2 }, warnings: [], badLines: [] });
    expect(out.preview.line).toBe(3);
    expect(out.preview.tokens.filter((t: { trained: boolean }) => t.trained).map((t: { piece: string }) => t.piece)).toEqual(['<think>', 'ĊĊ', '</think>', 'ĊĊ', '4', '<|im_end|>']);
    expect(out.model.vocabSize).toBe(151936);
  });

  it('exits 2 with one line naming file and line for a bad line', async () => {
    const bad = file('bad.jsonl', '{"text":"a"}\n{"text":"b"}\n{"text": }\n');
    const r = await webtune('--model', qwen, '--data', bad);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^webtune: error: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: not valid JSON: [^\\n]+\\n$`));
  });

  it('skips bad lines with --skip-bad-lines and lists them', async () => {
    const bad = file('mixed.jsonl', '{"text":"a"}\n{"prompt":"p","completion":"c"}\n{"text":"b"}\n');
    const r = await webtune('--model', qwen, '--data', bad, '--skip-bad-lines');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 bad line was skipped (line 2)');
    expect(r.stdout).toContain(`${bad}:2: this line is in prompt-completion format but the dataset is text (detected from line 1)`);
  });

  it('honours --format, --loss-on, --max-length, --packing and --eval-split', async () => {
    const data = file('alpaca.jsonl', generateJsonl('alpaca', 40, 2));
    const r = await webtune('--model', qwen, '--data', data, '--format', 'alpaca', '--loss-on', 'all', '--max-length', '256', '--packing', '--eval-split', '0.25', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.data.formatOrigin).toBe('format chosen by the user');
    expect(out.data.stats.maxLength).toBeLessThanOrEqual(256);
    expect(out.data.stats.trainedTokens).toBe(out.data.stats.tokens - out.data.stats.examples);
    expect(out.split).toMatchObject({ train: 30, eval: 10 });
    expect(out.batches.packing).toBe(true);
    expect(out.batches.rows).toBeLessThan(30);
  });

  it('reads a separate eval file in the training format', async () => {
    const evalFile = file('eval.jsonl', '{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}\n');
    const r = await webtune('--model', qwen, '--data', chat, '--eval-data', evalFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`split      2 train, 1 eval (from ${evalFile})`);
  });

  it('exits 2 with one line for bad flags and missing files', async () => {
    const cases: [string[], string][] = [
      [['--data', chat], 'webtune: error: --model is required\n'],
      [['--model', qwen, '--data', chat, '--format', 'csv'], 'webtune: error: --format must be one of auto, text, alpaca, prompt-completion, messages, tokenized, got "csv"\n'],
      [['--model', qwen, '--data', chat, '--loss-on', 'prompt'], 'webtune: error: --loss-on must be one of completion, all, got "prompt"\n'],
      [['--model', qwen, '--data', chat, '--max-length', '1'], 'webtune: error: --max-length must be an integer from 2 to 1048576, got "1"\n'],
      [['--model', qwen, '--data', join(dir, 'none.jsonl')], `webtune: error: ${join(dir, 'none.jsonl')}: no such file\n`],
      [['--model', dir, '--data', chat], `webtune: error: ${join(dir, 'tokenizer.json')}: not found; --model must be a Hugging Face model folder\n`],
      [['--model', qwen, '--data', chat, '--eval-split', '1.5'], 'webtune: error: --eval-split must be a number in [0, 1), got "1.5"\n'],
      [['--model', qwen, '--data', chat, '--preview', '9'], 'webtune: error: --preview 9: the dataset has 2 examples\n'],
      [['--model', qwen, '--data', chat, '--bogus'], 'webtune: error: unknown option --bogus\n'],
    ];
    for (const [argv, stderr] of cases) {
      const r = await webtune(...argv);
      expect([r.code, r.stderr]).toEqual([2, stderr]);
    }
  });
});
