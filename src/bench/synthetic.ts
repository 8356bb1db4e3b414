/**
 * A BitNet b1.58 (llama.cpp `bitnet` arch) forward pass written straight against the Backend, on
 * random weights of a named shape or on the weights of a GGUF file: the kernel-side cost of a token
 * with no engine or tokenizer involved (`bitnet bench --synthetic 700m | FILE.gguf`).
 * `bitnet bench --model` measures the real engine.
 */
import type { Backend, PreparedFloat, PreparedTernary } from '../kernels/backend.js';
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';
import { openGGUF } from '../formats/gguf.js';
import { ggmlTypeName, isTernaryType } from '../quant/ggml.js';
import { floatFromGGML, floatToF32, ternaryFromGGML } from '../quant/ternary.js';

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

/** Where the forward pass gets its weights: random (a named shape) or a `bitnet` GGUF file. */
export interface WeightSource {
  readonly name: string;
  readonly shape: SyntheticShape;
  readonly normEps: number;
  readonly ropeTheta: number;
  /** Random weights need a renormalization per layer to keep activations bounded; real ones do not. */
  readonly stabilize: boolean;
  ternary(layer: number, which: LinearName): TernaryMatrix;
  /** layer -1: the output norm. */
  norm(layer: number, which: NormName): Float32Array;
  head(): FloatMatrix;
}
type LinearName = 'wq' | 'wk' | 'wv' | 'wo' | 'wGate' | 'wUp' | 'wDown';
type NormName = 'attnNorm' | 'attnSubNorm' | 'ffnNorm' | 'ffnSubNorm' | 'outputNorm';

function linearShape(s: SyntheticShape, which: LinearName): [number, number] {
  const kvDim = (s.dim / s.nHeads) * s.nKvHeads;
  const table: Record<LinearName, [number, number]> = {
    wq: [s.dim, s.dim], wk: [kvDim, s.dim], wv: [kvDim, s.dim], wo: [s.dim, s.dim],
    wGate: [s.ffnDim, s.dim], wUp: [s.ffnDim, s.dim], wDown: [s.dim, s.ffnDim],
  };
  return table[which];
}

export function randomWeights(shapeName: string): WeightSource {
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`unknown shape '${shapeName}' (expected one of: ${Object.keys(SHAPES).join(', ')})`);
  seed = 7; // the same weights for every model of a shape
  return {
    name: `synthetic ${shapeName}`, shape, normEps: 1e-5, ropeTheta: 10000, stabilize: true,
    ternary: (_l, which) => randomTernary(...linearShape(shape, which)),
    norm: (_l, which) => new Float32Array(which === 'ffnSubNorm' ? shape.ffnDim : shape.dim).fill(1),
    head: () => {
      const emb = new Uint16Array(shape.vocab * shape.dim); // |w| in [2^-7, 2^-5): no subnormal halves
      for (let i = 0; i < emb.length; i++) emb[i] = (rand() < 0.5 ? 0x8000 : 0) | 0x2000 | Math.floor(rand() * 0x1000);
      return { rows: shape.vocab, cols: shape.dim, dtype: 'f16', data: emb };
    },
  };
}

const GGUF_LINEAR: Record<LinearName, string> = {
  wq: 'attn_q', wk: 'attn_k', wv: 'attn_v', wo: 'attn_output', wGate: 'ffn_gate', wUp: 'ffn_up', wDown: 'ffn_down',
};
const GGUF_NORM: Record<NormName, string> = {
  attnNorm: 'attn_norm', attnSubNorm: 'attn_sub_norm', ffnNorm: 'ffn_norm', ffnSubNorm: 'ffn_sub_norm', outputNorm: 'output_norm',
};

