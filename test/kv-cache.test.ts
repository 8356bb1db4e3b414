// The shared paged KV cache: blocks on demand, budget errors, prefix sharing with copy on write, and the
// engine on top of it (batch == single with paged f16 cells, f16 against f32, fork == fresh evaluation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KVBudgetError, KVCache, loadModel, modelFromWeights } from '../src/model/index.js';
import { ReferenceBackend } from '../src/kernels/reference.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { synthModel } from './util.js';

const shape = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 300, contextLength: 128 };
const bundled = new URL('../../models/default.gguf', import.meta.url).pathname;

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
const spread = (a: Float32Array) => Math.max(...a) - Math.min(...a);
const tokens = (n: number, k = 0) => Array.from({ length: n }, (_, i) => 3 + ((i * 37 + k * 101) % (shape.vocabSize - 3)));

test('KVCache: blocks are taken as a sequence grows and returned on truncate/release; budget errors are clear', () => {
  const kv = new KVCache(new ReferenceBackend(), { nLayers: 2, kvDim: 8 }, { blockSize: 4, memoryBytes: 10 * 2 * 2 * 4 * 8 * 2 });
  assert.equal(kv.capacityBlocks, 8); // whole arenas of a power-of-two block count: 8 of the 10 the budget holds
  assert.equal(kv.stats.allocatedBytes, 0, 'nothing allocated before use');
  const a = kv.createSequence(), b = kv.createSequence();
  a.reserve(0, 5);
  assert.equal(a.blocks, 2);
  assert.equal(kv.stats.usedBlocks, 2);
  b.reserve(0, 24);
  assert.equal(kv.freeBlocks, 0);
  assert.throws(() => a.reserve(5, 9), (e: Error) => e instanceof KVBudgetError && /budget exhausted.*--kv-memory/.test(e.message));
  assert.equal(a.blocks, 2, 'a failed reserve takes nothing');
  b.truncate(10);
  assert.equal(kv.stats.usedBlocks, 5);
  a.reserve(5, 9);
  b.release();
  assert.equal(kv.stats.usedBlocks, 3);
  assert.throws(() => b.reserve(0, 1), /released/);
  // reclaim: the hook is asked for blocks before the error
  let asked = 0;
  const cached = kv.createSequence(); cached.reserve(0, 20);
  kv.onReclaim(() => { asked++; if (cached.blocks === 0) return false; cached.release(); return true; });
  a.reserve(9, 32);
  assert.equal(asked, 1);
  assert.throws(() => new KVCache(new ReferenceBackend(), { nLayers: 2, kvDim: 8 }, { memoryBytes: 100 }), /less than one block/);
});

test('KVCache: a shared prefix is copied on the first write; the source keeps its cells', () => {
  const kv = new KVCache(new ReferenceBackend(), { nLayers: 1, kvDim: 4 }, { blockSize: 4, dtype: 'f32' });
  const a = kv.createSequence();
  a.reserve(0, 6);
  const cell = (t: Int32Array, p: number) => kv.arenas[0][t[p >> 2] * kv.blockElements + (p & 3) * 4];
  for (let p = 0; p < 6; p++) kv.arenas[0][a.table[p >> 2] * kv.blockElements + (p & 3) * 4] = 100 + p;
  const b = kv.createSequence();
  b.shareFrom(a, 5);
  assert.equal(kv.stats.usedBlocks, 2, 'shared, not copied');
  assert.equal(a.keptBlocks(6), 1, 'the block position 6 falls in is shared: a write copies it');
  assert.equal(a.keptBlocks(8), 2);
  assert.equal(b.keptBlocks(5), 1);
  b.reserve(5, 6); // writes into the shared second block: b gets its own copy
  assert.equal(b.keptBlocks(6), 2, 'its own copy now');
  assert.equal(a.keptBlocks(6), 2);
  assert.equal(kv.stats.usedBlocks, 3);
  assert.notEqual(b.table[1], a.table[1]);
  assert.equal(b.table[0], a.table[0]);
  assert.equal(cell(b.table, 4), 104, 'copied cells');
  kv.arenas[0][b.table[1] * kv.blockElements + 1 * 4] = -1; // b's position 5
  assert.equal(cell(a.table, 5), 105, "a's cell untouched");
  a.release();
  assert.equal(kv.stats.usedBlocks, 2, 'the block both held stays for b');
});

