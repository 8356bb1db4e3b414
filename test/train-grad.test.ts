// Gradient checks: every layer pair of the reference (src/train/model.ts) against finite differences, the
// whole reference model at fp and at ternary precision (through the straight-through surrogate), and the
// fast model (src/train/wasm-model.ts: WASM kernels on the worker pool) against the reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Params, ReferenceModel, attentionBackward, attentionForward, bitlinearBackward, bitlinearForward, crossEntropy, matmulNT,
  rmsnormBackward, rmsnormForward, swigluBackward, swigluForward, ternaryForwardRef, type Precision, type TrainModelConfig,
} from '../src/train/model.js';
import { TrainModel } from '../src/train/wasm-model.js';
import { allIndices, gradCheck, mulberry32, randomIndices } from './util.js';

const cfg: TrainModelConfig = { vocabSize: 12, dim: 8, nLayers: 2, nHeads: 2, ffnDim: 12, seqLen: 5, normEps: 1e-5, ropeTheta: 10000, precision: 'fp' };

const rand = (rnd: () => number, n: number, scale = 1) => Float32Array.from({ length: n }, () => (rnd() - 0.5) * scale);

/** Central differences of f in every element of each input, against the analytic gradients. */
const checkGrad = (name: string, f: () => number, pairs: Array<[Float32Array, Float32Array]>) => {
  for (const [arr, grad] of pairs) gradCheck(f, arr, grad, allIndices(arr.length), { label: `${name} grad` });
};

const dotWith = (g: Float32Array) => (o: Float32Array) => o.reduce((s, v, i) => s + v * g[i], 0);

test('layer pairs: RMSNorm, attention, SiLU gate, BitLinear (STE), cross-entropy match finite differences', () => {
  const rnd = mulberry32(5);
  {
    const n = 3, d = 6;
    const x = rand(rnd, n * d), w = Float32Array.from({ length: d }, () => rnd() + 0.5), g = rand(rnd, n * d);
    const f = () => { const o = new Float32Array(n * d); rmsnormForward(o, new Float32Array(n), x, w, n, d, 1e-5); return dotWith(g)(o); };
    const dx = new Float32Array(n * d), dw = new Float32Array(d), out = new Float32Array(n * d), r = new Float32Array(n);
    rmsnormForward(out, r, x, w, n, d, 1e-5);
    rmsnormBackward(dx, dw, g, x, w, r, n, d);
    checkGrad('rmsnorm', f, [[x, dx], [w, dw]]);
  }
  {
    const B = 1, T = 4, H = 2, hd = 4, D = 8;
    const q = rand(rnd, T * D), k = rand(rnd, T * D), v = rand(rnd, T * D), go = rand(rnd, T * D);
    const f = () => { const o = new Float32Array(T * D); attentionForward(o, new Float32Array(H * T * T), q, k, v, B, T, H, hd); return dotWith(go)(o); };
    const o = new Float32Array(T * D), p = new Float32Array(H * T * T);
    attentionForward(o, p, q, k, v, B, T, H, hd);
    const dq = new Float32Array(T * D), dk = new Float32Array(T * D), dv = new Float32Array(T * D);
    attentionBackward(dq, dk, dv, go, p, q, k, v, B, T, H, hd);
    checkGrad('attention', f, [[q, dq], [k, dk], [v, dv]]);
  }
  {
    const n = 10, gIn = rand(rnd, n, 4), u = rand(rnd, n, 2), dh = rand(rnd, n);
    const f = () => { const h = new Float32Array(n); swigluForward(h, gIn, u, n); return dotWith(dh)(h); };
    const dg = new Float32Array(n), du = new Float32Array(n);
    swigluBackward(dg, du, dh, gIn, u, n);
    checkGrad('silu gate', f, [[gIn, dg], [u, du]]);
  }
  {
    // BitLinear with STE: the gradient flows to the quantized operands (here passed as the inputs)
    const n = 3, rows = 4, cols = 5, xq = rand(rnd, n * cols), qw = rand(rnd, rows * cols), dy = rand(rnd, n * rows);
    const f = () => { const y = new Float32Array(n * rows); bitlinearForward(y, xq, qw, n, rows, cols); return dotWith(dy)(y); };
    const dx = new Float32Array(n * cols), dW = new Float32Array(rows * cols);
    bitlinearBackward(dx, dW, dy, xq, qw, n, rows, cols);
    checkGrad('bitlinear', f, [[xq, dx], [qw, dW]]);
  }
  {
    const n = 3, V = 7, logits = rand(rnd, n * V, 4), targets = Int32Array.from([0, 6, 3]);
    const f = () => crossEntropy(logits.slice(), targets, n, V);
    const grad = logits.slice();
    crossEntropy(grad, targets, n, V);
    checkGrad('cross-entropy', f, [[logits, grad]]);
  }
});

