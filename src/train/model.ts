/**
 * The trainable BitNet transformer (llm.c style): parameters and gradients live in two flat
 * Float32Arrays with named views; every layer has an explicit forward and a backward beside it.
 * This file is the readable reference (layers, quantizers, ReferenceModel), the oracle of the fast
 * path: TrainModel (wasm-model.ts) runs the same layers as WASM kernels on the worker pool.
 *
 * Block (llama.cpp `bitnet` layout, so checkpoints export 1:1 to GGUF):
 *   a = RMSNorm(x; attn_norm); q,k,v = BitLinear(a); RoPE(q,k); o = causal attention;
 *   x += BitLinear(RMSNorm(o; attn_sub_norm); wo)
 *   f = RMSNorm(x; ffn_norm); h = SiLU(BitLinear(f; gate)) * BitLinear(f; up);
 *   x += BitLinear(RMSNorm(h; ffn_sub_norm); down)
 * Head: RMSNorm(x; output_norm) · token_embdᵀ (tied).
 *
 * BitLinear(x; W) = Qa(x) · Qw(W)ᵀ with Qa = per-token absmax int8 and Qw = absmean ternary (or the
 * original BitNet's binary, or identity for the fp baseline). Backward uses the straight-through
 * estimator: dx = dy · Qw(W), dW = dyᵀ · Qa(x).
 */
import { quantizeRowsRef } from '../kernels/reference.js';
import { roundHalfEven } from '../quant/round.js';
import { LAYER_SCHEMA, LINEAR_KEYS, type LayerKey, type LinearKey } from '../model/schema.js';

export type Precision = 'ternary' | 'binary' | 'fp';

export interface TrainModelConfig {
  vocabSize: number;
  dim: number;
  nLayers: number;
  nHeads: number;
  ffnDim: number;
  seqLen: number;
  normEps: number;
  ropeTheta: number;
  precision: Precision;
  // ablations only (scripts/reproduce.mjs, docs/REPRODUCTION.md): ternary scale max|W| instead of mean|W|; no sub-norms
  weightScale?: 'absmean' | 'absmax';
  subNorm?: boolean;
}

const LAYER_PARAMS = LAYER_SCHEMA.map((t) => t.key);
export type LayerParam = LayerKey;
export const LINEARS = LINEAR_KEYS;
export type LinearName = LinearKey;

/** [rows, cols] of each layer parameter (vectors have rows = 1): the schema's shapes, with no GQA. */
export function layerShapes(c: TrainModelConfig): Record<LayerParam, [number, number]> {
  const dims = { dim: c.dim, ffnDim: c.ffnDim, qDim: c.dim, kvDim: c.dim };
  return Object.fromEntries(LAYER_SCHEMA.map((t) => [t.key, t.shape(dims)])) as Record<LayerParam, [number, number]>;
}

export interface ParamView { name: string; data: Float32Array; grad: Float32Array; rows: number; cols: number; decay: boolean }

export class Params {
  readonly data: Float32Array;
  readonly grad: Float32Array;
  readonly views: ParamView[] = [];
  readonly tokEmb: ParamView;
  readonly outNorm: ParamView;
  readonly layers: Array<Record<LayerParam, ParamView>> = [];

  /** alloc: where the two flat arrays live (the fast model puts them in its WASM memory). */
  constructor(readonly config: TrainModelConfig, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    const shapes = layerShapes(config);
    const specs: Array<[string, number, number]> = [['tok_embd', config.vocabSize, config.dim]];
    for (let l = 0; l < config.nLayers; l++) for (const p of LAYER_PARAMS) specs.push([`blk.${l}.${p}`, ...shapes[p]]);
    specs.push(['output_norm', 1, config.dim]);
    const total = specs.reduce((s, [, r, c]) => s + r * c, 0);
    this.data = alloc(total);
    this.grad = alloc(total);
    let o = 0;
    for (const [name, rows, cols] of specs) {
      const n = rows * cols;
      this.views.push({ name, rows, cols, data: this.data.subarray(o, o + n), grad: this.grad.subarray(o, o + n), decay: rows > 1 });
      o += n;
    }
    this.tokEmb = this.views[0];
    this.outNorm = this.views[this.views.length - 1];
    for (let l = 0; l < config.nLayers; l++) {
      const rec = {} as Record<LayerParam, ParamView>;
      LAYER_PARAMS.forEach((p, i) => { rec[p] = this.views[1 + l * LAYER_PARAMS.length + i]; });
      this.layers.push(rec);
    }
  }

