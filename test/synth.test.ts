/** `bitnet synth`'s streaming writer: file layout, architectures, determinism. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGGUF } from '../src/formats/gguf.js';
import { configFromGGUF, weightsFromGGUF } from '../src/model/gguf-model.js';
import { writeSynthGGUF } from '../src/model/synth-gguf.js';
import { synthConfig } from '../src/model/synth.js';
import { GGMLType } from '../src/quant/ggml.js';
import { getCode } from '../src/quant/ternary.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-synth-'));

test('2b4t shape: 2560 hidden, 30 layers, 20/5 heads, FFN 6912, vocab 128256, squared ReLU under bitnet-b1.58', () => {
  const c = synthConfig('2b4t', 'bitnet-b1.58');
  assert.deepEqual([c.dim, c.nLayers, c.nHeads, c.nKvHeads, c.headDim, c.ffnDim, c.vocabSize], [2560, 30, 20, 5, 128, 6912, 128256]);
  assert.equal(c.activation, 'relu2');
  assert.equal(c.ropeTheta, 500000);
  assert.equal(synthConfig('2b4t', 'bitnet').activation, 'silu');
});

for (const [type, ggml] of [['tq2_0', GGMLType.TQ2_0], ['i2_s', GGMLType.I2_S], ['tq1_0', GGMLType.TQ1_0]] as const) {
  test(`tiny ${type} bitnet-b1.58 file reads back: config, types, valid codes, per-tensor scale`, () => {
    const path = join(dir, `tiny-${type}.gguf`);
    writeSynthGGUF(path, 'tiny', { arch: 'bitnet-b1.58', ternaryType: type, seed: 3 });
    const f = openGGUF(path);
    try {
      const c = configFromGGUF(f);
      assert.equal(c.arch, 'bitnet-b1.58');
      assert.equal(c.activation, 'relu2');
      assert.equal(f.tensor('blk.0.ffn_down.weight')!.type, ggml);
      assert.equal(f.tensor('token_embd.weight')!.type, GGMLType.F16);
      assert.equal(f.tensor('output.weight'), undefined); // tied head
      const w = weightsFromGGUF(f);
      const m = w.layers[1].wGate;
      assert.equal(m.kind, 'ternary');
      if (m.kind !== 'ternary') return;
      const counts = [0, 0, 0, 0];
      for (let e = 0; e < m.m.rows * m.m.cols; e++) counts[getCode(m.m, e)]++;
      assert.equal(counts[3], 0);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(counts[k] / (m.m.rows * m.m.cols) - 1 / 3) < 0.02, `code ${k}: ${counts}`);
      const s = 1 / Math.sqrt((2 / 3) * m.m.cols);
      for (const v of m.m.scales) assert.ok(Math.abs(v - s) < s * 1e-3);
    } finally {
      f.close();
    }
  });
}

test('same seed, same bytes; another seed, other weights', () => {
  const a = join(dir, 'a.gguf'), b = join(dir, 'b.gguf'), c = join(dir, 'c.gguf');
  writeSynthGGUF(a, 'tiny', { seed: 5 });
  writeSynthGGUF(b, 'tiny', { seed: 5 });
  writeSynthGGUF(c, 'tiny', { seed: 6 });
  assert.deepEqual(readFileSync(a), readFileSync(b));
  assert.notDeepEqual(readFileSync(a), readFileSync(c));
});