function setup(c: TrainModelConfig, seed: number) {
  const rnd = mulberry32(seed);
  const params = new Params(c);
  params.init(rnd);
  for (let i = 0; i < params.data.length; i++) params.data[i] += (rnd() - 0.5) * 0.3; // break symmetry of norms
  const n = 2 * c.seqLen;
  const tokens = Int32Array.from({ length: n }, () => Math.floor(rnd() * c.vocabSize));
  const targets = Int32Array.from({ length: n }, () => Math.floor(rnd() * c.vocabSize));
  return { rnd, params, tokens, targets };
}

for (const precision of ['fp', 'ternary'] as Precision[]) {
  test(`whole reference model: backward matches finite differences (${precision}${precision === 'ternary' ? ', STE surrogate' : ''})`, () => {
    const { rnd, params, tokens, targets } = setup({ ...cfg, precision }, 3);
    const model = new ReferenceModel(params, 2);
    params.grad.fill(0);
    model.quantization = 'record';
    model.forward(tokens, targets);
    model.backward();
    model.quantization = precision === 'fp' ? 'live' : 'frozen';
    const eps = precision === 'fp' ? 1e-2 : 2e-3; // the surrogate is more curved: ternary weights have larger gains
    const loss = () => model.forward(tokens, targets);
    for (const v of params.views) gradCheck(loss, v.data, v.grad, randomIndices(rnd, v.data.length, 3), { eps, relTol: 0.05, label: v.name });
  });
}

test('fast GEMM (NT, NN, TN; accumulate; odd shapes) equals the reference product', async () => {
  const rnd = mulberry32(9);
  const model = await TrainModel.create({ ...cfg, vocabSize: 4096 }, 2, { threads: 2 });
  const buf = model.params.grad; // scratch in the model's memory
  try {
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 7], [7, 9, 36], [13, 33, 20], [64, 17, 64]]) {
      for (const [transA, transB] of [[false, true], [false, false], [true, false]]) {
        const a = buf.subarray(0, M * K), b = buf.subarray(M * K, M * K + N * K), c = buf.subarray(M * K + N * K, M * K + N * K + M * N);
        a.set(rand(rnd, M * K)); b.set(rand(rnd, N * K)); c.set(rand(rnd, M * N));
        // the reference takes A as M×K and B as N×K
        const aRef = transA ? Float32Array.from({ length: M * K }, (_, x) => a[(x % K) * M + Math.floor(x / K)]) : a.slice();
        const bRef = transB ? b.slice() : Float32Array.from({ length: N * K }, (_, x) => b[(x % K) * N + Math.floor(x / K)]);
        const want = c.slice();
        matmulNT(want, aRef, bRef, M, N, K, true);
        model.gemm(c, a, b, M, N, K, transA, transB, true);
        for (let i = 0; i < M * N; i++) assert.ok(Math.abs(c[i] - want[i]) < 1e-5, `${M}x${N}x${K} tA=${transA} tB=${transB} at ${i}: ${c[i]} vs ${want[i]}`);
      }
    }
  } finally { model.dispose(); }
});

test('dot-form GEMM past its L2 column block (K = 1100: blocks of 236 columns) and the packing transpose (odd shapes)', async () => {
  const rnd = mulberry32(17);
  const model = await TrainModel.create({ ...cfg, vocabSize: 50000 }, 2, { threads: 3 });
  const buf = model.params.grad; // scratch in the model's memory (400k floats)
  try {
    const M = 5, N = 300, K = 1100;
    const a = buf.subarray(0, M * K), b = buf.subarray(M * K, M * K + N * K), c = buf.subarray(M * K + N * K, M * K + N * K + M * N);
    a.set(rand(rnd, M * K)); b.set(rand(rnd, N * K)); c.set(rand(rnd, M * N));
    const want = c.slice();
    matmulNT(want, a.slice(), b.slice(), M, N, K, true);
    model.gemm(c, a, b, M, N, K, false, true, true);
    for (let i = 0; i < M * N; i++) assert.ok(Math.abs(c[i] - want[i]) < 1e-4, `at ${i}: ${c[i]} vs ${want[i]}`);
    for (const [rows, cols] of [[1, 1], [3, 5], [4, 16], [7, 37], [64, 20], [130, 67]]) {
      const src = buf.subarray(0, rows * cols), dst = buf.subarray(rows * cols, 2 * rows * cols);
      src.set(rand(rnd, rows * cols)); dst.fill(NaN);
      model.transpose(dst, src, rows, cols);
      for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) assert.equal(dst[j * rows + r], src[r * cols + j], `${rows}x${cols} (${r}, ${j})`);
    }
  } finally { model.dispose(); }
});

