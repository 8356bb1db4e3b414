// The trainer's ablation switches used by scripts/reproduce.mjs (docs/REPRODUCTION.md): no sub-norms, absmax scale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Params, TrainModel, quantizeWeights, type TrainModelConfig } from '../src/train/model.js';
import { mulberry32 } from './util.js';

test('without sub-norms: backward matches finite differences, sub-norm weights get no gradient', () => {
  const cfg: TrainModelConfig = { vocabSize: 12, dim: 8, nLayers: 2, nHeads: 2, ffnDim: 12, seqLen: 5, normEps: 1e-5, ropeTheta: 10000, precision: 'fp', subNorm: false };
  const rnd = mulberry32(7);
  const params = new Params(cfg);
  params.init(rnd);
  for (let i = 0; i < params.data.length; i++) params.data[i] += (rnd() - 0.5) * 0.3;
  const model = new TrainModel(params, 2);
  const tokens = Int32Array.from({ length: 10 }, () => Math.floor(rnd() * 12));
  const targets = Int32Array.from({ length: 10 }, () => Math.floor(rnd() * 12));
  params.grad.fill(0);
  const loss = model.forward(tokens, targets);
  model.backward();
  // the sub-norm weights are unused: changing them changes nothing
  const sub = params.layers[0].attnSubNorm;
  sub.data[0] += 1;
  assert.equal(model.forward(tokens, targets), loss);
  sub.data[0] -= 1;
  assert.ok(params.layers.every((l) => l.attnSubNorm.grad.every((g) => g === 0) && l.ffnSubNorm.grad.every((g) => g === 0)));
  const eps = 1e-2;
  for (const v of params.views) {
    if (v.name.includes('SubNorm')) continue;
    for (let trial = 0; trial < 3; trial++) {
      const i = Math.floor(rnd() * v.data.length), old = v.data[i];
      v.data[i] = old + eps; const lp = model.forward(tokens, targets);
      v.data[i] = old - eps; const lm = model.forward(tokens, targets);
      v.data[i] = old;
      const num = (lp - lm) / (2 * eps), ana = v.grad[i];
      assert.ok(Math.abs(num - ana) / Math.max(1e-2, Math.abs(num) + Math.abs(ana)) < 0.05, `${v.name}[${i}]: ${num} vs ${ana}`);
    }
  }
});

test('absmax weight scale: scale = max|W|, only weights beyond half of it survive', () => {
  const w = Float32Array.from([0.1, -0.2, 0.9, -1.0, 0.55, 0.4]), out = new Float32Array(6);
  assert.equal(quantizeWeights(w, out, 'ternary', 'absmax'), 1);
  assert.deepEqual(Array.from(out, (v) => v + 0), [0, 0, 1, -1, 1, 0]); // + 0: -0 → 0
  const mean = w.reduce((s, v) => s + Math.abs(v), 0) / 6; // absmean (default): 0.525
  assert.ok(Math.abs(quantizeWeights(w, out, 'ternary') - mean) < 1e-7);
  assert.deepEqual(Array.from(out, (v) => Math.round(v / mean) + 0), [0, 0, 1, -1, 1, 1]);
});
