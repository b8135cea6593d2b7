import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetFormat } from '../../src/data/formats.ts';
import { openNodeStreamSource } from '../../src/data/node_stream_source.ts';
import { loadDataset } from '../../src/data/pipeline.ts';
import { Batcher } from '../../src/data/sampler.ts';
import { Rng } from '../helpers/rng.ts';
import { generateJsonl } from '../fixtures/datasets/generate.ts';
import { loadTokenizer, type TokenizerName } from '../unit/data/tokenizers.ts';

// `npm run bench data`: throughput of the whole dataset path on a generated 10,000-example file
// per format — read from disk in 64 KiB chunks, parse, check, render chat templates, tokenize,
// mask — then one epoch of batches (length-grouped, batch 8) and of packed batches. Prints
// examples/s and tokens/s (wall clock; "cpu s" is this process's CPU time, telling a busy machine
// apart from slow code); the reader's high-water mark shows memory does not follow file size.

const examples = 10_000;
const formats: DatasetFormat[] = ['text', 'alpaca', 'prompt-completion', 'messages', 'tokenized'];

function tokenizedJsonl(count: number, vocab: number): string {
  const rng = new Rng(9);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const ids = Array.from({ length: rng.int(8, 400) }, () => rng.int(0, vocab));
    lines.push(JSON.stringify({ input_ids: ids, labels: ids.map((id, t) => (t < ids.length / 3 ? -100 : id)) }));
  }
  return lines.join('\n') + '\n';
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'webtune-data-bench-'));
  const rows: string[][] = [['tokenizer', 'format', 'MB', 'load s', 'cpu s', 'examples/s', 'tokens/s', 'trained %', 'reader peak KiB', 'epoch batches/s', 'packed batches/s']];
  try {
    for (const name of ['qwen3', 'llama2'] as TokenizerName[]) {
      const built = performance.now();
      const tokenizer = loadTokenizer(name);
      console.log(`${name}: tokenizer built in ${((performance.now() - built) / 1000).toFixed(2)} s`);
      for (const format of formats) {
        const path = join(dir, `${format}.jsonl`);
        writeFileSync(path, format === 'tokenized' ? tokenizedJsonl(examples, tokenizer.vocabSize) : generateJsonl(format, examples, 7));
        const source = await openNodeStreamSource(path);
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const data = await loadDataset(source, tokenizer, { maxLength: 1024 });
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const s = data.stats;
        rows.push([
          name, format, (source.size / 1e6).toFixed(1), seconds.toFixed(2), ((cpu.user + cpu.system) / 1e6).toFixed(2),
          (s.examples / seconds).toFixed(0), (s.tokens / seconds).toFixed(0),
          ((100 * s.trainedTokens) / s.tokens).toFixed(1), (data.reader.maxHeldBytes / 1024).toFixed(0),
          batchRate(new Batcher(data.examples, tokenizer.padId, { batchSize: 8 })),
          batchRate(new Batcher(data.examples, tokenizer.padId, { batchSize: 8, packing: true, maxLength: 1024 })),
        ]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
}

/** Batches per second over one epoch, building every Batch's typed arrays. */
function batchRate(batcher: Batcher): string {
  const t0 = performance.now();
  let n = 0;
  for (const _ of batcher.batches(0)) n++;
  return (n / ((performance.now() - t0) / 1000)).toFixed(0);
}