test('batch == single with paged f16 and f32 caches (wasm, 2 threads; rows crossing block boundaries)', async () => {
  const w = synthWeights(shape, 5, 2);
  for (const kvType of ['f16', 'f32'] as const) {
    const m = await modelFromWeights(w, synthTokenizer(shape.vocabSize), { backend: 'wasm', threads: 2, kvType, kvMemoryBytes: 8 * 2 ** 20 });
    const prompts = [tokens(15), tokens(17, 1), tokens(33, 2), tokens(1, 3)];
    const batch = prompts.map((p) => { const s = m.createSession(); s.evaluate(p); return s; });
    const next = [[7, 8, 9, 10], [11, 12, 13, 14], [15, 16, 17, 18]];
    const got = next.map((step) => m.decodeBatch(batch, step));
    prompts.forEach((p, i) => {
      const s = m.createSession();
      s.evaluate(p);
      next.forEach((step, k) => {
        const single = s.evaluate([step[i]]);
        assert.ok(maxDiff(got[k][i], single) <= 1e-5 * spread(single), `${kvType} sequence ${i} step ${k}: ${maxDiff(got[k][i], single)}`);
      });
      s.dispose();
    });
    batch.forEach((s) => s.dispose());
    assert.equal(m.kvCache.stats.usedBlocks, 0, 'every block returned');
    m.dispose();
  }
});

test('f16 cells against f32: logits within 0.5% of their spread on the bundled model (wasm and reference)', async () => {
  for (const backend of ['wasm', 'reference'] as const) {
    const logits: Float32Array[] = [];
    for (const kvType of ['f32', 'f16'] as const) {
      const m = await loadModel(bundled, { backend, threads: 2, kvType });
      const ids = m.tokenizer.encode('In the beginning God created the heaven and the earth. And the earth was without form, and void.');
      logits.push(m.createSession().evaluate(ids).slice());
      m.dispose();
    }
    const d = maxDiff(logits[1], logits[0]);
    assert.ok(d > 0, 'f16 cells do round');
    assert.ok(d < 0.005 * spread(logits[0]), `${backend}: ${d} vs spread ${spread(logits[0])}`);
  }
});

test('prefix reuse: a forked session gives the logits of a fresh evaluation; the source is unaffected', async () => {
  const m = await synthModel(shape, 9, 2, { backend: 'wasm', threads: 2, kvMemoryBytes: 8 * 2 ** 20 });
  const prefix = tokens(21), a = tokens(9, 1), b = tokens(6, 2);
  const fresh = (seq: number[]) => { const s = m.createSession(); const l = s.evaluate(seq).slice(); s.dispose(); return l; };
  const src = m.createSession();
  src.evaluate([...prefix, ...a]);
  const used = m.kvCache.stats.usedBlocks;
  const f = src.fork(prefix.length);
  assert.equal(m.kvCache.stats.usedBlocks, used, 'fork shares blocks');
  assert.deepEqual(f.tokens, prefix);
  const lf = f.evaluate(b).slice(); // writes into the shared partial block: copy on write
  assert.equal(maxDiff(lf, fresh([...prefix, ...b])), 0);
  const ls = src.evaluate([5]).slice();
  assert.equal(maxDiff(ls, fresh([...prefix, ...a, 5])), 0, 'the source kept its own cells');
  src.dispose(); f.dispose();
  assert.equal(m.kvCache.stats.usedBlocks, 0);
  m.dispose();
});

test('budget exhaustion: evaluate throws KVBudgetError before any work; the session is unchanged', async () => {
  const w = synthWeights(shape, 3, 2);
  const bytesPerPosition = 2 * shape.nLayers * shape.nKvHeads * (shape.dim / shape.nHeads) * 2;
  const m = await modelFromWeights(w, synthTokenizer(shape.vocabSize), { backend: 'reference', kvMemoryBytes: 32 * bytesPerPosition });
  const s = m.createSession();
  const want = s.evaluate(tokens(20)).slice();
  const t = m.createSession();
  assert.throws(() => t.evaluate(tokens(20)), (e: Error) => e instanceof KVBudgetError && /KV cache budget exhausted/.test(e.message));
  assert.equal(t.position, 0);
  s.dispose();
  assert.equal(maxDiff(t.evaluate(tokens(20)), want), 0, 'works once the blocks are back');
  assert.throws(() => m.decodeBatch([t, m.createSession()], [1, 2]), KVBudgetError);
  assert.equal(t.position, 20, 'a failed batch step adds no token');
  m.dispose();
});

test('32 sessions at the full context allocate nothing until used; then only the blocks their tokens fill', async () => {
  const m = await modelFromWeights(synthWeights(shape, 4, 2), synthTokenizer(shape.vocabSize), { backend: 'reference' });
  const sessions = Array.from({ length: 32 }, () => m.createSession({ contextLength: shape.contextLength }));
  assert.equal(m.kvCache.stats.allocatedBytes, 0);
  sessions.forEach((s, i) => s.evaluate(tokens(5, i)));
  assert.equal(m.kvCache.stats.usedBlocks, 32);
  assert.equal(m.kvCache.stats.usedBytes, 32 * m.kvCache.blockSize * m.kvCache.bytesPerPosition);
  sessions.forEach((s) => s.dispose());
  m.dispose();
});