test('integer BitLinear forward (ternaryGemm) is bit-exact with ternaryForwardRef (odd shapes, K past the i16 flush, accumulate)', async () => {
  const rnd = mulberry32(21);
  const model = await TrainModel.create({ ...cfg, vocabSize: 4096 }, 2, { threads: 3 });
  const mem = model.params.grad.buffer, base = model.params.grad.byteOffset; // scratch in the model's memory
  try {
    for (const [M, N, K] of [[1, 1, 1], [3, 5, 17], [7, 9, 48], [33, 6, 1100], [40, 12, 256], [17, 4, 520]]) {
      let o = base;
      const take = <T>(make: (b: ArrayBufferLike, off: number, n: number) => T, n: number, bytes: number): T => {
        const v = make(mem, o, n); o += Math.ceil((n * bytes) / 16) * 16; return v;
      };
      const xq = take((b, off, n) => new Int8Array(b, off, n), M * K, 1);
      const codes = take((b, off, n) => new Uint8Array(b, off, n), N * K, 1);
      const xsum = take((b, off, n) => new Int32Array(b, off, n), M, 4);
      const inv = take((b, off, n) => new Float32Array(b, off, n), M, 4);
      const c = take((b, off, n) => new Float32Array(b, off, n), M * N, 4);
      for (let i = 0; i < M * K; i++) xq[i] = i % 11 === 0 ? (i % 2 ? 127 : -128) : Math.floor(rnd() * 255) - 127; // extremes
      for (let i = 0; i < N * K; i++) codes[i] = i % 13 === 0 ? 2 : Math.floor(rnd() * 3);
      for (let i = 0; i < M; i++) { let s = 0; for (let k = 0; k < K; k++) s += xq[i * K + k]; xsum[i] = s; inv[i] = 0.001 + rnd() * 0.05; }
      const scale = 0.0123;
      for (const accumulate of [false, true]) {
        c.set(rand(rnd, M * N));
        const want = c.slice();
        ternaryForwardRef(want, xq, inv, codes, M, N, K, scale, accumulate);
        model.ternaryGemm(c, xq, xsum, inv, codes, M, N, K, scale, accumulate);
        for (let i = 0; i < M * N; i++) assert.equal(c[i], want[i], `${M}x${N}x${K} acc=${accumulate} at ${i}`);
      }
    }
  } finally { model.dispose(); }
});

const variants: Array<[string, TrainModelConfig]> = [
  ['fp', cfg],
  ['ternary', { ...cfg, precision: 'ternary' }],
  ['binary', { ...cfg, precision: 'binary' }],
  ['ternary, no sub-norms, absmax', { ...cfg, precision: 'ternary', subNorm: false, weightScale: 'absmax' }],
  ['ternary, odd shapes', { vocabSize: 37, dim: 12, nLayers: 1, nHeads: 2, ffnDim: 20, seqLen: 7, normEps: 1e-5, ropeTheta: 500, precision: 'ternary' }],
];

for (const [name, c] of variants) {
  test(`fast model equals the reference: loss and every gradient (${name}); 1 and 3 threads bit-identical`, async () => {
    const { params, tokens, targets } = setup(c, 11);
    const ref = new ReferenceModel(params, 2);
    params.grad.fill(0);
    const refLoss = ref.forward(tokens, targets);
    ref.backward();
    const grads: Float32Array[] = [];
    for (const threads of [1, 3]) {
      const fast = await TrainModel.create(c, 2, { threads });
      try {
        fast.params.data.set(params.data);
        fast.params.grad.fill(0);
        const loss = fast.forward(tokens, targets);
        fast.backward();
        assert.ok(Math.abs(loss - refLoss) < 1e-5 * Math.abs(refLoss), `loss ${loss} vs reference ${refLoss}`);
        for (let v = 0; v < params.views.length; v++) {
          const want = params.views[v].grad, got = fast.params.views[v].grad;
          const scale = want.reduce((m, g) => Math.max(m, Math.abs(g)), 0);
          for (let i = 0; i < want.length; i++) {
            assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * scale + 1e-7, `${params.views[v].name}[${i}]: ${got[i]} vs reference ${want[i]}`);
          }
        }
        grads.push(fast.params.grad.slice());
      } finally { fast.dispose(); }
    }
    assert.deepEqual(grads[0], grads[1]);
  });
}

test('fast AdamW equals the reference AdamW (clipping, decay only on matrices)', async () => {
  const { rnd, params } = setup(cfg, 4);
  const fast = await TrainModel.create(cfg, 2, { threads: 2 });
  try {
    fast.params.data.set(params.data);
    const { AdamW } = await import('../src/train/optim.js');
    const ref = new AdamW(params);
    for (let step = 0; step < 3; step++) {
      const g = rand(rnd, params.count, 0.2);
      params.grad.set(g); fast.params.grad.set(g);
      const n1 = ref.step(1e-2, 0.1, 1), n2 = fast.opt.step(1e-2, 0.1, 1);
      assert.ok(Math.abs(n1 - n2) < 1e-5 * n1);
    }
    for (let i = 0; i < params.count; i++) assert.ok(Math.abs(params.data[i] - fast.params.data[i]) < 1e-5, `param ${i}`);
  } finally { fast.dispose(); }
});
