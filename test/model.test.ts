import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, modelFromWeights, writeModelGGUF, Sampler } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import type { ModelWeights } from '../src/model/types.js';
import { f16ToF32, f32ToF16 } from '../src/quant/half.js';
import { synthModel } from './util.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-model-'));
const shape = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 300, contextLength: 64 };

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('GGUF written by writeModelGGUF loads back with identical weights and logits (TQ2_0, TQ1_0, I2_S)', async () => {
  const w = synthWeights(shape, 3, 4);
  // TQ1_0/TQ2_0 store each block's scale as f16: the oracle uses the same rounded scales
  const w16 = synthWeights(shape, 3, 4);
  for (const L of w16.layers) for (const k of ['wq', 'wk', 'wv', 'wo', 'wGate', 'wUp', 'wDown'] as const) {
    const m = L[k];
    if (m.kind === 'ternary') m.m.scales.forEach((v, i, a) => { a[i] = f16ToF32(f32ToF16(v)); });
  }
  const tok = synthTokenizer(shape.vocabSize);
  const tokens = [1, 40, 41, 42, 99];
  const logitsOf = async (x: ModelWeights) => (await modelFromWeights(x, tok, { backend: 'reference' })).createSession().evaluate(tokens).slice();
  const ref = await logitsOf(w), ref16 = await logitsOf(w16);
  for (const type of ['tq2_0', 'tq1_0', 'i2_s'] as const) {
    const path = join(dir, `m-${type}.gguf`);
    writeModelGGUF(path, w, tok, { ternaryType: type, floatType: 'f32' });
    const m = await loadModel(path, { backend: 'reference' });
    assert.deepEqual({ ...m.config, normEps: 0 }, { ...w.config, normEps: 0 });
    assert.ok(Math.abs(m.config.normEps - w.config.normEps) < 1e-9);
    const got = m.createSession().evaluate(tokens);
    const oracle = type === 'i2_s' ? ref : ref16;
    assert.ok(maxDiff(got, oracle) < 1e-4, `${type}: ${maxDiff(got, oracle)}`);
    m.dispose();
  }
});

test('incremental decoding gives the logits of recomputing the whole sequence; batch == single', async () => {
  const w: ModelWeights = synthWeights(shape, 5, 4);
  const m = await modelFromWeights(w, synthTokenizer(shape.vocabSize), { backend: 'reference' });
  const seq = [1, 17, 200, 33, 33, 7, 150, 9];
  const all: Float32Array[] = [];
  m.createSession().evaluate(seq, { onLogits: (_, l) => all.push(l.slice()) });
  const s = m.createSession();
  seq.forEach((t, i) => {
    const l = s.evaluate([t]);
    assert.ok(maxDiff(l, all[i]) < 1e-4, `position ${i}: ${maxDiff(l, all[i])}`);
  });
  // two sequences decoded together in one batch == each alone
  const a = m.createSession(), b = m.createSession();
  a.evaluate([1, 5, 6]); b.evaluate([1, 100]);
  const [la, lb] = m.decodeBatch([a, b], [7, 8]);
  const a2 = m.createSession(); const ra = a2.evaluate([1, 5, 6, 7]).slice();
  const b2 = m.createSession(); const rb = b2.evaluate([1, 100, 8]);
  assert.ok(maxDiff(la, ra) < 1e-4 && maxDiff(lb, rb) < 1e-4);
  // onLogits: the same logits as views, sequence by sequence, nothing returned
  const c = m.createSession(), d = m.createSession();
  c.evaluate([1, 5, 6]); d.evaluate([1, 100]);
  const seen: Array<[number, Float32Array]> = [];
  assert.deepEqual(m.decodeBatch([c, d], [7, 8], { onLogits: (i, l) => seen.push([i, l.slice()]) }), []);
  assert.deepEqual(seen, [[0, la], [1, lb]]);
  assert.throws(() => s.evaluate([shape.vocabSize]), /outside the vocabulary/);
});

