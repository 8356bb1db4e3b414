/**
 * The trainer's fast path (llm.c style): parameters, gradients, AdamW state and every activation and
 * gradient buffer live in one shared WebAssembly memory, allocated once when the model is created;
 * each layer's forward and backward run as WASM SIMD kernels (src/kernels/assembly/train.ts) split
 * across the inference worker pool (src/kernels/pool.ts). A step allocates nothing.
 *
 * The arithmetic is the reference model's (src/train/model.ts, the oracle the tests compare against):
 * the same layers in the same order, f32, with the engine's activation quantizer; at ternary absmean
 * precision the forward BitLinear is the integer product of the int8 activations and the ternary codes
 * (ternaryGemm, bit-exact with ternaryForwardRef), as the inference engine computes it.
 */
import { availableParallelism } from 'node:os';
import { MAX_THREADS, type KernelExports } from '../kernels/jobs.js';
import { ThreadPool } from '../kernels/pool.js';
import {
  AdamWArg, AdamWF64, AttnBackwardArg, AttnForwardArg, CrossEntropyArg, FakeQuantArg, GemmArg, PartialSumsArg, RmsBackwardArg,
  RmsForwardArg, RopeRowsArg, SumPartsArg, SwigluBackwardArg, SwigluForwardArg, TernaryGemmArg, TernaryWeightsArg, TrainF64, TrainJob,
  TransposeArg,
} from '../kernels/train-jobs.js';
import { compileVariant, instantiate, supportedVariants, type WasmVariant } from '../kernels/wasm-module.js';
import { AdamW } from './optim.js';
import { LINEARS, Params, quantizeWeights, ropeTables, type ParamView, type TrainModelConfig } from './model.js';

const PAGE = 65536;
const HEAP_BASE = PAGE; // the module's static data lives below 64 KiB
const MAX_PAGES = 65536;
const ALIGN = 64;

/** Bump allocator over the shared memory: typed views that stay valid as the memory grows. */
class Arena {
  private top = HEAP_BASE;
  constructor(readonly memory: WebAssembly.Memory) {}

  private take(bytes: number): number {
    const ptr = this.top;
    this.top = Math.ceil((ptr + bytes) / ALIGN) * ALIGN;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      const pages = Math.ceil((this.top - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) throw new Error(`training state needs ${this.top} bytes: more than wasm32's 4 GiB`);
      this.memory.grow(pages);
    }
    return ptr;
  }

  // take() may grow the memory: it runs before memory.buffer is read
  f32 = (n: number): Float32Array => { const p = this.take(n * 4); return new Float32Array(this.memory.buffer, p, n); };
  f64 = (n: number): Float64Array => { const p = this.take(n * 8); return new Float64Array(this.memory.buffer, p, n); };
  i32 = (n: number): Int32Array => { const p = this.take(n * 4); return new Int32Array(this.memory.buffer, p, n); };
  i8 = (n: number): Int8Array => { const p = this.take(n); return new Int8Array(this.memory.buffer, p, n); };
  u8 = (n: number): Uint8Array => { const p = this.take(n); return new Uint8Array(this.memory.buffer, p, n); };
  get bytes(): number { return this.top - HEAP_BASE; }
}

const at = (a: ArrayBufferView): number => a.byteOffset;

/** Activations of one block kept for its backward pass. */
interface LayerState {
  xIn: Float32Array;   // (N, D) residual stream entering the block
  a: Float32Array;     // (N, D) attn_norm(xIn)
  aq: Float32Array;    // (N, D) Qa(a) (= a at fp precision)
  rA: Float32Array;    // (N) attn_norm 1/rms
  q: Float32Array;     // (N, D) after RoPE
  k: Float32Array;     // (N, D) after RoPE
  v: Float32Array;     // (N, D)
  probs: Float32Array; // (B, H, T, T) attention probabilities, zero above the diagonal
  o: Float32Array;     // (N, D) attention output
  o2: Float32Array;    // (N, D) attn_sub_norm(o) (= o without sub-norms)
  o2q: Float32Array;   // (N, D) Qa(o2)
  rO: Float32Array;    // (N) attn_sub_norm 1/rms
  xMid: Float32Array;  // (N, D) residual stream after attention
  f: Float32Array;     // (N, D) ffn_norm(xMid)
  fq: Float32Array;    // (N, D) Qa(f)
  rF: Float32Array;    // (N) ffn_norm 1/rms
  g: Float32Array;     // (N, F) gate projection
  u: Float32Array;     // (N, F) up projection
  h: Float32Array;     // (N, F) silu(g) * u
  h2: Float32Array;    // (N, F) ffn_sub_norm(h) (= h without sub-norms)
  h2q: Float32Array;   // (N, F) Qa(h2)
  rH: Float32Array;    // (N) ffn_sub_norm 1/rms
}

