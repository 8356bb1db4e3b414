/**
 * The trainable BitNet transformer (llm.c style): parameters and gradients live in two flat
 * Float32Arrays with named views; every layer has an explicit forward and a backward beside it.
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
import { gemmNT, transpose } from '../kernels/train-gemm.js';
import { roundHalfAway, roundHalfEven } from '../quant/round.js';
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

  constructor(readonly config: TrainModelConfig) {
    const shapes = layerShapes(config);
    const specs: Array<[string, number, number]> = [['tok_embd', config.vocabSize, config.dim]];
    for (let l = 0; l < config.nLayers; l++) for (const p of LAYER_PARAMS) specs.push([`blk.${l}.${p}`, ...shapes[p]]);
    specs.push(['output_norm', 1, config.dim]);
    const total = specs.reduce((s, [, r, c]) => s + r * c, 0);
    this.data = new Float32Array(total);
    this.grad = new Float32Array(total);
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

// ------------------------------------------------------------------ quantizers (forward)


/** Effective weights Qw(W) into out; returns the scale. */
export function quantizeWeights(w: Float32Array, out: Float32Array, precision: Precision, scaleBy: 'absmean' | 'absmax' = 'absmean'): number {
  const n = w.length;
  if (precision === 'fp') { out.set(w); return 1; }
  if (precision === 'ternary') {
    let s = 0;
    for (let i = 0; i < n; i++) s = scaleBy === 'absmax' ? Math.max(s, Math.abs(w[i])) : s + Math.abs(w[i]);
    const scale = Math.max(scaleBy === 'absmax' ? s : s / n, 1e-5);
    for (let i = 0; i < n; i++) out[i] = Math.max(-1, Math.min(1, roundHalfAway(w[i] / scale))) * scale;
    return scale;
  }
  // binary (BitNet 2310.11453): sign(W - mean(W)) scaled by mean|W|
  let mean = 0, abs = 0;
  for (let i = 0; i < n; i++) { mean += w[i]; abs += Math.abs(w[i]); }
  mean /= n; abs /= n;
  for (let i = 0; i < n; i++) out[i] = w[i] - mean > 0 ? abs : -abs;
  return abs;
}

