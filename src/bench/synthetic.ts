/**
 * A BitNet b1.58 forward pass on random weights of a named shape, written straight against the
 * Backend: the kernel-side cost of a token with no engine, file or tokenizer involved.
 * `bitnet bench --synthetic 700m` uses it; `bitnet bench --model` measures the real engine.
 */
import type { Backend, PreparedFloat, PreparedTernary, TernaryMatrix } from '../kernels/backend.js';

export interface SyntheticShape {
  dim: number; nLayers: number; nHeads: number; nKvHeads: number; ffnDim: number; vocab: number;
}

/** Shapes of the BitNet b1.58 reproductions (1bitLLM/bitnet_b1_58-*), as in issue 4. */
export const SHAPES: Record<string, SyntheticShape> = {
  tiny: { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 4, ffnDim: 512, vocab: 1000 },
  '700m': { dim: 1536, nLayers: 24, nHeads: 16, nKvHeads: 16, ffnDim: 4096, vocab: 32000 },
  '1.3b': { dim: 2048, nLayers: 24, nHeads: 32, nKvHeads: 32, ffnDim: 5460, vocab: 32000 },
  '3b': { dim: 3200, nLayers: 26, nHeads: 32, nKvHeads: 32, ffnDim: 8640, vocab: 32000 },
};

let seed = 7;
function rand(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
}

function randomTernary(rows: number, cols: number): TernaryMatrix {
  const codes = new Uint8Array((rows * cols) / 4);
  for (let i = 0; i < codes.length; i++) {
    const b = Math.floor(rand() * 256);
    codes[i] = b & ~((b & (b >> 1) & 0x55) << 1);
  }
  // TQ2_0-style: one scale per 256 columns (all equal, as a per-tensor absmean model packs them)
  const blockSize = cols % 256 === 0 ? 256 : cols;
  const scales = new Float32Array((rows * cols) / blockSize).fill(0.02);
  return { rows, cols, codes, blockSize, scales };
}

interface Layer {
  attnNorm: Float32Array; ffnNorm: Float32Array; attnSubNorm: Float32Array; ffnSubNorm: Float32Array;
  wq: PreparedTernary; wk: PreparedTernary; wv: PreparedTernary; wo: PreparedTernary;
  wGate: PreparedTernary; wUp: PreparedTernary; wDown: PreparedTernary;
  kCache: Float32Array; vCache: Float32Array;
}

export class SyntheticModel {
  readonly layers: Layer[] = [];
  readonly head: PreparedFloat;
  readonly outputNorm: Float32Array;
  /** Bytes of weights one decoded token streams (prepared ternary + LM head). */
  readonly weightBytes: number;
  private readonly s: ReturnType<SyntheticModel['buffers']>;

  constructor(readonly be: Backend, readonly shape: SyntheticShape, readonly maxTokens: number, readonly maxBatch: number,
              onLayer?: (done: number, total: number) => void) {
    const { dim, nLayers, ffnDim, vocab, nHeads, nKvHeads } = shape;
    seed = 7; // same weights for every model of a shape
    const kvDim = (dim / nHeads) * nKvHeads;
    const ones = (n: number) => be.allocF32(n).fill(1);
    let bytes = 0;
    const t = (rows: number, cols: number) => { const p = be.prepareTernary(randomTernary(rows, cols)); bytes += p.bytes; return p; };
    for (let l = 0; l < nLayers; l++) {
      this.layers.push({
        attnNorm: ones(dim), ffnNorm: ones(dim), attnSubNorm: ones(dim), ffnSubNorm: ones(ffnDim),
        wq: t(dim, dim), wk: t(kvDim, dim), wv: t(kvDim, dim), wo: t(dim, dim),
        wGate: t(ffnDim, dim), wUp: t(ffnDim, dim), wDown: t(dim, ffnDim),
        kCache: be.allocF32(maxTokens * kvDim), vCache: be.allocF32(maxTokens * kvDim),
      });
      onLayer?.(l + 1, nLayers);
    }
    const emb = new Uint16Array(vocab * dim);
    for (let i = 0; i < emb.length; i++) emb[i] = (rand() < 0.5 ? 0x8000 : 0) | 0x2000 | Math.floor(rand() * 0x1000); // |w| in [2^-7, 2^-5)
    this.head = be.prepareFloat({ rows: vocab, cols: dim, dtype: 'f16', data: emb });
    this.weightBytes = bytes + this.head.bytes;
    this.outputNorm = ones(dim);
    this.s = this.buffers();
  }

