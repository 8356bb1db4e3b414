import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GGUFError, GGUFValueType, gguf, parseGGUFBytes, serializeGGUF } from '../src/formats/gguf.js';
import { GGMLType, quantize } from '../src/quant/ggml.js';
import { mulberry32 } from './util.js';

const rnd = mulberry32(42);
const w = new Float32Array(512).map(() => rnd() - 0.5);

/** Two valid files: a small bitnet-like model, and one with every metadata and tensor type (alignment 64). */
const bases: Uint8Array[] = [
  serializeGGUF(
    [['general.architecture', gguf.str('bitnet')], ['bitnet.block_count', gguf.u32(1)],
     ['tokenizer.ggml.tokens', gguf.strArray(['a', 'b', 'cc'])], ['x.scores', gguf.f32Array([0.5, 1])],
     ['x.nested', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [gguf.i32Array([3])] }]],
    [{ name: 'a', type: GGMLType.TQ2_0, dims: [256, 2], data: quantize(GGMLType.TQ2_0, w, 2, 256) },
     { name: 'b', type: GGMLType.F16, dims: [8, 2], data: quantize(GGMLType.F16, w, 2, 8) }]),
  serializeGGUF(
    [['a.u8', gguf.u8(7)], ['a.i8', { type: GGUFValueType.INT8, value: -7 }], ['a.u16', { type: GGUFValueType.UINT16, value: 700 }],
     ['a.i16', { type: GGUFValueType.INT16, value: -700 }], ['a.i32', gguf.i32(-70000)], ['a.f32', gguf.f32(0.25)],
     ['a.bool', gguf.bool(false)], ['a.u64', gguf.u64(2n ** 40n)], ['a.i64', { type: GGUFValueType.INT64, value: -1 }],
     ['a.f64', { type: GGUFValueType.FLOAT64, value: 1e300 }], ['a.arr', gguf.strArray(['x', 'yy'])],
     ['a.deep', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [{ type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [gguf.i32Array([1, 2])] }] }]],
    [GGMLType.F32, GGMLType.BF16, GGMLType.Q8_0, GGMLType.TQ1_0, GGMLType.I2_S].map((type, i) => (
      { name: `t${i}`, type, dims: [256, 1], data: quantize(type, w, 1, 256) })),
    { alignment: 64 }),
];
/** Where the header ends (mutations there exercise the validation; data bytes rarely matter). */
const headerEnd = bases.map((b) => parseGGUFBytes(b).dataOffset);

const interesting8 = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x40, 0x09, 0x0c];
const interesting64 = [0n, 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 31n, 33n, 1024n];

function mutate(base: Uint8Array, header: number): Uint8Array {
  let b = base.slice();
  const pos = () => Math.floor(rnd() * (rnd() < 0.8 ? header : b.length));
  const k = 1 + Math.floor(rnd() * 3);
  for (let j = 0; j < k && b.length > 0; j++) {
    const at = Math.min(pos(), b.length - 1);
    switch (Math.floor(rnd() * 7)) {
      case 0: b[at] ^= 1 << Math.floor(rnd() * 8); break;
      case 1: b[at] = interesting8[Math.floor(rnd() * interesting8.length)]; break;
      case 2: { // an interesting 32- or 64-bit value over a count/length/offset-sized field
        const v = interesting64[Math.floor(rnd() * interesting64.length)];
        const wide = rnd() < 0.5 && at + 8 <= b.length;
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (wide) dv.setBigUint64(at, v, true); else if (at + 4 <= b.length) dv.setUint32(at, Number(v & 0xffffffffn), true);
        break;
      }
      case 3: b = b.subarray(0, at); break;
      case 4: { const ins = new Uint8Array(b.length + 4); ins.set(b.subarray(0, at)); ins.set(b.subarray(at), at + 4); b = ins; break; }
      case 5: { const n = Math.min(1 + Math.floor(rnd() * 8), b.length - at); const out = new Uint8Array(Math.max(0, b.length - n)); out.set(b.subarray(0, at)); out.set(b.subarray(at + n), at); b = out; break; }
      default: { const n = 1 + Math.floor(rnd() * 16); const out = new Uint8Array(b.length + n); out.set(b.subarray(0, at + n)); out.set(b.subarray(at), at + n); b = out; } // duplicate a chunk
    }
  }
  return b;
}

test('fuzz: 4,000 mutated GGUF files give a parse or a GGUFError, nothing else', () => {
  let parsed = 0, errors = 0, slowest = 0;
  const messages = new Set<string>();
  const t0 = performance.now();
  for (let c = 0; c < 4000; c++) {
    const which = c % bases.length;
    const b = mutate(bases[which], headerEnd[which]);
    const start = performance.now();
    try {
      const f = parseGGUFBytes(b);
      for (const t of f.tensors) {
        assert.ok(t.offset % f.alignment === 0 && t.offset + t.nbytes <= b.length, `case ${c}: tensor ${t.name} outside the file`);
        assert.equal(f.readTensor(t).length, t.nbytes);
      }
      for (const k of f.metadata.keys()) f.get(k);
      parsed++;
    } catch (e) {
      if (!(e instanceof GGUFError)) assert.fail(`case ${c}: ${(e as Error).name}: ${(e as Error).message}`);
      assert.ok(e.message.length > 10, `case ${c}: message too vague: ${e.message}`);
      messages.add(e.message.replace(/[0-9]+/g, 'N').replace(/"[^"]*"/g, 'S').slice(0, 40));
      errors++;
    }
    slowest = Math.max(slowest, performance.now() - start);
  }
  const ms = performance.now() - t0;
  if (process.env.FUZZ_REPORT) console.log({ errors, parsed, slowest, ms }, [...messages]);
  assert.ok(errors > 2000, `most mutations must be caught (${errors} errors, ${parsed} parses)`);
  assert.ok(messages.size >= 10, `the errors name different problems, got only: ${[...messages].join(' | ')}`);
  assert.ok(slowest < 500 && ms < 20000, `slowest case ${slowest.toFixed(0)} ms, all ${ms.toFixed(0)} ms`);
});