test('wasm backend logits match the reference backend (threads 1 and 2)', async () => {
  const w = synthWeights(shape, 7, 4);
  const tok = synthTokenizer(shape.vocabSize);
  const seq = [1, 3, 4, 5, 250, 251, 2, 9, 10];
  const ref = await modelFromWeights(w, tok, { backend: 'reference' });
  const r = ref.createSession().evaluate(seq).slice();
  for (const threads of [1, 2]) {
    const m = await modelFromWeights(w, tok, { backend: 'wasm', threads });
    const got = m.createSession().evaluate(seq);
    const spread = Math.max(...r) - Math.min(...r);
    assert.ok(maxDiff(got, r) < 1e-3 * spread, `threads ${threads}: ${maxDiff(got, r)} vs spread ${spread}`);
    m.dispose();
  }
});

test('generation: greedy is deterministic, seeds reproduce, stop strings end the text', async () => {
  const w = synthWeights(shape, 11, 8);
  const m = await modelFromWeights(w, synthTokenizer(shape.vocabSize), { backend: 'reference' });
  const run = async (opts: Parameters<typeof m.generate>[1]) => {
    let text = '';
    const it = m.generate('the', opts);
    let r = await it.next();
    while (!r.done) { text += r.value.text; r = await it.next(); }
    return { text, res: r.value };
  };
  const g1 = await run({ maxTokens: 12, temperature: 0 }), g2 = await run({ maxTokens: 12, temperature: 0 });
  assert.equal(g1.text, g2.text);
  assert.equal(g1.res.completionTokens, 12);
  const s1 = await run({ maxTokens: 12, temperature: 1, seed: 42 }), s2 = await run({ maxTokens: 12, temperature: 1, seed: 42 });
  assert.equal(s1.text, s2.text);
  const stop = g1.text.slice(3, 5);
  if (stop.length === 2) {
    const g3 = await run({ maxTokens: 12, temperature: 0, stop: [stop] });
    assert.equal(g3.res.finishReason, 'stop');
    assert.equal(g3.text, g1.text.slice(0, g1.text.indexOf(stop)));
  }
  assert.throws(() => new Sampler({ topP: 0 }), /top-p/);
});

test('a 32000-token synthetic vocabulary survives a GGUF round trip (header larger than the writer\'s chunks)', async () => {
  const { serializeGGUF, parseGGUFBytes, gguf } = await import('../src/formats/gguf.js');
  const { tokenizerToGGUF, tokenizerFromGGUF } = await import('../src/tokenizer/gguf.js');
  const tok = synthTokenizer(32000);
  const f = parseGGUFBytes(serializeGGUF([['general.architecture', gguf.str('bitnet')], ...tokenizerToGGUF(tok)], []));
  const back = tokenizerFromGGUF((k) => f.get(k));
  assert.equal(back.vocabSize, 32000);
  for (const id of [0, 1, 258, 10522, 31999]) assert.equal(back.piece(id), tok.piece(id));
  assert.deepEqual(back.encode('the quick fox'), tok.encode('the quick fox'));
});

test('prompts longer than one chunk, truncate() and reset() keep the logits of a fresh evaluation', async () => {
  const sh = { dim: 256, nLayers: 1, nHeads: 4, nKvHeads: 1, ffnDim: 256, vocabSize: 300, contextLength: 160 };
  const m = await synthModel(sh, 9, 4, { backend: 'reference' });
  const seq = Array.from({ length: 70 }, (_, i) => (i * 37 + 1) % sh.vocabSize);
  const all: Float32Array[] = [];
  const s = m.createSession({ contextLength: 100 });
  s.evaluate(seq, { onLogits: (i, l) => { all[i] = l.slice(); } });
  assert.equal(all.length, 70);
  assert.equal(s.position, 70);
  const inc = m.createSession({ contextLength: 100 });
  inc.evaluate(seq.slice(0, 60));
  for (let i = 60; i < 70; i++) assert.ok(maxDiff(inc.evaluate([seq[i]]), all[i]) < 1e-4, `position ${i}`);
  s.truncate(40);
  assert.ok(maxDiff(s.evaluate(seq.slice(40, 66)), all[65]) < 1e-4);
  s.reset();
  assert.ok(maxDiff(s.evaluate(seq.slice(0, 3)), all[2]) < 1e-4);
  assert.throws(() => s.evaluate(Array(98).fill(5)), /context full/);
  assert.throws(() => s.truncate(50), /holds 3 tokens/);
});