  get count(): number { return this.data.length; }

  /** Norm weights 1; matrices N(0, 0.02) (embeddings too), output projections scaled by 1/sqrt(2L) as GPT-2. */
  init(rand: () => number): void {
    const gauss = () => { const u = 1 - rand(), v = rand(); return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v); };
    for (const v of this.views) {
      if (v.rows === 1) { v.data.fill(1); continue; }
      const std = v.name.endsWith('wo') || v.name.endsWith('wDown') ? 0.02 / Math.sqrt(2 * this.config.nLayers) : 0.02;
      for (let i = 0; i < v.data.length; i++) v.data[i] = gauss() * std;
    }
  }
}

// ------------------------------------------------------------------ quantizers (forward of BitLinear)


/**
 * Effective weights Qw(W) into out; returns the scale. Ternary: clamp(round(W / scale), −1, 1) · scale in f32
 * arithmetic (as the kernel ternaryWeights), scale = mean|W| (or max|W|, an ablation) clamped to ≥ 1e-5.
 */
export function quantizeWeights(w: Float32Array, out: Float32Array, precision: Precision, scaleBy: 'absmean' | 'absmax' = 'absmean'): number {
  const n = w.length;
  if (precision === 'fp') { out.set(w); return 1; }
  if (precision === 'ternary') {
    let s = 0;
    for (let i = 0; i < n; i++) s = scaleBy === 'absmax' ? Math.max(s, Math.abs(w[i])) : s + Math.abs(w[i]);
    const scale = Math.fround(Math.max(scaleBy === 'absmax' ? s : s / n, 1e-5));
    for (let i = 0; i < n; i++) out[i] = Math.max(-1, Math.min(1, roundHalfEven(Math.fround(w[i] / scale)))) * scale;
    return scale;
  }
  // binary (BitNet 2310.11453): sign(W - mean(W)) scaled by mean|W|
  let mean = 0, abs = 0;
  for (let i = 0; i < n; i++) { mean += w[i]; abs += Math.abs(w[i]); }
  mean /= n; abs /= n;
  for (let i = 0; i < n; i++) out[i] = w[i] - mean > 0 ? abs : -abs;
  return abs;
}

/** Per-token absmax int8 fake quantization Qa: the engine's quantizer (quantizeRowsRef), dequantized (xq · 1/s in f32). */
export function quantizeActivations(x: Float32Array, out: Float32Array, n: number, dim: number, precision: Precision): void {
  if (precision === 'fp') { out.set(x.subarray(0, n * dim)); return; }
  const xq = new Int8Array(n * dim), inv = new Float32Array(n);
  quantizeRowsRef(x, n, dim, xq, inv);
  for (let t = 0; t < n; t++) for (let j = t * dim; j < (t + 1) * dim; j++) out[j] = xq[j] * inv[t];
}

// ------------------------------------------------------------------ layers: forward / backward pairs

export function rmsnormForward(out: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number, eps: number): void {
  for (let t = 0; t < n; t++) {
    const o = t * d;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[o + j] * x[o + j];
    const r = 1 / Math.sqrt(ss / d + eps);
    rstd[t] = r;
    for (let j = 0; j < d; j++) out[o + j] = x[o + j] * r * w[j];
  }
}

export function rmsnormBackward(dx: Float32Array, dw: Float32Array, dout: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, n: number, d: number): void {
  for (let t = 0; t < n; t++) {
    const o = t * d, r = rstd[t];
    let dot = 0;
    for (let j = 0; j < d; j++) dot += dout[o + j] * w[j] * x[o + j];
    const k = (dot * r * r * r) / d;
    for (let j = 0; j < d; j++) {
      dx[o + j] += dout[o + j] * w[j] * r - x[o + j] * k;
      dw[j] += dout[o + j] * x[o + j] * r;
    }
  }
}

