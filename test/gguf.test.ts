import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GGUFError, GGUFValueType, gguf, parseGGUFBytes, serializeGGUF, type GGUFValue } from '../src/formats/gguf.js';
import { GGMLType, dequantize, quantize, tensorBytes } from '../src/quant/ggml.js';
import { absmeanTernarize, ternaryFromGGML, ternaryToF32, ternaryToGGML } from '../src/quant/ternary.js';
import { mulberry32 } from './util.js';

const allTypes: Array<[string, GGUFValue]> = [
  ['a.u8', { type: GGUFValueType.UINT8, value: 250 }],
  ['a.i8', { type: GGUFValueType.INT8, value: -100 }],
  ['a.u16', { type: GGUFValueType.UINT16, value: 65000 }],
  ['a.i16', { type: GGUFValueType.INT16, value: -32000 }],
  ['a.u32', gguf.u32(4000000000)],
  ['a.i32', gguf.i32(-2000000000)],
  ['a.f32', gguf.f32(1.5)],
  ['a.bool', gguf.bool(true)],
  ['a.str', gguf.str('héllo ✓')],
  ['a.u64', gguf.u64(2n ** 60n)],
  ['a.i64', { type: GGUFValueType.INT64, value: -5 }],
  ['a.f64', { type: GGUFValueType.FLOAT64, value: Math.PI }],
  ['a.arr', gguf.strArray(['x', '', 'zz'])],
  ['a.nested', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [gguf.i32Array([1, 2]), gguf.i32Array([])] }],
];

test('GGUF round trip: every metadata type and tensor type', () => {
  const rnd = mulberry32(1);
  const src = new Float32Array(2 * 256).map(() => rnd() * 2 - 1);
  const types = [GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q8_0, GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.I2_S];
  const tensors = types.map((type, i) => ({ name: `t${i}`, type, dims: [256, 2], data: quantize(type, src, 2, 256) }));
  const bytes = serializeGGUF(allTypes, tensors, { alignment: 64 });
  const f = parseGGUFBytes(bytes);
  assert.equal(f.version, 3);
  assert.equal(f.alignment, 64);
  assert.equal(f.get('a.u64'), 2n ** 60n);
  assert.equal(f.get('a.i64'), -5);
  assert.equal(f.get('a.str'), 'héllo ✓');
  assert.deepEqual(f.get('a.arr'), ['x', '', 'zz']);
  assert.deepEqual(f.get('a.nested'), [[1, 2], []]);
  assert.equal(f.get('a.f32'), 1.5);
  assert.equal(f.get('a.bool'), true);
  for (const [i, t] of tensors.entries()) {
    const info = f.tensor(`t${i}`)!;
    assert.equal(info.offset % 64, 0);
    assert.deepEqual(f.readTensor(info), t.data);
  }
  assert.throws(() => f.require('missing.key'), /missing required key "missing.key"/);
  assert.throws(() => f.readTensor('nope'), GGUFError);
});

