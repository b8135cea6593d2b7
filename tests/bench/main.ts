import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `npm run bench [name…]` (bin/bench.js): runs the named benchmarks, or all of them. Benchmarks
// print figures; they assert nothing (timings never belong in tests).

interface Bench {
  describe: string;
  /** Imported only when asked for, so one missing or broken benchmark does not stop the others. */
  load: () => Promise<{ run: (flags: string[]) => Promise<void> } | undefined>;
}

const BENCHES: Record<string, Bench> = {
  matmul: {
    describe: 'dense f32 matmul forms (GFLOP/s) beside the adapter’s FMA peak and copy bandwidth',
    load: () => import('./matmul_bench.ts'),
  },
  data: {
    describe: 'dataset loading, tokenizing and batching throughput',
    load: () => loadOptional('./data_bench.ts'),
  },
  attention: { describe: 'causal GQA attention forward and backward: one example per row vs packed rows (skipped tiles)', load: () => import('./attention_bench.ts') },
  generate: { describe: 'generation with the KV cache: prefill and decode tokens/s, LoRA on and off', load: () => import('./generate_bench.ts') },
  train: { describe: 'a QLoRA training step: time per part, tokens/s, GFLOP/s vs peak, memory vs estimate', load: () => import('./train_bench.ts') },
};

/** A benchmark module another engineer may not have written yet: undefined when its file is absent. */
async function loadOptional(relative: string): Promise<{ run: () => Promise<void> } | undefined> {
  const url = new URL(relative, import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  return (await import(/* @vite-ignore */ url.href)) as { run: () => Promise<void> };
}

function usage(): string {
  const lines = Object.entries(BENCHES).map(([name, b]) => `  ${name.padEnd(8)} ${b.describe}`);
  return ['usage: npm run bench -- [name…] [--flag …]   (no name runs them all; flags go to the benchmarks)', ...lines].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return 0;
  }
  // From the first --flag on, the words are the benchmarks' flags: `npm run bench -- train --model DIR`.
  const cut = argv.findIndex((a) => a.startsWith('--'));
  const [picked, flags] = cut < 0 ? [argv, []] : [argv.slice(0, cut), argv.slice(cut)];
  const unknown = picked.filter((a) => !(a in BENCHES));
  if (unknown.length > 0) {
    console.error(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const names = picked.length > 0 ? picked : Object.keys(BENCHES);
  let failed = 0;
  for (const name of names) {
    console.log(`\n### ${name}`);
    const started = performance.now();
    try {
      const bench = await BENCHES[name].load();
      if (!bench) {
        console.log(`(skipped: tests/bench/${name}_bench.ts does not exist yet)`);
        continue;
      }
      await bench.run(flags);
      console.log(`(${name}: ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.error(`${name} failed: ${(e as Error).stack ?? e}`);
    }
  }
  return failed > 0 ? 1 : 0;
}
