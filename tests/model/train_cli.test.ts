import { beforeAll, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { tinyModel, writeTinyModel, TINY_PRESETS } from '../fixtures/tiny_model.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { openNodeFolder } from '../../src/formats/node_folder.ts';
import { readAdapter } from '../../src/formats/peft.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';

// `webtune train` end to end on a generated model with the real 32k tokenizer: the loss falls
// clearly, the PEFT adapter it writes reloads with --init-adapter to the same eval loss, and the
// same seed gives the same losses.

const QA = [
  ['What is the capital of France?', 'Paris.'],
  ['What color is the sky?', 'Blue.'],
  ['How many legs does a cat have?', 'Four.'],
  ['Who wrote Hamlet?', 'Shakespeare.'],
  ['What do bees make?', 'Honey.'],
  ['What is frozen water called?', 'Ice.'],
];

type LogLine = { step: number; loss?: number; eval_loss?: number; lr?: number; grad_norm?: number; tokens?: number };

async function readLog(file: string): Promise<LogLine[]> {
  return (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as LogLine);
}

describeGpu('webtune train', () => {
  let rt: Runtime;
  let dir: string;
  let model: string;
  let data: string;
  beforeAll(async () => {
    rt = await gpuRuntime();
    dir = await mkdtemp(join(tmpdir(), 'webtune-train-'));
    // weightStd 0.2: logits a frozen random lm_head can actually sharpen (0.02 leaves them ~uniform).
    model = await writeTinyModel(tinyModel({ ...TINY_PRESETS.llamaTokenizer, seed: 1, weightStd: 0.2 }), join(dir, 'model'));
    data = join(dir, 'qa.jsonl');
    await writeFile(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ instruction: QA[i % 6][0], output: QA[i % 6][1] })).join('\n'));
  });

  const common = (dropout = '0') => ['--model', model, '--data', data, '--batch-size', '3', '--grad-accum', '1', '--lora-dropout', dropout, '--warmup-steps', '0', '--eval-split', '0.25', '--seed', '7'];

  it('drives the loss clearly down and writes a PEFT adapter that --init-adapter reloads to the same eval loss', async () => {
    const out = join(dir, 'run1');
    const log = join(dir, 'run1.jsonl');
    const io = memoryIo(rt);
    const code = await main(['train', ...common(), '--out', out, '--epochs', '4', '--lr', '2e-2', '--log', log], io);
    expect(code, io.stderr).toBe(0);
    const lines = await readLog(log);
    const steps = lines.filter((l) => l.loss !== undefined);
    const evals = lines.filter((l) => l.eval_loss !== undefined);
    expect(steps).toHaveLength(12);
    expect(evals.map((e) => e.step)).toEqual([3, 6, 9, 12]);
    expect(steps.every((s) => Number.isFinite(s.grad_norm) && s.tokens! > 0)).toBe(true);
    expect(steps.at(-1)!.loss!).toBeLessThan(steps[0].loss! - 2);
    expect(evals.at(-1)!.eval_loss!).toBeLessThan(evals[0].eval_loss! - 0.3);
    expect(io.stdout).toMatch(/adapter written to/);

    const config = parseHfConfig(JSON.parse(await readFile(join(model, 'config.json'), 'utf8')));
    const adapter = await readAdapter(await openNodeFolder(out), config);
    expect(adapter.settings).toMatchObject({ r: 16, loraAlpha: 32, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] });
    expect(adapter.weights).toHaveLength(2 * 7);
    expect(adapter.weights.some((w) => w.b.some((x) => x !== 0))).toBe(true);

    // Start from the adapter with an update too small to matter: the eval loss is where run 1 ended.
    const reloadLog = join(dir, 'reload.jsonl');
    const again = memoryIo(rt);
    expect(await main(['train', ...common(), '--out', join(dir, 'run2'), '--init-adapter', out, '--max-steps', '1', '--lr', '1e-30', '--log', reloadLog], again), again.stderr).toBe(0);
    const reloaded = (await readLog(reloadLog)).find((l) => l.eval_loss !== undefined)!;
    expect(reloaded.eval_loss!).toBeCloseTo(evals.at(-1)!.eval_loss!, 4);
  });

  it('gives the same losses for the same seed, data and settings', async () => {
    const losses = [];
    for (const run of ['a', 'b']) {
      const log = join(dir, `det-${run}.jsonl`);
      const io = memoryIo(rt);
      expect(await main(['train', ...common('0.1'), '--out', join(dir, `det-${run}`), '--max-steps', '2', '--log', log], io), io.stderr).toBe(0);
      losses.push((await readLog(log)).map((l) => l.loss ?? l.eval_loss));
    }
    expect(losses[0]).toEqual(losses[1]);
  });

  it('resumes from a checkpoint with the same losses as the uninterrupted run', async () => {
    const out = join(dir, 'ckpt');
    const log = join(dir, 'ckpt.jsonl');
    const io = memoryIo(rt);
    expect(await main(['train', ...common('0.1'), '--out', out, '--max-steps', '4', '--checkpoint-every', '2', '--lr', '1e-2', '--log', log], io), io.stderr).toBe(0);
    const whole = (await readLog(log)).filter((l) => l.loss !== undefined);
    const resumedLog = join(dir, 'resumed.jsonl');
    const again = memoryIo(rt);
    expect(await main(['train', '--resume', join(out, 'checkpoints', 'step-000002'), '--log', resumedLog], again), again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming after step 2 of 4/);
    const resumed = (await readLog(resumedLog)).filter((l) => l.loss !== undefined);
    expect(resumed.map((l) => [l.step, l.loss, l.lr, l.grad_norm])).toEqual(whole.slice(2).map((l) => [l.step, l.loss, l.lr, l.grad_norm]));
    // A half-written checkpoint (crash mid-save) is never picked: only complete step-N folders are.
    const partial = join(out, 'checkpoints', 'step-000009.partial');
    await mkdir(partial, { recursive: true });
    const latest = memoryIo(rt);
    expect(await main(['train', '--resume', out, '--log', join(dir, 'latest.jsonl')], latest), latest.stderr).toBe(0);
    expect(latest.stderr).toMatch(/resuming after step 4 of 4/);
  });

  it('refuses bad flags with one line and exit 2', async () => {
    const io = memoryIo(rt);
    expect(await main(['train', ...common(), '--out', join(dir, 'bad'), '--lora-r', '0', '--lr', 'fast'], io)).toBe(2);
    expect(io.stderr.trim().split('\n')).toHaveLength(1);
    expect(io.stderr).toMatch(/^webtune: error: .*--lora-r.*--lr|^webtune: error: .*--lr.*--lora-r/);
  });
});
