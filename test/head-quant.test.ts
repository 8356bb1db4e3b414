// The optional quantized LM heads, int8 (ggml Q8_0 arithmetic) and int7 (codes -63..63, stored + 64), and the
// file-backed embedding lookup, WASM vs the reference: both ISA variants, 1/2/3 threads, odd shapes, both int7
// inner-loop forms (dot + extadd, and dot_add: dotForm 'add' forced here where the engine computes it right; Node
// 20's V8 gets it wrong in its baseline compiler, so a forced add is refused there).
// Weight codes and half-rounded scales bit-exact with quantizeQ8Ref (ggml quantize_row_q8_0_ref: ties away from
// zero), activation codes and scales bit-exact with quantizeQ8ActsRef (ggml's x86 quantize_row_q8_0: ties to even);
// integer block sums bit-exact (inputs whose scales are 1, so every output is an exact integer); the float sums
// within 1e-5 of the largest output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ref from '../src/kernels/reference.js';
import { ReferenceBackend } from '../src/kernels/reference.js';
import { supportedVariants, WasmBackend } from '../src/kernels/index.js';
import { HEAD_CODE_MAX, type QuantizedHead } from '../src/kernels/backend.js';
import type { FloatMatrix, GGMLTensor } from '../src/quant/matrix.js';
import { GGMLType } from '../src/quant/ggml.js';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../src/quant/half.js';
import { loadModel, writeModelGGUF } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { mulberry32 } from './util.js';

const rand = mulberry32(1234);

/** A random f16 matrix with the cases the quantizers must get right planted in it. */
function halfMatrix(rows: number, cols: number): FloatMatrix {
  const data = new Uint16Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = f32ToF16((rand() - 0.5) * 0.2);
  const put = (r: number, j: number, v: number) => { if (r < rows && j < cols) data[r * cols + j] = f32ToF16(v); };
  // block 0 of row 0: amax 127·2^-7 gives d = 2^-7 exactly, so ±2.5·2^-7 are exact ties (roundf: ±3)
  for (let j = 0; j < 32; j++) put(0, j, 0);
  put(0, 0, 127 / 128); put(0, 1, 2.5 / 128); put(0, 2, -2.5 / 128); put(0, 3, 0.5 / 128); put(0, 4, -1.5 / 128);
  for (let j = 0; j < 32; j++) put(1, j, 0); // an all-zero block: d = 0, codes 0
  for (let j = 0; j < 32; j++) put(2, j, (j - 16) * 2 ** -20); // subnormal halves only: a subnormal scale
  // block 0 of row 3, for int7: amax 63·2^-6 gives d = 2^-6 exactly, ±2.5·2^-6 are ties (roundf: ±3)
  for (let j = 0; j < 32; j++) put(3, j, 0);
  put(3, 0, -63 / 64); put(3, 1, 2.5 / 64); put(3, 2, -2.5 / 64); put(3, 3, 0.5 / 64); put(3, 4, -1.5 / 64);
  return { rows, cols, dtype: 'f16', data };
}

function bytesOf(m: FloatMatrix): Uint8Array { return new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength); }

function tensorOf(type: GGMLType, bytes: Uint8Array, rows: number, cols: number, ranged = true): GGMLTensor {
  return {
    type, rows, cols, nbytes: bytes.byteLength, read: (dst) => dst.set(bytes),
    readRange: ranged ? (at, dst) => dst.set(bytes.subarray(at, at + dst.byteLength)) : undefined,
  };
}

interface Internals {
  u8: Uint8Array;
  k: { q8QuantizeActs(x: number, n: number, cols: number, xq: number, dx: number, xbias: number): void };
}
interface Q8Handle { rows: number; cols: number; ptr: number; scalesPtr: number }

const HEADS: QuantizedHead[] = ['int8', 'int7'];

/**
 * The codes and scales a WASM quantized head holds (head.ts layout: groups of 8 rows), in the reference's layout.
 * int7: stored as code + 64, checked to be in 1..127 (the relaxed dot's unsigned operand).
 */
