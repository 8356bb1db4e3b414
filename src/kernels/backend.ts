/**
 * The kernel layer's one interface. Model, trainer and benchmarks only talk to a Backend;
 * they never know whether the pure-TypeScript reference or the WASM SIMD backend runs.
 *
 * The reference backend (reference.ts) is the oracle: every other backend is tested against it
 * (integer parts bit-exact, float parts within a stated tolerance).
 */
import type { FloatMatrix, GGMLTensor, TernaryMatrix } from '../quant/matrix.js';

/** Opaque handles: a backend repacks weights at load into whatever layout its kernels want. */
export interface PreparedTernary { readonly rows: number; readonly cols: number; readonly bytes: number }
export interface PreparedFloat { readonly rows: number; readonly cols: number; readonly bytes: number }

export type Activation = 'silu' | 'relu2';

/** Element type of KV cache cells: IEEE half bits (as llama.cpp's default cache) or f32. */
export type KVDtype = 'f16' | 'f32';

/**
 * A quantized LM head's codes (Backend.prepareQ8): per block of 32 columns, code = roundf(w · (1/d)) (ties away
 * from zero) with d = amax / HEAD_CODE_MAX. int8 is ggml's Q8_0; int7 halves the code range so that the WASM kernel's inner loop
 * needs 3 ops per 16 multiply-adds instead of 5 (its weights, biased by 64, are the relaxed dot's unsigned operand).
 */
export type QuantizedHead = 'int8' | 'int7';
export const HEAD_CODE_MAX: Readonly<Record<QuantizedHead, number>> = { int8: 127, int7: 63 };

/**
 * A paged KV cache as the kernels see it (model/kv-cache.ts owns and fills it).
 * Storage is a list of arenas, each holding 2^arenaShift blocks of blockElements elements;
 * block id b lives in arenas[b >> arenaShift] at element (b & (2^arenaShift - 1)) * blockElements.
 * A block holds blockSize consecutive positions of one sequence for every layer, laid out
 * [layer][k | v][position in block][kvDim]. A sequence's block table lists its block ids in order:
 * position p is cell p % blockSize of block table[p / blockSize].
 */
export interface PagedKV {
  readonly dtype: KVDtype;
  readonly nLayers: number;
  readonly kvDim: number;
  /** Positions per block (a power of two). */
  readonly blockSize: number;
  readonly blockElements: number;
  readonly arenaShift: number;
  readonly arenas: ReadonlyArray<Uint16Array | Float32Array>;
}

/** Rows of a batch in the paged cache: row t is position positions[t] of the sequence whose block table is tables[t]. */
export interface PagedRows {
  tables: ReadonlyArray<Int32Array>;
  positions: Int32Array;
}

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
   * Optional: prepare a matrix from its file bytes (see GGMLTensor). Undefined for a type or shape the
   * backend does not take this way; the caller then converts it (quant/ternary.ts) and uses prepareTernary/Float.
   * The result computes exactly what prepareTernary(ternaryFromGGML(...)) / prepareFloat(floatFromGGML(...)) would.
   */
  prepareGGML?(t: GGMLTensor): { kind: 'ternary'; w: PreparedTernary } | { kind: 'float'; w: PreparedFloat } | undefined;

  /**
   * Optional: a quantized LM head. 'int8': ggml Q8_0 arithmetic (reference.ts quantizeQ8Ref(W, 127); floatMatMul on
   * the result quantizes x per 32-column block with quantizeQ8ActsRef and computes q8MatMulRef); 'int7': the same
   * with weight codes -63..63 (quantizeQ8Ref(W, 63), HEAD_CODE_MAX). From a FloatMatrix or file bytes (F16/BF16/F32
   * GGMLTensor; undefined for other types). cols must be a multiple of 32.
   * gatherRows on the result is not required to work (the embedding lookup keeps its own handle).
   */
  prepareQ8?(m: FloatMatrix | GGMLTensor, codes?: QuantizedHead): PreparedFloat | undefined;

  /**
   * Optional: an F16/BF16/F32 embedding left in its file and read a few rows at a time by gatherRows (exact);
   * only gatherRows takes the result. t.readRange must work while it is used (the file stays open). For a
   * model whose LM head is a separate int8 copy: the float embedding then costs no memory. Undefined otherwise.
   */
  prepareRowsOnDemand?(t: GGMLTensor): PreparedFloat | undefined;

  /** Embedding lookup from a prepared float matrix: out[t*cols + j] = W[ids[t], j] as f32, for t < n (exact). */
  gatherRows(w: PreparedFloat, ids: Int32Array, n: number, out: Float32Array): void;

  /**
   * BitNet b1.58 per-token absmax int8 quantization of n rows of length dim:
   * s = 127 / max(max|x|, 1e-5); xq = clamp(round(x * s), -128, 127); invScales[t] = 1 / s.
   * round = ties to even (ggml's nearest_int, torch.round): src/quant/round.ts roundHalfEven.
   */
  quantizeRows(x: Float32Array, n: number, dim: number, xq: Int8Array, invScales: Float32Array): void;

  /** out[t*rows + r] = invScales[t] * Σ_b scale[r,b] * Σ_{j∈b} (code[r,j]-1) * xq[t*cols + j], for t < n. */
  ternaryMatMul(w: PreparedTernary, xq: Int8Array, invScales: Float32Array, n: number, out: Float32Array): void;

  /**
   * Optional: the gated FFN's two BitLinears and its activation in one call, computing what
   * ternaryMatMul(wGate, xq, invScales, n, gate); ternaryMatMul(wUp, xq, invScales, n, up);
   * gatedActivation(gate, up, n * rows, act) compute (wGate and wUp: one shape; up is left as scratch).
   */
  ternaryGatedMatMul?(wGate: PreparedTernary, wUp: PreparedTernary, xq: Int8Array, invScales: Float32Array, n: number,
                      gate: Float32Array, up: Float32Array, act: Activation): void;

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

  /**
   * Writes n rows of k and v (kvDim floats each) into layer `layer` of the paged cache, row t at its
   * sequence's cell rows.positions[t] (f16 cells: round to nearest even, as f32ToF16).
   */
  kvWrite(kv: PagedKV, layer: number, k: Float32Array, v: Float32Array, n: number, rows: PagedRows): void;

  /**
   * Causal multi-head attention with GQA for n query rows over layer `layer` of the paged cache:
   * row t attends positions 0..rows.positions[t] of its own sequence (their K/V already written).
   * q, out: n rows of nHeads*headDim. Scale 1/sqrt(headDim). Rows of many sequences in one call.
   */
  pagedAttention(out: Float32Array, q: Float32Array, n: number, kv: PagedKV, layer: number, rows: PagedRows,
                 shape: AttentionShape): void;

  /** gate[i] = act(gate[i]) * up[i] for i < length; act = SiLU (LLaMA/bitnet) or squared ReLU (2B4T). */
  gatedActivation(gate: Float32Array, up: Float32Array, length: number, act: Activation): void;

  /** Residual: x[i] += y[i] for i < length. */
  addInPlace(x: Float32Array, y: Float32Array, length: number): void;

  /** Release workers and memory. */
  dispose(): void;
}
