// The optional int8 LM head (ggml Q8_0 arithmetic) and the file-backed embedding lookup, WASM vs the reference:
// both ISA variants, 1/2/3 threads, odd shapes. Weight codes and half-rounded scales bit-exact with quantizeQ8Ref
// (ggml quantize_row_q8_0_ref: ties away from zero), activation codes and scales bit-exact with quantizeQ8ActsRef
// (ggml's x86 quantize_row_q8_0: ties to even); the float sums within 1e-5 of the largest output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ref from '../src/kernels/reference.js';
import { ReferenceBackend } from '../src/kernels/reference.js';
import { supportedVariants, WasmBackend } from '../src/kernels/index.js';
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
  return { rows, cols, dtype: 'f16', data };
}

function bytesOf(m: FloatMatrix): Uint8Array { return new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength); }

function tensorOf(type: GGMLType, bytes: Uint8Array, rows: number, cols: number, ranged = true): GGMLTensor {
  return {
    type, rows, cols, nbytes: bytes.byteLength, read: (dst) => dst.set(bytes),
    readRange: ranged ? (at, dst) => dst.set(bytes.subarray(at, at + dst.byteLength)) : undefined,
  };
}

interface Internals { u8: Uint8Array; k: { q8QuantizeActs(x: number, n: number, cols: number, xq: number, dx: number): void } }
interface Q8Handle { rows: number; cols: number; ptr: number; scalesPtr: number }

/** The codes and scales a WASM int8 head holds (head.ts layout: groups of 8 rows), in the reference's layout. */
function readBack(be: WasmBackend, h: Q8Handle): ref.Q8Matrix {
  const { u8 } = be as unknown as Internals;
  const { rows, cols } = h, blocks = cols / 32;
  const codes = new Int8Array(rows * cols), scales = new Float32Array(rows * blocks);
  const sv = new Uint16Array(u8.buffer, h.scalesPtr, Math.ceil(rows / 8) * blocks * 8);
  for (let r = 0; r < rows; r++) {
    const g = r >> 3, rr = r & 7;
    for (let j = 0; j < cols; j++) {
      const at = (((g * blocks + (j >> 5)) * 8 + ((j & 31) >> 2)) * 32) + (rr >> 2) * 16 + (rr & 3) * 4 + (j & 3);
      codes[r * cols + j] = (u8[h.ptr + at] << 24) >> 24;
    }
    for (let b = 0; b < blocks; b++) scales[r * blocks + b] = f16ToF32(sv[(g * blocks + b) * 8 + rr]);
  }
  return { rows, cols, codes, scales };
}