/** Gradient buffers shared by all layers (backward walks one layer at a time). */
interface GradState {
  dx: Float32Array;    // (N, D) gradient of the residual stream
  dxf: Float32Array;   // (N, D) gradient at output_norm's output
  dh2: Float32Array;   // (N, F) at down's input
  dh: Float32Array;    // (N, F) at ffn_sub_norm's input
  dg: Float32Array;    // (N, F) at the gate projection
  du: Float32Array;    // (N, F) at the up projection
  dfq: Float32Array;   // (N, D) at gate/up's input
  do2: Float32Array;   // (N, D) at wo's input
  dO: Float32Array;    // (N, D) at attn_sub_norm's input
  dq: Float32Array;    // (N, D)
  dk: Float32Array;    // (N, D)
  dv: Float32Array;    // (N, D)
  daq: Float32Array;   // (N, D) at q/k/v's input
  dwParts: Float32Array; // (ceil(N / NORM_BLOCK), max(D, F)) norm-weight gradient partials
  dp: Float32Array;    // (B·H, T, T) attention backward scratch: dP, then dS
  // the backward GEMMs' packed operands (dot form, see linearBack)
  xT: Float32Array;    // (max(D, F), N) a linear's input Qa(x), transposed
  dyT: Float32Array;   // (max(D, F, V), N) a linear's output gradient, transposed
}

export interface TrainModelOptions {
  /** Worker threads for the kernels (default: all cores). */
  threads?: number;
  /** WASM build (default: the best this engine supports). */
  variant?: WasmVariant;
}

/** GEMM work since the last reset: the trainer reports achieved GFLOPS and GEMM share from it. */
export interface GemmStats { flops: number; seconds: number }

export function defaultTrainThreads(): number {
  return Math.min(availableParallelism(), MAX_THREADS);
}

/** AdamW whose state lives in the model's memory and whose update runs as a kernel. */
class KernelAdamW extends AdamW {
  constructor(params: Params, alloc: (n: number) => Float32Array, private readonly model: TrainModel) {
    super(params, alloc);
  }
  override step(lr: number, wd: number, maxNorm: number): number { return this.model.adamStep(this, lr, wd, maxNorm); }
}

export class TrainModel {
  readonly params: Params;
  readonly opt: AdamW;
  readonly gemmStats: GemmStats = { flops: 0, seconds: 0 };
  readonly threads: number;
  private readonly N: number;          // tokens per step = B·T
  private readonly layers: LayerState[];
  private readonly grads: GradState;
  private readonly qw = new Map<ParamView, Float32Array>(); // (rows, cols) effective weights Qw(W) of each linear
  private readonly qwT = new Map<ParamView, Float32Array>(); // (cols, rows) Qw(W)ᵀ, packed once per step for the backward
  private readonly embT: Float32Array;   // (D, V) the tied embedding transposed, packed once per step for the head's backward
  // ternary absmean only: (rows, cols) codes Qw(W)/scale + 1 in 0..2 and the scale, for the integer forward
  private readonly codes = new Map<ParamView, Uint8Array>();
  private readonly wScale = new Map<ParamView, number>();
  private readonly xOut: Float32Array;   // (N, D) residual stream after the last block
  private readonly xf: Float32Array;     // (N, D) output_norm(xOut)
  private readonly rOut: Float32Array;   // (N) output_norm 1/rms
  private readonly logits: Float32Array; // (N, V) logits, then d(loss)/d(logits) after forward
  private readonly losses: Float32Array; // (N) per-token cross-entropy
  private readonly tokens: Int32Array;   // (N)
  private readonly targets: Int32Array;  // (N)
  private readonly xq8: Int8Array;       // (N, max(D, F)) int8 activations (quantizer scratch)
  private readonly invScales: Float32Array; // (N) 1/s of each token (quantizer scratch)
  private readonly xsum: Int32Array;     // (N) Σ of each token's int8 row (quantizer scratch)
  private readonly sums: Float64Array;   // (ceil(params / SUM_BLOCK)) block sums of |w| or g²
  private readonly ropeCos: Float32Array; // (T, hd/2)
  private readonly ropeSin: Float32Array; // (T, hd/2)
  private readonly normBlock: number;
  private readonly sumBlock: number;
  private readonly transposeCols: number;