/** cos/sin tables [T][hd/2] for NEOX rotary embedding, built once per shape. */
const ropeCache = new Map<string, { cos: Float32Array; sin: Float32Array }>();
export function ropeTables(T: number, hd: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const key = `${T}/${hd}/${theta}`;
  let t = ropeCache.get(key);
  if (!t) {
    const half = hd / 2, cos = new Float32Array(T * half), sin = new Float32Array(T * half);
    for (let p = 0; p < T; p++) for (let i = 0; i < half; i++) {
      const ang = p * Math.pow(theta, (-2 * i) / hd);
      cos[p * half + i] = Math.cos(ang); sin[p * half + i] = Math.sin(ang);
    }
    ropeCache.set(key, (t = { cos, sin }));
  }
  return t;
}

/** NEOX rotary embedding over n = B·T rows of H heads (position = row index mod T); sign = -1 undoes it (backward). */
export function rope(x: Float32Array, n: number, T: number, H: number, hd: number, theta: number, sign: 1 | -1): void {
  const half = hd / 2;
  const { cos, sin } = ropeTables(T, hd, theta);
  for (let t = 0; t < n; t++) {
    const po = (t % T) * half;
    for (let h = 0; h < H; h++) {
      const o = (t * H + h) * hd;
      for (let i = 0; i < half; i++) {
        const c = cos[po + i], s = sign * sin[po + i];
        const a = x[o + i], b = x[o + i + half];
        x[o + i] = a * c - b * s;
        x[o + i + half] = a * s + b * c;
      }
    }
  }
}

/** Causal softmax attention; probs saved [B][H][T][T]. */
export function attentionForward(out: Float32Array, probs: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, B: number, T: number, H: number, hd: number): void {
  const D = H * hd, scale = 1 / Math.sqrt(hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const qo = (b * T + t) * D + h * hd;
    const po = ((b * H + h) * T + t) * T;
    let max = -Infinity;
    for (let s = 0; s <= t; s++) {
      const ko = (b * T + s) * D + h * hd;
      let dot = 0;
      for (let i = 0; i < hd; i++) dot += q[qo + i] * k[ko + i];
      probs[po + s] = dot * scale;
      if (probs[po + s] > max) max = probs[po + s];
    }
    let sum = 0;
    for (let s = 0; s <= t; s++) { const e = Math.exp(probs[po + s] - max); probs[po + s] = e; sum += e; }
    for (let s = 0; s <= t; s++) probs[po + s] /= sum;
    for (let s = t + 1; s < T; s++) probs[po + s] = 0;
    for (let i = 0; i < hd; i++) {
      let acc = 0;
      for (let s = 0; s <= t; s++) acc += probs[po + s] * v[(b * T + s) * D + h * hd + i];
      out[qo + i] = acc;
    }
  }
}

export function attentionBackward(dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array, probs: Float32Array,
                                  q: Float32Array, k: Float32Array, v: Float32Array, B: number, T: number, H: number, hd: number): void {
  const D = H * hd, scale = 1 / Math.sqrt(hd);
  const dp = new Float32Array(T);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const qo = (b * T + t) * D + h * hd;
    const po = ((b * H + h) * T + t) * T;
    let dot = 0;
    for (let s = 0; s <= t; s++) {
      const vo = (b * T + s) * D + h * hd;
      let g = 0;
      for (let i = 0; i < hd; i++) { g += dout[qo + i] * v[vo + i]; dv[vo + i] += probs[po + s] * dout[qo + i]; }
      dp[s] = g;
      dot += g * probs[po + s];
    }
    for (let s = 0; s <= t; s++) {
      const ds = probs[po + s] * (dp[s] - dot) * scale; // softmax backward
      const ko = (b * T + s) * D + h * hd;
      for (let i = 0; i < hd; i++) { dq[qo + i] += ds * k[ko + i]; dk[ko + i] += ds * q[qo + i]; }
    }
  }
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** SiLU gate: h = silu(g) · u. */
export function swigluForward(h: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) h[i] = g[i] * sigmoid(g[i]) * u[i];
}

/** Writes dg, du from dh: du = dh·silu(g), dg = dh·u·σ(g)·(1 + g·(1 − σ(g))). */
export function swigluBackward(dg: Float32Array, du: Float32Array, dh: Float32Array, g: Float32Array, u: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const s = sigmoid(g[i]);
    du[i] = dh[i] * g[i] * s;
    dg[i] = dh[i] * u[i] * s * (1 + g[i] * (1 - s));
  }
}

