// Addresses past 2 GiB: the wasm32 heap goes to 4 GiB, but a JS `ptr >> 2` of such an address is negative
// (an Int32Array index from the end). Found when 8 chats of the 2B4T shape at 2048 positions pushed the int8
// head's staged embedding rows and the paged-attention block lists above 2 GiB ("gatherRows: row 1509984937 is
// outside 0..7"). Here a 2 GiB block is reserved first (never touched, so never resident) and the model is loaded
// above it: its logits, single and batched, must equal those of a model loaded at the bottom of the heap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, writeModelGGUF } from '../src/model/index.js';
import { WasmBackend } from '../src/kernels/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';

test('a model above 2 GiB of wasm memory (int8 head from the file, paged attention, batch) == one at the bottom', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-high-'));
  const path = join(dir, 'm.gguf');
  const shape = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 300 };
  writeModelGGUF(path, synthWeights(shape, 11, 4, 'ternary-blocks', 'f16'), synthTokenizer(300), { ternaryType: 'tq2_0', floatType: 'f16' });
  const high = await WasmBackend.create({ threads: 2 });
  const reserved = high.alloc(2 ** 31 + 2 ** 20);
  assert.ok(high.alloc(64) > 2 ** 31, 'the next allocation is above 2 GiB');
  const hi = await loadModel(path, { backend: high, head: 'int8' });
  const lo = await loadModel(path, { threads: 2, head: 'int8' });
  t.after(() => { hi.dispose(); lo.dispose(); rmSync(dir, { recursive: true, force: true }); });
  assert.ok(reserved < 2 ** 31);
  const prompts = [[1, 5, 299, 42, 7], [3, 3, 9], [200, 17, 17, 250, 8, 100, 2]];
  const run = (m: typeof hi) => {
    const sessions = prompts.map(() => m.createSession());
    const out = prompts.map((p, i) => sessions[i].evaluate(p).slice());
    for (const step of [[10, 11, 12], [13, 14, 15]]) out.push(...m.decodeBatch(sessions, step).map((l) => l.slice()));
    sessions.forEach((s) => s.dispose());
    return out;
  };
  const a = run(hi), b = run(lo);
  assert.equal(a.length, b.length);
  a.forEach((l, i) => assert.deepEqual(l, b[i], `logits ${i}`));
});
