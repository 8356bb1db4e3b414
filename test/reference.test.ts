import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeRowsRef, ternaryMatMulRef } from '../src/kernels/reference.js';
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from '../src/quant/half.js';

test('absmax int8 quantization of a hand-computed row', () => {
  const x = new Float32Array([0.5, -1, 0.25, 0]);
  const xq = new Int8Array(4), inv = new Float32Array(1);
  quantizeRowsRef(x, 1, 4, xq, inv);
  assert.deepEqual([...xq], [64, -127, 32, 0]); // 63.5 rounds away from zero; 31.75 -> 32
  assert.ok(Math.abs(inv[0] - 1 / 127) < 1e-9);
});

test('ternary matmul matches the hand-computed sum', () => {
  // 1 row × 4 cols: weights [1, 0, -1, 1] -> codes [2, 1, 0, 2] -> byte 0b10_00_01_10
  const m = { rows: 1, cols: 4, codes: new Uint8Array([0b10000110]), blockSize: 4, scales: new Float32Array([0.5]) };
  const out = new Float32Array(1);
  ternaryMatMulRef(m, new Int8Array([10, 20, 30, 40]), new Float32Array([2]), 1, out);
  assert.equal(out[0], (10 - 30 + 40) * 0.5 * 2);
});

test('half and bfloat16 conversions round-trip and round to nearest even', () => {
  for (const v of [0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8]) assert.equal(f16ToF32(f32ToF16(v)), v);
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie -> even
  assert.equal(f32ToF16(1e6), 0x7c00);
  assert.equal(bf16ToF32(f32ToBf16(1.5)), 1.5);
});