test('TQ2_0 / TQ1_0 / I2_S: hand-computed layouts and code round trips', () => {
  // TQ2_0: element i of a block is in byte (i>>7)*32 + (i&31), bits 2*((i>>5)&3); code = w + 1.
  const w = new Float32Array(256);
  w[0] = 1; w[32] = -1; w[129] = 1;
  const tq2 = quantize(GGMLType.TQ2_0, w, 1, 256);
  assert.equal(tq2.length, 66);
  assert.equal(tq2[0], 2 | (0 << 2) | (1 << 4) | (1 << 6));
  assert.equal(tq2[33], 2 | (1 << 2) | (1 << 4) | (1 << 6));
  assert.deepEqual(Array.from(dequantize(GGMLType.TQ2_0, tq2, 256)), Array.from(w));
  // TQ1_0: 5 trits per byte, value ceil(q*256/243); all-zero weights are trits 1 → q = 121 → 128.
  const z = quantize(GGMLType.TQ1_0, new Float32Array(256), 1, 256);
  assert.equal(z.length, 54);
  assert.equal(z[0], Math.ceil((121 * 256) / 243));
  const rnd = mulberry32(7);
  const tern = new Float32Array(4 * 512).map(() => (Math.floor(rnd() * 3) - 1) * 0.25);
  for (const type of [GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.I2_S]) {
    const bytes = quantize(type, tern, 4, 512);
    assert.equal(bytes.length, tensorBytes(type, 2048));
    assert.deepEqual(Array.from(dequantize(type, bytes, 2048)), Array.from(tern), `${type} dequantize`);
    const m = ternaryFromGGML(type, bytes, 4, 512);
    assert.deepEqual(Array.from(ternaryToF32(m)), Array.from(tern));
    assert.deepEqual(ternaryToGGML(type, m), bytes, `${type} byte-identical round trip`);
  }
  // I2_S: element i at byte i&31, bits 6-2*(i>>5); one f32 scale after n/4 bytes.
  const i2 = quantize(GGMLType.I2_S, Float32Array.from({ length: 128 }, (_, i) => (i === 0 ? 0.5 : i === 32 ? -0.5 : 0)), 1, 128);
  assert.equal(i2[0], (2 << 6) | (0 << 4) | (1 << 2) | 1);
  assert.equal(new DataView(i2.buffer).getFloat32(32, true), 0.5);
});

test('Q8_0 hand-computed block', () => {
  const x = new Float32Array(32); x[0] = 1.27; x[1] = -0.5;
  const q = quantize(GGMLType.Q8_0, x, 1, 32);
  assert.equal(new Int8Array(q.buffer)[2], 127);
  assert.equal(new Int8Array(q.buffer)[3], -50);
  assert.ok(Math.abs(dequantize(GGMLType.Q8_0, q, 32)[1] + 0.5) < 1e-3);
});

test('absmean ternarization of a hand example', () => {
  const m = absmeanTernarize(Float32Array.from([0.2, -0.9, 0.05, 0.45]), 1, 4);
  // mean|w| = 0.4: 0.5 → 1 (round half away), -2.25 → -1, 0.125 → 0, 1.125 → 1
  assert.ok(Math.abs(m.scales[0] - 0.4) < 1e-7);
  assert.deepEqual(Array.from(ternaryToF32(m)).map((v) => Math.round(v / 0.4)), [1, -1, 0, 1]);
});

test('malformed GGUFs are clean errors naming the problem', () => {
  const good = serializeGGUF([['k', gguf.u32(1)]], [{ name: 'w', type: GGMLType.F32, dims: [4], data: new Uint8Array(16) }]);
  const bad = (mut: (b: Uint8Array, dv: DataView) => void) => { const b = good.slice(); mut(b, new DataView(b.buffer)); return b; };
  assert.throws(() => parseGGUFBytes(bad((b) => { b[0] = 0x58; })), /bad magic/);
  assert.throws(() => parseGGUFBytes(bad((_, dv) => dv.setUint32(4, 9, true))), /unsupported GGUF version 9/);
  assert.throws(() => parseGGUFBytes(bad((_, dv) => dv.setBigUint64(8, 1n << 40n, true))), /tensor count/);
  assert.throws(() => parseGGUFBytes(bad((_, dv) => dv.setBigUint64(24, 1n << 50n, true))), /length/);
  assert.throws(() => parseGGUFBytes(good.subarray(0, good.length - 20)), /runs past the end/);
  const dup = serializeGGUF([], [{ name: 'w', type: GGMLType.F32, dims: [4], data: new Uint8Array(16) }, { name: 'x', type: GGMLType.F32, dims: [4], data: new Uint8Array(16) }]);
  const i = Buffer.from(dup).indexOf('x', 30); dup[i] = 'w'.charCodeAt(0);
  assert.throws(() => parseGGUFBytes(dup), /duplicate tensor name "w"/);
});

