import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GGUFError, GGUFValueType, gguf, parseGGUFBytes, serializeGGUF } from '../src/formats/gguf.js';
import { GGMLType, quantize } from '../src/quant/ggml.js';
import { mulberry32 } from './util.js';

test('fuzz: 1,500 mutated GGUF files give a parse or a GGUFError, nothing else', () => {
  const rnd = mulberry32(42);
  const w = new Float32Array(512).map(() => rnd() - 0.5);
  const base = serializeGGUF(
    [['general.architecture', gguf.str('bitnet')], ['bitnet.block_count', gguf.u32(1)],
     ['tokenizer.ggml.tokens', gguf.strArray(['a', 'b', 'cc'])], ['x.scores', gguf.f32Array([0.5, 1])],
     ['x.nested', { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, value: [gguf.i32Array([3])] }]],
    [{ name: 'a', type: GGMLType.TQ2_0, dims: [256, 2], data: quantize(GGMLType.TQ2_0, w, 2, 256) },
     { name: 'b', type: GGMLType.F16, dims: [8, 2], data: quantize(GGMLType.F16, w, 2, 8) }]);
  const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x40];
  let parsed = 0, errors = 0;
  for (let c = 0; c < 1500; c++) {
    let b = base.slice();
    const kind = c % 4;
    const k = 1 + Math.floor(rnd() * 4);
    for (let j = 0; j < k; j++) {
      const at = Math.floor(rnd() * b.length);
      if (kind === 0) b[at] ^= 1 << Math.floor(rnd() * 8);
      else if (kind === 1) b[at] = interesting[Math.floor(rnd() * interesting.length)];
      else if (kind === 2) b = b.subarray(0, at);
      else { const ins = new Uint8Array(b.length + 4); ins.set(b.subarray(0, at)); ins.set(b.subarray(at), at + 4); b = ins; }
    }
    try {
      const f = parseGGUFBytes(b);
      for (const t of f.tensors) f.readTensor(t);
      parsed++;
    } catch (e) {
      if (!(e instanceof GGUFError)) assert.fail(`case ${c}: ${(e as Error).name}: ${(e as Error).message}`);
      errors++;
    }
  }
  assert.ok(errors > 500, `most mutations must be caught (${errors} errors, ${parsed} parses)`);
});
