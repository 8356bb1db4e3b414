import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GGMLType, GGML_TYPES, I2S_TAIL, dequantize, ggmlTypeFromName, quantize, tensorBytes } from '../src/quant/ggml.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../src/quant/half.js';
import { absmeanTernarize, floatFromGGML, ternaryFromGGML, ternaryToF32, ternaryToGGML } from '../src/quant/ternary.js';
import { mulberry32 } from './util.js';

// Outputs of the upstream reference code itself (ggml-quants.c *_ref, bitnet.cpp quantize_i2_s, F16C),
// compiled natively; see the fixture's "source" field.
interface Case { op: 'quantize' | 'dequantize'; type: string; n: number; input: string; output: string }
const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/ggml-quants.json', import.meta.url), 'utf8')) as { cases: Case[] };
const bytesOf = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

/** First differing byte, for a readable failure. */
function firstDiff(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  const i = a.findIndex((v, k) => v !== b[k]);
  return i < 0 ? 'equal' : `byte ${i}: ours ${a[i]}, upstream ${b[i]}`;
}

for (const c of fixture.cases) {
  test(`bit-exact with upstream: ${c.op} ${c.type} (${c.n} values)`, () => {
    const type = ggmlTypeFromName(c.type);
    const input = bytesOf(c.input);
    const want = bytesOf(c.output);
    if (c.op === 'quantize') {
      const x = new Float32Array(input.buffer, input.byteOffset, c.n);
      const got = quantize(type, x, 1, c.n);
      assert.ok(firstDiff(got, want) === 'equal', firstDiff(got, want));
      // and the file bytes decode back to what upstream's layout means
      if (type === GGMLType.TQ1_0 || type === GGMLType.TQ2_0 || type === GGMLType.I2_S) {
        assert.deepEqual(ternaryToGGML(type, ternaryFromGGML(type, got, 1, c.n)), got);
      }
    } else {
      const got = dequantize(type, input, c.n);
      const gotBytes = new Uint8Array(got.buffer);
      assert.ok(firstDiff(gotBytes, want) === 'equal', firstDiff(gotBytes, want));
    }
  });
}

test('type table, names and sizes', () => {
  assert.equal(ggmlTypeFromName('tq2_0'), GGMLType.TQ2_0);
  assert.equal(ggmlTypeFromName('BF16'), GGMLType.BF16);
  assert.throws(() => ggmlTypeFromName('q4_k'), /unknown tensor type 'q4_k'.*tq1_0/);
  assert.equal(GGML_TYPES[GGMLType.TQ1_0].typeSize, 54);
  assert.equal(tensorBytes(GGMLType.TQ2_0, 512), 132);
  assert.equal(tensorBytes(GGMLType.Q8_0, 64), 68);
  assert.equal(tensorBytes(GGMLType.BF16, 3), 6);
  assert.equal(tensorBytes(GGMLType.I2_S, 256), 64 + I2S_TAIL);
  assert.throws(() => tensorBytes(GGMLType.TQ2_0, 100), /multiple of 256/);
  assert.throws(() => dequantize(GGMLType.Q8_0, new Uint8Array(33), 32), /too short/);
});

test('half and bfloat16 conversions', () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(65520), 0x7c00);                 // rounds up to +inf
  assert.equal(f32ToF16(2 ** -25), 0);                    // exactly half the smallest subnormal: ties to even 0
  assert.equal(f32ToF16(3 * 2 ** -26), 1);                // above half: smallest subnormal
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80);           // tie, even stays
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);       // tie, odd rounds up
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
  for (const v of [0, -0.5, 3.140625, 1e30, -1e-30]) assert.equal(bf16ToF32(f32ToBf16(v)), Math.fround(bf16ToF32(f32ToBf16(v))));
});

test('TQ2_0 keeps per-256 block scales through the canonical matrix; I2_S refuses several scales', () => {
  const rnd = mulberry32(3);
  const rows = 3, cols = 512;
  const w = new Float32Array(rows * cols).map((_, i) => (Math.floor(rnd() * 3) - 1) * (1 + (i >> 8)));
  const bytes = quantize(GGMLType.TQ2_0, w, rows, cols);
  const m = ternaryFromGGML(GGMLType.TQ2_0, bytes, rows, cols);
  assert.equal(m.blockSize, 256);
  assert.deepEqual(Array.from(m.scales), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(ternaryToF32(m), w);
  assert.deepEqual(ternaryToGGML(GGMLType.TQ1_0, m), quantize(GGMLType.TQ1_0, w, rows, cols));
  assert.throws(() => ternaryToGGML(GGMLType.I2_S, m), /one scale per tensor/);
  // the other way: a per-tensor matrix stores in every layout
  const t = absmeanTernarize(w, rows, cols);
  for (const type of [GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.I2_S]) {
    assert.deepEqual(ternaryToF32(ternaryFromGGML(type, ternaryToGGML(type, t), rows, cols)).map((v) => Math.fround(v)), ternaryToF32(t));
  }
});

test('the unused code 3: dequantize reads code - 1 = +2 as upstream dequantize_row_tq2_0 does; ternaryFromGGML refuses it', () => {
  const bytes = new Uint8Array(tensorBytes(GGMLType.I2_S, 128));
  bytes[0] = 0xff; // I2_S: elements 0, 32, 64, 96 all code 3
  new DataView(bytes.buffer).setFloat32(32, 2, true);
  assert.equal(dequantize(GGMLType.I2_S, bytes, 128)[0], 4);
  assert.throws(() => ternaryFromGGML(GGMLType.I2_S, bytes, 1, 128), /a tensor \(I2_S\) holds the invalid 2-bit code 3 at row 0, column 0:/);
  const tq2 = new Uint8Array(66 * 2);
  tq2[64] = 0x00; tq2[65] = 0x3c; tq2[66 + 64] = 0x00; tq2[66 + 65] = 0x3c; // d = 1
  tq2[66 + 40] = 0x30; // TQ2_0 block 1, qs[40] bits 4-5: element 128 + 2*32 + 8 = 200 of row 1
  assert.equal(dequantize(GGMLType.TQ2_0, tq2, 512)[256 + 200], 2);
  assert.throws(() => ternaryFromGGML(GGMLType.TQ2_0, tq2, 2, 256, 'blk.0.attn_q.weight'),
    /tensor "blk.0.attn_q.weight" \(TQ2_0\) holds the invalid 2-bit code 3 at row 1, column 200:/);
  tq2[66 + 40] = 0x20; // code 2 is weight +1: accepted
  assert.equal(ternaryToF32(ternaryFromGGML(GGMLType.TQ2_0, tq2, 2, 256))[256 + 200], 1);
});

test('floatFromGGML: F16 stays half bits, BF16 and Q8_0 become f32', () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 8);
  const f16 = floatFromGGML(GGMLType.F16, quantize(GGMLType.F16, x, 2, 32), 2, 32);
  assert.equal(f16.dtype, 'f16');
  assert.equal(f16.data[0], f32ToF16(-4));
  const bf = floatFromGGML(GGMLType.BF16, quantize(GGMLType.BF16, x, 2, 32), 2, 32);
  assert.deepEqual(bf.data, x);
  const q8 = floatFromGGML(GGMLType.Q8_0, quantize(GGMLType.Q8_0, x, 2, 32), 2, 32);
  assert.equal(q8.dtype, 'f32');
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(q8.data[i] - x[i]) <= 4 / 127 / 2 + 1e-3);
});
