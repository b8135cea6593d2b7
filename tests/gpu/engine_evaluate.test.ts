import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { describeGpu, gpuRuntime } from '../helpers/gpu.ts';
import type { GpuContext } from '../../src/engine/device.ts';
import { splitTrainEval } from '../../src/data/split.ts';
import { buildEvalReport, metricDefinitions, reportToCsv, reportToJson, type EvalExample } from '../../src/eval/index.ts';
import { memoryKeyValue } from '../../src/storage/key_value.ts';
import type { EvalTableRow, Outcome } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';

// Engine.evaluate on the demo model after a two-step run (Node, SwiftShader): the rows are the
// run's held-out examples (the split training made: evalSplit and seed), each output is what
// generate() gives for that prompt with the adapter off and on, rows stream as they are scored,
// and summary, csv and json are eval/report.ts's for the same outputs. stopEvaluating ends after
// the current example; a second evaluate meanwhile is busy. A run without a split is evaluated on
// its first examples with a warning; a text dataset has no references.

const SETTINGS = { epochs: 1, batchSize: 2, gradAccum: 1, maxLength: 32, loraR: 4, loraAlpha: 8, lr: 5e-3, warmupSteps: 0, loraDropout: 0 };
const SPLIT = { evalSplit: 0.34, seed: 7 };
const LINES = Array.from({ length: 6 }, (_, i) => ({ prompt: `Q: ${i} + 1?\nA:`, completion: ` ${i + 1}.` }));
const DATASET = LINES.map((l) => JSON.stringify(l)).join('\n') + '\n';
const REQUEST = { maxNewTokens: 3, temperature: 0, seed: 0 };
const demoDir = new URL('../../public/demo-model/', import.meta.url);
const demoTokenizer = async () => ({ tokenizerJson: readFileSync(new URL('tokenizer.json', demoDir), 'utf8'), tokenizerConfig: readFileSync(new URL('tokenizer_config.json', demoDir), 'utf8') });

function ok<T extends object>(out: Outcome<T>): T {
  if (!out.ok) throw new Error(`${out.error.code}: ${out.error.message}`);
  return out;
}

describeGpu('Engine: the eval table', () => {
  let gpu: GpuContext;
  let engine: Engine;

  beforeAll(async () => {
    gpu = (await gpuRuntime()).gpu;
    engine = new Engine({ acquire: async () => gpu, demoTokenizer, storage: memoryKeyValue() });
    ok(await engine.loadDemoModel());
    ok(await engine.loadDataset(new File([DATASET], 'plus-one.jsonl'), {}));
    const none = await engine.evaluate(REQUEST);
    expect(none.ok || none.error.code).toBe('no_adapter');
    ok(await engine.train({ ...SETTINGS, ...SPLIT }, {}));
  });

  it('scores the held-out examples, base and tuned, as eval/report.ts does', async () => {
    const streamed: EvalTableRow[] = [];
    const { table } = ok(await engine.evaluate(REQUEST, undefined, (row) => void streamed.push(row)));
    const heldLines = splitTrainEval(6, SPLIT.evalSplit, SPLIT.seed).eval.map((i) => i + 1);
    expect(heldLines.length).toBe(2);
    expect(table.rows.map((r) => r.line)).toEqual(heldLines);
    expect(table.warning).toBeNull();
    expect(table.source).toBe('the 2 held-out examples of plus-one.jsonl');
    expect(streamed).toEqual(table.rows);
    for (const row of table.rows) {
      const line = LINES[row.line! - 1];
      expect([row.prompt, row.reference]).toEqual([line.prompt, line.completion]);
      const gen = async (adapter: boolean) => ok(await engine.generate({ prompt: line.prompt, adapter, chat: false, ...REQUEST }, () => {})).result.text;
      expect(row.baseOutput).toBe(await gen(false));
      expect(row.tunedOutput).toBe(await gen(true));
    }
    const examples: EvalExample[] = table.rows.map((r) => ({ prompt: r.prompt, reference: r.reference, baseOutput: r.baseOutput, tunedOutput: r.tunedOutput, line: r.line! }));
    const report = buildEvalReport(examples);
    const s = report.summary;
    expect(table.summary).toEqual({
      base: { rouge1: s.base.rouge1, rouge2: s.base.rouge2, rougeL: s.base.rougeL, bleu: s.base.bleu.score, exactMatch: s.base.exactMatch },
      tuned: { rouge1: s.tuned!.rouge1, rouge2: s.tuned!.rouge2, rougeL: s.tuned!.rougeL, bleu: s.tuned!.bleu.score, exactMatch: s.tuned!.exactMatch },
    });
    expect(table.rows).toEqual(report.rows);
    expect(table.csv).toBe(reportToCsv(report));
    expect(table.json).toBe(reportToJson(report));
    expect(table.definitions).toEqual(metricDefinitions);
    expect(table.examples).toBe(2);
  });

  it('stopEvaluating ends after the current example; another evaluate meanwhile is busy', async () => {
    let second: Promise<Outcome<object>> | undefined;
    const { table } = ok(
      await engine.evaluate(REQUEST, undefined, () => {
        second = engine.evaluate(REQUEST);
        void engine.stopEvaluating();
      }),
    );
    expect(table.rows.length).toBe(1);
    expect(table.source).toContain('stopped after 1');
    const busy = await second!;
    expect(busy.ok || busy.error.code).toBe('busy');
  });

  it('without an eval split: the first examples, with a warning that they were trained on', async () => {
    ok(await engine.train({ ...SETTINGS, seed: 7 }, {}));
    const { table } = ok(await engine.evaluate({ ...REQUEST, limit: 2 }));
    expect(table.rows.map((r) => r.line)).toEqual([1, 2]);
    expect(table.warning).toMatch(/trained on/);
    expect(table.source).toBe('the first 2 of the 6 examples of plus-one.jsonl');
  });

  it('a text dataset has no references to score against', async () => {
    const text = LINES.map((l) => JSON.stringify({ text: l.prompt + l.completion })).join('\n') + '\n';
    ok(await engine.loadDataset(new File([text], 'plain.jsonl'), {}));
    ok(await engine.train({ ...SETTINGS, maxSteps: 1, lossOn: 'all' }, {}));
    const out = await engine.evaluate(REQUEST);
    expect(out.ok || out.error.code).toBe('no_references');
    expect(out.ok || out.error.message).toContain('plain.jsonl');
  });
});
