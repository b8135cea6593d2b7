import { resolve } from 'node:path';
import { InputError } from '../errors.ts';
import { formatBytes } from '../engine/errors.ts';
import { ModelFolderError } from '../formats/errors.ts';
import { parseHfConfig } from '../formats/hf_config.ts';
import { readJson, type ModelFolder } from '../formats/model_folder.ts';
import { openNodeFolder } from '../formats/node_folder.ts';
import { nodeFileSink } from '../formats/node_sink.ts';
import { ADAPTER_CARD_FILE, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, AdapterError, readAdapter } from '../formats/peft.ts';
import { openSafetensors } from '../formats/safetensors.ts';
import { writeZip } from '../formats/zip.ts';
import { parseArgs, requireFlag, stringFlag } from './args.ts';
import type { CliIo } from './io.ts';

// `webtune export --adapter DIR --zip FILE [--model DIR]`: a PEFT adapter folder as one .zip,
// its files (adapter_model.safetensors, adapter_config.json, README.md when present) stored
// unchanged, in adapterFiles' order, so a folder webtune wrote zips to exactly adapterZip's bytes
// and the archive imports back as the same adapter. Without --model the files are checked for
// what they are (a LoRA config, a readable safetensors header); with it, fully against the base.

const USAGE = 'usage: webtune export --adapter DIR --zip FILE [--model DIR]';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv, { adapter: 'string', zip: 'string', model: 'string' });
  if (args.positionals.length) throw new InputError('usage', `unexpected argument "${args.positionals[0]}"; ${USAGE}`);
  const adapterDir = requireFlag(args, 'adapter');
  const zipPath = requireFlag(args, 'zip');
  if (resolve(zipPath) === resolve(adapterDir)) throw new InputError('usage', '--zip must be a file path, not the adapter folder');
  const folder = await openNodeFolder(adapterDir);
  const modelDir = stringFlag(args, 'model');
  if (modelDir !== undefined) {
    const model = await openNodeFolder(modelDir);
    await readAdapter(folder, parseHfConfig(await readJson(model, 'config.json'), `${model.name}/config.json`));
  } else {
    await checkAdapterFolder(folder);
  }
  const entries = [];
  for (const name of [ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE, ADAPTER_CARD_FILE]) {
    if (folder.has(name)) entries.push({ name, bytes: await readAll(folder, name) });
  }
  const zip = writeZip(entries);
  const sink = await nodeFileSink(zipPath);
  try {
    await sink.write(zip);
    await sink.close();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  io.out(`wrote ${zipPath}: ${entries.map((e) => e.name).join(', ')} (${formatBytes(zip.byteLength)})\n`);
  return 0;
}

/** The checks that need no base model: both files there, a LoRA config, a safetensors header. */
async function checkAdapterFolder(folder: ModelFolder): Promise<void> {
  for (const name of [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]) {
    if (!folder.has(name)) throw new ModelFolderError(`${folder.name}/${name}`, 'is missing; a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors');
  }
  const where = `${folder.name}/${ADAPTER_CONFIG_FILE}`;
  const json = (await readJson(folder, ADAPTER_CONFIG_FILE)) as Record<string, unknown> | null;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new AdapterError(where, '(file)', 'is not a JSON object');
  if (json.peft_type !== 'LORA') throw new AdapterError(where, 'peft_type', `is ${JSON.stringify(json.peft_type)}; webtune exports LoRA adapters ("LORA")`);
  const st = await openSafetensors(folder.open(ADAPTER_WEIGHTS_FILE));
  if (st.tensors.length === 0) throw new AdapterError(`${folder.name}/${ADAPTER_WEIGHTS_FILE}`, '(file)', 'holds no tensors');
}

async function readAll(folder: ModelFolder, name: string): Promise<Uint8Array> {
  const source = folder.open(name);
  return (await source.read(0, source.size)).slice();
}
