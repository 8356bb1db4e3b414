/**
 * Pure-TypeScript reference backend: the oracle. Simple loops, no tricks, read it in one sitting.
 * Every fast backend is tested against these functions.
 */
import {
  HEAD_CODE_MAX, type Activation, type AttentionShape, type Backend, type PagedKV, type PagedRows, type PreparedFloat,
  type PreparedTernary, type QuantizedHead,
} from './backend.js';
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';
import { f16ToF32, f32ToF16 } from '../quant/half.js';
import { roundHalfAway, roundHalfEven } from '../quant/round.js';

interface RefTernary extends PreparedTernary { m: TernaryMatrix }
interface RefFloat extends PreparedFloat { m: FloatMatrix; q8?: Q8Matrix }

/** Columns per block of the quantized heads (ggml's QK8_0). */
export const Q8_BLOCK = 32;

/**
 * A quantized LM head: ggml Q8_0-style blocks. codes[r*cols + j] in -qmax..qmax (127: int8, 63: int7);
 * scales[r*(cols/32) + b] the block's scale d rounded to half precision (as block_q8_0 stores it), held as f32.
 * Weight (r, j) ≈ codes * scale.
 */
export interface Q8Matrix { rows: number; cols: number; codes: Int8Array; scales: Float32Array }

const half = (v: number) => f16ToF32(f32ToF16(v));

/**
 * Weights -> blocks as ggml's quantize_row_q8_0_ref with the code range a parameter: d = amax/qmax,
 * id = d ? 1/d : 0, code = roundf(w*id) (ties away from zero); qmax = HEAD_CODE_MAX.int8 (127, Q8_0 itself) or
 * HEAD_CODE_MAX.int7 (63). The int7 head uses the same activations and the same q8MatMulRef.
 */
export function quantizeQ8Ref(m: FloatMatrix, qmax = HEAD_CODE_MAX.int8): Q8Matrix {
  const { rows, cols, data } = m;
  if (cols % Q8_BLOCK !== 0) throw new Error(`quantized head: ${cols} columns are not a multiple of ${Q8_BLOCK}`);
  const nb = cols / Q8_BLOCK, codes = new Int8Array(rows * cols), scales = new Float32Array(rows * nb);
  const at = (e: number) => (m.dtype === 'f16' ? f16ToF32(data[e]) : data[e]);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const o = r * cols + b * Q8_BLOCK;
      let amax = 0;
      for (let j = 0; j < Q8_BLOCK; j++) amax = Math.max(amax, Math.abs(at(o + j)));
      const d = Math.fround(amax / qmax), id = d ? Math.fround(1 / d) : 0;
      for (let j = 0; j < Q8_BLOCK; j++) codes[o + j] = roundHalfAway(Math.fround(at(o + j) * id));
      scales[r * nb + b] = half(d);
    }
  }
  return { rows, cols, codes, scales };
}

/**
 * Activations -> Q8_0 blocks as ggml's x86 quantize_row_q8_0 (the path llama.cpp's CPU backend runs):
 * dx = half(amax/127), code = roundeven(x * (amax ? 127/amax : 0)). n rows of `cols`.
 */
export function quantizeQ8ActsRef(x: Float32Array, n: number, cols: number, xq: Int8Array, dx: Float32Array): void {
  const nb = cols / Q8_BLOCK;
  for (let t = 0; t < n; t++) {
    for (let b = 0; b < nb; b++) {
      const o = t * cols + b * Q8_BLOCK;
      let amax = 0;
      for (let j = 0; j < Q8_BLOCK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
      dx[t * nb + b] = half(Math.fround(amax / 127));
      const id = amax !== 0 ? Math.fround(127 / amax) : 0;
      for (let j = 0; j < Q8_BLOCK; j++) xq[o + j] = roundHalfEven(Math.fround(x[o + j] * id));
    }
  }
}

/** out[t*rows + r] = Σ_b scale[r,b] * dx[t,b] * Σ_{j∈b} code[r,j] * xq[t,j] (integer block sums exact). */
export function q8MatMulRef(m: Q8Matrix, x: Float32Array, n: number, out: Float32Array): void {
  const { rows, cols, codes, scales } = m, nb = cols / Q8_BLOCK;
  const xq = new Int8Array(n * cols), dx = new Float32Array(n * nb);
  quantizeQ8ActsRef(x, n, cols, xq, dx);
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        let dot = 0;
        for (let j = b * Q8_BLOCK; j < (b + 1) * Q8_BLOCK; j++) dot += codes[r * cols + j] * xq[t * cols + j];
        acc += scales[r * nb + b] * dx[t * nb + b] * dot;
      }
      out[t * rows + r] = acc;
    }
  }
}

export function quantizeRowsRef(x: Float32Array, n: number, dim: number, xq: Int8Array, invScales: Float32Array): void {
  for (let t = 0; t < n; t++) {
    const o = t * dim;
    let amax = 0;
    for (let j = 0; j < dim; j++) amax = Math.max(amax, Math.abs(x[o + j]));
    const s = Math.fround(127 / Math.max(amax, 1e-5));
    for (let j = 0; j < dim; j++) {
      const v = roundHalfEven(Math.fround(x[o + j] * s)); // ties to even, as ggml's nearest_int
      xq[o + j] = v > 127 ? 127 : v < -128 ? -128 : v;
    }
    invScales[t] = 1 / s;
  }
}

