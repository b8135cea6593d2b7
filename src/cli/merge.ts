import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { InputError } from '../errors.ts';
import { formatBytes } from '../engine/errors.ts';
import { INDEX_FILE } from '../formats/checkpoint.ts';
import { ModelFolderError } from '../formats/errors.ts';
import { parseHfConfig, type ModelConfig } from '../formats/hf_config.ts';
import { readJson, type ModelFolder } from '../formats/model_folder.ts';
import { openNodeFolder } from '../formats/node_folder.ts';
import { nodeFileSink } from '../formats/node_sink.ts';
import { adapterFolderFromZip, readAdapter, type Adapter } from '../formats/peft.ts';
import { parseSize } from '../formats/shard_plan.ts';
import { DEFAULT_MERGE_SHARD_SIZE, mergeModel } from '../model/merge.ts';
import { parseArgs, requireFlag, stringFlag } from './args.ts';
import { withCliRuntime } from './gpu.ts';
import type { CliIo } from './io.ts';

// `webtune merge --model DIR --adapter DIR|ZIP --out DIR [--shard-size 2GB] [--from-nf4]
// [--no-double-quant]`: the adapter (a PEFT folder or its .zip), checked against the base, merged
// into the base's full-precision weights (src/model/merge.ts) and written as a Hugging Face
// folder. --from-nf4 merges into dequant(NF4(W)) instead; it is the only merge a bitsandbytes
// 4-bit folder allows.

const USAGE = 'usage: webtune merge --model DIR --adapter DIR|ZIP --out DIR [--shard-size 2GB] [--from-nf4] [--no-double-quant]';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { model: 'string', adapter: 'string', out: 'string', 'shard-size': 'string', 'from-nf4': 'boolean', 'no-double-quant': 'boolean' });
  if (args.positionals.length) throw new InputError('usage', `unexpected argument "${args.positionals[0]}"; ${USAGE}`);
  const modelDir = requireFlag(args, 'model');
  const adapterPath = requireFlag(args, 'adapter');
  const outDir = requireFlag(args, 'out');
  const shardText = stringFlag(args, 'shard-size');
  const maxShardSize = shardText === undefined ? DEFAULT_MERGE_SHARD_SIZE : parseSize(shardText);
  if (maxShardSize < 1) throw new InputError('bad_flag', `--shard-size must be at least one byte, got "${shardText}"`);
  const fromNf4 = Boolean(args.flags['from-nf4']);
  if (args.flags['no-double-quant'] && !fromNf4) throw new InputError('bad_flag', '--no-double-quant only matters with --from-nf4 (it says how the NF4 weights were quantized)');
  if ([modelDir, adapterPath].some((p) => resolve(p) === resolve(outDir))) throw new InputError('usage', '--out must be a new folder, not --model or --adapter');
  await refuseOldWeights(outDir);

  const folder = await openNodeFolder(modelDir);
  const config = parseHfConfig(await readJson(folder, 'config.json'), `${folder.name}/config.json`);
  if (config.quantization && args.flags['no-double-quant']) {
    throw new InputError('bad_flag', `--no-double-quant does not apply to ${modelDir}: it is already 4-bit, and its stored quantization is what gets merged`);
  }
  const adapter = await loadAdapter(adapterPath, config);
  return withCliRuntime(io, async (rt) => {
    await mkdir(outDir, { recursive: true });
    const report = await mergeModel(rt, {
      model: folder,
      adapter,
      adapterName: adapterPath,
      openSink: (file) => nodeFileSink(join(outDir, file)),
      maxShardSize,
      fromNf4,
      doubleQuant: !args.flags['no-double-quant'],
    });
    const into = report.source === 'full-precision' ? 'the full-precision weights' : 'the dequantized NF4 weights';
    io.out(`merged ${report.merged} LoRA weights (scale ${report.scale}) into ${into}; ${report.copied} tensors copied${report.dequantized ? `, ${report.dequantized} dequantized` : ''}\n`);
    io.out(`wrote ${outDir}: ${report.files.join(', ')} (${formatBytes(report.tensorBytes)} of tensors)\n`);
    return 0;
  });
}

/** A PEFT adapter folder, or a .zip of one, read and checked against the base model's config. */
export async function loadAdapter(path: string, config: ModelConfig): Promise<Adapter> {
  const info = await stat(path).catch((e: Error) => {
    throw new ModelFolderError(path, `cannot open the adapter: ${e.message}`);
  });
  let folder: ModelFolder;
  if (info.isDirectory()) folder = await openNodeFolder(path);
  else if (path.toLowerCase().endsWith('.zip')) folder = adapterFolderFromZip(new Uint8Array(await readFile(path)), basename(path));
  else throw new ModelFolderError(path, 'is a file but not a .zip; pass the adapter folder or its .zip');
  return readAdapter(folder, config);
}

/**
 * Stale weights beside new ones would be loaded instead of them (transformers prefers
 * model.safetensors over an index), so an output folder that already holds weights is refused.
 */
async function refuseOldWeights(outDir: string): Promise<void> {
  const names = await readdir(outDir).catch(() => [] as string[]);
  const old = names.filter((n) => n === INDEX_FILE || /^model.*\.safetensors$/.test(n));
  if (old.length) throw new InputError('output_exists', `${outDir} already holds model weights (${old.join(', ')}); choose a new --out folder or delete them first`);
}
