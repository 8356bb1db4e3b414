/** AdamW with global-norm gradient clipping, and the BitNet b1.58 two-stage schedule. */
import type { Params } from './model.js';

export interface Schedule {
  steps: number;
  warmup: number;
  lr1: number;      // stage 1 peak learning rate (first half)
  lr2: number;      // stage 2 learning rate (second half), decays linearly to lr2 * 0.1
  wd1: number;      // stage 1 weight decay (0.1 in the paper)
  wd2: number;      // stage 2 weight decay (0 in the paper)
}

/** Learning rate and weight decay at `step` (0-based). */
export function scheduleAt(s: Schedule, step: number): { lr: number; wd: number } {
  const mid = Math.floor(s.steps / 2);
  if (step < s.warmup) return { lr: (s.lr1 * (step + 1)) / s.warmup, wd: s.wd1 };
  if (step < mid) {
    const f = (step - s.warmup) / Math.max(1, mid - s.warmup);
    return { lr: s.lr1 * (1 - 0.3 * f), wd: s.wd1 }; // gentle decay within stage 1
  }
  const f = (step - mid) / Math.max(1, s.steps - mid);
  return { lr: s.lr2 * (1 - 0.9 * f), wd: s.wd2 };
}

export class AdamW {
  readonly m: Float32Array;
  readonly v: Float32Array;
  t = 0;
  constructor(private readonly params: Params, alloc: (n: number) => Float32Array = (n) => new Float32Array(n),
              readonly beta1 = 0.9, readonly beta2 = 0.95, readonly eps = 1e-8) {
    this.m = alloc(params.count);
    this.v = alloc(params.count);
  }

  /** Clips the gradient to maxNorm (global L2) and applies one update; returns the pre-clip norm. */
  step(lr: number, wd: number, maxNorm: number): number {
    const g = this.params.grad;
    let ss = 0;
    for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
    const norm = Math.sqrt(ss);
    const clip = maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1;
    this.t++;
    const b1c = 1 - this.beta1 ** this.t, b2c = 1 - this.beta2 ** this.t;
    let o = 0;
    for (const view of this.params.views) {
      const p = view.data, decay = view.decay ? wd : 0;
      for (let i = 0; i < p.length; i++, o++) {
        const gi = g[o] * clip;
        this.m[o] = this.beta1 * this.m[o] + (1 - this.beta1) * gi;
        this.v[o] = this.beta2 * this.v[o] + (1 - this.beta2) * gi * gi;
        p[i] -= lr * ((this.m[o] / b1c) / (Math.sqrt(this.v[o] / b2c) + this.eps) + decay * p[i]);
      }
    }
    return norm;
  }
}