  private constructor(readonly config: TrainModelConfig, readonly batch: number, readonly variant: WasmVariant,
                      private readonly k: KernelExports, private readonly pool: ThreadPool, private readonly arena: Arena) {
    const c = config, D = c.dim, F = c.ffnDim, T = c.seqLen, H = c.nHeads, hd = D / H;
    const N = (this.N = batch * T);
    const f = arena.f32;
    this.threads = pool.threads;
    this.normBlock = k.NORM_BLOCK.value as number;
    this.sumBlock = k.SUM_BLOCK.value as number;
    this.transposeCols = k.TRANSPOSE_COLS.value as number;
    this.params = new Params(c, f);
    this.opt = new KernelAdamW(this.params, f, this);
    const quantized = c.precision !== 'fp';
    const sub = c.subNorm !== false;
    this.layers = this.params.layers.map(() => {
      const a = f(N * D), o = f(N * D), h = f(N * F), fn = f(N * D);
      const o2 = sub ? f(N * D) : o, h2 = sub ? f(N * F) : h;
      return {
        xIn: f(N * D), a, aq: quantized ? f(N * D) : a, rA: f(N), q: f(N * D), k: f(N * D), v: f(N * D),
        probs: f(batch * H * T * T), o, o2, o2q: quantized ? f(N * D) : o2, rO: f(N), xMid: f(N * D),
        f: fn, fq: quantized ? f(N * D) : fn, rF: f(N), g: f(N * F), u: f(N * F), h, h2, h2q: quantized ? f(N * F) : h2, rH: f(N),
      };
    });
    const dh2 = f(N * F), do2 = f(N * D);
    this.grads = {
      dx: f(N * D), dxf: f(N * D), dh2, dh: sub ? f(N * F) : dh2, dg: f(N * F), du: f(N * F), dfq: f(N * D), do2,
      dO: sub ? f(N * D) : do2, dq: f(N * D), dk: f(N * D), dv: f(N * D), daq: f(N * D),
      dwParts: f(Math.ceil(N / this.normBlock) * Math.max(D, F)), dp: f(batch * H * T * T),
      xT: f(Math.max(D, F) * N), dyT: f(Math.max(D, F, c.vocabSize) * N),
    };
    const integer = c.precision === 'ternary' && c.weightScale !== 'absmax';
    for (const l of this.params.layers) for (const name of LINEARS) {
      this.qw.set(l[name], c.precision === 'fp' ? l[name].data : f(l[name].data.length));
      this.qwT.set(l[name], f(l[name].data.length));
      if (integer) this.codes.set(l[name], arena.u8(l[name].data.length));
    }
    this.embT = f(D * c.vocabSize);
    this.xOut = f(N * D); this.xf = f(N * D); this.rOut = f(N);
    this.logits = f(N * c.vocabSize); this.losses = f(N);
    this.tokens = arena.i32(N); this.targets = arena.i32(N);
    this.xq8 = arena.i8(N * Math.max(D, F)); this.invScales = f(N); this.xsum = arena.i32(N);
    this.sums = arena.f64(Math.ceil(this.params.count / this.sumBlock) + 1);
    const tab = ropeTables(T, hd, c.ropeTheta);
    this.ropeCos = f(tab.cos.length); this.ropeCos.set(tab.cos);
    this.ropeSin = f(tab.sin.length); this.ropeSin.set(tab.sin);
  }