test('writeGGUF streams thunks to a temp name and renames; openGGUF reads ranges from the file; v2 reads', async () => {
  const { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { openGGUF, writeGGUF } = await import('../src/formats/gguf.js');
  const dir = mkdtempSync(join(tmpdir(), 'gguf-'));
  try {
    const path = join(dir, 'm.gguf');
    let calls = 0;
    const data = Float32Array.from({ length: 64 }, (_, i) => i);
    writeGGUF(path, new Map([['general.architecture', gguf.str('llama')]]), [
      { name: 'a', type: GGMLType.F32, dims: [64], data: () => { calls++; return new Uint8Array(data.buffer); } },
      { name: 'b', type: GGMLType.F16, dims: [32, 2], data: quantize(GGMLType.F16, data, 2, 32) },
    ]);
    assert.equal(calls, 1);
    assert.deepEqual(readdirSync(dir), ['m.gguf']);
    const f = openGGUF(path);
    assert.deepEqual(new Float32Array(f.readTensor('a').slice().buffer), data);
    assert.deepEqual(f.tensor('b')!.dims, [32, 2]);
    assert.equal(f.tensor('b')!.offset % 32, 0);
    f.close();
    // a failing thunk leaves neither the file nor its temp behind
    assert.throws(() => writeGGUF(join(dir, 'x.gguf'), [], [{ name: 'a', type: GGMLType.F32, dims: [4], data: () => new Uint8Array(3) }]), /3 bytes of data, expected 16/);
    assert.deepEqual(readdirSync(dir), ['m.gguf']);
    // GGUF v2 has the same layout as v3 (u64 counts)
    const v2 = readFileSync(path);
    v2.writeUInt32LE(2, 4);
    writeFileSync(join(dir, 'v2.gguf'), v2);
    const g = openGGUF(join(dir, 'v2.gguf'));
    assert.equal(g.version, 2);
    assert.equal(g.get('general.architecture'), 'llama');
    g.close();
    writeFileSync(join(dir, 'bad.gguf'), v2.subarray(0, 40));
    assert.throws(() => openGGUF(join(dir, 'bad.gguf')), (e: Error) => e instanceof GGUFError && e.message.startsWith(join(dir, 'bad.gguf')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer: deep nested arrays round trip; values that would wrap are refused', () => {
  const deep: GGUFValue = { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [
    { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [gguf.strArray(['a', 'b'])] },
  ] };
  assert.deepEqual(parseGGUFBytes(serializeGGUF([['d', deep]], [])).get('d'), [[['a', 'b']]]);
  let v: GGUFValue = gguf.i32Array([1]);
  for (let i = 0; i < 8; i++) v = { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [v] };
  assert.throws(() => serializeGGUF([['d', v]], []), /nested deeper than 8/);
  assert.throws(() => serializeGGUF([['k', gguf.u32(-1)]], []), /"k": value -1 is not an integer in \[0, 4294967295\]/);
  assert.throws(() => serializeGGUF([['k', { type: GGUFValueType.UINT8, value: 256 }]], []), /not an integer/);
  assert.throws(() => serializeGGUF([['k', gguf.i32(1.5)]], []), /not an integer/);
  assert.throws(() => serializeGGUF([['k', gguf.u64(-1n)]], []), /out of range/);
  assert.throws(() => serializeGGUF([['k', gguf.str(3 as unknown as string)]], []), /expected a string/);
  assert.throws(() => serializeGGUF([['k', gguf.u32(1)], ['k', gguf.u32(2)]], []), /duplicate metadata key "k"/);
  const t = { name: 'w', type: GGMLType.F32, dims: [4], data: new Uint8Array(16) };
  assert.throws(() => serializeGGUF([], [t, t]), /duplicate tensor name "w"/);
  // reader side: 20 levels of arrays is a GGUFError naming the problem
  const parts: Buffer[] = [Buffer.from('GGUF'), u32le(3), u64le(0), u64le(1), u64le(1), Buffer.from('d'), u32le(GGUFValueType.ARRAY)];
  for (let i = 0; i < 20; i++) parts.push(u32le(GGUFValueType.ARRAY), u64le(1));
  parts.push(u32le(GGUFValueType.INT32), u64le(0));
  assert.throws(() => parseGGUFBytes(new Uint8Array(Buffer.concat(parts))), (e: Error) => e instanceof GGUFError && /nested deeper than 8/.test(e.message));
});

function u32le(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; }
function u64le(v: number): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; }
