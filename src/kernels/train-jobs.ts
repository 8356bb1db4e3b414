/**
 * The training kernels (src/kernels/assembly/train.ts) as pool jobs: how many items each has and how a
 * range of them runs. Same control block as the inference jobs (jobs.ts merges this table into its own)
 * and the same convention: each job's parameter slots by name, one const enum per job; TrainModel
 * (src/train/wasm-model.ts) writes `p[GemmArg.C] = …` and the table below reads the same names.
 * Int slots index ThreadPool.params, f64 slots ThreadPool.f64. Splits never change results (see train.ts):
 * items own disjoint outputs.
 */
import type { JobSpec } from './jobs.js';

/** Exports of the training half of build/kernels-*.wasm (byte addresses into the shared memory). */
export interface TrainKernelExports {
  gemm(c: number, a: number, b: number, M: number, N: number, K: number, transA: number, transB: number, acc: number,
       i0: number, i1: number): void;
  rmsnormForward(out: number, rstd: number, x: number, w: number, d: number, eps: number, t0: number, t1: number): void;
  rmsnormBackward(dx: number, dwParts: number, dout: number, x: number, w: number, rstd: number, n: number, d: number,
                  b0: number, b1: number): void;
  sumParts(dst: number, parts: number, nParts: number, d: number, j0: number, j1: number): void;
  ropeRows(x: number, cos: number, sin: number, T: number, H: number, hd: number, sign: number, t0: number, t1: number): void;
  attentionForward(out: number, probs: number, q: number, k: number, v: number, T: number, H: number, hd: number,
                   scale: number, p0: number, p1: number): void;
  attentionBackward(dq: number, dk: number, dv: number, dout: number, probs: number, q: number, k: number, v: number,
                    dp: number, T: number, H: number, hd: number, scale: number, p0: number, p1: number): void;
  swigluForward(h: number, g: number, u: number, lo: number, hi: number): void;
  swigluBackward(dg: number, du: number, dh: number, g: number, u: number, lo: number, hi: number): void;
  crossEntropy(logits: number, targets: number, losses: number, V: number, invN: number, t0: number, t1: number): void;
  fakeQuantRows(out: number, x: number, dim: number, xq: number, invScales: number, xsum: number, t0: number, t1: number): void;
  ternaryGemm(c: number, xq: number, xsum: number, inv: number, codes: number, M: number, N: number, K: number, scale: number,
              acc: number, i0: number, i1: number): void;
  partialSums(x: number, n: number, parts: number, square: number, b0: number, b1: number): void;
  ternaryWeights(out: number, codes: number, w: number, scale: number, lo: number, hi: number): void;
  transpose(dst: number, src: number, rows: number, cols: number, j0: number, j1: number): void;
  adamw(p: number, g: number, m: number, v: number, lr: number, wd: number, clip: number, b1: number, b2: number,
        c1: number, c2: number, eps: number, lo: number, hi: number): void;
  NORM_BLOCK: WebAssembly.Global;
  SUM_BLOCK: WebAssembly.Global;
  TRANSPOSE_COLS: WebAssembly.Global;
}

export const enum TrainJob {
  Gemm = 32, RmsForward, RmsBackward, SumParts, Rope, AttnForward, AttnBackward,
  SwigluForward, SwigluBackward, CrossEntropy, FakeQuant, PartialSums, Ternary, AdamW, TernaryGemm, Transpose,
}

// Parameter slots of each job. Int slots hold i32 (addresses above 2 GiB read back negative: see u()).
/** C (+)= op(A)·op(B), C is M×N; flags 0/1. */
export const enum GemmArg { C, A, B, M, N, K, TransA, TransB, Accumulate }
/** out, rstd (N), x, w over N rows of D; f64 Eps. */
export const enum RmsForwardArg { Out, Rstd, X, W, N, D }
/** dx +=, dw partials per NormBlock rows. */
export const enum RmsBackwardArg { Dx, DwParts, Dout, X, W, Rstd, N, D, NormBlock }
/** dst[j] += Σ_p parts[p, j], D columns. */
export const enum SumPartsArg { Dst, Parts, NParts, D }
/** x (N rows of H heads), tables [T][hd/2]; Sign 1 forward, −1 inverse. */
export const enum RopeRowsArg { X, Cos, Sin, N, T, H, HeadDim, Sign }
/** Items: B·H (batch, head) pairs; f64 Scale. */
export const enum AttnForwardArg { Out, Probs, Q, K, V, B, T, H, HeadDim }
export const enum AttnBackwardArg { Dq, Dk, Dv, Dout, Probs, Q, K, V, Dp, B, T, H, HeadDim }
export const enum SwigluForwardArg { H, G, U, Length }
export const enum SwigluBackwardArg { Dg, Du, Dh, G, U, Length }
/** N rows of V logits; f64 InvN. */
export const enum CrossEntropyArg { Logits, Targets, Losses, N, V }
/** out = Qa(x) as f32 over N rows of Dim; Xq, InvScales, XSum: the int8 rows, their 1/s and Σ xq. */
export const enum FakeQuantArg { Out, X, N, Dim, Xq, InvScales, XSum }
/** C (+)= integer BitLinear of xq (M×K int8) and codes (N×K u8, w + 1); f64 Scale (the weights' absmean). */
export const enum TernaryGemmArg { C, Xq, XSum, InvScales, Codes, M, N, K, Accumulate }
/** parts[b] = Σ |x| or Σ x² over blocks of SumBlock floats. */
export const enum PartialSumsArg { X, N, Parts, Square, SumBlock }
/** out = ternary(w) over N floats, codes = its integers + 1 (u8; 0: none); f64 Scale. */
export const enum TernaryWeightsArg { Out, W, N, Codes }
/** Dst (Cols × Rows) = Srcᵀ, Src Rows × Cols; items: TransposeCols columns of Src each. */
export const enum TransposeArg { Dst, Src, Rows, Cols, TransposeCols }
/** One parameter tensor of N floats; f64 slots in AdamWF64. */
export const enum AdamWArg { P, G, M, V, N }
export const enum AdamWF64 { Lr, Wd, Clip, Beta1, Beta2, C1, C2, Eps }
/** The single f64 slot of RmsForward (Eps), AttnForward/AttnBackward (Scale), CrossEntropy (InvN), Ternary, TernaryGemm (Scale). */
export const enum TrainF64 { Eps = 0, Scale = 0, InvN = 0 }