/**
 * Cross-entropy, forward and backward in one pass (as the kernel): returns the mean loss over n rows of
 * logits (n, V) and turns logits into d(mean loss)/d(logits) = (softmax − onehot) / n.
 */
export function crossEntropy(logits: Float32Array, targets: Int32Array, n: number, V: number): number {
  let loss = 0;
  for (let t = 0; t < n; t++) {
    const o = t * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j] - max);
    loss += Math.log(sum) + max - logits[o + targets[t]];
    for (let j = 0; j < V; j++) logits[o + j] = Math.exp(logits[o + j] - max) / sum / n;
    logits[o + targets[t]] -= 1 / n;
  }
  return loss / n;
}

/** C[M×N] (+)= A[M×K] · B[N×K]ᵀ: the one matrix product of the reference (operands passed transposed). */
export function matmulNT(c: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, accumulate = false): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[j * K + k];
      c[i * N + j] = accumulate ? c[i * N + j] + s : s;
    }
  }
}

/** out[j·rows + i] = m[i·cols + j] (the reference's transposes; the fast path's GEMM takes flags instead). */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = m[i * cols + j];
  return out;
}

/** BitLinear forward: out (n, rows) = Qa(x) · Qw(W)ᵀ, with xq = Qa(x) and qw = Qw(W) already quantized. */
export function bitlinearForward(out: Float32Array, xq: Float32Array, qw: Float32Array, n: number, rows: number, cols: number): void {
  matmulNT(out, xq, qw, n, rows, cols);
}

/**
 * The integer form of the BitLinear forward at ternary absmean precision (TrainModel's kernel ternaryGemm, bit
 * for bit; the inference engine's arithmetic): C[M×N] (+)= (f32(Σ_k (codes[j,k] − 1)·xq[i,k]) · scale) · inv[i],
 * with xq the int8 rows of Qa(x) and 1/s = inv[i], codes = Qw(W)/scale + 1 in 0..2. Equal to Qa(x)·Qw(W)ᵀ up to
 * float rounding: the dot itself is exact.
 */
export function ternaryForwardRef(c: Float32Array, xq: Int8Array, inv: Float32Array, codes: Uint8Array, M: number, N: number,
                                  K: number, scale: number, accumulate: boolean): void {
  const s = Math.fround(scale);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let d = 0;
    for (let k = 0; k < K; k++) d += (codes[j * K + k] - 1) * xq[i * K + k];
    const v = Math.fround(Math.fround(d * s) * inv[i]);
    c[i * N + j] = accumulate ? Math.fround(c[i * N + j] + v) : v;
  }
}

/** BitLinear backward by the straight-through estimator: dx += dy · Qw(W); dW += dyᵀ · Qa(x). */
export function bitlinearBackward(dx: Float32Array, dW: Float32Array, dy: Float32Array, xq: Float32Array, qw: Float32Array,
                                  n: number, rows: number, cols: number): void {
  matmulNT(dx, dy, transpose(qw, rows, cols), n, cols, rows, true);
  matmulNT(dW, transpose(dy, n, rows), transpose(xq, n, cols), rows, cols, n, true);
}

// ------------------------------------------------------------------ the reference model

interface LayerActs {
  xIn: Float32Array; a: Float32Array; aq: Float32Array; rA: Float32Array;
  q: Float32Array; k: Float32Array; v: Float32Array; probs: Float32Array; o: Float32Array;
  o2: Float32Array; o2q: Float32Array; rO: Float32Array; xMid: Float32Array;
  f: Float32Array; fq: Float32Array; rF: Float32Array; g: Float32Array; u: Float32Array; h: Float32Array;
  h2: Float32Array; h2q: Float32Array; rH: Float32Array;
}

/**
 * The whole model in plain TypeScript from the layer pairs above: the oracle for the fast model
 * (TrainModel, src/train/wasm-model.ts), which must give the same loss and gradients. Slow and
 * allocating by design; tests only.
 */
