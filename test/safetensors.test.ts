/** safetensors reader/writer: round trip, upstream validation rules, and a mutation fuzz. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsError, openSafetensors, parseSafetensorsBytes, safetensorsToF32, serializeSafetensors, writeSafetensors, f32ToSafetensors,
  type SafetensorsTensorToWrite,
} from '../src/formats/safetensors.js';

const sample = (): SafetensorsTensorToWrite[] => [
  { name: 'a.weight', dtype: 'F32', shape: [2, 3], data: f32ToSafetensors('F32', new Float32Array([1, -2, 3.5, 0, 1e-3, -7])) },
  { name: 'b', dtype: 'BF16', shape: [4], data: f32ToSafetensors('BF16', new Float32Array([1, 2, -0.5, 256])) },
  { name: 'c.packed', dtype: 'U8', shape: [3, 1], data: new Uint8Array([0x21, 0x9a, 0]) },
  { name: 'empty', dtype: 'F16', shape: [0, 5], data: new Uint8Array(0) },
];

/** A file from a raw header object and a data section (for invalid cases the writer refuses). */
function raw(header: unknown, data = new Uint8Array(0), headerText?: string): Uint8Array {
  const h = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8); out.set(data, 8 + h.length);
  return out;
}

test('round trip through a file, with metadata, atomically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const path = join(dir, 'm.safetensors');
    writeSafetensors(path, sample(), { format: 'pt', note: 'x' });
    assert.ok(!existsSync(`${path}.tmp`));
    const bytes = readFileSync(path);
    assert.equal(Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)) % 8, 0, 'header padded to 8 bytes');
    const f = openSafetensors(path);
    assert.deepEqual(f.metadata, { format: 'pt', note: 'x' });
    assert.deepEqual(f.tensors.map((t) => t.name), ['a.weight', 'b', 'c.packed', 'empty']);
    const a = f.tensor('a.weight')!;
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual([...safetensorsToF32(a.dtype, f.read(a))], [...new Float32Array([1, -2, 3.5, 0, 1e-3, -7])]);
    assert.deepEqual([...safetensorsToF32('BF16', f.read(f.tensor('b')!))], [1, 2, -0.5, 256]);
    assert.deepEqual([...f.read(f.tensor('c.packed')!)], [0x21, 0x9a, 0]);
    f.close();
    assert.deepEqual(new Uint8Array(bytes), serializeSafetensors(sample(), { format: 'pt', note: 'x' }));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('writer refuses inconsistent tensors', () => {
  assert.throws(() => serializeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: new Uint8Array(8) }]), /needs 12 bytes/);
  const t = sample()[0];
  assert.throws(() => serializeSafetensors([t, t]), /duplicate/);
});

test('reader enforces the upstream header rules', () => {
  const d8 = new Uint8Array(8);
  const bad: Array<[Uint8Array, RegExp]> = [
    [new Uint8Array(4), /too short/],
    [(() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 200_000_000n, true); return b; })(), /exceeds/],
    [(() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 100n, true); return b; })(), /past the end/],
    [raw(null, d8, '[]'), /does not start/],
    [raw(null, d8, '{"a":'), /not valid JSON/],
    [raw({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, d8), /unknown dtype/],
    [raw({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, d8), /needs 12 bytes/],
    [raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(12)), /cover 8 bytes/],
    [raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [2, 6] } }, d8), /contiguous/],
    [raw({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, d8), /expected 0/],
    [raw({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, d8), /shape/],
    [raw({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, d8), /end before/],
    [raw({ __metadata__: { k: 1 } }), /not a string/],
    [raw(null, d8, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'), /duplicate tensor name "a"/],
  ];
  for (const [bytes, re] of bad) assert.throws(() => parseSafetensorsBytes(bytes), (e: unknown) => e instanceof SafetensorsError && re.test(e.message), re.source);
});

test('fuzz: 2,000 mutated files parse or fail with a SafetensorsError, never anything else', () => {
  const base = serializeSafetensors(sample(), { format: 'pt' });
  let seed = 12345;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  let ok = 0, failed = 0;
  for (let i = 0; i < 2000; i++) {
    const b = base.slice();
    const kind = rand(4);
    if (kind === 0) for (let k = 0; k <= rand(4); k++) b[rand(b.length)] = rand(256);          // random bytes
    else if (kind === 1) b[rand(Math.min(b.length, 12))] = rand(256);                           // header length
    else if (kind === 2) { const at = 8 + rand(b.length - 8); b[at] = '0123456789[]{},:"-'.charCodeAt(rand(18)); } // JSON punctuation/digits
    const input = kind === 3 ? b.subarray(0, rand(b.length)) : b;                                // truncation
    try {
      const f = parseSafetensorsBytes(input);
      for (const t of f.tensors) f.read(t);
      ok++;
    } catch (e) {
      assert.ok(e instanceof SafetensorsError, `case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      failed++;
    }
  }
  assert.ok(failed > 1000 && ok > 10, `ok ${ok}, failed ${failed}`);
});
