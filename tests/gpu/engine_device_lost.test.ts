import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import { memoryKeyValue } from '../../src/storage/key_value.ts';
import type { Outcome } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';

// A GPU lost mid-run (driver reset, GPU removed): train() answers device_lost in our words (not the
// browser's "mapAsync aborted"), and the saved run is interrupted — not failed — at its last
// checkpoint, so the page offers to resume it after a reload. The device is destroyed, so this
// file's process can use no GPU after it (Dawn: one device per process in tests).

const demoDir = new URL('../../public/demo-model/', import.meta.url);
const demoTokenizer = async () => ({ tokenizerJson: readFileSync(new URL('tokenizer.json', demoDir), 'utf8'), tokenizerConfig: readFileSync(new URL('tokenizer_config.json', demoDir), 'utf8') });
const DATASET = Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Q: ${i} + 1?\nA:`, completion: ` ${i + 1}.` })).join('\n') + '\n';

function ok<T extends object>(out: Outcome<T>): T {
  if (!out.ok) throw new Error(`${out.error.code}: ${out.error.message}`);
  return out;
}

describeGpu('Engine: the GPU device lost while training', () => {
  it('fails the run with device_lost and saves it interrupted, resumable from its checkpoint', async () => {
    const { gpu } = await gpuRuntime();
    const storage = memoryKeyValue();
    const engine = new Engine({ acquire: async () => gpu, demoTokenizer, storage, locks: null });
    ok(await engine.loadDemoModel());
    ok(await engine.loadDataset(new File([DATASET], 'plus-one.jsonl'), { format: 'auto', maxLength: 32, lossOn: 'completion' }));
    const settings = { epochs: 1, batchSize: 1, gradAccum: 1, maxLength: 32, loraR: 4, checkpointEvery: 1, seed: 3 };
    const out = await engine.train(settings, {
      onStep: (s) => {
        // After step 3, before its checkpoint: the checkpoint of step 2 is the last one.
        if (s.step === 3) gpu.device.destroy();
      },
    });
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.error.code).toBe('device_lost');
    expect(out.error.message).toMatch(/The GPU device was lost .*resume from the last checkpoint/);

    const { runs } = ok(await engine.listRuns());
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'interrupted', resumeBlocker: null, error: out.error.message });
    expect(runs[0].checkpoint?.step).toBe(2);
    const { run } = ok(await engine.getRun(runs[0].id));
    expect(run.history.events.map((e) => e.text)).toContainEqual(expect.stringMatching(/^interrupted: The GPU device was lost/));
  });
});