/** The activation codes q8QuantizeActs wrote: relaxed build |code| then sign masks per token, SIMD128 int16. */
function actCodes(be: WasmBackend, xq: number, n: number, cols: number): number[] {
  const { u8 } = be as unknown as Internals;
  if (be.variant !== 'relaxed') return Array.from(new Int16Array(u8.buffer, xq, n * cols));
  const out: number[] = [];
  for (let t = 0; t < n; t++) {
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

const variants = await supportedVariants();
for (const variant of variants) {
  for (const threads of [1, 2, 3]) {
    test(`int8 head, wasm ${variant}, ${threads} thread(s)`, async (t) => {
      const be = await WasmBackend.create({ variant, threads });
      t.after(() => be.dispose());

      await t.test('weights: codes and scales bit-exact with quantizeQ8Ref (F16, BF16, F32; in memory and from file bytes)', () => {
        for (const [rows, cols] of [[13, 96], [1, 32], [4, 64], [7, 2560], [1701, 2560]]) {
          const m = halfMatrix(rows, cols), want = ref.quantizeQ8Ref(m);
          assertSameQ8(readBack(be, be.prepareQ8(m) as unknown as Q8Handle), want, `f16 matrix ${rows}x${cols}`);
          const file = be.prepareQ8(tensorOf(GGMLType.F16, bytesOf(m), rows, cols));
          assertSameQ8(readBack(be, file as unknown as Q8Handle), want, `F16 file ${rows}x${cols}`);
          if (rows > 20) continue;
          const unranged = be.prepareQ8(tensorOf(GGMLType.F16, bytesOf(m), rows, cols, false));
          assertSameQ8(readBack(be, unranged as unknown as Q8Handle), want, `F16 file without readRange ${rows}x${cols}`);
          const f32 = new Float32Array(rows * cols), bf = new Uint16Array(rows * cols);
          for (let i = 0; i < f32.length; i++) { f32[i] = f16ToF32(m.data[i]); bf[i] = f32ToBf16(f32[i]); }
          const f32m: FloatMatrix = { rows, cols, dtype: 'f32', data: f32 };
          assertSameQ8(readBack(be, be.prepareQ8(tensorOf(GGMLType.F32, bytesOf(f32m), rows, cols)) as unknown as Q8Handle),
            want, `F32 file ${rows}x${cols}`);
          assertSameQ8(readBack(be, be.prepareQ8(f32m) as unknown as Q8Handle), want, `f32 matrix ${rows}x${cols}`);
          const bfWant = ref.quantizeQ8Ref({ rows, cols, dtype: 'f32', data: Float32Array.from(bf, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]) });
          const bfBytes = new Uint8Array(bf.buffer);
          assertSameQ8(readBack(be, be.prepareQ8(tensorOf(GGMLType.BF16, bfBytes, rows, cols)) as unknown as Q8Handle), bfWant, `BF16 file ${rows}x${cols}`);
        }
        assert.equal(be.prepareQ8(tensorOf(GGMLType.Q8_0, new Uint8Array(34), 1, 32)), undefined, 'other types: not taken');
        assert.throws(() => be.prepareQ8(halfMatrix(2, 48)), /multiple of 32/);
      });

      await t.test('activations: codes and block scales bit-exact with quantizeQ8ActsRef (ties, zero blocks)', () => {
        const { k } = be as unknown as Internals;
        const n = 3, cols = 160, x = be.allocF32(n * cols);
        for (let i = 0; i < x.length; i++) x[i] = (rand() - 0.5) * 8;
        for (let j = 0; j < 32; j++) x[j] = 0; // a zero block
        x[32] = 127; x[33] = 2.5; x[34] = -2.5; x[35] = 0.5; x[36] = -3.5; // exact ties (id = 1)
        const xq = be.allocF32((n * cols) / 2), dx = be.allocF32((n * cols) / 32);
        k.q8QuantizeActs(x.byteOffset, n, cols, xq.byteOffset, dx.byteOffset);
        const wantQ = new Int8Array(n * cols), wantD = new Float32Array((n * cols) / 32);
        ref.quantizeQ8ActsRef(x, n, cols, wantQ, wantD);
        assert.deepEqual(actCodes(be, xq.byteOffset, n, cols), Array.from(wantQ));
        assert.deepEqual(Array.from(dx), Array.from(wantD));
      });

      await t.test('matmul: q8MatMulRef within 1e-5 of the largest output (n = 1, 2, 5; rows not a multiple of 4 or 8)', () => {
        for (const [rows, cols] of [[13, 96], [1, 32], [70, 2560], [1701, 256], [9, 160]]) {
          const m = halfMatrix(rows, cols), q = ref.quantizeQ8Ref(m), w = be.prepareQ8(m)!;
          for (const n of [1, 2, 5]) {
            const x = new Float32Array(n * cols).map(() => (rand() - 0.5) * 3);
            const want = new Float32Array(n * rows), got = new Float32Array(n * rows);
            ref.q8MatMulRef(q, x, n, want);
            be.floatMatMul(w, x, n, got);
            assertClose(got, want, `${rows}x${cols} n=${n}`);
          }
        }
      });

      await t.test('matmul at the extremes: codes ±127 in weights and activations, integer sums exact (11 rows × 96)', () => {
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

test('Model with --head int8: wasm == reference (int8 head both), near the exact head, embedding read from the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-head-'));
  const path = join(dir, 'm.gguf');
  const w = synthWeights({ dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 300 }, 7, 4, 'ternary-blocks', 'f16');
  writeModelGGUF(path, w, synthTokenizer(300), { ternaryType: 'tq2_0', floatType: 'f16' });
  const wasm = await loadModel(path, { threads: 2, head: 'int8' });
  const exact = await loadModel(path, { threads: 2 });
  const refm = await loadModel(path, { backend: 'reference', head: 'int8' });
  t.after(() => { wasm.dispose(); exact.dispose(); refm.dispose(); });
  assert.equal(wasm.readsFile, true);
  assert.equal(wasm.info.head, 'int8');
  assert.equal(exact.info.head, 'file');
  assert.ok(wasm.info.weightBytes < exact.info.weightBytes, 'the int8 head reads fewer bytes per token');
  const tokens = [1, 5, 299, 42, 7, 7, 100];
  const a = wasm.createSession(), b = refm.createSession(), c = exact.createSession();
  const la: Float32Array[] = [], lb: Float32Array[] = [], lc: Float32Array[] = [];
  a.evaluate(tokens, { onLogits: (_, l) => la.push(l.slice()) });
  b.evaluate(tokens, { onLogits: (_, l) => lb.push(l.slice()) });
  c.evaluate(tokens, { onLogits: (_, l) => lc.push(l.slice()) });
  for (let i = 0; i < tokens.length; i++) {
    let range = 0, sd = 0, mean = 0, maxInt8 = 0, maxRef = 0;
    for (const v of lc[i]) mean += v / lc[i].length;
    for (let j = 0; j < lc[i].length; j++) {
      range = Math.max(range, Math.abs(lc[i][j])); sd += (lc[i][j] - mean) ** 2 / lc[i].length;
      maxRef = Math.max(maxRef, Math.abs(la[i][j] - lb[i][j])); maxInt8 = Math.max(maxInt8, Math.abs(la[i][j] - lc[i][j]));
    }
    // an int8 activation code may flip at a rounding boundary between backends (ulp-level float differences)
    assert.ok(maxRef <= 1e-2 * range, `position ${i}: wasm vs reference ${maxRef} (range ${range})`);
    assert.ok(maxInt8 <= 0.1 * Math.sqrt(sd), `position ${i}: int8 vs exact head ${maxInt8} (sd ${Math.sqrt(sd)})`);
  }
  await assert.rejects(loadModel(path, { threads: 1, head: 'int4' as never }), /head must be file or int8/);
});
