// Fixed-seed loss curves: the fast trainer (TrainModel: WASM kernels, integer forward, kernel AdamW) against
// the reference path (ReferenceModel + AdamW in plain TypeScript: f32 storage, f64 sums of the dequantized
// products, the arithmetic of the trainer before the kernels) over the same seeded init, batches and schedule.
// Tolerance (measured on this shape, 25 steps): at fp every step's loss within 1e-3 of the reference's, relative
// (measured ≤ 1e-4). At ternary the first step within 1e-6 (measured 3e-9), every step within 5e-2 (measured ≤ 2e-2)
// and the mean of the last 10 steps within 1e-2 (measured ~1e-3): after the first update a float difference flips a
// weight code or an int8 code at a rounding boundary now and then, so the two runs take slightly different (equally
// good) paths. A broken kernel or gradient moves the curve by far more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Params, ReferenceModel, type Precision, type TrainModelConfig } from '../src/train/model.js';
import { AdamW, scheduleAt } from '../src/train/optim.js';
import { TrainModel } from '../src/train/wasm-model.js';
import { seededRandom } from '../src/model/sampling.js';
import { Dataset } from '../src/train/trainer.js';

const STEPS = 25, B = 4, SEED = 7;
const sched = { steps: STEPS, warmup: 3, lr1: 1e-2, lr2: 5e-3, wd1: 0.1, wd2: 0 };

/** A learnable token stream: mostly the previous token + 1. */
function corpus(V: number, n: number): Int32Array {
  const r = seededRandom(99), out = new Int32Array(n);
  for (let i = 1; i < n; i++) out[i] = r() < 0.15 ? Math.floor(r() * V) : (out[i - 1] + 1) % V;
  return out;
}

type Stepper = { forward(t: Int32Array, y: Int32Array): number; backward(): void };

function curve(model: Stepper, params: Params, opt: AdamW, data: Dataset, T: number): number[] {
  const tokens = new Int32Array(B * T), targets = new Int32Array(B * T), losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const { lr, wd } = scheduleAt(sched, step);
    data.batch(seededRandom(SEED * 1_000_003 + step), B, T, tokens, targets); // as trainer.ts draws them
    params.grad.fill(0);
    losses.push(model.forward(tokens, targets));
    model.backward();
    opt.step(lr, wd, 1);
  }
  return losses;
}

for (const precision of ['ternary', 'fp'] as Precision[]) {
  test(`fixed-seed loss curve: fast trainer follows the reference path (${precision})`, async () => {
    const c: TrainModelConfig = { vocabSize: 64, dim: 32, nLayers: 2, nHeads: 2, ffnDim: 48, seqLen: 16, normEps: 1e-5, ropeTheta: 10000, precision };
    const data = new Dataset(corpus(c.vocabSize, 4000), 0.1);
    const refParams = new Params(c);
    refParams.init(seededRandom(SEED));
    const want = curve(new ReferenceModel(refParams, B), refParams, new AdamW(refParams), data, c.seqLen);
    const fast = await TrainModel.create(c, B, { threads: 2 });
    try {
      const init = new Params(c);
      init.init(seededRandom(SEED));
      fast.params.data.set(init.data);
      const got = curve(fast, fast.params, fast.opt, data, c.seqLen);
      assert.ok(want[STEPS - 1] < want[0] - 0.25, `the reference curve should fall: ${want[0]} -> ${want[STEPS - 1]}`);
      const tol = precision === 'fp' ? 1e-3 : 5e-2;
      for (let s = 0; s < STEPS; s++) {
        const rel = Math.abs(got[s] - want[s]) / want[s];
        assert.ok(rel <= (s === 0 && precision === 'ternary' ? 1e-6 : tol), `step ${s + 1}: loss ${got[s]} vs reference ${want[s]}`);
      }
      const tail = (xs: number[]) => xs.slice(-10).reduce((a, b) => a + b, 0) / 10;
      assert.ok(Math.abs(tail(got) - tail(want)) <= 1e-2 * tail(want), `last-10 mean ${tail(got)} vs reference ${tail(want)}`);
      const worst = Math.max(...got.map((g, s) => Math.abs(g - want[s]) / want[s]));
      console.log(`# ${precision}: ${want[0].toFixed(4)} -> ${want[STEPS - 1].toFixed(4)}; worst relative difference ${worst.toExponential(2)}`);
    } finally { fast.dispose(); }
  });
}