export class ReferenceModel {
  private readonly N: number;
  private readonly acts: LayerActs[] = [];
  private readonly qw = new Map<ParamView, Float32Array>();
  private xFinal = new Float32Array(0);
  private xf = new Float32Array(0);
  private rOut = new Float32Array(0);
  private dlogits = new Float32Array(0);
  private tokens: Int32Array = new Int32Array(0);
  /**
   * 'record': keep each quantizer's offset Q(x) − x; 'frozen': add the recorded offsets instead of quantizing.
   * The frozen forward is the straight-through surrogate x + sg(Q(x) − x): smooth, and its exact gradient is
   * what the STE backward computes, so finite differences of it check the backward at ternary precision.
   */
  quantization: 'live' | 'record' | 'frozen' = 'live';
  private offsets: Float32Array[] = [];
  private site = 0;

  constructor(readonly params: Params, readonly batch: number) {
    this.N = batch * params.config.seqLen;
    for (const l of params.layers) for (const name of LINEARS) this.qw.set(l[name], new Float32Array(l[name].data.length));
  }

  /** Effective (quantized) weights of a linear, as the last forward pass used them. */
  effectiveWeights(p: ParamView): Float32Array { return this.qw.get(p)!; }

  /** Forward over tokens [B×T] with next-token targets; returns mean cross-entropy. */
  forward(tokens: Int32Array, targets: Int32Array): number {
    const c = this.params.config, P = this.params, N = this.N, D = c.dim, F = c.ffnDim, T = c.seqLen, H = c.nHeads, hd = D / H;
    const V = c.vocabSize, f = (n: number) => new Float32Array(n), sub = c.subNorm !== false;
    this.tokens = tokens;
    if (this.quantization === 'record') this.offsets = [];
    this.site = 0;
    const quant = (x: Float32Array, out: Float32Array, q: () => void) => {
      if (this.quantization === 'frozen') {
        const off = this.offsets[this.site++];
        for (let i = 0; i < out.length; i++) out[i] = x[i] + off[i];
        return;
      }
      q();
      if (this.quantization === 'record') this.offsets.push(out.map((v, i) => v - x[i]));
    };
    const qa = (x: Float32Array, out: Float32Array, dim: number) => quant(x, out, () => quantizeActivations(x, out, N, dim, c.precision));
    for (const l of P.layers) for (const name of LINEARS) {
      const w = l[name].data, out = this.qw.get(l[name])!;
      quant(w, out, () => quantizeWeights(w, out, c.precision, c.weightScale));
    }
    const lin = (out: Float32Array, xq: Float32Array, p: ParamView) => bitlinearForward(out, xq, this.qw.get(p)!, N, p.rows, p.cols);
    let x = f(N * D);
    for (let t = 0; t < N; t++) x.set(P.tokEmb.data.subarray(tokens[t] * D, tokens[t] * D + D), t * D);
    this.acts.length = 0;
    for (const L of P.layers) {
      const A: LayerActs = {
        xIn: x, a: f(N * D), aq: f(N * D), rA: f(N), q: f(N * D), k: f(N * D), v: f(N * D), probs: f(this.batch * H * T * T),
        o: f(N * D), o2: f(N * D), o2q: f(N * D), rO: f(N), xMid: f(N * D), f: f(N * D), fq: f(N * D), rF: f(N),
        g: f(N * F), u: f(N * F), h: f(N * F), h2: f(N * F), h2q: f(N * F), rH: f(N),
      };
      this.acts.push(A);
      // attention rmsnorm, activation quantization, q/k/v BitLinear, RoPE, causal attention
      rmsnormForward(A.a, A.rA, x, L.attnNorm.data, N, D, c.normEps);
      qa(A.a, A.aq, D);
      lin(A.q, A.aq, L.wq); lin(A.k, A.aq, L.wk); lin(A.v, A.aq, L.wv);
      rope(A.q, N, T, H, hd, c.ropeTheta, 1); rope(A.k, N, T, H, hd, c.ropeTheta, 1);
      attentionForward(A.o, A.probs, A.q, A.k, A.v, this.batch, T, H, hd);
      // sub-norm, output BitLinear, residual
      if (sub) rmsnormForward(A.o2, A.rO, A.o, L.attnSubNorm.data, N, D, c.normEps); else A.o2.set(A.o);
      qa(A.o2, A.o2q, D);
      const y = f(N * D);
      lin(y, A.o2q, L.wo);
      for (let i = 0; i < N * D; i++) A.xMid[i] = x[i] + y[i];
      // ffn rmsnorm, gate/up BitLinear, SiLU gate, sub-norm, down BitLinear, residual
      rmsnormForward(A.f, A.rF, A.xMid, L.ffnNorm.data, N, D, c.normEps);
      qa(A.f, A.fq, D);
      lin(A.g, A.fq, L.wGate); lin(A.u, A.fq, L.wUp);
      swigluForward(A.h, A.g, A.u, N * F);
      if (sub) rmsnormForward(A.h2, A.rH, A.h, L.ffnSubNorm.data, N, F, c.normEps); else A.h2.set(A.h);
      qa(A.h2, A.h2q, F);
      const z = f(N * D);
      lin(z, A.h2q, L.wDown);
      x = f(N * D);
      for (let i = 0; i < N * D; i++) x[i] = A.xMid[i] + z[i];
    }
    this.xFinal = x;
    // final norm, tied head, cross-entropy
    this.xf = f(N * D); this.rOut = f(N);
    rmsnormForward(this.xf, this.rOut, x, P.outNorm.data, N, D, c.normEps);
    this.dlogits = f(N * V);
    matmulNT(this.dlogits, this.xf, P.tokEmb.data, N, V, D);
    return crossEntropy(this.dlogits, targets, N, V);
  }

