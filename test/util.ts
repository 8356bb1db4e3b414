/** Helpers shared by the tests: the CLI's path, a seeded PRNG, a random-weight model, a gradient check. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { modelFromWeights, type LoadOptions, type Model } from '../src/model/index.js';
import { seededRandom } from '../src/model/sampling.js';
import { shapeOf, synthTokenizer, synthWeights, type ShapeSpec } from '../src/model/synth.js';
import type { TernaryMatrix } from '../src/quant/matrix.js';

/** bin/bitnet.js (tests run from dist/test/). */
export const CLI = fileURLToPath(new URL('../../bin/bitnet.js', import.meta.url));

/** Seeded PRNG in [0, 1): the library's mulberry32 (model/sampling.ts). */
export const mulberry32 = seededRandom;

/** A random-weight model (model/synth.ts) of a shape, with the synthetic tokenizer of its vocabulary. */
export async function synthModel(shape: string | ShapeSpec, seed: number, logitScale: number, opts: LoadOptions = {}): Promise<Model> {
  const vocab = (typeof shape === 'string' ? shapeOf(shape) : shape).vocabSize;
  return modelFromWeights(synthWeights(shape, seed, logitScale), synthTokenizer(vocab), opts);
}

/**
 * Central finite differences of the scalar f() against the analytic gradient `grad` of `arr`, at `indices`:
 * |num - ana| < absTol, or (with relTol) |num - ana| / max(1e-2, |num| + |ana|) < relTol. f is evaluated with
 * arr[i] moved by ±eps and arr is restored. Returns the worst error seen.
 */
export function gradCheck(f: () => number, arr: Float32Array, grad: Float32Array, indices: Iterable<number>,
                          o: { eps?: number; absTol?: number; relTol?: number; label: string }): number {
  const eps = o.eps ?? 1e-2;
  let worst = 0;
  for (const i of indices) {
    const old = arr[i];
    arr[i] = old + eps; const lp = f();
    arr[i] = old - eps; const lm = f();
    arr[i] = old;
    const num = (lp - lm) / (2 * eps), ana = grad[i];
    const err = o.relTol !== undefined ? Math.abs(num - ana) / Math.max(1e-2, Math.abs(num) + Math.abs(ana)) : Math.abs(num - ana);
    assert.ok(err < (o.relTol ?? o.absTol ?? 2e-3), `${o.label}[${i}]: numeric ${num} vs analytic ${ana}`);
    worst = Math.max(worst, err);
  }
  return worst;
}

/**
 * Random TernaryMatrix(rows, cols, blockSize, uniformScales) drawn from rnd: codes uniform over {0, 1, 2}, then per
 * row a scale 0.5 + rnd() (every block of the row, with uniformScales) or one per block; `round` maps each scale
 * (e.g. to an f16-exact value for file layouts with f16 scales).
 */
export function randomTernaryFrom(rnd: () => number, round: (s: number) => number = (s) => s) {
  return (rows: number, cols: number, blockSize: number, uniformScales: boolean): TernaryMatrix => {
    const codes = new Uint8Array((rows * cols) / 4);
    for (let i = 0; i < codes.length; i++) {
      let b = 0;
      for (let k = 0; k < 4; k++) b |= Math.floor(rnd() * 3) << (2 * k);
      codes[i] = b;
    }
    const nb = cols / blockSize, scales = new Float32Array(rows * nb);
    for (let r = 0; r < rows; r++) {
      const s = round(0.5 + rnd());
      for (let b = 0; b < nb; b++) scales[r * nb + b] = uniformScales ? s : round(0.5 + rnd());
    }
    return { rows, cols, codes, blockSize, scales };
  };
}

/** `count` indices in [0, n) drawn from rnd. */
export const randomIndices = (rnd: () => number, n: number, count: number): number[] =>
  Array.from({ length: count }, () => Math.floor(rnd() * n));

/** 0, 1, ..., n-1. */
export const allIndices = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
