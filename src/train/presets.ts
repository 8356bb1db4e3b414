/** Training presets: shapes and schedules that fit this kind of machine (2 cores). */
import type { Precision } from './model.js';

export interface TrainConfig {
  vocabSize: number; dim: number; nLayers: number; nHeads: number; ffnDim: number; seqLen: number;
  batch: number; steps: number;
  warmup: number;          // linear warmup steps (resolved: --warmup, or round(warmupFraction × steps))
  warmupFraction?: number; // a preset's warmup as a fraction of its steps, so a shorter run warms up for less
  lr1: number; lr2: number; wd1: number; wd2: number;
  gradClip: number; evalEvery: number; evalBatches: number; checkpointEvery: number;
  seed: number; precision: Precision; normEps: number; ropeTheta: number; valFraction: number;
  weightScale?: 'absmean' | 'absmax'; subNorm?: boolean; // ablations (docs/REPRODUCTION.md)
}

const base = { normEps: 1e-5, ropeTheta: 10000, wd1: 0.1, wd2: 0, gradClip: 1, seed: 1234, precision: 'ternary' as Precision, valFraction: 0.05 };

/** Warmup steps of a config: its fraction of the total steps, or its fixed count when it gives no fraction. */
export function warmupSteps(c: Pick<TrainConfig, 'steps' | 'warmup' | 'warmupFraction'>): number {
  return c.warmupFraction === undefined ? c.warmup : Math.max(1, Math.round(c.warmupFraction * c.steps));
}

const preset = (c: Omit<TrainConfig, 'warmup'> & { warmupFraction: number }): TrainConfig => ({ ...c, warmup: warmupSteps({ ...c, warmup: 0 }) });

export const PRESETS: Record<string, TrainConfig> = {
  // seconds: for tests
  tiny: preset({ ...base, vocabSize: 300, dim: 32, nLayers: 2, nHeads: 2, ffnDim: 64, seqLen: 32, batch: 4, steps: 30, warmupFraction: 1 / 6,
          lr1: 3e-3, lr2: 2e-3, evalEvery: 10, evalBatches: 2, checkpointEvery: 10 }),
  // ~half an hour on one core: the bundled model
  small: preset({ ...base, vocabSize: 1024, dim: 256, nLayers: 4, nHeads: 4, ffnDim: 768, seqLen: 64, batch: 16, steps: 2400,
           warmupFraction: 1 / 24, lr1: 3e-3, lr2: 1.5e-3, evalEvery: 50, evalBatches: 8, checkpointEvery: 50 }),
  // a few hours
  medium: preset({ ...base, vocabSize: 2048, dim: 384, nLayers: 6, nHeads: 6, ffnDim: 1024, seqLen: 256, batch: 16, steps: 4000,
            warmupFraction: 1 / 20, lr1: 1.5e-3, lr2: 1e-3, evalEvery: 100, evalBatches: 8, checkpointEvery: 100 }),
};
