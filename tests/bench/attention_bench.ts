import type { Runtime } from '../../src/engine/runtime.ts';
import { attentionBackward, attentionForward, attentionTiles, type AttentionShape } from '../../src/kernels/attention.ts';
import { rng } from '../helpers/rng.ts';
import { benchRuntime, deviceMs, fmt, IDLE_NOTE, idleMs, isSoftware, printTable, timeDispatches } from './bench_gpu.ts';

// `npm run bench attention`: causal GQA attention, forward and backward, on rows of one example
// and on packed rows (many short examples in one row, told apart by segment ids), where the
// kernels skip the key/query tiles no query of theirs can see. "Useful GFLOP/s" counts only the
// visible (query, key) pairs: 4·D flops each forward (QKᵀ, PV), 8·D backward (recompute QKᵀ,
// dP = dO·Vᵀ, dQ, dK, dV ≈ 2.5 matmuls) — so packed rows show what skipping saves.

interface Case {
  name: string;
  shape: AttentionShape;
  /** Example lengths packed into each row; the rest of the row is padding. */
  segments: number[];
}

const ROW = 512;
const shape = (nKvHeads: number): AttentionShape => ({ batch: 2, seqLen: ROW, nHeads: 8, nKvHeads, headDim: 64 });
// 16 examples of 20–44 tokens: 510 tokens and 2 of padding.
const PACKED = [31, 20, 44, 37, 25, 33, 28, 40, 22, 35, 30, 27, 39, 24, 41, 34];

const CASES: Case[] = [
  { name: 'one example per row', shape: shape(8), segments: [ROW] },
  { name: '16 packed examples per row', shape: shape(8), segments: PACKED },
  { name: '16 packed, GQA 8→2 kv heads', shape: shape(2), segments: PACKED },
];

/** Segment ids of one row: 0,0,…,1,1,… then -1 for padding. */
function segmentIds(lengths: number[]): Int32Array {
  const ids = new Int32Array(ROW).fill(-1);
  let at = 0;
  lengths.forEach((n, s) => {
    ids.fill(s, at, at + n);
    at += n;
  });
  return ids;
}

/** Visible (query, key) pairs of one row: Σ n(n+1)/2 over its examples. */
const visiblePairs = (lengths: number[]) => lengths.reduce((n, l) => n + (l * (l + 1)) / 2, 0);

function buffers(rt: Runtime, c: Case) {
  const { batch: B, seqLen: T, nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const r = rng(11);
  const make = (label: string, data: Float32Array | Int32Array) => {
    const b = rt.arena.createBuffer(`bench.attention.${label}`, data.byteLength, 'scratch');
    rt.device.queue.writeBuffer(b, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    return b;
  };
  const segment = new Int32Array(B * T);
  for (let b = 0; b < B; b++) segment.set(segmentIds(c.segments), b * T);
  return {
    q: make('q', r.normalArray(B * T * H * D)),
    k: make('k', r.normalArray(B * T * Hkv * D)),
    v: make('v', r.normalArray(B * T * Hkv * D)),
    dO: make('dO', r.normalArray(B * T * H * D)),
    segment: make('segment', segment),
    o: make('o', new Float32Array(B * T * H * D)),
    stats: make('stats', new Float32Array(2 * B * H * T)),
    dq: make('dq', new Float32Array(B * T * H * D)),
    dk: make('dk', new Float32Array(B * T * Hkv * D)),
    dv: make('dv', new Float32Array(B * T * Hkv * D)),
  };
}

export async function run(): Promise<void> {
  const rt = await benchRuntime();
  const software = isSoftware(rt);
  console.log(`\n== attention, B=2 rows of ${ROW} tokens, 8 heads × 64 (useful GFLOP/s: visible pairs only) ==`);
  const rows: (string | number)[][] = [];
  for (const c of CASES) {
    const io = buffers(rt, c);
    const tiles = attentionTiles(rt, c.shape.headDim);
    const pairs = c.shape.batch * c.shape.nHeads * visiblePairs(c.segments);
    const D = c.shape.headDim;
    const parts = [
      { name: 'forward', flops: 4 * D * pairs, record: (rec: Parameters<typeof attentionForward>[1]) => attentionForward(rt, rec, io, c.shape, tiles) },
      { name: 'backward', flops: 8 * D * pairs, record: (rec: Parameters<typeof attentionForward>[1]) => attentionBackward(rt, rec, io, c.shape, tiles) },
    ];
    for (const part of parts) {
      const t = await timeDispatches(rt, `attention ${part.name} ${c.name}`, part.record, { targetMs: software ? 1000 : 200 });
      const cells = [c.name, part.name, `${tiles.bq}×${tiles.bk}`, t.reps, fmt(t.wallMs), fmt(t.gpuMs), fmt(t.cpuMs), fmt(part.flops / deviceMs(t) / 1e6)];
      rows.push(software ? [...cells, fmt(part.flops / idleMs(t) / 1e6)] : cells);
    }
    rt.arena.releaseAll();
  }
  printTable(['rows', 'pass', 'tiles', 'reps', 'wall ms', 'gpu ms', 'cpu ms', 'useful GFLOP/s', ...(software ? ['GFLOP/s*'] : [])], rows);
  if (software) console.log(IDLE_NOTE);
}
