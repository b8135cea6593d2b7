import { memoryFolder, type ModelFolder } from '../formats/model_folder.ts';
import { serializeSafetensors } from '../formats/safetensors_writer.ts';

// The web app's built-in demo model: a tiny Llama-shaped Hugging Face folder (config.json +
// model.safetensors) generated on the spot from a fixed seed, plus a real tokenizer the caller
// fetched (public/demo-model/, the Llama 2 tokenizer). Its weights are random — N(0, 0.02), norm
// weights 1, as a freshly initialized Llama — so it is UNTRAINED: good for watching the mechanics
// of QLoRA (loading, NF4, the loss going down on your data), useless for quality. The same seed
// gives the same bytes in every browser, so runs on it are reproducible.
//
// Shape: hidden 64, 2 layers, 4 heads (2 KV heads, GQA), MLP 128, vocab 32000 (the tokenizer's),
// tied embeddings. ~2.1 M parameters, nearly all in the embedding; small enough for a software
// GPU (SwiftShader) to train a step in about a second.

export const DEMO_MODEL_NAME = 'webtune-demo-untrained';

/** What a user is told about the demo model wherever it is shown. */
export const DEMO_MODEL_NOTE =
  'Random weights from a fixed seed, never trained: it shows how fine-tuning works (the loss falls on your data), not what a real model can learn.';

export const DEMO_SEED = 20240601;

export const DEMO_CONFIG = Object.freeze({
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 32000,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  hidden_act: 'silu',
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  rope_scaling: null,
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'float32',
});

export interface DemoTokenizerFiles {
  /** tokenizer.json as text. */
  tokenizerJson: string;
  /** tokenizer_config.json as text. */
  tokenizerConfig: string;
}

/** The demo model as an in-memory Hugging Face folder. */
export function demoModelFolder(tokenizer: DemoTokenizerFiles, seed = DEMO_SEED): ModelFolder {
  const c = DEMO_CONFIG;
  const headDim = c.hidden_size / c.num_attention_heads;
  const normal = gaussian(seed);
  const tensors: { name: string; dtype: 'F32'; shape: number[]; bytes: Uint8Array }[] = [];
  const put = (name: string, shape: number[], fill: (n: number) => Float32Array) => {
    const values = fill(shape.reduce((a, b) => a * b, 1));
    tensors.push({ name, dtype: 'F32', shape, bytes: new Uint8Array(values.buffer) });
  };
  const weight = (n: number) => Float32Array.from({ length: n }, () => 0.02 * normal());
  const ones = (n: number) => new Float32Array(n).fill(1);
  const h = c.hidden_size;
  put('model.embed_tokens.weight', [c.vocab_size, h], weight);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    put(`${p}.self_attn.q_proj.weight`, [c.num_attention_heads * headDim, h], weight);
    put(`${p}.self_attn.k_proj.weight`, [c.num_key_value_heads * headDim, h], weight);
    put(`${p}.self_attn.v_proj.weight`, [c.num_key_value_heads * headDim, h], weight);
    put(`${p}.self_attn.o_proj.weight`, [h, c.num_attention_heads * headDim], weight);
    put(`${p}.mlp.gate_proj.weight`, [c.intermediate_size, h], weight);
    put(`${p}.mlp.up_proj.weight`, [c.intermediate_size, h], weight);
    put(`${p}.mlp.down_proj.weight`, [h, c.intermediate_size], weight);
    put(`${p}.input_layernorm.weight`, [h], ones);
    put(`${p}.post_attention_layernorm.weight`, [h], ones);
  }
  put('model.norm.weight', [h], ones);
  return memoryFolder(DEMO_MODEL_NAME, {
    'config.json': JSON.stringify(c, null, 2),
    'model.safetensors': serializeSafetensors(tensors, { format: 'pt' }),
    'tokenizer.json': tokenizer.tokenizerJson,
    'tokenizer_config.json': tokenizer.tokenizerConfig,
  });
}

/**
 * Standard normal draws from a seeded mulberry32 stream (Box–Muller, both values used). Written
 * here rather than shared because the model layer may not import train/ or tests/, and the demo's
 * bytes must never change when some other generator does.
 */
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    const u = 1 - uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}