  /** Allocates the whole training state (parameters uninitialised: call params.init or copy a checkpoint in). */
  static async create(config: TrainModelConfig, batch: number, opts: TrainModelOptions = {}): Promise<TrainModel> {
    if (config.dim % config.nHeads !== 0 || (config.dim / config.nHeads) % 2 !== 0) {
      throw new Error(`dim ${config.dim} must split into ${config.nHeads} heads of even size`);
    }
    const supported = await supportedVariants();
    const variant = opts.variant ?? supported[0];
    if (!variant || !supported.includes(variant)) throw new Error(`WebAssembly ${opts.variant ?? 'SIMD'} is not supported here`);
    const threads = opts.threads ?? defaultTrainThreads();
    const module = await compileVariant(variant);
    const memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true });
    const k = instantiate(module, memory);
    const pool = await ThreadPool.create(k, module, memory, threads);
    return new TrainModel(config, batch, variant, k, pool, new Arena(memory));
  }

  /** Bytes of the training state (parameters, gradients, optimizer, activations). */
  get stateBytes(): number { return this.arena.bytes; }

  dispose(): void { this.pool.dispose(); }

  /** Effective (quantized) weights of a linear, as the last forward pass used them. */
  effectiveWeights(p: ParamView): Float32Array { return this.qw.get(p)!; }

  // ---- kernel calls ---------------------------------------------------------------------------

  // Each call writes its job's parameter slots by name (src/kernels/train-jobs.ts), then runs it on the pool.
  private get p(): Int32Array { return this.pool.params; }
  private get f(): Float64Array { return this.pool.f64; }
  private run(kind: TrainJob): void { this.pool.run(kind as number); }

  /** C[M×N] (+)= op(A)·op(B): B is N×K if transB (C = A·Bᵀ) else K×N; A is K×M if transA. */
  gemm(c: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number,
       transA: boolean, transB: boolean, accumulate: boolean): void {
    const t0 = performance.now();
    const p = this.p;
    p[GemmArg.C] = at(c); p[GemmArg.A] = at(a); p[GemmArg.B] = at(b); p[GemmArg.M] = M; p[GemmArg.N] = N; p[GemmArg.K] = K;
    p[GemmArg.TransA] = +transA; p[GemmArg.TransB] = +transB; p[GemmArg.Accumulate] = +accumulate;
    this.run(TrainJob.Gemm);
    this.gemmStats.seconds += (performance.now() - t0) / 1000;
    this.gemmStats.flops += 2 * M * N * K;
  }

  private rmsnorm(out: Float32Array, rstd: Float32Array, x: Float32Array, w: ParamView, n: number, d: number): void {
    const p = this.p;
    p[RmsForwardArg.Out] = at(out); p[RmsForwardArg.Rstd] = at(rstd); p[RmsForwardArg.X] = at(x); p[RmsForwardArg.W] = at(w.data);
    p[RmsForwardArg.N] = n; p[RmsForwardArg.D] = d; this.f[TrainF64.Eps] = this.config.normEps;
    this.run(TrainJob.RmsForward);
  }

  /** dx += RMSNorm backward; w.grad += its weight gradient (per-block partials summed in block order). */
  private rmsnormBack(dx: Float32Array, dout: Float32Array, x: Float32Array, w: ParamView, rstd: Float32Array, n: number, d: number): void {
    const parts = this.grads.dwParts;
    const p = this.p;
    p[RmsBackwardArg.Dx] = at(dx); p[RmsBackwardArg.DwParts] = at(parts); p[RmsBackwardArg.Dout] = at(dout); p[RmsBackwardArg.X] = at(x);
    p[RmsBackwardArg.W] = at(w.data); p[RmsBackwardArg.Rstd] = at(rstd); p[RmsBackwardArg.N] = n; p[RmsBackwardArg.D] = d;
    p[RmsBackwardArg.NormBlock] = this.normBlock;
    this.run(TrainJob.RmsBackward);
    p[SumPartsArg.Dst] = at(w.grad); p[SumPartsArg.Parts] = at(parts); p[SumPartsArg.NParts] = Math.ceil(n / this.normBlock);
    p[SumPartsArg.D] = d;
    this.run(TrainJob.SumParts);
  }

  private fakeQuant(out: Float32Array, x: Float32Array, n: number, dim: number): void {
    if (out === x) return; // fp precision: no quantization
    const p = this.p;
    p[FakeQuantArg.Out] = at(out); p[FakeQuantArg.X] = at(x); p[FakeQuantArg.N] = n; p[FakeQuantArg.Dim] = dim;
    p[FakeQuantArg.Xq] = at(this.xq8); p[FakeQuantArg.InvScales] = at(this.invScales); p[FakeQuantArg.XSum] = at(this.xsum);
    this.run(TrainJob.FakeQuant);
  }

  /** dst (cols, rows) = srcᵀ, src (rows, cols). */
  transpose(dst: Float32Array, src: Float32Array, rows: number, cols: number): void {
    const p = this.p;
    p[TransposeArg.Dst] = at(dst); p[TransposeArg.Src] = at(src); p[TransposeArg.Rows] = rows; p[TransposeArg.Cols] = cols;
    p[TransposeArg.TransposeCols] = this.transposeCols;
    this.run(TrainJob.Transpose);
  }

  /** RoPE over all N rows of x (N, D) in place; sign −1 undoes it (backward). */
  private rope(x: Float32Array, sign: 1 | -1): void {
    const c = this.config, p = this.p;
    p[RopeRowsArg.X] = at(x); p[RopeRowsArg.Cos] = at(this.ropeCos); p[RopeRowsArg.Sin] = at(this.ropeSin); p[RopeRowsArg.N] = this.N;
    p[RopeRowsArg.T] = c.seqLen; p[RopeRowsArg.H] = c.nHeads; p[RopeRowsArg.HeadDim] = c.dim / c.nHeads; p[RopeRowsArg.Sign] = sign;
    this.run(TrainJob.Rope);
  }

  private blockSum(x: Float32Array, square: boolean): number {
    const n = x.length, nb = Math.ceil(n / this.sumBlock);
    const p = this.p;
    p[PartialSumsArg.X] = at(x); p[PartialSumsArg.N] = n; p[PartialSumsArg.Parts] = at(this.sums);
    p[PartialSumsArg.Square] = +square; p[PartialSumsArg.SumBlock] = this.sumBlock;
    this.run(TrainJob.PartialSums);
    let s = 0;
    for (let b = 0; b < nb; b++) s += this.sums[b];
    return s;
  }

  /** The backward's packed weights: Qw(W)ᵀ of every linear (as the last forward quantized it) and Eᵀ. */
  private packWeights(): void {
    const c = this.config, P = this.params;
    for (const l of P.layers) for (const name of LINEARS) this.transpose(this.qwT.get(l[name])!, this.qw.get(l[name])!, l[name].rows, l[name].cols);
    this.transpose(this.embT, P.tokEmb.data, c.vocabSize, c.dim);
  }

  private quantizeWeights(): void {
    const c = this.config;
    if (c.precision === 'fp') return;
    for (const l of this.params.layers) for (const name of LINEARS) {
      const w = l[name].data, out = this.qw.get(l[name])!;
      if (c.precision === 'ternary' && c.weightScale !== 'absmax') {
        const scale = Math.fround(Math.max(this.blockSum(w, false) / w.length, 1e-5));
        this.wScale.set(l[name], scale);
        const p = this.p;
        p[TernaryWeightsArg.Out] = at(out); p[TernaryWeightsArg.W] = at(w); p[TernaryWeightsArg.N] = w.length;
        p[TernaryWeightsArg.Codes] = at(this.codes.get(l[name])!); this.f[TrainF64.Scale] = scale;
        this.run(TrainJob.Ternary);
      } else {
        quantizeWeights(w, out, c.precision, c.weightScale); // ablations: the reference quantizer
      }
    }
  }

  /** AdamW with global-norm clipping (the reference is AdamW.step in optim.ts); returns the pre-clip norm. */
  adamStep(opt: AdamW, lr: number, wd: number, maxNorm: number): number {
    const norm = Math.sqrt(this.blockSum(this.params.grad, true));
    const clip = maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1;
    opt.t++;
    const c1 = 1 - opt.beta1 ** opt.t, c2 = 1 - opt.beta2 ** opt.t;
    for (const view of this.params.views) {
      const o = view.data.byteOffset - this.params.data.byteOffset;
      const m = opt.m.subarray(o / 4, o / 4 + view.data.length), v = opt.v.subarray(o / 4, o / 4 + view.data.length);
      const p = this.p, f = this.f;
      p[AdamWArg.P] = at(view.data); p[AdamWArg.G] = at(view.grad); p[AdamWArg.M] = at(m); p[AdamWArg.V] = at(v);
      p[AdamWArg.N] = view.data.length;
      f[AdamWF64.Lr] = lr; f[AdamWF64.Wd] = view.decay ? wd : 0; f[AdamWF64.Clip] = clip; f[AdamWF64.Beta1] = opt.beta1;
      f[AdamWF64.Beta2] = opt.beta2; f[AdamWF64.C1] = c1; f[AdamWF64.C2] = c2; f[AdamWF64.Eps] = opt.eps;
      this.run(TrainJob.AdamW);
    }
    return norm;
  }

  // ---- forward / backward -------------------------------------------------------------------

  /**
   * BitLinear forward: out (N, rows) (+)= xq · Qw(W)ᵀ, xq = Qa(x) from the last fakeQuant. At ternary absmean
   * precision an integer product of that quantization's int8 rows and the weights' codes (ternaryGemm, as the
   * inference engine computes it); otherwise an f32 GEMM of the dequantized values.
   */
  private linear(out: Float32Array, xq: Float32Array, w: ParamView, accumulate = false): void {
    const codes = this.codes.get(w);
    if (!codes) { this.gemm(out, xq, this.qw.get(w)!, this.N, w.rows, w.cols, false, true, accumulate); return; }
    this.ternaryGemm(out, this.xq8, this.xsum, this.invScales, codes, this.N, w.rows, w.cols, this.wScale.get(w)!, accumulate);
  }

  /**
   * C[M×N] (+)= (f32(Σ_k codes[j,k]·xq[i,k] − xsum[i]) · scale) · inv[i]: the integer BitLinear forward
   * (kernel ternaryGemm; its oracle is ternaryForwardRef in model.ts). Arrays in this model's memory.
   */
  ternaryGemm(c: Float32Array, xq: Int8Array, xsum: Int32Array, inv: Float32Array, codes: Uint8Array, M: number, N: number,
              K: number, scale: number, accumulate: boolean): void {
    const t0 = performance.now();
    const p = this.p;
    p[TernaryGemmArg.C] = at(c); p[TernaryGemmArg.Xq] = at(xq); p[TernaryGemmArg.XSum] = at(xsum);
    p[TernaryGemmArg.InvScales] = at(inv); p[TernaryGemmArg.Codes] = at(codes); p[TernaryGemmArg.M] = M;
    p[TernaryGemmArg.N] = N; p[TernaryGemmArg.K] = K; p[TernaryGemmArg.Accumulate] = +accumulate;
    this.f[TrainF64.Scale] = scale;
    this.run(TrainJob.TernaryGemm);
    this.gemmStats.seconds += (performance.now() - t0) / 1000;
    this.gemmStats.flops += 2 * M * N * K;
  }

  /**
   * BitLinear backward (STE): dxq (+)= dy · Qw(W); dW += dyᵀ · Qa(x), with xT = Qa(x)ᵀ (cols, N) packed by the caller.
   * Both products run in the dot form on packed operands: dy · (Qw(W)ᵀ)ᵀ and dyᵀ · (Qa(x)ᵀ)ᵀ.
   */
  private linearBack(dxq: Float32Array, dy: Float32Array, xT: Float32Array, p: ParamView, accumulate: boolean): void {
    const G = this.grads;
    this.gemm(dxq, dy, this.qwT.get(p)!, this.N, p.cols, p.rows, false, true, accumulate);
    this.transpose(G.dyT, dy, this.N, p.rows);
    this.gemm(p.grad, G.dyT, xT, p.rows, p.cols, this.N, false, true, true);
  }

  /** Forward over tokens (B·T) with next-token targets; returns the mean cross-entropy. */
  forward(tokens: Int32Array, targets: Int32Array): number {
    const c = this.config, P = this.params, N = this.N, D = c.dim, F = c.ffnDim, T = c.seqLen, H = c.nHeads, hd = D / H;
    const V = c.vocabSize, B = this.batch;
    if (tokens.length !== N || targets.length !== N) throw new Error(`forward: expected ${N} tokens and targets`);
    this.tokens.set(tokens); this.targets.set(targets);
    this.quantizeWeights();
    // token embedding
    const x0 = this.layers[0]?.xIn ?? this.xOut;
    for (let t = 0; t < N; t++) x0.set(P.tokEmb.data.subarray(tokens[t] * D, tokens[t] * D + D), t * D);
    P.layers.forEach((W, l) => {
      const A = this.layers[l];
      const xNext = l + 1 < this.layers.length ? this.layers[l + 1].xIn : this.xOut;
      // attention rmsnorm, activation quantization, q/k/v BitLinear
      this.rmsnorm(A.a, A.rA, A.xIn, W.attnNorm, N, D);
      this.fakeQuant(A.aq, A.a, N, D);
      this.linear(A.q, A.aq, W.wq); this.linear(A.k, A.aq, W.wk); this.linear(A.v, A.aq, W.wv);
      // RoPE
      this.rope(A.q, 1); this.rope(A.k, 1);
      // causal multi-head attention
      const p = this.p;
      p[AttnForwardArg.Out] = at(A.o); p[AttnForwardArg.Probs] = at(A.probs); p[AttnForwardArg.Q] = at(A.q);
      p[AttnForwardArg.K] = at(A.k); p[AttnForwardArg.V] = at(A.v); p[AttnForwardArg.B] = B; p[AttnForwardArg.T] = T;
      p[AttnForwardArg.H] = H; p[AttnForwardArg.HeadDim] = hd; this.f[TrainF64.Scale] = 1 / Math.sqrt(hd);
      this.run(TrainJob.AttnForward);
      // sub-norm, output BitLinear, residual (accumulated into a copy of the stream)
      if (A.o2 !== A.o) this.rmsnorm(A.o2, A.rO, A.o, W.attnSubNorm, N, D);
      this.fakeQuant(A.o2q, A.o2, N, D);
      A.xMid.set(A.xIn);
      this.linear(A.xMid, A.o2q, W.wo, true);
      // ffn rmsnorm, gate/up BitLinear, SiLU gate
      this.rmsnorm(A.f, A.rF, A.xMid, W.ffnNorm, N, D);
      this.fakeQuant(A.fq, A.f, N, D);
      this.linear(A.g, A.fq, W.wGate); this.linear(A.u, A.fq, W.wUp);
      p[SwigluForwardArg.H] = at(A.h); p[SwigluForwardArg.G] = at(A.g); p[SwigluForwardArg.U] = at(A.u);
      p[SwigluForwardArg.Length] = N * F;
      this.run(TrainJob.SwigluForward);
      // ffn sub-norm, down BitLinear, residual
      if (A.h2 !== A.h) this.rmsnorm(A.h2, A.rH, A.h, W.ffnSubNorm, N, F);
      this.fakeQuant(A.h2q, A.h2, N, F);
      xNext.set(A.xMid);
      this.linear(xNext, A.h2q, W.wDown, true);
    });
    // final norm, tied head, cross-entropy (logits become d(loss)/d(logits))
    this.rmsnorm(this.xf, this.rOut, this.xOut, P.outNorm, N, D);
    this.gemm(this.logits, this.xf, P.tokEmb.data, N, V, D, false, true, false);
    const p = this.p;
    p[CrossEntropyArg.Logits] = at(this.logits); p[CrossEntropyArg.Targets] = at(this.targets);
    p[CrossEntropyArg.Losses] = at(this.losses); p[CrossEntropyArg.N] = N; p[CrossEntropyArg.V] = V;
    this.f[TrainF64.InvN] = 1 / N;
    this.run(TrainJob.CrossEntropy);
    let loss = 0;
    for (let t = 0; t < N; t++) loss += this.losses[t];
    return loss / N;
  }

  /** Accumulates the gradients of the last forward's mean loss into params.grad. */
  backward(): void {
    const c = this.config, P = this.params, N = this.N, D = c.dim, F = c.ffnDim, T = c.seqLen, H = c.nHeads, hd = D / H;
    const V = c.vocabSize, B = this.batch, G = this.grads;
    this.packWeights();
    // head (tied): dxf = dlogits · E ; dE += dlogitsᵀ · xf (dot form on packed operands, as linearBack)
    this.gemm(G.dxf, this.logits, this.embT, N, D, V, false, true, false);
    this.transpose(G.dyT, this.logits, N, V); this.transpose(G.xT, this.xf, N, D);
    this.gemm(P.tokEmb.grad, G.dyT, G.xT, V, D, N, false, true, true);
    G.dx.fill(0);
    this.rmsnormBack(G.dx, G.dxf, this.xOut, P.outNorm, this.rOut, N, D);
    for (let l = c.nLayers - 1; l >= 0; l--) {
      const W = P.layers[l], A = this.layers[l];
      // ffn: x = xMid + down(h2q)
      this.transpose(G.xT, A.h2q, N, F);
      this.linearBack(G.dh2, G.dx, G.xT, W.wDown, false);
      if (G.dh !== G.dh2) { G.dh.fill(0); this.rmsnormBack(G.dh, G.dh2, A.h, W.ffnSubNorm, A.rH, N, F); }
      const p = this.p;
      p[SwigluBackwardArg.Dg] = at(G.dg); p[SwigluBackwardArg.Du] = at(G.du); p[SwigluBackwardArg.Dh] = at(G.dh);
      p[SwigluBackwardArg.G] = at(A.g); p[SwigluBackwardArg.U] = at(A.u); p[SwigluBackwardArg.Length] = N * F;
      this.run(TrainJob.SwigluBackward);
      this.transpose(G.xT, A.fq, N, D);
      this.linearBack(G.dfq, G.dg, G.xT, W.wGate, false); this.linearBack(G.dfq, G.du, G.xT, W.wUp, true);
      this.rmsnormBack(G.dx, G.dfq, A.xMid, W.ffnNorm, A.rF, N, D); // the residual passes dx through
      // attention: x = xIn + wo(o2q)
      this.transpose(G.xT, A.o2q, N, D);
      this.linearBack(G.do2, G.dx, G.xT, W.wo, false);
      if (G.dO !== G.do2) { G.dO.fill(0); this.rmsnormBack(G.dO, G.do2, A.o, W.attnSubNorm, A.rO, N, D); }
      p[AttnBackwardArg.Dq] = at(G.dq); p[AttnBackwardArg.Dk] = at(G.dk); p[AttnBackwardArg.Dv] = at(G.dv);
      p[AttnBackwardArg.Dout] = at(G.dO); p[AttnBackwardArg.Probs] = at(A.probs); p[AttnBackwardArg.Q] = at(A.q);
      p[AttnBackwardArg.K] = at(A.k); p[AttnBackwardArg.V] = at(A.v); p[AttnBackwardArg.Dp] = at(G.dp); p[AttnBackwardArg.B] = B;
      p[AttnBackwardArg.T] = T; p[AttnBackwardArg.H] = H; p[AttnBackwardArg.HeadDim] = hd; this.f[TrainF64.Scale] = 1 / Math.sqrt(hd);
      this.run(TrainJob.AttnBackward);
      this.rope(G.dq, -1); this.rope(G.dk, -1);
      this.transpose(G.xT, A.aq, N, D);
      this.linearBack(G.daq, G.dq, G.xT, W.wq, false); this.linearBack(G.daq, G.dk, G.xT, W.wk, true);
      this.linearBack(G.daq, G.dv, G.xT, W.wv, true);
      this.rmsnormBack(G.dx, G.daq, A.xIn, W.attnNorm, A.rA, N, D);
    }
    // embedding
    const dE = P.tokEmb.grad, dx = G.dx;
    for (let t = 0; t < N; t++) {
      const o = this.tokens[t] * D;
      for (let j = 0; j < D; j++) dE[o + j] += dx[t * D + j];
    }
  }

  /** Peak f32 GEMM throughput of this model's kernel on its threads: a square GEMM repeated for ~`seconds`. */
  measureGemmPeak(seconds = 0.3): number {
    const saved = { ...this.gemmStats };
    // borrow three gradient buffers (rewritten by every backward): the largest square that fits, up to 256
    const [a, b, cc] = [this.grads.dg, this.grads.du, this.grads.dh2];
    const size = Math.min(256, Math.floor(Math.sqrt(a.length) / 4) * 4), n = size * size;
    a.fill(0.5, 0, n); b.fill(0.25, 0, n);
    let best = 0;
    const end = performance.now() + seconds * 1000;
    do {
      const t = performance.now();
      this.gemm(cc, a, b, size, size, size, false, true, false);
      best = Math.max(best, (2 * size ** 3) / ((performance.now() - t) / 1000) / 1e9);
    } while (performance.now() < end);
    Object.assign(this.gemmStats, saved);
    return best;
  }
}
