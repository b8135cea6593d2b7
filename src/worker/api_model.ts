// Types of the model half of the worker API (api.ts): what the UI shows about a loaded model.

import type { ModelSource } from './api_runs.ts';

export interface ModelCard {
  /** The folder's name, or the demo model's. */
  name: string;
  /** How it was loaded (the demo, a Hub repository, a picked folder): saved runs record it. */
  loadedFrom: ModelSource;
  /** The built-in demo model: random weights, never trained. */
  untrained: boolean;
  /** Shown beside an untrained model (why it exists, what not to expect); null otherwise. */
  note: string | null;
  /** config.json model_type: llama, qwen2, qwen3, mistral. */
  architecture: string;
  /** config.json `architectures`, e.g. LlamaForCausalLM. */
  hfArchitecture: string;
  parameters: number;
  layers: number;
  hiddenSize: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  /** max_position_embeddings. */
  contextLength: number;
  tiedEmbeddings: boolean;
  /** How the decoder's Linear weights are held: 'nf4' or unquantized 'f32'. */
  precision: 'nf4' | 'f32';
  doubleQuant: boolean;
  /** Bytes of the NF4 weights on the GPU (packed codes + scales); 0 unquantized. */
  nf4Bytes: number;
  /** ≈ 4.13 with double quantization; 0 unquantized. */
  bitsPerParameter: number;
  /** Every byte the base holds on the GPU (NF4 weights, embeddings, norms). */
  gpuBytes: number;
  /** The tokenizer has a chat template (needed for the "messages" format). */
  chatTemplate: boolean;
  /** Where the NF4 weights came from. */
  source: 'quantized-on-load' | 'pre-quantized' | 'unquantized';
}