/** The weights of a llama.cpp `bitnet` GGUF (ternary TQ1_0/TQ2_0/I2_S layers, float norms and embedding). */
export function ggufWeights(path: string): WeightSource & { close(): void } {
  const f = openGGUF(path);
  const arch = f.get<string>('general.architecture') ?? '?';
  if (arch !== 'bitnet') { f.close(); throw new Error(`${path}: architecture '${arch}', expected bitnet`); }
  const num = (key: string, fallback?: number): number => {
    const v = f.get<number | bigint>(`bitnet.${key}`);
    if (v === undefined) {
      if (fallback === undefined) throw new Error(`${path}: missing bitnet.${key}`);
      return fallback;
    }
    return Number(v);
  };
  const info = (name: string) => {
    const t = f.tensor(name);
    if (!t) throw new Error(`${path}: missing tensor ${name}`);
    return t;
  };
  const emb = info('token_embd.weight');
  const nHeads = num('attention.head_count');
  const shape: SyntheticShape = {
    dim: num('embedding_length'), nLayers: num('block_count'), nHeads, nKvHeads: num('attention.head_count_kv', nHeads),
    ffnDim: num('feed_forward_length'), vocab: emb.dims[1],
  };
  const floats = (name: string): Float32Array => {
    const t = info(name);
    return floatToF32(floatFromGGML(t.type, f.readTensor(t), 1, t.nElements));
  };
  return {
    name: path.split('/').pop() ?? path, shape, stabilize: false,
    normEps: num('attention.layer_norm_rms_epsilon', 1e-5), ropeTheta: num('rope.freq_base', 10000),
    ternary: (l, which) => {
      const t = info(`blk.${l}.${GGUF_LINEAR[which]}.weight`);
      if (!isTernaryType(t.type)) throw new Error(`${path}: ${t.name} is ${ggmlTypeName(t.type)}, not ternary`);
      return ternaryFromGGML(t.type, f.readTensor(t), t.dims[1], t.dims[0]);
    },
    norm: (l, which) => floats(l < 0 ? `${GGUF_NORM[which]}.weight` : `blk.${l}.${GGUF_NORM[which]}.weight`),
    head: () => {
      const t = f.tensor('output.weight') ?? emb;
      return floatFromGGML(t.type, f.readTensor(t), t.dims[1], t.dims[0]);
    },
    close: () => f.close(),
  };
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
  readonly shape: SyntheticShape;
  /** Bytes of weights one decoded token streams (prepared ternary + LM head). */
  readonly weightBytes: number;
  private readonly s: ReturnType<SyntheticModel['buffers']>;

  constructor(readonly be: Backend, readonly source: WeightSource, readonly maxTokens: number, readonly maxBatch: number,
              onLayer?: (done: number, total: number) => void) {
    const shape = this.shape = source.shape;
    const { nLayers, nHeads, nKvHeads, dim } = shape;
    const kvDim = (dim / nHeads) * nKvHeads;
    const inWasm = (a: Float32Array) => { const v = be.allocF32(a.length); v.set(a); return v; };
    let bytes = 0;
    const t = (l: number, which: LinearName) => { const p = be.prepareTernary(source.ternary(l, which)); bytes += p.bytes; return p; };
    for (let l = 0; l < nLayers; l++) {
      this.layers.push({
        attnNorm: inWasm(source.norm(l, 'attnNorm')), ffnNorm: inWasm(source.norm(l, 'ffnNorm')),
        attnSubNorm: inWasm(source.norm(l, 'attnSubNorm')), ffnSubNorm: inWasm(source.norm(l, 'ffnSubNorm')),
        wq: t(l, 'wq'), wk: t(l, 'wk'), wv: t(l, 'wv'), wo: t(l, 'wo'),
        wGate: t(l, 'wGate'), wUp: t(l, 'wUp'), wDown: t(l, 'wDown'),
        kCache: be.allocF32(maxTokens * kvDim), vCache: be.allocF32(maxTokens * kvDim),
      });
      onLayer?.(l + 1, nLayers);
    }
    this.head = be.prepareFloat(source.head());
    this.weightBytes = bytes + this.head.bytes;
    this.outputNorm = inWasm(source.norm(-1, 'outputNorm'));
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
    const eps = this.source.normEps, theta = this.source.ropeTheta;
    for (let t = 0; t < n; t++) s.pos[t] = start + t;
    const pos = s.pos.subarray(0, n);
    const bitLinear = (w: PreparedTernary, x: Float32Array, cols: number, out: Float32Array) => {
      be.quantizeRows(x, n, cols, s.xq, s.inv);
      be.ternaryMatMul(w, s.xq, s.inv, n, out);
    };
    for (const L of this.layers) {
      // attention: norm, q/k/v, RoPE, cache, attention, sub-norm, output projection, residual
      be.rmsNorm(s.xb, s.x, L.attnNorm, n, dim, eps);
      be.quantizeRows(s.xb, n, dim, s.xq, s.inv);
      be.ternaryMatMul(L.wq, s.xq, s.inv, n, s.q);
      be.ternaryMatMul(L.wk, s.xq, s.inv, n, s.k);
      be.ternaryMatMul(L.wv, s.xq, s.inv, n, s.v);
      be.rope(s.q, n, nHeads, headDim, pos, theta, true);
      be.rope(s.k, n, nKvHeads, headDim, pos, theta, true);
      L.kCache.set(s.k.subarray(0, n * kvDim), start * kvDim);
      L.vCache.set(s.v.subarray(0, n * kvDim), start * kvDim);
      be.attention(s.att, s.q, n, start, L.kCache, L.vCache, { nHeads, nKvHeads, headDim });
      be.rmsNorm(s.att, s.att, L.attnSubNorm, n, dim, eps);
      bitLinear(L.wo, s.att, dim, s.xb2);
      be.addInPlace(s.x, s.xb2, n * dim);
      // feed-forward: norm, gate/up, SiLU gate, sub-norm, down projection, residual
      be.rmsNorm(s.xb, s.x, L.ffnNorm, n, dim, eps);
      be.quantizeRows(s.xb, n, dim, s.xq, s.inv);
      be.ternaryMatMul(L.wGate, s.xq, s.inv, n, s.gate);
      be.ternaryMatMul(L.wUp, s.xq, s.inv, n, s.up);
      be.gatedActivation(s.gate, s.up, n * ffnDim, 'silu');
      be.rmsNorm(s.gate, s.gate, L.ffnSubNorm, n, ffnDim, eps);
      bitLinear(L.wDown, s.gate, ffnDim, s.xb2);
      be.addInPlace(s.x, s.xb2, n * dim);
      if (this.source.stabilize) be.rmsNorm(s.x, s.x, L.attnNorm, n, dim, eps); // random weights: keep activations bounded
    }
    // logits of the last token only
    const last = s.x.subarray((n - 1) * dim, n * dim);
    be.rmsNorm(s.xb, last, this.outputNorm, 1, dim, eps);
    be.floatMatMul(this.head, s.xb, 1, s.logits);
    return s.logits;
  }
}