/** Per-token absmax int8 fake quantization (identical arithmetic to the engine's quantizeRowsRef). */
export function quantizeActivations(x: Float32Array, out: Float32Array, n: number, dim: number, precision: Precision): void {
  if (precision === 'fp') { out.set(x.subarray(0, n * dim)); return; }
  for (let t = 0; t < n; t++) {
    const o = t * dim;
    let amax = 0;
    for (let j = 0; j < dim; j++) amax = Math.max(amax, Math.abs(x[o + j]));
    const s = Math.fround(127 / Math.max(amax, 1e-5));
    const inv = 1 / s;
    for (let j = 0; j < dim; j++) {
      const v = roundHalfEven(Math.fround(x[o + j] * s));
      out[o + j] = (v > 127 ? 127 : v < -128 ? -128 : v) * inv;
    }
  }
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
const ropeTables = new Map<string, { cos: Float32Array; sin: Float32Array }>();
function ropeTable(T: number, hd: number, theta: number) {
  const key = `${T}/${hd}/${theta}`;
  let t = ropeTables.get(key);
  if (!t) {
    const half = hd / 2, cos = new Float32Array(T * half), sin = new Float32Array(T * half);
    for (let p = 0; p < T; p++) for (let i = 0; i < half; i++) {
      const ang = p * Math.pow(theta, (-2 * i) / hd);
      cos[p * half + i] = Math.cos(ang); sin[p * half + i] = Math.sin(ang);
    }
    ropeTables.set(key, (t = { cos, sin }));
  }
  return t;
}

/** NEOX rotary embedding over n = B·T rows of H heads (position = row index mod T); sign = -1 undoes it (backward). */
export function rope(x: Float32Array, n: number, T: number, H: number, hd: number, theta: number, sign: 1 | -1): void {
  const half = hd / 2;
  const { cos, sin } = ropeTable(T, hd, theta);
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

// ------------------------------------------------------------------ the model

interface LayerActs {
  xIn: Float32Array; a: Float32Array; aq: Float32Array; rA: Float32Array;
  q: Float32Array; k: Float32Array; v: Float32Array; probs: Float32Array; o: Float32Array;
  o2: Float32Array; o2q: Float32Array; rO: Float32Array; xMid: Float32Array;
  f: Float32Array; fq: Float32Array; rF: Float32Array; g: Float32Array; u: Float32Array; hAct: Float32Array;
  h2: Float32Array; h2q: Float32Array; rH: Float32Array;
}

export class TrainModel {
  readonly params: Params;
  private readonly B: number;
  private readonly N: number;
  private readonly acts: LayerActs[];
  private readonly xFinal: Float32Array; private readonly xf: Float32Array; private readonly rOut: Float32Array;
  private readonly logits: Float32Array;
  private readonly qw: Map<ParamView, Float32Array> = new Map();
  private tokens: Int32Array = new Int32Array(0);
  private targets: Int32Array = new Int32Array(0);

  constructor(params: Params, batch: number) {
    this.params = params;
    const c = params.config;
    this.B = batch;
    this.N = batch * c.seqLen;
    const N = this.N, D = c.dim, F = c.ffnDim;
    const f = (n: number) => new Float32Array(n);
    this.acts = params.layers.map(() => ({
      xIn: f(N * D), a: f(N * D), aq: f(N * D), rA: f(N), q: f(N * D), k: f(N * D), v: f(N * D),
      probs: f(batch * c.nHeads * c.seqLen * c.seqLen), o: f(N * D), o2: f(N * D), o2q: f(N * D), rO: f(N), xMid: f(N * D),
      f: f(N * D), fq: f(N * D), rF: f(N), g: f(N * F), u: f(N * F), hAct: f(N * F), h2: f(N * F), h2q: f(N * F), rH: f(N),
    }));
    this.xFinal = f(N * D); this.xf = f(N * D); this.rOut = f(N);
    this.logits = f(N * c.vocabSize);
    for (const l of params.layers) for (const name of LINEARS) this.qw.set(l[name], f(l[name].data.length));
  }

  /** Effective (quantized) weights of a linear, as the forward pass uses them. */
  effectiveWeights(p: ParamView): Float32Array { return this.qw.get(p)!; }

  private linear(out: Float32Array, xq: Float32Array, p: ParamView, n: number): void {
    gemmNT(out, xq, this.qw.get(p)!, n, p.rows, p.cols);
  }

  /** Forward over tokens [B×T] with next-token targets; returns mean cross-entropy. */
  forward(tokens: Int32Array, targets: Int32Array): number {
    const c = this.params.config, P = this.params, N = this.N, D = c.dim, F = c.ffnDim, T = c.seqLen, H = c.nHeads, hd = D / H, V = c.vocabSize;
    this.tokens = tokens; this.targets = targets;
    for (const l of P.layers) for (const name of LINEARS) quantizeWeights(l[name].data, this.qw.get(l[name])!, c.precision, c.weightScale);
    // token embedding
    let x = new Float32Array(N * D);
    for (let t = 0; t < N; t++) x.set(P.tokEmb.data.subarray(tokens[t] * D, tokens[t] * D + D), t * D);
    P.layers.forEach((L, l) => {
      const A = this.acts[l];
      A.xIn.set(x);
      // attention rmsnorm, activation quantization, q/k/v BitLinear
      rmsnormForward(A.a, A.rA, x, L.attnNorm.data, N, D, c.normEps);
      quantizeActivations(A.a, A.aq, N, D, c.precision);
      this.linear(A.q, A.aq, L.wq, N); this.linear(A.k, A.aq, L.wk, N); this.linear(A.v, A.aq, L.wv, N);
      // RoPE
      rope(A.q, N, T, H, hd, c.ropeTheta, 1); rope(A.k, N, T, H, hd, c.ropeTheta, 1);
      // causal multi-head attention
      attentionForward(A.o, A.probs, A.q, A.k, A.v, this.B, T, H, hd);
      // sub-norm, output BitLinear, residual
      if (c.subNorm === false) A.o2.set(A.o); else rmsnormForward(A.o2, A.rO, A.o, L.attnSubNorm.data, N, D, c.normEps);
      quantizeActivations(A.o2, A.o2q, N, D, c.precision);
      const y = new Float32Array(N * D);
      this.linear(y, A.o2q, L.wo, N);
      for (let i = 0; i < N * D; i++) x[i] += y[i];
      A.xMid.set(x);
      // ffn rmsnorm, gate/up BitLinear, SiLU gate
      rmsnormForward(A.f, A.rF, x, L.ffnNorm.data, N, D, c.normEps);
      quantizeActivations(A.f, A.fq, N, D, c.precision);
      this.linear(A.g, A.fq, L.wGate, N); this.linear(A.u, A.fq, L.wUp, N);
      for (let i = 0; i < N * F; i++) A.hAct[i] = A.g[i] * sigmoid(A.g[i]) * A.u[i];
      // ffn sub-norm, down BitLinear, residual
      if (c.subNorm === false) A.h2.set(A.hAct); else rmsnormForward(A.h2, A.rH, A.hAct, L.ffnSubNorm.data, N, F, c.normEps);
      quantizeActivations(A.h2, A.h2q, N, F, c.precision);
      const z = new Float32Array(N * D);
      this.linear(z, A.h2q, L.wDown, N);
      for (let i = 0; i < N * D; i++) x[i] += z[i];
    });
    this.xFinal.set(x);
    // final norm and tied head
    rmsnormForward(this.xf, this.rOut, x, P.outNorm.data, N, D, c.normEps);
    gemmNT(this.logits, this.xf, P.tokEmb.data, N, V, D);
    let loss = 0;
    for (let t = 0; t < N; t++) {
      const o = t * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (this.logits[o + j] > max) max = this.logits[o + j];
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(this.logits[o + j] - max);
      loss += Math.log(sum) + max - this.logits[o + targets[t]];
      // keep softmax probabilities for the backward pass
      for (let j = 0; j < V; j++) this.logits[o + j] = Math.exp(this.logits[o + j] - max) / sum;
    }
    return loss / N;
  }

  /** Accumulates gradients of the last forward's mean loss into params.grad. */
  backward(): void {
    const c = this.params.config, P = this.params, N = this.N, D = c.dim, F = c.ffnDim, T = c.seqLen, H = c.nHeads, hd = D / H, V = c.vocabSize;
    const dlogits = this.logits; // probabilities → (p - onehot) / N in place
    for (let t = 0; t < N; t++) dlogits[t * V + this.targets[t]] -= 1;
    for (let i = 0; i < N * V; i++) dlogits[i] /= N;
    // head (tied): dxf = dlogits · E ; dE += dlogitsᵀ · xf
    const dxf = new Float32Array(N * D);
    gemmNT(dxf, dlogits, transpose(P.tokEmb.data, V, D), N, D, V);
    gemmNT(P.tokEmb.grad, transpose(dlogits, N, V), transpose(this.xf, N, D), V, D, N, true);
    let dx = new Float32Array(N * D);
    rmsnormBackward(dx, P.outNorm.grad, dxf, this.xFinal, P.outNorm.data, this.rOut, N, D);

    const linearBack = (dxq: Float32Array, dy: Float32Array, xq: Float32Array, p: ParamView) => {
      // STE: dx = dy · Qw(W), dW = dyᵀ · Qa(x)
      gemmNT(dxq, dy, transpose(this.qw.get(p)!, p.rows, p.cols), N, p.cols, p.rows, true);
      gemmNT(p.grad, transpose(dy, N, p.rows), transpose(xq, N, p.cols), p.rows, p.cols, N, true);
    };

    for (let l = c.nLayers - 1; l >= 0; l--) {
      const L = P.layers[l], A = this.acts[l];
      // ffn: x = xMid + down(h2q)
      const dh2 = new Float32Array(N * F);
      linearBack(dh2, dx, A.h2q, L.wDown);
      const dh = new Float32Array(N * F);
      if (c.subNorm === false) dh.set(dh2); else rmsnormBackward(dh, L.ffnSubNorm.grad, dh2, A.hAct, L.ffnSubNorm.data, A.rH, N, F);
      const dg = new Float32Array(N * F), du = new Float32Array(N * F);
      for (let i = 0; i < N * F; i++) {
        const g = A.g[i], s = sigmoid(g);
        du[i] = dh[i] * g * s;
        dg[i] = dh[i] * A.u[i] * s * (1 + g * (1 - s));
      }
      const dfq = new Float32Array(N * D);
      linearBack(dfq, dg, A.fq, L.wGate); linearBack(dfq, du, A.fq, L.wUp);
      const dxMid = dx; // residual passes through
      rmsnormBackward(dxMid, L.ffnNorm.grad, dfq, A.xMid, L.ffnNorm.data, A.rF, N, D);
      // attention: x = xIn + wo(o2q)
      const do2 = new Float32Array(N * D);
      linearBack(do2, dxMid, A.o2q, L.wo);
      const dO = new Float32Array(N * D);
      if (c.subNorm === false) dO.set(do2); else rmsnormBackward(dO, L.attnSubNorm.grad, do2, A.o, L.attnSubNorm.data, A.rO, N, D);
      const dq = new Float32Array(N * D), dk = new Float32Array(N * D), dv = new Float32Array(N * D);
      attentionBackward(dq, dk, dv, dO, A.probs, A.q, A.k, A.v, this.B, T, H, hd);
      rope(dq, N, T, H, hd, c.ropeTheta, -1); rope(dk, N, T, H, hd, c.ropeTheta, -1);
      const daq = new Float32Array(N * D);
      linearBack(daq, dq, A.aq, L.wq); linearBack(daq, dk, A.aq, L.wk); linearBack(daq, dv, A.aq, L.wv);
      rmsnormBackward(dxMid, L.attnNorm.grad, daq, A.xIn, L.attnNorm.data, A.rA, N, D);
      dx = dxMid;
    }
    // embedding
    for (let t = 0; t < N; t++) {
      const o = this.tokens[t] * D;
      for (let j = 0; j < D; j++) P.tokEmb.grad[o + j] += dx[t * D + j];
    }
  }
}