function readBack(be: WasmBackend, h: Q8Handle, head: QuantizedHead): ref.Q8Matrix {
  const { u8 } = be as unknown as Internals;
  const { rows, cols } = h, blocks = cols / 32;
  const codes = new Int8Array(rows * cols), scales = new Float32Array(rows * blocks);
  const sv = new Uint16Array(u8.buffer, h.scalesPtr, Math.ceil(rows / 8) * blocks * 8);
  for (let r = 0; r < rows; r++) {
    const g = r >> 3, rr = r & 7;
    for (let j = 0; j < cols; j++) {
      const at = (((g * blocks + (j >> 5)) * 8 + ((j & 31) >> 2)) * 32) + (rr >> 2) * 16 + (rr & 3) * 4 + (j & 3);
      const byte = u8[h.ptr + at];
      if (head === 'int7') assert.ok(byte >= 1 && byte <= 127, `row ${r} column ${j}: stored int7 code ${byte}`);
      codes[r * cols + j] = head === 'int8' ? (byte << 24) >> 24 : byte - 64;
    }
    for (let b = 0; b < blocks; b++) scales[r * blocks + b] = f16ToF32(sv[(g * blocks + b) * 8 + rr]);
  }
  return { rows, cols, codes, scales };
}

/**
 * The activation codes q8QuantizeActs wrote: relaxed build int8 head |code| then sign masks per token, int7 head the
 * codes (int8, the first cols bytes of each token's 2 * cols); SIMD128 int16 (both heads).
 */
function actCodes(be: WasmBackend, xq: number, n: number, cols: number, head: QuantizedHead): number[] {
  const { u8 } = be as unknown as Internals;
  if (be.variant !== 'relaxed') return Array.from(new Int16Array(u8.buffer, xq, n * cols));
  const out: number[] = [];
  for (let t = 0; t < n; t++) {
    if (head === 'int7') {
      out.push(...new Int8Array(u8.buffer, xq + t * 2 * cols, cols));
      continue;
    }
    for (let j = 0; j < cols; j++) {
      const a = u8[xq + t * 2 * cols + j], s = u8[xq + t * 2 * cols + cols + j];
      assert.ok(a <= 127 && (s === 0 || s === 255), `token ${t} column ${j}: |code| ${a}, sign mask ${s}`);
      out.push(s ? -a : a);
    }
  }
  return out;
}

function assertSameQ8(got: ref.Q8Matrix, want: ref.Q8Matrix, what: string): void {
  assert.deepEqual(got.codes, want.codes, `${what}: codes`);
  assert.deepEqual(got.scales, want.scales, `${what}: scales`);
}

