/**
 * Model-level types shared by loaders (GGUF, Hugging Face), the engine, the trainer's exporter
 * and the converters. A loader's job is to produce ModelWeights + a Tokenizer; the engine
 * (transformer.ts) never knows where they came from.
 */
import type { FloatMatrix, GGMLTensor, TernaryMatrix } from '../quant/matrix.js';

export type Architecture =
  | 'bitnet'        // llama.cpp `bitnet`: SiLU-gated FFN, sub-norms, NEOX rope, tied head
  | 'bitnet-b1.58'  // bitnet.cpp / BitNet b1.58 2B4T: squared-ReLU gate, GQA, sub-norms
  | 'llama';        // plain full-precision LLaMA (baseline for comparisons)

export interface ModelConfig {
  arch: Architecture;
  vocabSize: number;
  dim: number;          // hidden size (embedding_length)
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;      // dim / nHeads unless the file says otherwise
  ffnDim: number;       // feed_forward_length
  contextLength: number;
  normEps: number;      // RMSNorm epsilon
  ropeTheta: number;
  ropeNeox: boolean;    // true: rotate (i, i+headDim/2) pairs; false: adjacent pairs (GGML "normal")
  activation: 'silu' | 'relu2';
  subNorms: boolean;    // attn_sub_norm before o_proj, ffn_sub_norm before down_proj
}

/**
 * Names of the FFN gate activations we run, as upstream spells them: transformers' ACT2FN keys (silu, swish,
 * relu2: config.json `hidden_act`) and the values llama.cpp maps for GGUF `<arch>.hidden_activation`
 * (silu, swish, swiglu: src/llama-model.cpp LLM_FFN_OP_TYPES_FROM_STRING; it has no relu2 and falls back to
 * the arch default, where we run the squared ReLU that converters copy from the HF config). Others are refused.
 */
export const ACTIVATION_NAMES: Readonly<Record<string, ModelConfig['activation']>> = {
  silu: 'silu', swish: 'silu', swiglu: 'silu', relu2: 'relu2',
};

/** A linear layer's weight [out, in]: ternary (BitLinear, int8 activations) or full precision. */
export type Matrix =
  | { kind: 'ternary'; m: TernaryMatrix }
  | { kind: 'float'; m: FloatMatrix };

/**
 * A matrix left in its GGUF file (weightsFromGGUF with `stream`): a backend with prepareGGML reads its
 * bytes straight into its own memory; any other converts it with load() to what the eager path gives.
 */
export interface FileMatrix { kind: 'file'; tensor: GGMLTensor; load(): Matrix }

export interface LayerWeights<M = Matrix> {
  attnNorm: Float32Array;
  wq: M; wk: M; wv: M;
  attnSubNorm?: Float32Array;
  wo: M;
  ffnNorm: Float32Array;
  wGate: M; wUp: M;
  ffnSubNorm?: Float32Array;
  wDown: M;
}

export interface ModelWeights<M = Matrix, E = FloatMatrix> {
  config: ModelConfig;
  tokenEmbedding: E;             // [vocab, dim]
  layers: LayerWeights<M>[];
  outputNorm: Float32Array;
  output?: E;                    // [vocab, dim]; undefined = tied to tokenEmbedding
}

/** What the engine takes: in-memory weights, or weights partly still in their file. */
export type StreamedWeights = ModelWeights<Matrix | FileMatrix, FloatMatrix | FileMatrix>;
