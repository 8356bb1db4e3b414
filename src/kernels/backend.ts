/**
 * The kernel layer's one interface. Model, trainer and benchmarks only talk to a Backend;
 * they never know whether the pure-TypeScript reference or the WASM SIMD backend runs.
 *
 * The reference backend (reference.ts) is the oracle: every other backend is tested against it
 * (integer parts bit-exact, float parts within a stated tolerance).
 */
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';

/** Opaque handles: a backend repacks weights at load into whatever layout its kernels want. */
export interface PreparedTernary { readonly rows: number; readonly cols: number; readonly bytes: number }
export interface PreparedFloat { readonly rows: number; readonly cols: number; readonly bytes: number }

export type Activation = 'silu' | 'relu2';

export interface AttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

export interface Backend {
  readonly name: string;
  /** Number of threads the backend computes with (1 for the reference). */
  readonly threads: number;

  /** Buffers the hot loop uses. A backend may return views into its own (shared) memory to avoid copies. */
  allocF32(length: number): Float32Array;
  allocI8(length: number): Int8Array;
  /**
   * Optional: give back a buffer from allocF32/allocI8 (e.g. a finished session's KV cache) so a
   * later allocation of the same size reuses it. The buffer must not be used afterwards.
   */
  free?(buffer: Float32Array | Int8Array): void;

  prepareTernary(m: TernaryMatrix): PreparedTernary;
  prepareFloat(m: FloatMatrix): PreparedFloat;

  /**
   * BitNet b1.58 per-token absmax int8 quantization of n rows of length dim:
   * s = 127 / max(max|x|, 1e-5); xq = clamp(round(x * s), -128, 127); invScales[t] = 1 / s.
   * round = ties to even (ggml's nearest_int, torch.round): src/quant/round.ts roundHalfEven.
   */
  quantizeRows(x: Float32Array, n: number, dim: number, xq: Int8Array, invScales: Float32Array): void;

  /** out[t*rows + r] = invScales[t] * Σ_b scale[r,b] * Σ_{j∈b} (code[r,j]-1) * xq[t*cols + j], for t < n. */
  ternaryMatMul(w: PreparedTernary, xq: Int8Array, invScales: Float32Array, n: number, out: Float32Array): void;

  /** out[t*rows + r] = Σ_j W[r,j] * x[t*cols + j], for t < n. */
  floatMatMul(w: PreparedFloat, x: Float32Array, n: number, out: Float32Array): void;

  /** out[t,:] = x[t,:] / sqrt(mean(x[t,:]^2) + eps) * weight, for t < n (out may alias x). */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, dim: number, eps: number): void;

  /**
   * Rotary embedding in place on n rows of nHeads*headDim, row t at position positions[t].
   * neox: pairs (i, i + headDim/2) (llama.cpp NEOX, used by `bitnet`/HF); else adjacent pairs (2i, 2i+1).
   */
  rope(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, theta: number, neox: boolean): void;

  /**
   * Causal multi-head attention with GQA over a KV cache laid out [position][nKvHeads*headDim].
   * q: n rows of nHeads*headDim for positions startPos..startPos+n-1 (their K/V already in the cache).
   * out: n rows of nHeads*headDim. Scale 1/sqrt(headDim).
   */
  attention(out: Float32Array, q: Float32Array, n: number, startPos: number,
            kCache: Float32Array, vCache: Float32Array, shape: AttentionShape): void;

  /** gate[i] = act(gate[i]) * up[i] for i < length; act = SiLU (LLaMA/bitnet) or squared ReLU (2B4T). */
  gatedActivation(gate: Float32Array, up: Float32Array, length: number, act: Activation): void;

  /** Residual: x[i] += y[i] for i < length. */
  addInPlace(x: Float32Array, y: Float32Array, length: number): void;

  /** Release workers and memory. */
  dispose(): void;
}
