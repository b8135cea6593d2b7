import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../errors.ts';
import type { Runtime } from '../engine/runtime.ts';
import { formatBytes } from '../engine/errors.ts';
import { INDEX_FILE } from '../formats/checkpoint.ts';
import type { Dtype } from '../formats/dtype.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { nf4Entries, type Nf4ComputeDtype } from '../formats/nf4_safetensors.ts';
import { openNodeFolder } from '../formats/node_folder.ts';
import { nodeFileSink } from '../formats/node_sink.ts';
import { writeCheckpoint } from '../formats/shard_plan.ts';
import type { TensorSpec } from '../formats/safetensors_writer.ts';
import { expectedTensors } from '../formats/tensor_names.ts';
import { readNf4 } from '../kernels/nf4_readback.ts';
import { readBuffer } from '../engine/readback.ts';
import type { BaseLinear } from '../model/base_weights.ts';
import { loadBaseModel, type LoadedBase } from '../model/load_base.ts';
import { parseArgs, requireFlag } from './args.ts';
import { withCliRuntime } from './gpu.ts';
import type { CliIo } from './io.ts';
import { formatLoadReport } from './load_report.ts';

// `webtune quantize --model DIR --out DIR [--no-double-quant]`: load the model, quantizing its
// decoder-layer Linear weights to NF4 on the GPU, and write them in the bitsandbytes safetensors
// layout (formats.md §1.8) with a `quantization_config` in config.json, so both transformers +
// bitsandbytes and webtune load the folder without quantizing again. Every other tensor is
// copied byte for byte; tokenizer and other files are copied.

const USAGE = 'usage: webtune quantize --model DIR --out DIR [--no-double-quant]';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { model: 'string', out: 'string', 'no-double-quant': 'boolean' });
  if (args.positionals.length) throw new InputError('usage', `unexpected argument "${args.positionals[0]}"; ${USAGE}`);
  const modelDir = requireFlag(args, 'model');
  const outDir = requireFlag(args, 'out');
  const doubleQuant = !args.flags['no-double-quant'];
  if (resolve(modelDir) === resolve(outDir)) throw new InputError('usage', '--out must be a different folder from --model');
  const folder = await openNodeFolder(modelDir);
  return withCliRuntime(io, async (rt) => {
    const loaded = await loadBaseModel(rt, folder, { quant: 'nf4', doubleQuant });
    if (loaded.report.source === 'pre-quantized') {
      throw new InputError('already_quantized', `${modelDir} is already a bitsandbytes 4-bit checkpoint; there is nothing to quantize`);
    }
    await mkdir(outDir, { recursive: true });
    const plan = await writeQuantized(rt, loaded, outDir);
    await copyCompanions(modelDir, folder.list(), outDir, loaded.config, doubleQuant);
    io.out(formatLoadReport(loaded.report));
    const written = plan.shards.map((s) => s.file).join(', ');
    io.out(`wrote ${outDir}: ${written} (${formatBytes(plan.bytes)} of tensors)\n`);
    return 0;
  });
}

async function writeQuantized(rt: Runtime, loaded: LoadedBase, outDir: string) {
  const { config, checkpoint, weights } = loaded;
  const linears = new Map<string, BaseLinear>();
  weights.layers.forEach((layer, i) => {
    for (const [module, linear] of Object.entries(layer.linear)) {
      const group = module === 'gate_proj' || module === 'up_proj' || module === 'down_proj' ? 'mlp' : 'self_attn';
      linears.set(`model.layers.${i}.${group}.${module}.weight`, linear);
    }
  });
  const computeDtype = computeDtypeOf(config);
  // Specs of every output tensor in state-dict order; each NF4 weight expands to its §1.8 entries,
  // whose sizes follow from the shape alone (read back from the GPU only when written).
  const specs: TensorSpec[] = [];
  let bytes = 0;
  const producers = new Map<string, () => Promise<Uint8Array>>();
  for (const t of expectedTensors(config)) {
    const linear = linears.get(t.name);
    if (!linear || linear.kind !== 'nf4') {
      const info = checkpoint.info(t.name);
      specs.push({ name: t.name, dtype: info.dtype, shape: [...info.shape] });
      bytes += info.byteLength;
      producers.set(t.name, async () => (await checkpoint.readTensor(t.name)).bytes);
      continue;
    }
    const entriesOf = async () => nf4Entries(t.name, await readNf4(rt, linear.weight), computeDtype);
    // The quant_state JSON holds the DQ offset, so its length is known only with the offset.
    const offset = linear.weight.doubleQuant ? new Float32Array(await readBuffer(rt.device, linear.weight.stats, 256 * 4, 4))[0] : 0;
    for (const e of nf4Entries(t.name, placeholderWeight(t.shape, linear.weight.doubleQuant, offset), computeDtype)) {
      specs.push({ name: e.name, dtype: e.dtype as Dtype, shape: e.shape });
      bytes += e.bytes.byteLength;
      producers.set(e.name, async () => (await entriesOf()).find((x) => x.name === e.name)!.bytes);
    }
  }
  const plan = await writeCheckpoint(specs, (spec) => producers.get(spec.name)!(), (file) => nodeFileSink(join(outDir, file)));
  return { ...plan, bytes };
}

/** A weight of the right sizes (contents unused), to learn the entry sizes before reading anything back. */
function placeholderWeight(shape: readonly number[], doubleQuant: boolean, offset: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  const blocks = Math.ceil(n / 64);
  return {
    shape,
    packed: new Uint8Array(Math.ceil(n / 2)),
    absmax: doubleQuant ? null : new Float32Array(blocks),
    nested: doubleQuant ? { qabsmax: new Uint8Array(blocks), absmax: new Float32Array(Math.ceil(blocks / 256)), offset, code: new Float32Array(256) } : null,
  };
}

function computeDtypeOf(config: ModelConfig): Nf4ComputeDtype {
  return config.dtype ?? 'float32';
}

/** config.json with quantization_config (transformers' BitsAndBytesConfig.to_dict, §1.8); other files copied. */
async function copyCompanions(modelDir: string, files: string[], outDir: string, config: ModelConfig, doubleQuant: boolean): Promise<void> {
  for (const file of files) {
    if (file.endsWith('.safetensors') || file === INDEX_FILE || file.includes('/')) continue;
    if (file === 'config.json') {
      const json = JSON.parse(await readFile(join(modelDir, file), 'utf8')) as Record<string, unknown>;
      json.quantization_config = bnbQuantizationConfig(computeDtypeOf(config), doubleQuant);
      await writeFile(join(outDir, file), `${JSON.stringify(json, null, 2)}\n`);
    } else {
      await copyFile(join(modelDir, file), join(outDir, file));
    }
  }
}

export function bnbQuantizationConfig(computeDtype: Nf4ComputeDtype, doubleQuant: boolean): Record<string, unknown> {
  return {
    _load_in_4bit: true,
    _load_in_8bit: false,
    bnb_4bit_compute_dtype: computeDtype,
    bnb_4bit_quant_storage: 'uint8',
    bnb_4bit_quant_type: 'nf4',
    bnb_4bit_use_double_quant: doubleQuant,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    llm_int8_skip_modules: null,
    llm_int8_threshold: 6.0,
    load_in_4bit: true,
    load_in_8bit: false,
    quant_method: 'bitsandbytes',
  };
}