/** GEMM rows per item (TernaryGemm: token rows); element-wise items are this many floats. */
export const GEMM_ROWS = 4;
export const INT_GEMM_ROWS = 16;
export const TRAIN_UNIT = 256;

const u = (v: number) => v >>> 0;
const units = (n: number) => Math.ceil(n / TRAIN_UNIT);
const range = (b: number, e: number, n: number): [number, number] => [b * TRAIN_UNIT, Math.min(e * TRAIN_UNIT, n)];

export const trainJobs: Record<number, JobSpec> = {
  [TrainJob.Gemm]: {
    items: (p) => Math.ceil(p[GemmArg.M] / GEMM_ROWS),
    run: (k, p, b, e) => k.gemm(u(p[GemmArg.C]), u(p[GemmArg.A]), u(p[GemmArg.B]), p[GemmArg.M], p[GemmArg.N], p[GemmArg.K],
      p[GemmArg.TransA], p[GemmArg.TransB], p[GemmArg.Accumulate], b * GEMM_ROWS, Math.min(e * GEMM_ROWS, p[GemmArg.M])),
  },
  [TrainJob.RmsForward]: {
    items: (p) => p[RmsForwardArg.N],
    run: (k, p, b, e, _t, _c, f) => k.rmsnormForward(u(p[RmsForwardArg.Out]), u(p[RmsForwardArg.Rstd]), u(p[RmsForwardArg.X]),
      u(p[RmsForwardArg.W]), p[RmsForwardArg.D], f[TrainF64.Eps], b, e),
  },
  [TrainJob.RmsBackward]: {
    items: (p) => Math.ceil(p[RmsBackwardArg.N] / p[RmsBackwardArg.NormBlock]),
    run: (k, p, b, e) => k.rmsnormBackward(u(p[RmsBackwardArg.Dx]), u(p[RmsBackwardArg.DwParts]), u(p[RmsBackwardArg.Dout]),
      u(p[RmsBackwardArg.X]), u(p[RmsBackwardArg.W]), u(p[RmsBackwardArg.Rstd]), p[RmsBackwardArg.N], p[RmsBackwardArg.D], b, e),
  },
  [TrainJob.SumParts]: {
    items: (p) => units(p[SumPartsArg.D]),
    run: (k, p, b, e) => k.sumParts(u(p[SumPartsArg.Dst]), u(p[SumPartsArg.Parts]), p[SumPartsArg.NParts], p[SumPartsArg.D],
      ...range(b, e, p[SumPartsArg.D])),
  },
  [TrainJob.Rope]: {
    items: (p) => p[RopeRowsArg.N],
    run: (k, p, b, e) => k.ropeRows(u(p[RopeRowsArg.X]), u(p[RopeRowsArg.Cos]), u(p[RopeRowsArg.Sin]), p[RopeRowsArg.T],
      p[RopeRowsArg.H], p[RopeRowsArg.HeadDim], p[RopeRowsArg.Sign], b, e),
  },
  [TrainJob.AttnForward]: {
    items: (p) => p[AttnForwardArg.B] * p[AttnForwardArg.H],
    run: (k, p, b, e, _t, _c, f) => k.attentionForward(u(p[AttnForwardArg.Out]), u(p[AttnForwardArg.Probs]), u(p[AttnForwardArg.Q]),
      u(p[AttnForwardArg.K]), u(p[AttnForwardArg.V]), p[AttnForwardArg.T], p[AttnForwardArg.H], p[AttnForwardArg.HeadDim],
      f[TrainF64.Scale], b, e),
  },
  [TrainJob.AttnBackward]: {
    items: (p) => p[AttnBackwardArg.B] * p[AttnBackwardArg.H],
    run: (k, p, b, e, _t, _c, f) => k.attentionBackward(u(p[AttnBackwardArg.Dq]), u(p[AttnBackwardArg.Dk]), u(p[AttnBackwardArg.Dv]),
      u(p[AttnBackwardArg.Dout]), u(p[AttnBackwardArg.Probs]), u(p[AttnBackwardArg.Q]), u(p[AttnBackwardArg.K]),
      u(p[AttnBackwardArg.V]), u(p[AttnBackwardArg.Dp]), p[AttnBackwardArg.T], p[AttnBackwardArg.H], p[AttnBackwardArg.HeadDim],
      f[TrainF64.Scale], b, e),
  },
  [TrainJob.SwigluForward]: {
    items: (p) => units(p[SwigluForwardArg.Length]),
    run: (k, p, b, e) => k.swigluForward(u(p[SwigluForwardArg.H]), u(p[SwigluForwardArg.G]), u(p[SwigluForwardArg.U]),
      ...range(b, e, p[SwigluForwardArg.Length])),
  },
  [TrainJob.SwigluBackward]: {
    items: (p) => units(p[SwigluBackwardArg.Length]),
    run: (k, p, b, e) => k.swigluBackward(u(p[SwigluBackwardArg.Dg]), u(p[SwigluBackwardArg.Du]), u(p[SwigluBackwardArg.Dh]),
      u(p[SwigluBackwardArg.G]), u(p[SwigluBackwardArg.U]), ...range(b, e, p[SwigluBackwardArg.Length])),
  },
  [TrainJob.CrossEntropy]: {
    items: (p) => p[CrossEntropyArg.N],
    run: (k, p, b, e, _t, _c, f) => k.crossEntropy(u(p[CrossEntropyArg.Logits]), u(p[CrossEntropyArg.Targets]),
      u(p[CrossEntropyArg.Losses]), p[CrossEntropyArg.V], f[TrainF64.InvN], b, e),
  },
  [TrainJob.FakeQuant]: {
    items: (p) => p[FakeQuantArg.N],
    run: (k, p, b, e) => k.fakeQuantRows(u(p[FakeQuantArg.Out]), u(p[FakeQuantArg.X]), p[FakeQuantArg.Dim], u(p[FakeQuantArg.Xq]),
      u(p[FakeQuantArg.InvScales]), u(p[FakeQuantArg.XSum]), b, e),
  },
  [TrainJob.PartialSums]: {
    items: (p) => Math.ceil(p[PartialSumsArg.N] / p[PartialSumsArg.SumBlock]),
    run: (k, p, b, e) => k.partialSums(u(p[PartialSumsArg.X]), p[PartialSumsArg.N], u(p[PartialSumsArg.Parts]),
      p[PartialSumsArg.Square], b, e),
  },
  [TrainJob.Ternary]: {
    items: (p) => units(p[TernaryWeightsArg.N]),
    run: (k, p, b, e, _t, _c, f) => k.ternaryWeights(u(p[TernaryWeightsArg.Out]), u(p[TernaryWeightsArg.Codes]), u(p[TernaryWeightsArg.W]),
      f[TrainF64.Scale],
      ...range(b, e, p[TernaryWeightsArg.N])),
  },
  [TrainJob.TernaryGemm]: {
    items: (p) => Math.ceil(p[TernaryGemmArg.M] / INT_GEMM_ROWS),
    run: (k, p, b, e, _t, _c, f) => k.ternaryGemm(u(p[TernaryGemmArg.C]), u(p[TernaryGemmArg.Xq]), u(p[TernaryGemmArg.XSum]),
      u(p[TernaryGemmArg.InvScales]), u(p[TernaryGemmArg.Codes]), p[TernaryGemmArg.M], p[TernaryGemmArg.N], p[TernaryGemmArg.K],
      f[TrainF64.Scale], p[TernaryGemmArg.Accumulate], b * INT_GEMM_ROWS, Math.min(e * INT_GEMM_ROWS, p[TernaryGemmArg.M])),
  },
  [TrainJob.Transpose]: {
    items: (p) => Math.ceil(p[TransposeArg.Cols] / p[TransposeArg.TransposeCols]),
    run: (k, p, b, e) => k.transpose(u(p[TransposeArg.Dst]), u(p[TransposeArg.Src]), p[TransposeArg.Rows], p[TransposeArg.Cols],
      b * p[TransposeArg.TransposeCols], Math.min(e * p[TransposeArg.TransposeCols], p[TransposeArg.Cols])),
  },
  [TrainJob.AdamW]: {
    items: (p) => units(p[AdamWArg.N]),
    run: (k, p, b, e, _t, _c, f) => k.adamw(u(p[AdamWArg.P]), u(p[AdamWArg.G]), u(p[AdamWArg.M]), u(p[AdamWArg.V]),
      f[AdamWF64.Lr], f[AdamWF64.Wd], f[AdamWF64.Clip], f[AdamWF64.Beta1], f[AdamWF64.Beta2], f[AdamWF64.C1], f[AdamWF64.C2],
      f[AdamWF64.Eps], ...range(b, e, p[AdamWArg.N])),
  },
};