  /** Accumulates gradients of the last forward's mean loss into params.grad. */
  backward(): void {
    const c = this.params.config, P = this.params, N = this.N, D = c.dim, F = c.ffnDim, T = c.seqLen, H = c.nHeads, hd = D / H;
    const V = c.vocabSize, f = (n: number) => new Float32Array(n), sub = c.subNorm !== false;
    const back = (dx: Float32Array, dy: Float32Array, xq: Float32Array, p: ParamView) =>
      bitlinearBackward(dx, p.grad, dy, xq, this.qw.get(p)!, N, p.rows, p.cols);
    // head (tied): dxf = dlogits · E ; dE += dlogitsᵀ · xf
    const dxf = f(N * D);
    matmulNT(dxf, this.dlogits, transpose(P.tokEmb.data, V, D), N, D, V);
    matmulNT(P.tokEmb.grad, transpose(this.dlogits, N, V), transpose(this.xf, N, D), V, D, N, true);
    const dx = f(N * D);
    rmsnormBackward(dx, P.outNorm.grad, dxf, this.xFinal, P.outNorm.data, this.rOut, N, D);
    for (let l = c.nLayers - 1; l >= 0; l--) {
      const L = P.layers[l], A = this.acts[l];
      // ffn: x = xMid + down(h2q); the residual passes dx through
      const dh2 = f(N * F), dh = f(N * F), dg = f(N * F), du = f(N * F), dfq = f(N * D);
      back(dh2, dx, A.h2q, L.wDown);
      if (sub) rmsnormBackward(dh, L.ffnSubNorm.grad, dh2, A.h, L.ffnSubNorm.data, A.rH, N, F); else dh.set(dh2);
      swigluBackward(dg, du, dh, A.g, A.u, N * F);
      back(dfq, dg, A.fq, L.wGate); back(dfq, du, A.fq, L.wUp);
      rmsnormBackward(dx, L.ffnNorm.grad, dfq, A.xMid, L.ffnNorm.data, A.rF, N, D);
      // attention: x = xIn + wo(o2q)
      const do2 = f(N * D), dO = f(N * D), dq = f(N * D), dk = f(N * D), dv = f(N * D), daq = f(N * D);
      back(do2, dx, A.o2q, L.wo);
      if (sub) rmsnormBackward(dO, L.attnSubNorm.grad, do2, A.o, L.attnSubNorm.data, A.rO, N, D); else dO.set(do2);
      attentionBackward(dq, dk, dv, dO, A.probs, A.q, A.k, A.v, this.batch, T, H, hd);
      rope(dq, N, T, H, hd, c.ropeTheta, -1); rope(dk, N, T, H, hd, c.ropeTheta, -1);
      back(daq, dq, A.aq, L.wq); back(daq, dk, A.aq, L.wk); back(daq, dv, A.aq, L.wv);
      rmsnormBackward(dx, L.attnNorm.grad, daq, A.xIn, L.attnNorm.data, A.rA, N, D);
    }
    // embedding
    for (let t = 0; t < N; t++) {
      const o = this.tokens[t] * D;
      for (let j = 0; j < D; j++) P.tokEmb.grad[o + j] += dx[t * D + j];
    }
  }
}
