import { beforeAll, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { tinyModel, writeTinyModel, TINY_PRESETS } from '../fixtures/tiny_model.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { alpacaPrompt } from '../../src/data/alpaca.ts';
import type { EvalReport } from '../../src/eval/index.ts';

// `webtune eval` and `webtune generate` end to end on a generated model with the real 32k Llama 2
// tokenizer, fine-tuned here with `webtune train` to answer six questions: the tuned model's
// ROUGE-L against the references is clearly above the base's (same loaded base, adapter off),
// the rows are written as JSON and CSV, generation streams the tuned answer to stdout, greedy
// output repeats, and bad flags exit 2. (One training run serves every test: two shared cores.)

const QA = [
  ['What is the capital of France?', 'Paris.'],
  ['What color is the sky?', 'Blue.'],
  ['How many legs does a cat have?', 'Four.'],
  ['Who wrote Hamlet?', 'Shakespeare.'],
  ['What do bees make?', 'Honey.'],
  ['What is frozen water called?', 'Ice.'],
];

describeGpu('webtune eval and generate', () => {
  let rt: Runtime;
  let dir: string;
  let model: string;
  let adapter: string;
  let evalData: string;
  beforeAll(async () => {
    rt = await gpuRuntime();
    dir = await mkdtemp(join(tmpdir(), 'webtune-eval-'));
    model = await writeTinyModel(tinyModel({ ...TINY_PRESETS.llamaTokenizer, seed: 1, weightStd: 0.2 }), join(dir, 'model'));
    const train = join(dir, 'qa.jsonl');
    await writeFile(train, QA.map(([q, a]) => JSON.stringify({ instruction: q, output: a })).join('\n'));
    evalData = join(dir, 'eval.jsonl');
    await writeFile(evalData, QA.map(([q, a]) => JSON.stringify({ instruction: q, output: a })).join('\n'));
    adapter = join(dir, 'adapter');
    const io = memoryIo(rt);
    const args = ['train', '--model', model, '--data', train, '--out', adapter, '--batch-size', '3', '--epochs', '16', '--lr', '3e-2', '--lora-dropout', '0', '--warmup-steps', '0', '--seed', '7'];
    expect(await main(args, io), io.stderr).toBe(0);
  }, 400_000);

  it('scores the tuned model clearly above the base (ROUGE-L) and writes the rows', async () => {
    const io = memoryIo(rt);
    const out = join(dir, 'report.json');
    expect(await main(['eval', '--model', model, '--adapter', adapter, '--data', evalData, '--max-new-tokens', '8', '--out', out], io), io.stderr).toBe(0);
    expect(io.stdout).toMatch(/6 examples\s+base\s+tuned\s+change/);
    expect(io.stdout).toMatch(/rows written to/);
    expect(io.stdout).toMatch(/eval loss over \d+ answer tokens: base [\d.]+ \(perplexity [\d.]+\); tuned [\d.]+/);
    const report = JSON.parse(await readFile(out, 'utf8')) as EvalReport & { evalLoss: { base: { loss: number; targets: number }; tuned: { loss: number; perplexity: number } } };
    expect(report.evalLoss.tuned.loss).toBeLessThan(report.evalLoss.base.loss - 1);
    expect(report.evalLoss.tuned.perplexity).toBeCloseTo(Math.exp(report.evalLoss.tuned.loss), 6);
    expect(report.evalLoss.base.targets).toBeGreaterThanOrEqual(12); // answer tokens and EOS of six examples
    expect(report.rows).toHaveLength(6);
    const { base, tuned } = report.summary;
    // Here: base 0, tuned 0.67 (four of six exact); the margin leaves room for another GPU's rounding.
    expect(tuned!.rougeL).toBeGreaterThan(base.rougeL + 0.4);
    expect(report.rows.filter((r) => r.tuned!.exactMatch === 1).length).toBeGreaterThanOrEqual(3);
    expect(report.rows[0].reference).toBe('Paris.');

    const csvIo = memoryIo(rt);
    const csv = join(dir, 'report.csv');
    expect(await main(['eval', '--model', model, '--data', evalData, '--max-examples', '2', '--max-new-tokens', '4', '--out', csv], csvIo), csvIo.stderr).toBe(0);
    expect(csvIo.stdout).not.toMatch(/tuned/);
    expect((await readFile(csv, 'utf8')).trim().split('\n').length).toBeGreaterThanOrEqual(3);
  });

  it('generate streams the tuned answer to stdout, the same twice; the base answers otherwise', async () => {
    const prompt = alpacaPrompt('What do bees make?', '');
    const run = async (extra: string[]) => {
      const io = memoryIo(rt);
      expect(await main(['generate', '--model', model, '--prompt', prompt, '--max-new-tokens', '6', ...extra], io), io.stderr).toBe(0);
      expect(io.stderr).toMatch(/prefill \d+ tokens/);
      return io.stdout;
    };
    const tuned = await run(['--adapter', adapter]);
    expect(tuned).toMatch(/Honey/);
    expect(await run(['--adapter', adapter])).toBe(tuned);
    expect(await run([])).not.toBe(tuned);
    expect(await run(['--adapter', adapter, '--chat'])).not.toBe('');
    const sampled = await run(['--adapter', adapter, '--temperature', '1', '--top-k', '5', '--top-p', '0.9', '--seed', '3']);
    expect(await run(['--adapter', adapter, '--temperature', '1', '--top-k', '5', '--top-p', '0.9', '--seed', '3'])).toBe(sampled);
  });

  it('refuses bad flags with exit 2', async () => {
    for (const args of [
      ['generate', '--model', model, '--prompt', 'x', '--temperature', 'hot'],
      ['generate', '--model', model],
      ['eval', '--model', model, '--data', evalData, '--out', join(dir, 'r.txt')],
    ]) {
      const io = memoryIo(rt);
      expect(await main(args, io)).toBe(2);
      expect(io.stderr).toMatch(/^webtune: error: /);
    }
  });
});
