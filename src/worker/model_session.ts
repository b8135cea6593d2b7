import { TextTokenizer } from '../data/tokenizer.ts';
import { TokenizerError } from '../data/errors.ts';
import type { Runtime } from '../engine/runtime.ts';
import { readJson, type ModelFolder } from '../formats/model_folder.ts';
import { loadBaseModel, type LoadedBase } from '../model/load_base.ts';
import { DEMO_MODEL_NOTE, type DemoTokenizerFiles } from '../model/demo_model.ts';
import type { ModelCard, ModelSource, ProgressCallback } from './api.ts';

// The loaded base model and its tokenizer, as the engine keeps them between calls. Loading goes
// tensor by tensor (model/load_base.ts) and reports each tensor done; the tokenizer is read from
// the same folder, so a dataset is always tokenized for the model it will train.

export interface ModelSession {
  folder: ModelFolder;
  base: LoadedBase;
  tokenizer: TextTokenizer;
  card: ModelCard;
  quant: 'nf4' | 'none';
  doubleQuant: boolean;
  untrained: boolean;
  source: ModelSource;
}

export interface LoadModelOptions {
  quant: 'nf4' | 'none';
  doubleQuant: boolean;
  /** The demo is the one untrained model. */
  source: ModelSource;
  onProgress?: ProgressCallback;
}

export async function loadModelSession(rt: Runtime, folder: ModelFolder, options: LoadModelOptions): Promise<ModelSession> {
  const report = options.onProgress ?? (() => {});
  report({ stage: 'Reading the tokenizer', done: 0, total: 0 });
  // The tokenizer first: it is quick, and a folder without one cannot be trained anyway.
  const tokenizer = await folderTokenizer(folder);
  report({ stage: 'Loading weights onto the GPU', done: 0, total: 0 });
  const base = await loadBaseModel(rt, folder, {
    quant: options.quant,
    doubleQuant: options.doubleQuant,
    onProgress: (p) => report({ stage: `Loading ${p.tensor}`, done: p.done, total: p.total }),
  });
  const untrained = options.source.kind === 'demo';
  return { folder, base, tokenizer, card: modelCard(folder.name, base, tokenizer, options), quant: options.quant, doubleQuant: options.doubleQuant, untrained, source: options.source };
}

/** tokenizer.json + tokenizer_config.json (required), chat_template.jinja (optional), vocab from config.json. */
export async function folderTokenizer(folder: ModelFolder): Promise<TextTokenizer> {
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!folder.has(file)) throw new TokenizerError(`${folder.name}/${file}`, 'is missing; pick the whole Hugging Face model folder, tokenizer files included');
  }
  const [tokenizerJson, tokenizerConfig, chatTemplate, config] = await Promise.all([
    folder.readText('tokenizer.json'),
    folder.readText('tokenizer_config.json'),
    folder.has('chat_template.jinja') ? folder.readText('chat_template.jinja') : Promise.resolve(undefined),
    readJson(folder, 'config.json'),
  ]);
  const v = (config as { vocab_size?: unknown } | null)?.vocab_size;
  return new TextTokenizer({ tokenizerJson, tokenizerConfig, chatTemplate, vocabSize: Number.isInteger(v) ? (v as number) : undefined });
}

function modelCard(name: string, base: LoadedBase, tokenizer: TextTokenizer, options: LoadModelOptions): ModelCard {
  const { config, report } = base;
  return {
    name,
    loadedFrom: options.source,
    untrained: options.source.kind === 'demo',
    note: options.source.kind === 'demo' ? DEMO_MODEL_NOTE : null,
    architecture: config.architecture,
    hfArchitecture: config.hfArchitectures[0] ?? config.architecture,
    parameters: report.parameters,
    layers: config.numLayers,
    hiddenSize: config.hiddenSize,
    heads: config.numHeads,
    kvHeads: config.numKvHeads,
    vocabSize: config.vocabSize,
    contextLength: config.maxPositionEmbeddings,
    tiedEmbeddings: config.tieWordEmbeddings,
    precision: options.quant === 'nf4' ? 'nf4' : 'f32',
    doubleQuant: options.quant === 'nf4' && options.doubleQuant,
    nf4Bytes: report.quantizedBytes,
    bitsPerParameter: report.bitsPerParameter,
    gpuBytes: Object.values(report.gpuBytes).reduce((a, b) => a + b, 0),
    chatTemplate: tokenizer.chatTemplate !== null,
    source: report.source,
  };
}

/**
 * The demo model's tokenizer files, fetched from the app's own public/demo-model/ (next to the
 * page, so it works offline once the page is cached). `base` is Vite's BASE_URL.
 */
export async function fetchDemoTokenizer(base: string = viteBase()): Promise<DemoTokenizerFiles> {
  const origin = (globalThis as { location?: { origin: string } }).location?.origin ?? 'http://localhost';
  const get = async (file: string): Promise<string> => {
    const url = new URL(`${base}demo-model/${file}`, origin);
    let response: Response;
    try {
      response = await fetch(url);
    } catch (e) {
      throw new TokenizerError(url.pathname, `could not be fetched (${(e as Error).message}); reload the page while online once`);
    }
    if (!response.ok) throw new TokenizerError(url.pathname, `could not be fetched: the server answered ${response.status}`);
    return response.text();
  };
  const [tokenizerJson, tokenizerConfig] = await Promise.all([get('tokenizer.json'), get('tokenizer_config.json')]);
  return { tokenizerJson, tokenizerConfig };
}

function viteBase(): string {
  return (import.meta as { env?: { BASE_URL?: string } }).env?.BASE_URL ?? '/';
}