function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  let m = 0;
  for (const v of want) m = Math.max(m, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * m + 1e-30, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

test('quantizeQ8Ref: ggml Q8_0 weight rounding (ties away), activation rounding (ties to even), d = 0 blocks', () => {
  const m = halfMatrix(3, 32);
  const q = ref.quantizeQ8Ref(m);
  assert.equal(q.scales[0], 2 ** -7);
  assert.deepEqual(Array.from(q.codes.subarray(0, 5)), [127, 3, -3, 1, -2]);
  assert.equal(q.scales[1], 0);
  assert.ok(q.codes.subarray(32, 64).every((c) => c === 0));
  assert.ok(q.scales[2] > 0 && q.scales[2] < 2 ** -14, 'a subnormal half scale');
  const x = new Float32Array(32);
  x[0] = 127; x[1] = 2.5; x[2] = -2.5; x[3] = 3.5; x[4] = 0.5;
  const xq = new Int8Array(32), dx = new Float32Array(1);
  ref.quantizeQ8ActsRef(x, 1, 32, xq, dx);
  assert.deepEqual(Array.from(xq.subarray(0, 5)), [127, 2, -2, 4, 0]);
  assert.equal(dx[0], 1);
});

test('quantizeQ8Ref(m, 63): the int7 head (d = amax/63, ties away from zero, |code| <= 63)', () => {
  const m = halfMatrix(40, 64);
  const q = ref.quantizeQ8Ref(m, HEAD_CODE_MAX.int7), nb = 2;
  assert.equal(q.scales[3 * nb], 2 ** -6);
  assert.deepEqual(Array.from(q.codes.subarray(3 * 64, 3 * 64 + 5)), [-63, 3, -3, 1, -2]);
  assert.equal(q.scales[1 * nb], 0);
  assert.ok(q.codes.every((c) => Math.abs(c) <= 63));
  for (let b = 0; b < q.scales.length; b++) { // every non-zero block reaches ±63
    const c = q.codes.subarray(b * 32, b * 32 + 32);
    if (q.scales[b]) assert.equal(Math.max(...Array.from(c, Math.abs)), 63, `block ${b}`);
  }
});

const variants = await supportedVariants();
/** V8 11.3 (Node 20) computes i32x4.relaxed_dot_i8x16_i7x16_add_s wrong in its baseline compiler (Liftoff). */
const relaxedAddWorks = Number(process.versions.v8.split('.')[0]) >= 12;
for (const variant of variants) {
  for (const threads of [1, 2, 3]) {
    test(`quantized heads, wasm ${variant}, ${threads} thread(s)`, async (t) => {
      const be = await WasmBackend.create({ variant, threads, dotForm: 'pair' });
      let beAdd: WasmBackend | undefined; // int7: the dot_add form
      if (variant === 'simd128' || relaxedAddWorks) beAdd = await WasmBackend.create({ variant, threads, dotForm: 'add' });
      else await assert.rejects(WasmBackend.create({ variant, threads, dotForm: 'add' }), /gives wrong sums/);
      t.after(() => { be.dispose(); beAdd?.dispose(); });
      const prep = (m: FloatMatrix | GGMLTensor, head: QuantizedHead, b = be) => b.prepareQ8(m, head) as unknown as Q8Handle;

      for (const head of HEADS) {
        const qmax = HEAD_CODE_MAX[head];
        await t.test(`${head} weights: codes and scales bit-exact with quantizeQ8Ref (F16, BF16, F32; memory and file)`, () => {
          for (const [rows, cols] of [[13, 96], [1, 32], [4, 64], [7, 2560], [1701, 2560]]) {
            const m = halfMatrix(rows, cols), want = ref.quantizeQ8Ref(m, qmax);
            assertSameQ8(readBack(be, prep(m, head), head), want, `f16 matrix ${rows}x${cols}`);
            const file = prep(tensorOf(GGMLType.F16, bytesOf(m), rows, cols), head);
            assertSameQ8(readBack(be, file, head), want, `F16 file ${rows}x${cols}`);
            if (rows > 20) continue;
            const unranged = prep(tensorOf(GGMLType.F16, bytesOf(m), rows, cols, false), head);
            assertSameQ8(readBack(be, unranged, head), want, `F16 file without readRange ${rows}x${cols}`);
            const f32 = new Float32Array(rows * cols), bf = new Uint16Array(rows * cols);
            for (let i = 0; i < f32.length; i++) { f32[i] = f16ToF32(m.data[i]); bf[i] = f32ToBf16(f32[i]); }
            const f32m: FloatMatrix = { rows, cols, dtype: 'f32', data: f32 };
            assertSameQ8(readBack(be, prep(tensorOf(GGMLType.F32, bytesOf(f32m), rows, cols), head), head), want,
              `F32 file ${rows}x${cols}`);
            assertSameQ8(readBack(be, prep(f32m, head), head), want, `f32 matrix ${rows}x${cols}`);
            const bfValues = Float32Array.from(bf, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
            const bfWant = ref.quantizeQ8Ref({ rows, cols, dtype: 'f32', data: bfValues }, qmax);
            const bfBytes = new Uint8Array(bf.buffer);
            assertSameQ8(readBack(be, prep(tensorOf(GGMLType.BF16, bfBytes, rows, cols), head), head), bfWant,
              `BF16 file ${rows}x${cols}`);
          }
          assert.equal(be.prepareQ8(tensorOf(GGMLType.Q8_0, new Uint8Array(34), 1, 32), head), undefined, 'other types');
          assert.throws(() => be.prepareQ8(halfMatrix(2, 48), head), /multiple of 32/);
        });

        await t.test(`${head} activations: codes, block scales (and int7 biases) bit-exact with quantizeQ8ActsRef`, () => {
          const { k } = be as unknown as Internals;
          const n = 3, cols = 160, blocks = cols / 32, x = be.allocF32(n * cols);
          for (let i = 0; i < x.length; i++) x[i] = (rand() - 0.5) * 8;
          for (let j = 0; j < 32; j++) x[j] = 0; // a zero block
          x[32] = 127; x[33] = 2.5; x[34] = -2.5; x[35] = 0.5; x[36] = -3.5; // exact ties (id = 1)
          for (let j = 64; j < 96; j++) x[j] = -127; // Σ codes at its extreme
          const xq = be.allocF32((n * cols) / 2), dx = be.allocF32(n * blocks);
          const bias = head === 'int7' ? be.allocF32(n * blocks) : undefined; // i32 per (token, block)
          k.q8QuantizeActs(x.byteOffset, n, cols, xq.byteOffset, dx.byteOffset, bias ? bias.byteOffset : 0);
          const wantQ = new Int8Array(n * cols), wantD = new Float32Array(n * blocks);
          ref.quantizeQ8ActsRef(x, n, cols, wantQ, wantD);
          assert.deepEqual(actCodes(be, xq.byteOffset, n, cols, head), Array.from(wantQ));
          assert.deepEqual(Array.from(dx), Array.from(wantD));
          if (!bias) return;
          const got = new Int32Array(bias.buffer, bias.byteOffset, n * blocks), wantB: number[] = [];
          for (let b = 0; b < n * blocks; b++) wantB.push(0 - 64 * wantQ.subarray(b * 32, b * 32 + 32).reduce((a, c) => a + c, 0));
          assert.deepEqual(Array.from(got), wantB);
          assert.equal(wantB[2], 64 * 127 * 32, 'the extreme block');
        });

        await t.test(`${head} matmul: q8MatMulRef within 1e-5 of the largest output (n = 1, 2, 4, 5, 6, 16; odd rows)`, () => {
          for (const [rows, cols] of [[13, 96], [1, 32], [70, 2560], [1701, 256], [9, 160]]) {
            const m = halfMatrix(rows, cols), q = ref.quantizeQ8Ref(m, qmax), w = be.prepareQ8(m, head)!;
            const wAdd = beAdd?.prepareQ8(m, head);
            for (const n of [1, 2, 4, 5, 6, 16]) { // int7 relaxed: single, pair, quad, quad + single, quad + pair
              const x = new Float32Array(n * cols).map(() => (rand() - 0.5) * 3);
              const want = new Float32Array(n * rows), got = new Float32Array(n * rows), gotAdd = new Float32Array(n * rows);
              ref.q8MatMulRef(q, x, n, want);
              be.floatMatMul(w, x, n, got);
              assertClose(got, want, `${rows}x${cols} n=${n}`);
              if (n === 6) { // each token's outputs do not depend on the tokens beside it (quad, pair, single alike)
                const one = new Float32Array(rows);
                for (let t = 0; t < n; t++) {
                  be.floatMatMul(w, x.subarray(t * cols, (t + 1) * cols), 1, one);
                  assert.deepEqual(one, got.subarray(t * rows, (t + 1) * rows), `${rows}x${cols} token ${t} of 6 alone`);
                }
              }
              if (!beAdd || !wAdd) continue;
              beAdd.floatMatMul(wAdd, x, n, gotAdd);
              assert.deepEqual(gotAdd, got, `${rows}x${cols} n=${n}: the dot_add form gives the same outputs, bit for bit`);
            }
          }
        });
      }

      await t.test('int8 matmul at the extremes: codes ±127 in weights and activations, integer sums exact (11 × 96)', () => {
        // every |value| is 127, so d = 1 in both (half 1.0) and every output is Σ code * code, an integer below 2^24:
        // the i16 pair sums reach ±2 * 127 * 127 (the relaxed build's dot), all sign combinations occur
        const rows = 11, cols = 96, data = new Uint16Array(rows * cols);
        const xs = new Float32Array(2 * cols);
        for (let j = 0; j < 2 * cols; j++) xs[j] = rand() < 0.5 ? -127 : 127;
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < cols; j++) {
            const sign = r === 0 ? 1 : r === 1 ? Math.sign(xs[j]) : r === 2 ? -Math.sign(xs[j]) : r === 3 ? -1 : rand() < 0.5 ? -1 : 1;
            data[r * cols + j] = f32ToF16(127 * sign);
          }
        }
        const m: FloatMatrix = { rows, cols, dtype: 'f16', data }, q = ref.quantizeQ8Ref(m), w = be.prepareQ8(m)!;
        for (const n of [1, 2]) {
          const x = xs.subarray(0, n * cols), want = new Float32Array(n * rows), got = new Float32Array(n * rows);
          ref.q8MatMulRef(q, x, n, want);
          be.floatMatMul(w, x, n, got);
          assert.equal(want[1], 127 * 127 * cols, 'row 1: every product +127²');
          assert.equal(want[2], -127 * 127 * cols, 'row 2: every product -127²');
          assert.deepEqual(got, want, `n=${n}`);
        }
      });

      await t.test('int7 integer sums bit-exact: scales 1, codes ±63 / x ±127 at the extremes and random (both forms)', () => {
        // weights are integers in -63..63 with a ±63 in every block and x integers in -127..127 with a ±127 in every
        // block, so d = 1 and dx = 1 (half 1.0), the codes are the values, and every output is the exact integer
        // Σ_j w_j * x_j (< 2^24, so the f32 accumulation is exact): the kernel's biased sums minus 64 Σ x, exactly
        const cases: Array<[string, number, number, (r: number, j: number, xj: number) => number]> = [
          ['extremes', 11, 96, (r, _j, xj) => 63 * (r === 0 ? 1 : r === 1 ? Math.sign(xj) : r === 2 ? -Math.sign(xj) :
            r === 3 ? -1 : rand() < 0.5 ? -1 : 1)],
          ['random', 203, 2560, (_r, j) => (j % 32 === 7 ? (rand() < 0.5 ? -63 : 63) : Math.round((rand() - 0.5) * 126))],
        ];
        for (const [what, rows, cols, weight] of cases) {
          const n = 16, xs = new Float32Array(n * cols);
          for (let i = 0; i < xs.length; i++) {
            xs[i] = what === 'extremes' || i % 32 === 3 ? (rand() < 0.5 ? -127 : 127) : Math.round((rand() - 0.5) * 254);
          }
          const data = new Uint16Array(rows * cols), ws = new Int32Array(rows * cols);
          for (let r = 0; r < rows; r++) {
            for (let j = 0; j < cols; j++) data[r * cols + j] = f32ToF16(ws[r * cols + j] = weight(r, j, xs[j]));
          }
          const m: FloatMatrix = { rows, cols, dtype: 'f16', data }, q = ref.quantizeQ8Ref(m, HEAD_CODE_MAX.int7);
          assert.ok(q.scales.every((d) => d === 1), `${what}: scales 1`);
          const wantAll = new Float32Array(n * rows); // token t's outputs: rows t*rows.. (the same for any nn > t)
          for (let t = 0; t < n; t++) {
            for (let r = 0; r < rows; r++) {
              let dot = 0;
              for (let j = 0; j < cols; j++) dot += ws[r * cols + j] * xs[t * cols + j];
              wantAll[t * rows + r] = dot;
            }
          }
          for (const b of beAdd ? [be, beAdd] : [be]) {
            const w = b.prepareQ8(m, 'int7')!;
            for (const nn of [1, 3, 16]) {
              const x = xs.subarray(0, nn * cols), want = wantAll.subarray(0, nn * rows), got = new Float32Array(nn * rows);
              b.floatMatMul(w, x, nn, got);
              if (what === 'extremes') {
                assert.equal(want[1], 63 * 127 * cols, 'row 1: every product +63 * 127');
                assert.equal(want[2], -63 * 127 * cols, 'row 2: every product -63 * 127');
              }
              assert.deepEqual(got, want, `${what} ${rows}x${cols} n=${nn} dot form ${b.dotForm}`);
            }
          }
        }
      });

      await t.test('prepareRowsOnDemand: rows read from the file bytes, exact (F16 with subnormals, F32)', () => {
        const m = halfMatrix(37, 96);
        const h = be.prepareRowsOnDemand(tensorOf(GGMLType.F16, bytesOf(m), 37, 96))!;
        assert.equal(h.bytes, 0, 'nothing held');
        const ids = Int32Array.from([2, 0, 36, 2, 17]), got = new Float32Array(5 * 96), want = new Float32Array(5 * 96);
        be.gatherRows(h, ids, 5, got);
        ref.gatherRowsRef(m, ids, 5, want);
        assert.deepEqual(got, want);
        assert.throws(() => be.gatherRows(h, Int32Array.from([37]), 1, got), /outside/);
        assert.equal(be.prepareRowsOnDemand(tensorOf(GGMLType.F16, bytesOf(m), 37, 96, false)), undefined, 'needs readRange');
      });
    });
  }
}