export function ternaryMatMulRef(m: TernaryMatrix, xq: Int8Array, invScales: Float32Array, n: number, out: Float32Array): void {
  const { rows, cols, codes, blockSize, scales } = m;
  const nBlocks = cols / blockSize;
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let b = 0; b < nBlocks; b++) {
        let dot = 0; // exact integer
        for (let j = b * blockSize; j < (b + 1) * blockSize; j++) {
          const e = r * cols + j;
          const code = (codes[e >> 2] >> ((e & 3) * 2)) & 3;
          dot += (code - 1) * xq[t * cols + j];
        }
        acc += scales[r * nBlocks + b] * dot;
      }
      out[t * rows + r] = acc * invScales[t];
    }
  }
}

export function floatMatMulRef(m: FloatMatrix, x: Float32Array, n: number, out: Float32Array): void {
  const { rows, cols, data } = m;
  const half = m.dtype === 'f16';
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let j = 0; j < cols; j++) {
        const w = half ? f16ToF32(data[r * cols + j]) : data[r * cols + j];
        acc += w * x[t * cols + j];
      }
      out[t * rows + r] = acc;
    }
  }
}

export function gatherRowsRef(m: FloatMatrix, ids: Int32Array, n: number, out: Float32Array): void {
  const { rows, cols, data } = m;
  for (let t = 0; t < n; t++) {
    const r = ids[t];
    if (!(r >= 0 && r < rows)) throw new Error(`gatherRows: row ${r} is outside 0..${rows - 1}`);
    for (let j = 0; j < cols; j++) out[t * cols + j] = m.dtype === 'f16' ? f16ToF32(data[r * cols + j]) : data[r * cols + j];
  }
}

export function rmsNormRef(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, dim: number, eps: number): void {
  for (let t = 0; t < n; t++) {
    const o = t * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[o + j] * x[o + j];
    const k = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) out[o + j] = x[o + j] * k * weight[j];
  }
}

export function ropeRef(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, theta: number, neox: boolean): void {
  const half = headDim / 2;
  for (let t = 0; t < n; t++) {
    const pos = positions[t];
    for (let h = 0; h < nHeads; h++) {
      const o = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const freq = Math.pow(theta, (-2 * i) / headDim);
        const angle = pos * freq;
        const c = Math.cos(angle), s = Math.sin(angle);
        const a = neox ? o + i : o + 2 * i;
        const b = neox ? o + i + half : o + 2 * i + 1;
        const x0 = x[a], x1 = x[b];
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
      }
    }
  }
}

export function attentionRef(out: Float32Array, q: Float32Array, n: number, startPos: number,
                             kCache: Float32Array, vCache: Float32Array, shape: AttentionShape): void {
  const { nHeads, nKvHeads, headDim } = shape;
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(startPos + n);
  for (let t = 0; t < n; t++) {
    const len = startPos + t + 1; // causal: attend to positions 0..startPos+t
    for (let h = 0; h < nHeads; h++) {
      const qo = (t * nHeads + h) * headDim;
      const kvo = Math.floor(h / group) * headDim;
      let max = -Infinity;
      for (let p = 0; p < len; p++) {
        let dot = 0;
        for (let i = 0; i < headDim; i++) dot += q[qo + i] * kCache[p * kvDim + kvo + i];
        scores[p] = dot * scale;
        if (scores[p] > max) max = scores[p];
      }
      let sum = 0;
      for (let p = 0; p < len; p++) { scores[p] = Math.exp(scores[p] - max); sum += scores[p]; }
      for (let i = 0; i < headDim; i++) {
        let acc = 0;
        for (let p = 0; p < len; p++) acc += scores[p] * vCache[p * kvDim + kvo + i];
        out[qo + i] = acc / sum;
      }
    }
  }
}

/** The arena and element offset of (layer, k or v, position) in a paged cache (see PagedKV). */
export function pagedCell(kv: PagedKV, table: Int32Array, layer: number, isV: number, pos: number): { arena: Uint16Array | Float32Array; at: number } {
  const b = table[Math.floor(pos / kv.blockSize)];
  const arena = kv.arenas[b >> kv.arenaShift];
  const at = (b & ((1 << kv.arenaShift) - 1)) * kv.blockElements + ((layer * 2 + isV) * kv.blockSize + (pos % kv.blockSize)) * kv.kvDim;
  return { arena, at };
}

export function kvWriteRef(kv: PagedKV, layer: number, k: Float32Array, v: Float32Array, n: number, rows: PagedRows): void {
  for (let t = 0; t < n; t++) {
    for (const [isV, src] of [[0, k], [1, v]] as const) {
      const { arena, at } = pagedCell(kv, rows.tables[t], layer, isV, rows.positions[t]);
      for (let i = 0; i < kv.kvDim; i++) arena[at + i] = kv.dtype === 'f16' ? f32ToF16(src[t * kv.kvDim + i]) : src[t * kv.kvDim + i];
    }
  }
}