  private buffers() {
    const { be, shape, maxBatch: n } = this;
    const { dim, ffnDim, vocab, nHeads, nKvHeads } = shape;
    const kvDim = (dim / nHeads) * nKvHeads;
    return {
      x: be.allocF32(n * dim).fill(0.1), xb: be.allocF32(n * dim), xb2: be.allocF32(n * dim),
      q: be.allocF32(n * dim), k: be.allocF32(n * kvDim), v: be.allocF32(n * kvDim), att: be.allocF32(n * dim),
      gate: be.allocF32(n * ffnDim), up: be.allocF32(n * ffnDim),
      xq: be.allocI8(n * Math.max(dim, ffnDim)), inv: be.allocF32(n),
      logits: be.allocF32(vocab), pos: new Int32Array(n),
    };
  }

  /** Process n tokens at positions start..start+n-1 (their embeddings are a constant: the cost is the same). */
  forward(start: number, n: number): Float32Array {
    const { be, shape, s } = this;
    const { dim, ffnDim, nHeads, nKvHeads } = shape;
    const headDim = dim / nHeads, kvDim = headDim * nKvHeads;
    for (let t = 0; t < n; t++) s.pos[t] = start + t;
    const pos = s.pos.subarray(0, n);
    const bitLinear = (w: PreparedTernary, x: Float32Array, cols: number, out: Float32Array) => {
      be.quantizeRows(x, n, cols, s.xq, s.inv);
      be.ternaryMatMul(w, s.xq, s.inv, n, out);
    };
    for (const L of this.layers) {
      // attention: norm, q/k/v, RoPE, cache, attention, sub-norm, output projection, residual
      be.rmsNorm(s.xb, s.x, L.attnNorm, n, dim, 1e-5);
      be.quantizeRows(s.xb, n, dim, s.xq, s.inv);
      be.ternaryMatMul(L.wq, s.xq, s.inv, n, s.q);
      be.ternaryMatMul(L.wk, s.xq, s.inv, n, s.k);
      be.ternaryMatMul(L.wv, s.xq, s.inv, n, s.v);
      be.rope(s.q, n, nHeads, headDim, pos, 10000, true);
      be.rope(s.k, n, nKvHeads, headDim, pos, 10000, true);
      L.kCache.set(s.k.subarray(0, n * kvDim), start * kvDim);
      L.vCache.set(s.v.subarray(0, n * kvDim), start * kvDim);
      be.attention(s.att, s.q, n, start, L.kCache, L.vCache, { nHeads, nKvHeads, headDim });
      be.rmsNorm(s.att, s.att, L.attnSubNorm, n, dim, 1e-5);
      bitLinear(L.wo, s.att, dim, s.xb2);
      be.addInPlace(s.x, s.xb2, n * dim);
      // feed-forward: norm, gate/up, SiLU gate, sub-norm, down projection, residual
      be.rmsNorm(s.xb, s.x, L.ffnNorm, n, dim, 1e-5);
      be.quantizeRows(s.xb, n, dim, s.xq, s.inv);
      be.ternaryMatMul(L.wGate, s.xq, s.inv, n, s.gate);
      be.ternaryMatMul(L.wUp, s.xq, s.inv, n, s.up);
      be.gatedActivation(s.gate, s.up, n * ffnDim, 'silu');
      be.rmsNorm(s.gate, s.gate, L.ffnSubNorm, n, ffnDim, 1e-5);
      bitLinear(L.wDown, s.gate, ffnDim, s.xb2);
      be.addInPlace(s.x, s.xb2, n * dim);
      // keep activations bounded on random weights
      be.rmsNorm(s.x, s.x, L.attnNorm, n, dim, 1e-5);
    }
    // logits of the last token only
    const last = s.x.subarray((n - 1) * dim, n * dim);
    be.rmsNorm(s.xb, last, this.outputNorm, 1, dim, 1e-5);
    be.floatMatMul(this.head, s.xb, 1, s.logits);
    return s.logits;
  }
}
