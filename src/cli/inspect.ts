import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { InputError } from '../errors.ts';
import { parseArgs } from './args.ts';
import type { CliIo } from './io.ts';
import { Checkpoint, openCheckpoint, SINGLE_FILE } from '../formats/checkpoint.ts';
import { parseHfConfig, type ModelConfig } from '../formats/hf_config.ts';
import { readJson } from '../formats/model_folder.ts';
import { nf4ModelBytes } from '../formats/nf4_size.ts';
import { openNodeFolder } from '../formats/node_folder.ts';
import { openNodeSource } from '../formats/node_source.ts';
import { openSafetensors } from '../formats/safetensors.ts';
import { checkTensors, parameterCount } from '../formats/tensor_names.ts';

// `webtune inspect <model-dir | file.safetensors> [--json]`: what a model is, every tensor, and
// what its base would take on the GPU in NF4. Reads headers only, never tensor data. A folder is
// checked against its config.json, so a mismatched download fails here with the tensor named.

const USAGE = 'usage: webtune inspect <model-dir | file.safetensors> [--json]';

interface Report {
  path: string;
  config: ModelConfig | null;
  parameters: number;
  tensors: { name: string; dtype: string; shape: number[]; bytes: number; file: string }[];
  files: string[];
  totalBytes: number;
  /** Decoder linear weights in NF4 with double quantization, everything else as stored. */
  nf4Bytes: number;
  /** Tensors present but not used by the model (old rotary buffers, a tied lm_head). */
  ignored: string[];
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { json: 'boolean' });
  if (args.positionals.length !== 1) throw new InputError('usage', `inspect takes one path; ${USAGE}`);
  const report = await inspectPath(args.positionals[0]);
  io.out(args.flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return 0;
}

export async function inspectPath(path: string): Promise<Report> {
  const info = await stat(path).catch(() => {
    throw new InputError('not_found', `${path}: no such file or folder; ${USAGE}`);
  });
  let checkpoint: Checkpoint;
  let config: ModelConfig | null = null;
  let ignored: string[] = [];
  if (info.isDirectory()) {
    const folder = await openNodeFolder(path);
    if (folder.has('config.json')) config = parseHfConfig(await readJson(folder, 'config.json'), `${folder.name}/config.json`);
    checkpoint = await openCheckpoint(folder);
    if (config) ignored = checkTensors(config, checkpoint, folder.name).ignored;
  } else {
    const file = await openSafetensors(await openNodeSource(path));
    checkpoint = new Checkpoint(basename(path), new Map([[basename(path) || SINGLE_FILE, file]]));
  }
  const tensors = checkpoint.names().map((name) => {
    const t = checkpoint.info(name);
    return { name, dtype: t.dtype, shape: t.shape, bytes: t.byteLength, file: t.file, numel: t.numel };
  });
  tensors.sort((a, b) => naturalCompare(a.name, b.name));
  const totalBytes = checkpoint.totalBytes;
  return {
    path,
    config,
    parameters: config ? parameterCount(config) : tensors.reduce((n, t) => n + t.numel, 0),
    tensors: tensors.map(({ numel: _numel, ...rest }) => rest),
    files: [...checkpoint.shards.keys()],
    totalBytes,
    // A checkpoint already in bnb 4-bit is its own NF4 size.
    nf4Bytes: config?.quantization ? totalBytes : nf4ModelBytes(tensors.map((t) => ({ name: t.name, numel: t.numel, byteLength: t.bytes }))),
    ignored,
  };
}

export function formatReport(r: Report): string {
  const lines: string[] = [];
  const c = r.config;
  if (c) {
    const hf = c.hfArchitectures.length ? `, ${c.hfArchitectures.join(', ')}` : '';
    lines.push(`${r.path}  (${c.architecture}${hf})`);
    lines.push(
      `  layers ${c.numLayers}   hidden ${c.hiddenSize}   intermediate ${c.intermediateSize}   heads ${c.numHeads}   kv heads ${c.numKvHeads}   head dim ${c.headDim}   vocab ${c.vocabSize}`,
    );
    const rope = c.rope.scaling ? `${c.rope.theta} (${c.rope.scaling.type} ×${c.rope.scaling.factor})` : `${c.rope.theta}`;
    const extras = [c.qkvBias ? 'qkv bias' : '', c.qkNorm ? 'q/k norm' : '', c.slidingWindow ? `sliding window ${c.slidingWindow}` : '', c.quantization ? `bnb 4-bit ${c.quantization.quantType}` : '']
      .filter(Boolean)
      .map((s) => `   ${s}`)
      .join('');
    lines.push(
      `  parameters ${group(r.parameters)}   rope theta ${rope}   tied embeddings ${c.tieWordEmbeddings ? 'yes' : 'no'}   dtype ${c.dtype ?? 'unspecified'}${extras}`,
    );
  } else {
    lines.push(`${r.path}  (no config.json: tensors only)`);
    lines.push(`  parameters ${group(r.parameters)}`);
  }
  lines.push(`tensors: ${r.tensors.length} in ${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${group(r.totalBytes)} bytes (${human(r.totalBytes)})`);
  const shapes = r.tensors.map((t) => `[${t.shape.join(', ')}]`);
  const width = Math.max(4, ...r.tensors.map((t) => t.name.length));
  const shapeWidth = Math.max(2, ...shapes.map((s) => s.length));
  r.tensors.forEach((t, i) => {
    lines.push(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(5)}  ${shapes[i].padEnd(shapeWidth)}  ${group(t.bytes).padStart(15)}`);
  });
  if (r.ignored.length) lines.push(`ignored (not used by the model): ${r.ignored.join(', ')}`);
  lines.push(`NF4 base with double quantization: ${group(r.nf4Bytes)} bytes (${human(r.nf4Bytes)}); decoder linear weights 4-bit, embeddings, norms and lm_head as stored`);
  return `${lines.join('\n')}\n`;
}

function group(n: number): string {
  return n.toLocaleString('en-US');
}

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** "layers.2" before "layers.10". */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
