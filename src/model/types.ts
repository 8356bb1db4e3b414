/**
 * Model-level types shared by loaders (GGUF, Hugging Face), the engine, the trainer's exporter
 * and the converters. A loader's job is to produce ModelWeights + a Tokenizer; the engine
 * (transformer.ts) never knows where they came from.
 */
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';

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

/** A linear layer's weight [out, in]: ternary (BitLinear, int8 activations) or full precision. */
export type Matrix =
  | { kind: 'ternary'; m: TernaryMatrix }
  | { kind: 'float'; m: FloatMatrix };

export interface LayerWeights {
  attnNorm: Float32Array;
  wq: Matrix; wk: Matrix; wv: Matrix;
  attnSubNorm?: Float32Array;
  wo: Matrix;
  ffnNorm: Float32Array;
  wGate: Matrix; wUp: Matrix;
  ffnSubNorm?: Float32Array;
  wDown: Matrix;
}

export interface ModelWeights {
  config: ModelConfig;
  tokenEmbedding: FloatMatrix;   // [vocab, dim]
  layers: LayerWeights[];
  outputNorm: Float32Array;
  output?: FloatMatrix;          // [vocab, dim]; undefined = tied to tokenEmbedding
}
