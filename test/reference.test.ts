import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeRowsRef, ternaryMatMulRef } from '../src/kernels/reference.js';
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from '../src/quant/half.js';
import { roundHalfAway, roundHalfEven } from '../src/quant/round.js';
import { quantizeActivations } from '../src/train/model.js';

test('absmax int8 quantization of a hand-computed row', () => {
  const x = new Float32Array([0.5, -1, 0.25, 0]);
  const xq = new Int8Array(4), inv = new Float32Array(1);
  quantizeRowsRef(x, 1, 4, xq, inv);
  assert.deepEqual([...xq], [64, -127, 32, 0]); // 63.5 -> 64 (tie, even); 31.75 -> 32
  assert.ok(Math.abs(inv[0] - 1 / 127) < 1e-9);
});

// amax 127 makes s = 1: the row's values are the scaled values, ties exactly at .5.
const TIES = new Float32Array([127, 2.5, -2.5, 0.5, -0.5, -1.5, 3.5, 126.5, -126.5, 1.25]);
const TIES_ROUNDED = [127, 2, -2, 0, 0, -2, 4, 126, -126, 1];

test('activation quantization rounds exact .5 ties to even, as ggml nearest_int and torch.round', () => {
  assert.deepEqual([2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 1.4999999, 2.5000001].map(roundHalfEven).map((v) => v + 0),
                   [2, 4, -2, -4, 0, 0, 1, 3]);
  assert.deepEqual([2.5, -2.5, 0.5].map(roundHalfAway), [3, -3, 1]); // lroundf, for weight packing
  const xq = new Int8Array(TIES.length), inv = new Float32Array(1);
  quantizeRowsRef(TIES, 1, TIES.length, xq, inv);
  assert.deepEqual([...xq], TIES_ROUNDED);
  assert.equal(inv[0], 1);
});

test("the trainer's activation fake-quantizer rounds as the engine does", () => {
  const out = new Float32Array(TIES.length);
  quantizeActivations(TIES, out, 1, TIES.length, 'ternary');
  assert.deepEqual([...out].map((v) => v + 0), TIES_ROUNDED);
  const x = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * 1.7) * (i % 7) + (i % 13 === 0 ? 0.5 : 0));
  const xq = new Int8Array(300), inv = new Float32Array(2), fake = new Float32Array(300);
  quantizeRowsRef(x, 2, 150, xq, inv);
  quantizeActivations(x, fake, 2, 150, 'ternary');
  for (let i = 0; i < 300; i++) assert.equal(Math.round(fake[i] / inv[i < 150 ? 0 : 1]) + 0, xq[i], `element ${i}`);
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