export function pagedAttentionRef(out: Float32Array, q: Float32Array, n: number, kv: PagedKV, layer: number, rows: PagedRows,
                                  shape: AttentionShape): void {
  const { nHeads, nKvHeads, headDim } = shape;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const f = kv.dtype === 'f16' ? f16ToF32 : (x: number) => x;
  for (let t = 0; t < n; t++) {
    const len = rows.positions[t] + 1;
    const scores = new Float64Array(len);
    for (let h = 0; h < nHeads; h++) {
      const qo = (t * nHeads + h) * headDim;
      const kvo = Math.floor(h / group) * headDim;
      let max = -Infinity;
      for (let p = 0; p < len; p++) {
        const { arena, at } = pagedCell(kv, rows.tables[t], layer, 0, p);
        let dot = 0;
        for (let i = 0; i < headDim; i++) dot += q[qo + i] * f(arena[at + kvo + i]);
        scores[p] = dot * scale;
        if (scores[p] > max) max = scores[p];
      }
      let sum = 0;
      for (let p = 0; p < len; p++) { scores[p] = Math.exp(scores[p] - max); sum += scores[p]; }
      out.fill(0, qo, qo + headDim);
      for (let p = 0; p < len; p++) {
        const { arena, at } = pagedCell(kv, rows.tables[t], layer, 1, p);
        for (let i = 0; i < headDim; i++) out[qo + i] += (scores[p] / sum) * f(arena[at + kvo + i]);
      }
    }
  }
}

export function gatedActivationRef(gate: Float32Array, up: Float32Array, length: number, act: Activation): void {
  for (let i = 0; i < length; i++) {
    const g = gate[i];
    const a = act === 'silu' ? g / (1 + Math.exp(-g)) : g > 0 ? g * g : 0;
    gate[i] = a * up[i];
  }
}

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  readonly threads = 1;
  allocF32(length: number): Float32Array { return new Float32Array(length); }
  allocI8(length: number): Int8Array { return new Int8Array(length); }
  prepareTernary(m: TernaryMatrix): PreparedTernary {
    const p: RefTernary = { rows: m.rows, cols: m.cols, bytes: m.codes.byteLength + m.scales.byteLength, m };
    return p;
  }
  prepareFloat(m: FloatMatrix): PreparedFloat {
    const p: RefFloat = { rows: m.rows, cols: m.cols, bytes: m.data.byteLength, m };
    return p;
  }
  gatherRows(w: PreparedFloat, ids: Int32Array, n: number, out: Float32Array): void {
    gatherRowsRef((w as RefFloat).m, ids, n, out);
  }
  quantizeRows(x: Float32Array, n: number, dim: number, xq: Int8Array, invScales: Float32Array): void {
    quantizeRowsRef(x, n, dim, xq, invScales);
  }
  ternaryMatMul(w: PreparedTernary, xq: Int8Array, invScales: Float32Array, n: number, out: Float32Array): void {
    ternaryMatMulRef((w as RefTernary).m, xq, invScales, n, out);
  }
  /** The quantized heads: floatMatMul on the result is q8MatMulRef; gatherRows still reads m exactly. */
  prepareQ8(m: FloatMatrix, codes: QuantizedHead = 'int8'): PreparedFloat {
    const q8 = quantizeQ8Ref(m, HEAD_CODE_MAX[codes]);
    const p: RefFloat = { rows: m.rows, cols: m.cols, bytes: q8.codes.byteLength + q8.scales.byteLength, m, q8 };
    return p;
  }
  floatMatMul(w: PreparedFloat, x: Float32Array, n: number, out: Float32Array): void {
    const p = w as RefFloat;
    if (p.q8) q8MatMulRef(p.q8, x, n, out);
    else floatMatMulRef(p.m, x, n, out);
  }
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, dim: number, eps: number): void {
    rmsNormRef(out, x, weight, n, dim, eps);
  }
  rope(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, theta: number, neox: boolean): void {
    ropeRef(x, n, nHeads, headDim, positions, theta, neox);
  }
  attention(out: Float32Array, q: Float32Array, n: number, startPos: number,
            kCache: Float32Array, vCache: Float32Array, shape: AttentionShape): void {
    attentionRef(out, q, n, startPos, kCache, vCache, shape);
  }
  kvWrite(kv: PagedKV, layer: number, k: Float32Array, v: Float32Array, n: number, rows: PagedRows): void {
    kvWriteRef(kv, layer, k, v, n, rows);
  }
  pagedAttention(out: Float32Array, q: Float32Array, n: number, kv: PagedKV, layer: number, rows: PagedRows,
                 shape: AttentionShape): void {
    pagedAttentionRef(out, q, n, kv, layer, rows, shape);
  }
  gatedActivation(gate: Float32Array, up: Float32Array, length: number, act: Activation): void {
    gatedActivationRef(gate, up, length, act);
  }
  addInPlace(x: Float32Array, y: Float32Array, length: number): void {
    for (let i = 0; i < length; i++) x[i] += y[i];
  }
  dispose(): void { /* nothing held */ }
}
