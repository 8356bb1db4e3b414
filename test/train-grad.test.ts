import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Params, TrainModel, attentionBackward, attentionForward, rmsnormBackward, rmsnormForward, type TrainModelConfig } from '../src/train/model.js';
import { gemmNT, gemmNTRef, trainGemmBackend } from '../src/kernels/train-gemm.js';
import { allIndices, gradCheck, mulberry32, randomIndices } from './util.js';

const cfg: TrainModelConfig = { vocabSize: 12, dim: 8, nLayers: 2, nHeads: 2, ffnDim: 12, seqLen: 5, normEps: 1e-5, ropeTheta: 10000, precision: 'fp' };

test('whole-model backward matches finite differences (fp precision)', () => {
  const rnd = mulberry32(3);
  const params = new Params(cfg);
  params.init(rnd);
  for (let i = 0; i < params.data.length; i++) params.data[i] += (rnd() - 0.5) * 0.3; // break symmetry of norms
  const model = new TrainModel(params, 2);
  const tokens = Int32Array.from({ length: 10 }, () => Math.floor(rnd() * 12));
  const targets = Int32Array.from({ length: 10 }, () => Math.floor(rnd() * 12));
  params.grad.fill(0);
  model.forward(tokens, targets);
  model.backward();
  const loss = () => model.forward(tokens, targets);
  let worst = 0;
  for (const v of params.views) {
    const at = randomIndices(rnd, v.data.length, 3);
    worst = Math.max(worst, gradCheck(loss, v.data, v.grad, at, { relTol: 0.05, label: v.name }));
  }
  assert.ok(worst < 0.05);
});

test('rmsnorm and attention backward match finite differences', () => {
  const rnd = mulberry32(5);
  const n = 3, d = 6;
  const x = Float32Array.from({ length: n * d }, () => rnd() - 0.5), w = Float32Array.from({ length: d }, () => rnd() + 0.5);
  const g = Float32Array.from({ length: n * d }, () => rnd() - 0.5);
  const f = () => { const o = new Float32Array(n * d), r = new Float32Array(n); rmsnormForward(o, r, x, w, n, d, 1e-5); return o.reduce((s, v, i) => s + v * g[i], 0); };
  const dx = new Float32Array(n * d), dw = new Float32Array(d), out = new Float32Array(n * d), r = new Float32Array(n);
  rmsnormForward(out, r, x, w, n, d, 1e-5);
  rmsnormBackward(dx, dw, g, x, w, r, n, d);
  for (const [arr, grad] of [[x, dx], [w, dw]] as const) gradCheck(f, arr, grad, allIndices(arr.length), { label: 'rmsnorm grad' });
  const B = 1, T = 4, H = 2, hd = 4, D = 8;
  const q = Float32Array.from({ length: T * D }, () => rnd() - 0.5), k = q.map(() => rnd() - 0.5), v = q.map(() => rnd() - 0.5);
  const go = q.map(() => rnd() - 0.5);
  const fa = () => { const o = new Float32Array(T * D), p = new Float32Array(H * T * T); attentionForward(o, p, q, k, v, B, T, H, hd); return o.reduce((s, x, i) => s + x * go[i], 0); };
  const o = new Float32Array(T * D), p = new Float32Array(H * T * T);
  attentionForward(o, p, q, k, v, B, T, H, hd);
  const dq = new Float32Array(T * D), dk = new Float32Array(T * D), dv = new Float32Array(T * D);
  attentionBackward(dq, dk, dv, go, p, q, k, v, B, T, H, hd);
  for (const [arr, grad] of [[q, dq], [k, dk], [v, dv]] as const) gradCheck(fa, arr, grad, allIndices(arr.length), { label: 'attention grad' });
});

test('wasm GEMM equals the reference GEMM (odd shapes, accumulate)', () => {
  // if build/train.wasm failed to load, gemmNT would be the reference itself and this test would prove nothing
  assert.equal(trainGemmBackend(), 'wasm-simd128');
  const rnd = mulberry32(9);
  for (const [M, N, K] of [[1, 1, 4], [3, 5, 8], [7, 9, 36], [64, 33, 128]]) {
    const a = Float32Array.from({ length: M * K }, () => rnd() - 0.5), b = Float32Array.from({ length: N * K }, () => rnd() - 0.5);
    const c1 = Float32Array.from({ length: M * N }, () => rnd()), c2 = c1.slice();
    gemmNT(c1, a, b, M, N, K, true); gemmNTRef(c2, a, b, M, N, K, true);
    for (let i = 0; i < c1.length; i++) assert.ok(Math.abs(c1[i] - c2[i]) < 1e-4, `${M}x${N}x${K} at ${i}`);
  }
});