test('Model with --head int8 / int7: wasm == reference (same head), near the exact head, embedding read from the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-head-'));
  const path = join(dir, 'm.gguf');
  const w = synthWeights({ dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 300 }, 7, 4, 'ternary-blocks', 'f16');
  writeModelGGUF(path, w, synthTokenizer(300), { ternaryType: 'tq2_0', floatType: 'f16' });
  const exact = await loadModel(path, { threads: 2 });
  t.after(() => exact.dispose());
  assert.equal(exact.info.head, 'file');
  const tokens = [1, 5, 299, 42, 7, 7, 100];
  const logitsOf = (m: typeof exact): Float32Array[] => {
    const out: Float32Array[] = [];
    m.createSession().evaluate(tokens, { onLogits: (_, l) => out.push(l.slice()) });
    return out;
  };
  const lc = logitsOf(exact);
  // max |Δlogit| vs the exact head, in the logits' sd: measured 0.026 (int8) and 0.042 (int7) here
  const bound: Record<QuantizedHead, number> = { int8: 0.1, int7: 0.2 };
  for (const head of HEADS) {
    const wasm = await loadModel(path, { threads: 2, head });
    const refm = await loadModel(path, { backend: 'reference', head });
    t.after(() => { wasm.dispose(); refm.dispose(); });
    assert.equal(wasm.readsFile, true);
    assert.equal(wasm.info.head, head);
    assert.ok(wasm.info.weightBytes < exact.info.weightBytes, `the ${head} head reads fewer bytes per token`);
    const la = logitsOf(wasm), lb = logitsOf(refm);
    let worst = 0;
    for (let i = 0; i < tokens.length; i++) {
      let range = 0, sd = 0, mean = 0, maxHead = 0, maxRef = 0;
      for (const v of lc[i]) mean += v / lc[i].length;
      for (let j = 0; j < lc[i].length; j++) {
        range = Math.max(range, Math.abs(lc[i][j])); sd += (lc[i][j] - mean) ** 2 / lc[i].length;
        maxRef = Math.max(maxRef, Math.abs(la[i][j] - lb[i][j])); maxHead = Math.max(maxHead, Math.abs(la[i][j] - lc[i][j]));
      }
      // an int8 activation code may flip at a rounding boundary between backends (ulp-level float differences)
      assert.ok(maxRef <= 1e-2 * range, `${head} position ${i}: wasm vs reference ${maxRef} (range ${range})`);
      assert.ok(maxHead <= bound[head] * Math.sqrt(sd), `${head} position ${i}: vs exact head ${maxHead} (sd ${Math.sqrt(sd)})`);
      worst = Math.max(worst, maxHead / Math.sqrt(sd));
    }
    t.diagnostic(`${head}: worst max |Δlogit| vs the exact head ${worst.toFixed(3)} sd`);
  }
  await assert.rejects(loadModel(path, { threads: 1, head: 'int4' as never }), /head must be one of file, int8, int7/);
});
