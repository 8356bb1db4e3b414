/**
 * The one table of a model's tensors: for every weight, our field name, its GGUF name, its Hugging Face
 * name and its shape as a function of the config. The GGUF reader and writer (gguf-model.ts), the HF
 * reader and writer (hf-model.ts), the trainer's parameter layout (train/model.ts) and the random-weight
 * models (synth.ts) all walk this table; nothing else spells these names or shapes.
 *
 * Names follow llama.cpp src/llama-arch.cpp / gguf-py constants.py (GGUF `blk.N.<gguf>.weight`) and
 * transformers modeling_llama.py / modeling_bitnet.py (HF `model.layers.N.<hf>.weight`). The sub-norms
 * are named differently in the two BitNet HF layouts (1bitLLM's custom code vs transformers' BitNet).
 * Shapes are [rows, cols] = [out, in] (vectors: rows = 1); GGUF stores them as ne = [cols, rows].
 */
import type { Architecture, LayerWeights, ModelConfig } from './types.js';

/** The sizes every shape is written in. */
export interface LayerDims {
  dim: number;    // hidden size
  ffnDim: number; // feed-forward size
  qDim: number;   // nHeads * headDim
  kvDim: number;  // nKvHeads * headDim
}

export function layerDims(c: Pick<ModelConfig, 'dim' | 'ffnDim' | 'nHeads' | 'nKvHeads' | 'headDim'>): LayerDims {
  return { dim: c.dim, ffnDim: c.ffnDim, qDim: c.nHeads * c.headDim, kvDim: c.nKvHeads * c.headDim };
}

export type LayerKey = keyof LayerWeights;

export interface LayerTensor {
  key: LayerKey;
  /** 'norm': an f32 vector; 'linear': a [out, in] matrix (a BitLinear in the BitNet architectures). */
  kind: 'norm' | 'linear';
  gguf: string;
  /** HF module name inside model.layers.N; per architecture where the layouts differ. */
  hf: string | Partial<Record<Architecture, string>>;
  /** Present only in architectures with sub-norms (config.subNorms). */
  subNorm?: true;
  shape(d: LayerDims): [number, number];
}

/** Every per-layer weight, in file (and trainer parameter) order. */
export const LAYER_SCHEMA: readonly LayerTensor[] = [
  { key: 'attnNorm', kind: 'norm', gguf: 'attn_norm', hf: 'input_layernorm', shape: (d) => [1, d.dim] },
  { key: 'wq', kind: 'linear', gguf: 'attn_q', hf: 'self_attn.q_proj', shape: (d) => [d.qDim, d.dim] },
  { key: 'wk', kind: 'linear', gguf: 'attn_k', hf: 'self_attn.k_proj', shape: (d) => [d.kvDim, d.dim] },
  { key: 'wv', kind: 'linear', gguf: 'attn_v', hf: 'self_attn.v_proj', shape: (d) => [d.kvDim, d.dim] },
  {
    key: 'attnSubNorm', kind: 'norm', gguf: 'attn_sub_norm', subNorm: true, shape: (d) => [1, d.qDim],
    hf: { 'bitnet-b1.58': 'self_attn.attn_sub_norm', bitnet: 'self_attn.inner_attn_ln' },
  },
  { key: 'wo', kind: 'linear', gguf: 'attn_output', hf: 'self_attn.o_proj', shape: (d) => [d.dim, d.qDim] },
  { key: 'ffnNorm', kind: 'norm', gguf: 'ffn_norm', hf: 'post_attention_layernorm', shape: (d) => [1, d.dim] },
  { key: 'wGate', kind: 'linear', gguf: 'ffn_gate', hf: 'mlp.gate_proj', shape: (d) => [d.ffnDim, d.dim] },
  { key: 'wUp', kind: 'linear', gguf: 'ffn_up', hf: 'mlp.up_proj', shape: (d) => [d.ffnDim, d.dim] },
  {
    key: 'ffnSubNorm', kind: 'norm', gguf: 'ffn_sub_norm', subNorm: true, shape: (d) => [1, d.ffnDim],
    hf: { 'bitnet-b1.58': 'mlp.ffn_sub_norm', bitnet: 'mlp.ffn_layernorm' },
  },
  { key: 'wDown', kind: 'linear', gguf: 'ffn_down', hf: 'mlp.down_proj', shape: (d) => [d.dim, d.ffnDim] },
];

/** The linear layers' keys, in schema order. */
export const LINEAR_KEYS = LAYER_SCHEMA.filter((t) => t.kind === 'linear').map((t) => t.key) as Array<
  'wq' | 'wk' | 'wv' | 'wo' | 'wGate' | 'wUp' | 'wDown'>;
export type LinearKey = typeof LINEAR_KEYS[number];

/** The schema entries an architecture's files hold (sub-norms only where the config has them). */
export function layerTensors(c: Pick<ModelConfig, 'subNorms'>): LayerTensor[] {
  return LAYER_SCHEMA.filter((t) => !t.subNorm || c.subNorms);
}

export const ggufLayerName = (l: number, t: LayerTensor): string => `blk.${l}.${t.gguf}.weight`;

/** The HF module `model.layers.N.<module>` (its tensors: `.weight`, `.weight_scale`). */
export function hfLayerModule(arch: Architecture, l: number, t: LayerTensor): string {
  const m = typeof t.hf === 'string' ? t.hf : t.hf[arch];
  if (m === undefined) throw new Error(`${arch} Hugging Face checkpoints have no "${t.key}" tensor`);
  return `model.layers.${l}.${m}`;
}

/** The tensors outside the layers: [rows, cols] from vocabSize and dim. */
export const MODEL_TENSORS = {
  tokenEmbedding: { gguf: 'token_embd.weight', hf: 'model.embed_tokens.weight' },
  outputNorm: { gguf: 'output_norm.weight', hf: 'model.norm.weight' },
  output: { gguf: 'output.weight', hf: 'lm_head.weight' },
} as const;
