/**
 * The training kernels (src/kernels/assembly/train.ts) as pool jobs: how many items each has and how a
 * range of them runs. Same control block and parameter slots as the inference jobs (jobs.ts merges this
 * table into its own). Splits never change results (see train.ts): items own disjoint outputs.
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
  fakeQuantRows(out: number, x: number, dim: number, xq: number, invScales: number, t0: number, t1: number): void;
  partialSums(x: number, n: number, parts: number, square: number, b0: number, b1: number): void;
  ternaryWeights(out: number, w: number, scale: number, lo: number, hi: number): void;
  adamw(p: number, g: number, m: number, v: number, lr: number, wd: number, clip: number, b1: number, b2: number,
        c1: number, c2: number, eps: number, lo: number, hi: number): void;
  NORM_BLOCK: WebAssembly.Global;
  SUM_BLOCK: WebAssembly.Global;
}

export const enum TrainJob {
  Gemm = 32, RmsForward, RmsBackward, SumParts, Rope, AttnForward, AttnBackward,
  SwigluForward, SwigluBackward, CrossEntropy, FakeQuant, PartialSums, Ternary, AdamW,
}

/** GEMM rows per item; element-wise items are this many floats. */
export const GEMM_ROWS = 4;
export const TRAIN_UNIT = 256;

const u = (v: number) => v >>> 0;
const units = (n: number) => Math.ceil(n / TRAIN_UNIT);
const range = (b: number, e: number, n: number): [number, number] => [b * TRAIN_UNIT, Math.min(e * TRAIN_UNIT, n)];

// p[i] is PARAMS + i, f[i] the f64 parameters; the orders below are the ones src/train/wasm-model.ts writes.
export const trainJobs: Record<number, JobSpec> = {
  // c, a, b, M, N, K, transA, transB, accumulate
  [TrainJob.Gemm]: {
    items: (p) => Math.ceil(p[3] / GEMM_ROWS),
    run: (k, p, b, e) => k.gemm(u(p[0]), u(p[1]), u(p[2]), p[3], p[4], p[5], p[6], p[7], p[8], b * GEMM_ROWS, Math.min(e * GEMM_ROWS, p[3])),
  },
  // out, rstd, x, w, n, d; f[0] = eps
  [TrainJob.RmsForward]: {
    items: (p) => p[4],
    run: (k, p, b, e, _t, _c, f) => k.rmsnormForward(u(p[0]), u(p[1]), u(p[2]), u(p[3]), p[5], f[0], b, e),
  },
  // dx, dwParts, dout, x, w, rstd, n, d, normBlock
  [TrainJob.RmsBackward]: {
    items: (p) => Math.ceil(p[6] / p[8]),
    run: (k, p, b, e) => k.rmsnormBackward(u(p[0]), u(p[1]), u(p[2]), u(p[3]), u(p[4]), u(p[5]), p[6], p[7], b, e),
  },
  // dst, parts, nParts, d
  [TrainJob.SumParts]: {
    items: (p) => units(p[3]),
    run: (k, p, b, e) => k.sumParts(u(p[0]), u(p[1]), p[2], p[3], ...range(b, e, p[3])),
  },
  // x, cos, sin, n, T, H, hd, sign
  [TrainJob.Rope]: {
    items: (p) => p[3],
    run: (k, p, b, e) => k.ropeRows(u(p[0]), u(p[1]), u(p[2]), p[4], p[5], p[6], p[7], b, e),
  },
  // out, probs, q, k, v, B, T, H, hd; f[0] = scale
  [TrainJob.AttnForward]: {
    items: (p) => p[5] * p[7],
    run: (k, p, b, e, _t, _c, f) => k.attentionForward(u(p[0]), u(p[1]), u(p[2]), u(p[3]), u(p[4]), p[6], p[7], p[8], f[0], b, e),
  },
  // dq, dk, dv, dout, probs, q, k, v, dp, B, T, H, hd; f[0] = scale
  [TrainJob.AttnBackward]: {
    items: (p) => p[9] * p[11],
    run: (k, p, b, e, _t, _c, f) => k.attentionBackward(u(p[0]), u(p[1]), u(p[2]), u(p[3]), u(p[4]), u(p[5]), u(p[6]), u(p[7]),
      u(p[8]), p[10], p[11], p[12], f[0], b, e),
  },
  // h, g, u, length
  [TrainJob.SwigluForward]: {
    items: (p) => units(p[3]),
    run: (k, p, b, e) => k.swigluForward(u(p[0]), u(p[1]), u(p[2]), ...range(b, e, p[3])),
  },
  // dg, du, dh, g, u, length
  [TrainJob.SwigluBackward]: {
    items: (p) => units(p[5]),
    run: (k, p, b, e) => k.swigluBackward(u(p[0]), u(p[1]), u(p[2]), u(p[3]), u(p[4]), ...range(b, e, p[5])),
  },
  // logits, targets, losses, n, V; f[0] = 1/n
  [TrainJob.CrossEntropy]: {
    items: (p) => p[3],
    run: (k, p, b, e, _t, _c, f) => k.crossEntropy(u(p[0]), u(p[1]), u(p[2]), p[4], f[0], b, e),
  },
  // out, x, n, dim, xq, invScales
  [TrainJob.FakeQuant]: {
    items: (p) => p[2],
    run: (k, p, b, e) => k.fakeQuantRows(u(p[0]), u(p[1]), p[3], u(p[4]), u(p[5]), b, e),
  },
  // x, n, parts, square, sumBlock
  [TrainJob.PartialSums]: {
    items: (p) => Math.ceil(p[1] / p[4]),
    run: (k, p, b, e) => k.partialSums(u(p[0]), p[1], u(p[2]), p[3], b, e),
  },
  // out, w, n; f[0] = scale
  [TrainJob.Ternary]: {
    items: (p) => units(p[2]),
    run: (k, p, b, e, _t, _c, f) => k.ternaryWeights(u(p[0]), u(p[1]), f[0], ...range(b, e, p[2])),
  },
  // p, g, m, v, n; f = lr, wd, clip, b1, b2, c1, c2, eps
  [TrainJob.AdamW]: {
    items: (p) => units(p[4]),
    run: (k, p, b, e, _t, _c, f) => k.adamw(u(p[0]), u(p[1]), u(p[2]), u(p[3]), f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7],
      ...range(b, e, p[4])),
  },
};
