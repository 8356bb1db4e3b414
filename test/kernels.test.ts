// WASM backend vs the pure-TS reference: every kernel, both ISA variants (relaxed SIMD, SIMD128),
// 1/2/3 threads, n = 1 and n > 1, odd shapes. Integer parts bit-exact, float parts within tolerance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Backend } from '../src/kernels/backend.js';
import * as ref from '../src/kernels/reference.js';
import { createBackend, supportedVariants, WasmBackend, type WasmVariant } from '../src/kernels/index.js';
import { f32ToF16 } from '../src/quant/half.js';
import { KVCache } from '../src/model/kv-cache.js';
import { randomTernaryFrom } from './util.js';

let seed = 12345;
function rand(): number { // deterministic LCG in [0, 1)
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
}
const randn = (len: number, scale = 1) => Float32Array.from({ length: len }, () => (rand() * 2 - 1) * scale);

const randomTernary = randomTernaryFrom(rand);

function assertClose(actual: Float32Array, expected: Float32Array, rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1e-6;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= rel * scale)) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (|err| ${err} > ${rel} * ${scale})`);
  }
}

const variants = await supportedVariants();
const configs: Array<{ variant: WasmVariant; threads: number }> = [];
for (const variant of variants) for (const threads of [1, 2, 3]) configs.push({ variant, threads });

test('both ISA variants are available on this Node', () => {
  assert.deepEqual(variants, ['relaxed', 'simd128']);
});

for (const { variant, threads } of configs) {
  test(`wasm ${variant}, ${threads} thread(s)`, async (t) => {
    const be = await WasmBackend.create({ variant, threads });
    t.after(() => be.dispose());
    assert.equal(be.threads, threads);

    await t.test('quantizeRows is bit-exact', () => {
      for (const [n, dim] of [[1, 64], [3, 100], [2, 7]]) {
        const x = randn(n * dim, 3);
        x[0] = 0; if (dim > 5) { x[1] = 0.5; x[2] = -1.5; x[3] = 2.5e-7; }
        const xq = new Int8Array(n * dim), inv = new Float32Array(n);
        ref.quantizeRowsRef(x, n, dim, xq, inv);
        const xq2 = be.allocI8(n * dim), inv2 = be.allocF32(n);
        be.quantizeRows(x, n, dim, xq2, inv2);
        assert.deepEqual(Array.from(xq2), Array.from(xq), `xq ${n}x${dim}`);
        assert.deepEqual(Array.from(inv2), Array.from(inv), `invScales ${n}x${dim}`);
      }
      // a row that rounds exactly at .5 after scaling, and an all-zero row
      const x = new Float32Array([127, 0.5, -0.5, 1.5, -2.5, 63.5, -63.5, 0]);
      const z = new Float32Array(8);
      for (const v of [x, z]) {
        const a = new Int8Array(8), b = new Int8Array(8), ia = new Float32Array(1), ib = new Float32Array(1);
        ref.quantizeRowsRef(v, 1, 8, a, ia);
        be.quantizeRows(v, 1, 8, b, ib); // plain (non-wasm) arrays: the copy path
        assert.deepEqual(Array.from(b), Array.from(a));
        assert.equal(ib[0], ia[0]);
      }
      // exact ties at .5 (amax 127: s = 1) round to even, in the vector body and the scalar tail
      const ties = new Float32Array(37), even = new Array<number>(37);
      for (let j = 0; j < 36; j++) {
        const k = j % 9, sign = j % 2 ? -1 : 1; // (k + 0.5) ties to k when k is even, else to k + 1
        ties[j] = sign * (k + 0.5);
        even[j] = sign * (k % 2 === 0 ? k : k + 1) + 0;
      }
      ties[36] = 127; even[36] = 127;
      const tq = be.allocI8(37), tinv = be.allocF32(1);
      be.quantizeRows(ties, 1, 37, tq, tinv);
      assert.deepEqual(Array.from(tq), even);
      // the kernel's two loops: finite rows (magic-number rounding) and rows whose amax is Inf or NaN (nearest +
      // trunc_sat), a model-sized row among them, ±127 at the ends of the range
      const dim = 2560, rowsIn = randn(4 * dim, 5);
      rowsIn[1 * dim + 17] = Infinity; rowsIn[2 * dim + 2047] = NaN; rowsIn[3 * dim] = -8; rowsIn[3 * dim + 1] = 8;
      const qa = new Int8Array(4 * dim), ia = new Float32Array(4), qb = be.allocI8(4 * dim), ib = be.allocF32(4);
      ref.quantizeRowsRef(rowsIn, 4, dim, qa, ia);
      be.quantizeRows(rowsIn, 4, dim, qb, ib);
      assert.deepEqual(Array.from(qb), Array.from(qa), 'finite and non-finite rows');
      assert.deepEqual(Array.from(ib), Array.from(ia));
      assert.equal(qb[3 * dim], -127); assert.equal(qb[3 * dim + 1], 127);
    });

    await t.test('ternary matmul: integer dot products are exact', () => {
      // scales = 1 and invScales = 1 expose the raw integer sums
      for (const [rows, cols] of [[13, 320], [4, 64], [1, 4], [7, 1028]]) {
        const m = randomTernary(rows, cols, cols, true);
        m.scales.fill(1);
        for (const n of [1, 2, 3, 5, 8]) { // n >= 2: tiles of 2 tokens and a 1-token tail
          const xq = be.allocI8(n * cols);
          for (let i = 0; i < xq.length; i++) xq[i] = Math.floor(rand() * 256) - 128;
          xq[0] = -128;
          const inv = be.allocF32(n); inv.fill(1);
          const want = new Float32Array(n * rows), got = be.allocF32(n * rows);
          ref.ternaryMatMulRef(m, xq, inv, n, want);
          be.ternaryMatMul(be.prepareTernary(m), xq, inv, n, got);
          assert.deepEqual(Array.from(got), Array.from(want), `${rows}x${cols} n=${n}`);
        }
      }
      // i16 lanes at their limits: every weight +1 (code 2), x all -128, all 127, or -128 in the columns that
      // decode's hi accumulator takes (16..31, 48..63 of each 64) and 127 in the others; over more columns than
      // one flush (decode: 8 chunks = 512 columns; n >= 2: 1024) and a partial last one; per-tensor and per-256
      // scales. A longer flush (9 chunks, 66 steps) wraps an i16 lane and fails here.
      const fills = [(_j: number) => -128, (_j: number) => 127, (j: number) => ((j >> 4) & 1 ? -128 : 127)];
      for (const bs of [2304, 64, 256]) {
        const rows = 6, cols = 2304, m = randomTernary(rows, cols, bs, true);
        m.codes.fill(0xaa);
        for (let i = 0; i < m.scales.length; i++) m.scales[i] = 1 + (i % 2); // per-256: not uniform, still exact
        const p = be.prepareTernary(m);
        for (const [n, first] of [[1, 0], [1, 1], [1, 2], [2, 0], [3, 0]]) {
          const xq = be.allocI8(n * cols), inv = be.allocF32(n);
          inv.fill(1);
          for (let t = 0; t < n; t++) for (let j = 0; j < cols; j++) xq[t * cols + j] = fills[(first + t) % 3](j);
          const want = new Float32Array(n * rows), got = be.allocF32(n * rows);
          ref.ternaryMatMulRef(m, xq, inv, n, want);
          be.ternaryMatMul(p, xq, inv, n, got);
          assert.deepEqual(Array.from(got), Array.from(want), `extreme ${rows}x${cols}/${bs} n=${n} fill ${first}`);
        }
      }
    });

    await t.test('ternary matmul: per-tensor, per-block (TQ2_0) and odd block scales', () => {
      const cases: Array<[number, number, number, boolean]> = [
        [13, 320, 320, true],    // per-tensor scale, rows not a multiple of 4, cols not of 64
        [6, 512, 256, false],    // TQ2_0-like: one scale per 256 columns
        [5, 768, 64, false],     // per-64 blocks
        [9, 96, 32, false],      // block size the kernel does not take: reference fallback
        [33, 1536, 1536, true],
        [70, 2560, 256, false],  // decode touches ahead in bursts: many bursts, the matrix end, a partial group
      ];
      for (const [rows, cols, bs, uniform] of cases) {
        const m = randomTernary(rows, cols, bs, uniform);
        const p = be.prepareTernary(m);
        assert.equal(p.rows, rows); assert.equal(p.cols, cols);
        for (const n of [1, 2, 4, 7]) {
          const x = randn(n * cols, 2);
          const xq = be.allocI8(n * cols), inv = be.allocF32(n);
          be.quantizeRows(x, n, cols, xq, inv);
          const want = new Float32Array(n * rows), got = be.allocF32(n * rows);
          ref.ternaryMatMulRef(m, xq, inv, n, want);
          be.ternaryMatMul(p, xq, inv, n, got);
          assertClose(got, want, 1e-5, `ternary ${rows}x${cols}/${bs} n=${n}`);
          const plain = new Float32Array(n * rows); // non-wasm output array
          be.ternaryMatMul(p, Int8Array.from(xq), Float32Array.from(inv), n, plain);
          assert.deepEqual(Array.from(plain), Array.from(got));
        }
      }
    });

    await t.test('ternaryGatedMatMul = gate and up matmuls, then the gated activation', () => {
      // one job (rows % 4 == 0 and not; per-tensor and per-256 scales), and the three-call fallback: up in another
      // scale layout than gate, a block size the kernel does not take, output arrays not in the backend's memory
      const cases: Array<[number, number, number, boolean, boolean]> = [
        [24, 512, 512, true, true], [13, 320, 320, true, true], [70, 2560, 256, false, false],
        [16, 512, 256, false, true], [9, 96, 32, false, false],
      ];
      for (const [rows, cols, bs, uniform, upUniform] of cases) {
        const mg = randomTernary(rows, cols, bs, uniform), mu = randomTernary(rows, cols, bs, upUniform);
        const pg = be.prepareTernary(mg), pu = be.prepareTernary(mu);
        for (const act of ['silu', 'relu2'] as const) {
          for (const n of [1, 2, 5]) {
            const xq = be.allocI8(n * cols), inv = be.allocF32(n);
            be.quantizeRows(randn(n * cols, 2), n, cols, xq, inv);
            const want = new Float32Array(n * rows), wantUp = new Float32Array(n * rows);
            ref.ternaryMatMulRef(mg, xq, inv, n, want);
            ref.ternaryMatMulRef(mu, xq, inv, n, wantUp);
            ref.gatedActivationRef(want, wantUp, n * rows, act);
            const what = `gated ${act} ${rows}x${cols}/${bs} n=${n}`;
            const gate = be.allocF32(n * rows), up = be.allocF32(n * rows);
            be.ternaryGatedMatMul(pg, pu, xq, inv, n, gate, up, act);
            assertClose(gate, want, 1e-5, what);
            // the separate calls: bit-identical (SiLU where rows % 4 == 0)
            const g2 = be.allocF32(n * rows), u2 = be.allocF32(n * rows);
            be.ternaryMatMul(pg, xq, inv, n, g2); be.ternaryMatMul(pu, xq, inv, n, u2);
            be.gatedActivation(g2, u2, n * rows, act);
            if (act === 'relu2' || rows % 4 === 0) assert.deepEqual(Array.from(gate), Array.from(g2), `${what}: = separate`);
            const plain = new Float32Array(n * rows), plainUp = new Float32Array(n * rows);
            be.ternaryGatedMatMul(pg, pu, xq, inv, n, plain, plainUp, act);
            assert.deepEqual(Array.from(plain), Array.from(g2), `${what}: plain arrays`);
          }
        }
      }
    });

    await t.test('float matmul f32 and f16', () => {
      for (const [rows, cols] of [[11, 37], [8, 64], [3, 1536]]) {
        for (const dtype of ['f32', 'f16'] as const) {
          const w = randn(rows * cols);
          const data = dtype === 'f32' ? w : Uint16Array.from(w, (v) => f32ToF16(v));
          if (dtype === 'f16' && rows === 8) { data[0] = 0x0001; data[1] = 0x8200; } // subnormals: the f32 path
          const m = { rows, cols, dtype, data };
          const p = be.prepareFloat(m);
          for (const n of [1, 3]) {
            const x = randn(n * cols);
            if (n === 3) x[5] = 40000; // beyond the f16 kernel's pre-scaled range: the exact slow path
            const want = new Float32Array(n * rows), got = be.allocF32(n * rows);
            ref.floatMatMulRef(m, x, n, want);
            be.floatMatMul(p, x, n, got);
            assertClose(got, want, 2e-6 * Math.sqrt(cols), `${dtype} ${rows}x${cols} n=${n}`);
          }
        }
      }
    });

    await t.test('rmsNorm, rope, gated activations, add', () => {
      for (const [n, dim] of [[1, 64], [3, 37], [2, 100], [4, 6912]]) { // rmsNorm: 16- and 4-column steps, tail
        const x = randn(n * dim, 3), w = randn(dim);
        const want = new Float32Array(n * dim), got = be.allocF32(n * dim);
        ref.rmsNormRef(want, x, w, n, dim, 1e-5);
        be.rmsNorm(got, x, w, n, dim, 1e-5);
        assertClose(got, want, 1e-6, 'rmsNorm');
        const inPlace = be.allocF32(n * dim); inPlace.set(x);
        be.rmsNorm(inPlace, inPlace, w, n, dim, 1e-5);
        assertClose(inPlace, want, 1e-6, 'rmsNorm in place');
      }
      // neox with headDim / 2 a multiple of 4: the 4-pair loop (8, 128: the 2B4T head size); else pair by pair (6)
      for (const [neox, nHeads, headDim] of [[true, 2, 8], [false, 2, 8], [true, 3, 6], [true, 5, 128]] as const) {
        const n = 3;
        const x = randn(n * nHeads * headDim);
        const pos = Int32Array.from([0, 7, 1000]);
        const want = Float32Array.from(x), got = be.allocF32(x.length); got.set(x);
        ref.ropeRef(want, n, nHeads, headDim, pos, 10000, neox);
        be.rope(got, n, nHeads, headDim, pos, 10000, neox);
        assertClose(got, want, 1e-6, `rope neox=${neox} ${nHeads}x${headDim}`);
      }
      // the backend reuses the angles of the last positions: new positions (same count, then more rows) recompute them
      for (const pos of [[0, 7, 1000], [1, 7, 999], [0, 7, 1000], [5, 6, 7, 8, 9]].map((p) => Int32Array.from(p))) {
        const x = randn(pos.length * 16);
        const want = Float32Array.from(x), got = be.allocF32(x.length); got.set(x);
        ref.ropeRef(want, pos.length, 2, 8, pos, 10000, true);
        be.rope(got, pos.length, 2, 8, pos, 10000, true);
        assertClose(got, want, 1e-6, `rope at ${pos.join(',')}`);
      }
      for (const act of ['silu', 'relu2'] as const) {
        const len = 103;
        const g = randn(len, 12), u = randn(len);
        g[0] = -100; g[1] = 90;
        const want = Float32Array.from(g), got = be.allocF32(len); got.set(g);
        ref.gatedActivationRef(want, u, len, act);
        be.gatedActivation(got, u, len, act);
        assertClose(got, want, 1e-6, act);
      }
      const a = randn(45), b = randn(45), sum = be.allocF32(45); sum.set(a);
      be.addInPlace(sum, b, 45);
      assert.deepEqual(Array.from(sum), Array.from(a, (v, i) => Math.fround(v + b[i])));
    });

    await t.test('large inputs: small kernels split across threads', () => {
      const n = 9, dim = 2048; // n * dim above the split threshold
      const x = randn(n * dim, 3), w = randn(dim);
      const xq = new Int8Array(n * dim), inv = new Float32Array(n);
      ref.quantizeRowsRef(x, n, dim, xq, inv);
      const xq2 = be.allocI8(n * dim), inv2 = be.allocF32(n);
      be.quantizeRows(x, n, dim, xq2, inv2);
      assert.deepEqual(Array.from(xq2), Array.from(xq));
      assert.deepEqual(Array.from(inv2), Array.from(inv));
      const want = new Float32Array(n * dim), got = be.allocF32(n * dim);
      ref.rmsNormRef(want, x, w, n, dim, 1e-6);
      be.rmsNorm(got, x, w, n, dim, 1e-6);
      assertClose(got, want, 1e-6, 'rmsNorm (split)');
      const pos = Int32Array.from({ length: n }, (_, i) => 3 * i);
      const r1 = Float32Array.from(x), r2 = be.allocF32(x.length); r2.set(x);
      ref.ropeRef(r1, n, 16, 128, pos, 500000, false);
      be.rope(r2, n, 16, 128, pos, 500000, false);
      assertClose(r2, r1, 1e-6, 'rope (split)');
      const len = 20001; // not a multiple of the split unit
      for (const act of ['silu', 'relu2'] as const) {
        const g = randn(len, 8), up = randn(len);
        const g1 = Float32Array.from(g), g2 = be.allocF32(len); g2.set(g);
        ref.gatedActivationRef(g1, up, len, act);
        be.gatedActivation(g2, up, len, act);
        assertClose(g2, g1, 1e-6, `${act} (split)`);
      }
      const a = randn(len), b = randn(len), s2 = be.allocF32(len); s2.set(a);
      be.addInPlace(s2, b, len);
      assert.deepEqual(Array.from(s2), Array.from(a, (v, i) => Math.fround(v + b[i])));
    });

    await t.test('attention with GQA over a KV cache', () => {
      for (const shape of [{ nHeads: 6, nKvHeads: 2, headDim: 12 }, { nHeads: 4, nKvHeads: 4, headDim: 18 }, { nHeads: 3, nKvHeads: 1, headDim: 64 }]) {
      const kvDim = shape.nKvHeads * shape.headDim;
      for (const [n, startPos] of [[1, 0], [1, 9], [4, 5], [7, 0]]) {
        const len = startPos + n;
        const k = be.allocF32(len * kvDim); k.set(randn(len * kvDim));
        const v = be.allocF32(len * kvDim); v.set(randn(len * kvDim));
        const q = randn(n * shape.nHeads * shape.headDim, 2);
        const want = new Float32Array(q.length), got = be.allocF32(q.length);
        ref.attentionRef(want, q, n, startPos, k, v, shape);
        be.attention(got, q, n, startPos, k, v, shape);
        assertClose(got, want, 2e-6, `attention n=${n} start=${startPos}`);
        const plain = new Float32Array(q.length); // cache outside wasm memory: reference path
        be.attention(plain, q, n, startPos, Float32Array.from(k), Float32Array.from(v), shape);
        assertClose(plain, want, 1e-7, 'attention (plain arrays)');
      }
      }
    });

    await t.test('paged KV cache: kvWrite cells bit-exact, pagedAttention over many sequences (f16 and f32)', () => {
      for (const dtype of ['f16', 'f32'] as const) {
        // headDim 100 (kvDim 400): the K/V writes split across threads, halves widened 8 at a time plus a tail of 4
        for (const shape of [{ nHeads: 6, nKvHeads: 2, headDim: 12 }, { nHeads: 4, nKvHeads: 4, headDim: 8 }, { nHeads: 3, nKvHeads: 1, headDim: 64 },
          { nHeads: 8, nKvHeads: 4, headDim: 100 }]) {
          const kvDim = shape.nKvHeads * shape.headDim, qDim = shape.nHeads * shape.headDim;
          const kvShape = { nLayers: 2, kvDim };
          const opts = { dtype, blockSize: 4, memoryBytes: 2 ** 20 };
          const mine = new KVCache(be, kvShape, opts), theirs = new KVCache(new ref.ReferenceBackend(), kvShape, opts);
          // three sequences grown in turns, so their blocks interleave in the arenas; 21 rows span two attention tiles
          const lens = [9, 3, 21];
          const seqs = lens.map(() => [mine.createSequence(), theirs.createSequence()]);
          for (let p = 0; p < 21; p++) seqs.forEach(([a, b], i) => { if (p < lens[i]) { a.reserve(p, p + 1); b.reserve(p, p + 1); } });
          const rowsOf = (pick: 0 | 1, from = [0, 0, 0]) => {
            const tables: Int32Array[] = [], positions: number[] = [];
            seqs.forEach((s, i) => { for (let p = from[i]; p < lens[i]; p++) { tables.push(s[pick].table); positions.push(p); } });
            return { tables, positions: Int32Array.from(positions) };
          };
          const n = lens.reduce((a, b) => a + b, 0);
          const k = randn(n * kvDim, 2), v = randn(n * kvDim);
          k[0] = 1e-6; k[1] = -3e-8; k[2] = 70000; k[3] = 65519; // a subnormal, an underflow, overflow to inf, a rounding carry
          for (const layer of [0, 1]) {
            be.kvWrite(mine, layer, k, v, n, rowsOf(0));
            ref.kvWriteRef(theirs, layer, k, v, n, rowsOf(1));
          }
          assert.deepEqual(Array.from(mine.arenas[0].subarray(0, 12 * mine.blockElements)),
            Array.from(theirs.arenas[0].subarray(0, 12 * theirs.blockElements)), `${dtype} cells`);
          k[2] = 0.5; // no inf in the attention part
          be.kvWrite(mine, 1, k, v, n, rowsOf(0)); ref.kvWriteRef(theirs, 1, k, v, n, rowsOf(1));
          const q = randn(n * qDim, 2);
          const want = new Float32Array(n * qDim), got = be.allocF32(n * qDim);
          ref.pagedAttentionRef(want, q, n, theirs, 1, rowsOf(1), shape);
          be.pagedAttention(got, q, n, mine, 1, rowsOf(0), shape);
          assertClose(got, want, 2e-6, `pagedAttention ${dtype} ${JSON.stringify(shape)}`);
          // rows that start past a cached prefix (a prompt's later chunk), then every row alone: each row's output
          // is bit-identical whatever tile it was computed in
          const from = [4, 2, 3], part = rowsOf(0, from), m = part.positions.length;
          const qPart = q.subarray(0, m * qDim), wantPart = new Float32Array(m * qDim), gotPart = be.allocF32(m * qDim);
          ref.pagedAttentionRef(wantPart, qPart, m, theirs, 1, rowsOf(1, from), shape);
          be.pagedAttention(gotPart, qPart, m, mine, 1, part, shape);
          assertClose(gotPart, wantPart, 2e-6, `pagedAttention past a prefix ${dtype} ${JSON.stringify(shape)}`);
          const alone = be.allocF32(qDim);
          for (let t = 0; t < m; t++) {
            const one = { tables: [part.tables[t]], positions: part.positions.subarray(t, t + 1) };
            be.pagedAttention(alone, qPart.subarray(t * qDim, (t + 1) * qDim), 1, mine, 1, one, shape);
            assert.deepEqual(Array.from(alone), Array.from(gotPart.subarray(t * qDim, (t + 1) * qDim)), `row ${t} alone`);
          }
          // the contiguous f32 kernel agrees with the paged one (sequence 2, all its rows)
          if (dtype === 'f32') {
            const off = lens[0] + lens[1], m = lens[2];
            const kc = k.slice(off * kvDim, (off + m) * kvDim), vc = v.slice(off * kvDim, (off + m) * kvDim);
            const flat = new Float32Array(m * qDim);
            ref.attentionRef(flat, q.subarray(off * qDim), m, 0, kc, vc, shape);
            assertClose(want.subarray(off * qDim), flat, 1e-6, 'paged vs contiguous reference');
          }
        }
      }
    });

    await t.test('buffers stay valid across memory growth', () => {
      const early = be.allocF32(16); early.fill(3);
      be.allocF32(8 * 2 ** 20); // 32 MiB forces memory.grow
      const later = be.allocF32(16); later.fill(1);
      be.addInPlace(early, later, 16);
      assert.deepEqual(Array.from(early), new Array(16).fill(4));
    });

    await t.test('free() lets a same-size allocation reuse the memory', () => {
      const a = be.allocF32(1000);
      const before = be.allocatedBytes;
      be.free!(a);
      const b = be.allocF32(1000);
      assert.equal(b.byteOffset, a.byteOffset);
      assert.equal(be.allocatedBytes, before);
      assert.throws(() => be.free!(new Float32Array(4)), /not allocated by this backend/);
    });

    await t.test('bandwidth probe runs', () => {
      const bw = be.measureBandwidth(1 << 20, 2);
      assert.ok(bw.bytesPerSecond > 1e8, `bandwidth ${bw.bytesPerSecond}`);
    });
  });
}

test('createBackend: reference and wasm; bad input errors', async () => {
  const r: Backend = await createBackend('reference');
  assert.equal(r.name, 'reference');
  const w = await createBackend('wasm', { threads: 2 });
  assert.match(w.name, /^wasm-/);
  assert.equal(w.threads, 2);
  assert.throws(() => w.prepareTernary({ rows: 2, cols: 6, codes: new Uint8Array(3), blockSize: 6, scales: new Float32Array(2) }), /multiple of 4/);
  const m = w.prepareTernary({ rows: 4, cols: 64, codes: new Uint8Array(64), blockSize: 64, scales: new Float32Array(4) });
  w.dispose();
  assert.throws(() => w.ternaryMatMul(m, new Int8Array(64), new Float32Array(1), 1, new Float32Array(4)), /after dispose/);
  await assert.rejects(createBackend('wasm', { threads: 0 }), /threads/);
  const fallback = await createBackend('wasm', { available: [] }); // an engine without SIMD
  assert.equal(fallback.name, 'reference');
  const simd = await createBackend('wasm', { available: ['simd128'], threads: 1 });
  assert.equal(simd.name, 'wasm-simd128');
  simd.dispose();
  await assert.rejects(createBackend('gpu' as 'wasm'), /unknown backend/);
});

test('a forgotten dispose() does not keep the process alive', () => {
  const index = new URL('../src/kernels/index.js', import.meta.url).href;
  const script = `const { createBackend } = await import(${JSON.stringify(index)});
    const be = await createBackend('wasm', { threads: 3 });
    const x = be.allocF32(8); be.addInPlace(x, x, 8);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20000, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'process did not exit on its own');
  assert.equal(r.status, 0, r.stderr);
});

test('the SIMD128 build validates without relaxed SIMD; the relaxed build needs it', () => {
  // A fresh process without the flag stands in for an engine that lacks relaxed SIMD.
  const dir = new URL('../../build/', import.meta.url).pathname;
  const script = `const fs = require('fs');
    const ok = (f) => WebAssembly.validate(fs.readFileSync(${JSON.stringify(dir)} + f));
    process.stdout.write(JSON.stringify([ok('kernels-simd128.wasm'), ok('kernels-relaxed.wasm')]));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // V8 ships relaxed SIMD from 11.4 (Node 22+: no flag, and none to turn it off); Node 20's 11.3 needs the flag.
  const [major, minor] = process.versions.v8.split('.').map(Number);
  const shipped = major > 11 || (major === 11 && minor >= 4);
  assert.deepEqual(JSON.parse(r.stdout), [true, shipped]);
});
