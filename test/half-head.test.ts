// The batched 16-bit LM head (halfRows' register tiles of 4 rows × up to 4 tokens): F16 (x prescaled and
// not), BF16, both ISA variants, 1/2/3 threads, odd batches, odd row counts, odd columns. Against the
// reference within the kernel tests' tolerance, and each token's logits bit-identical to that token alone
// (a row's logits do not depend on the batch around it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../src/kernels/reference.js';
import { supportedVariants, WasmBackend } from '../src/kernels/index.js';
import type { FloatMatrix, GGMLTensor } from '../src/quant/matrix.js';
import { GGMLType, quantize } from '../src/quant/ggml.js';
import { bf16ToF32 } from '../src/quant/half.js';
import { floatFromGGML } from '../src/quant/ternary.js';
import { mulberry32 } from './util.js';

const rand = mulberry32(4242);
const tensorOf = (type: GGMLType, bytes: Uint8Array, rows: number, cols: number): GGMLTensor =>
  ({ type, rows, cols, nbytes: bytes.byteLength, read: (dst) => dst.set(bytes) });

const variants = await supportedVariants();
for (const variant of variants) {
  for (const threads of [1, 2, 3]) {
    test(`batched f16/bf16 head, wasm ${variant}, ${threads} thread(s)`, async () => {
      const be = await WasmBackend.create({ variant, threads });
      try {
        // rows: whole quads, a quad and a tail, fewer than a quad, one; cols: multiple of 8 and not
        for (const [rows, cols] of [[16, 64], [13, 37], [3, 1536], [1, 8], [26, 203]]) {
          const w = Float32Array.from({ length: rows * cols }, () => (rand() * 2 - 1) * 0.05);
          for (const type of [GGMLType.F16, GGMLType.BF16]) {
            const bytes = quantize(type, w, rows, cols);
            const m: FloatMatrix = type === GGMLType.BF16
              ? { rows, cols, dtype: 'f32', data: Float32Array.from(new Uint16Array(bytes.buffer), bf16ToF32) }
              : floatFromGGML(type, bytes, rows, cols);
            const p = be.prepareGGML(tensorOf(type, bytes, rows, cols));
            assert.ok(p && p.kind === 'float');
            for (const n of [1, 2, 3, 4, 5, 7, 9, 17]) {
              for (const wide of [false, true]) { // wide: an x beyond the prescaled range (multiply-per-weight path)
                const x = Float32Array.from({ length: n * cols }, () => rand() * 2 - 1);
                if (wide) x[(n - 1) * cols] = 30000;
                const what = `${GGMLType[type]} ${rows}x${cols} n=${n}${wide ? ' wide' : ''}`;
                const got = be.allocF32(n * rows), want = new Float32Array(n * rows);
                be.floatMatMul(p.w, x, n, got);
                ref.floatMatMulRef(m, x, n, want);
                let scale = 1e-6;
                for (const v of want) scale = Math.max(scale, Math.abs(v));
                want.forEach((v, i) => {
                  if (!(Math.abs(got[i] - v) <= 2e-6 * Math.sqrt(cols) * scale)) assert.fail(`${what}[${i}]: ${got[i]} vs ${v}`);
                });
                if (wide) continue; // alone, the other tokens take the prescaled path: different rounding
                const one = be.allocF32(rows);
                for (const t of [0, Math.floor(n / 2), n - 1]) {
                  be.floatMatMul(p.w, x.subarray(t * cols, (t + 1) * cols), 1, one);
                  assert.deepEqual(Array.from(got.subarray(t * rows, (t + 1) * rows)), Array.from(one), `${what} token ${t} alone`);
                }
              }
            }
          }
        }
      } finally {
        be.dispose();
      }
    });
  }
}
