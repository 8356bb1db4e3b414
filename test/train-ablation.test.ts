// The trainer's ablation switches used by scripts/reproduce.mjs (docs/REPRODUCTION.md): no sub-norms, absmax scale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Params, ReferenceModel, quantizeWeights, type TrainModelConfig } from '../src/train/model.js';
import { gradCheck, mulberry32, randomIndices } from './util.js';

test('without sub-norms: backward matches finite differences, sub-norm weights get no gradient', () => {
  const cfg: TrainModelConfig = { vocabSize: 12, dim: 8, nLayers: 2, nHeads: 2, ffnDim: 12, seqLen: 5, normEps: 1e-5, ropeTheta: 10000, precision: 'fp', subNorm: false };
  const rnd = mulberry32(7);
  const params = new Params(cfg);
  params.init(rnd);
  for (let i = 0; i < params.data.length; i++) params.data[i] += (rnd() - 0.5) * 0.3;
  const model = new ReferenceModel(params, 2);
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
  const f = () => model.forward(tokens, targets);
  for (const v of params.views) {
    if (v.name.includes('SubNorm')) continue;
    gradCheck(f, v.data, v.grad, randomIndices(rnd, v.data.length, 3), { relTol: 0.05, label: v.name });
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
