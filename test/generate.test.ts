import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelFromWeights, Sampler, argmax, type Model, type GenerateOptions } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';

const shape = { dim: 256, nLayers: 1, nHeads: 4, ffnDim: 256, vocabSize: 300, contextLength: 128 };

async function collect(m: Model, prompt: string | number[], opts: GenerateOptions) {
  const chunks: Array<{ token: number; text: string }> = [];
  const it = m.generate(prompt, opts);
  let r = await it.next();
  while (!r.done) { chunks.push(r.value); r = await it.next(); }
  return { chunks, text: chunks.map((c) => c.text).join(''), res: r.value };
}

test('sampler: greedy, top-k 1, tiny top-p and min-p near 1 all pick the argmax; repetition penalty moves it', () => {
  const logits = () => Float32Array.from([0.5, 3, 2.9, -1, 1]);
  assert.equal(new Sampler({ temperature: 0, repeatPenalty: 1 }).sample(logits(), []), 1);
  for (const opts of [{ topK: 1 }, { topP: 1e-6, topK: 0 }, { minP: 0.99, topK: 0, topP: 1 }]) {
    const s = new Sampler({ temperature: 5, repeatPenalty: 1, seed: 3, ...opts });
    for (let i = 0; i < 50; i++) assert.equal(s.sample(logits(), []), 1, JSON.stringify(opts));
  }
  // 3 / 1.1 < 2.9: the recently seen token 1 loses to token 2
  assert.equal(new Sampler({ temperature: 0, repeatPenalty: 1.1 }).sample(logits(), [1]), 2);
  assert.equal(new Sampler({ temperature: 0, repeatPenalty: 1.1, repeatLastN: 1 }).sample(logits(), [1, 4]), 1);
  assert.equal(argmax(logits()), 1);
});

test('sampler: temperature 1 follows the softmax, and a seed reproduces the sequence', () => {
  const l = Float32Array.from([0, Math.log(2), Math.log(4)]);
  const s = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, seed: 7 });
  const counts = [0, 0, 0], N = 7000;
  for (let i = 0; i < N; i++) counts[s.sample(l.slice(), [])]++;
  [1 / 7, 2 / 7, 4 / 7].forEach((p, i) => assert.ok(Math.abs(counts[i] / N - p) < 0.02, `token ${i}: ${counts[i] / N} vs ${p}`));
  const seq = (seed: number) => { const x = new Sampler({ temperature: 1, seed }); return Array.from({ length: 30 }, () => x.sample(l.slice(), [])); };
  assert.deepEqual(seq(11), seq(11));
  assert.notDeepEqual(seq(11), seq(12));
  assert.throws(() => new Sampler({ temperature: -1 }), /temperature/);
  assert.throws(() => new Sampler({ minP: 1 }), /min-p/);
});

test('generation: stop strings are never streamed, even across token boundaries; stop tokens end it; abort; session reuse', async () => {
  const tok = synthTokenizer(shape.vocabSize);
  // untied random head: with the tied embedding, greedy decoding just repeats the input token
  const weights = () => ({ ...synthWeights(shape, 4, 8), output: synthWeights(shape, 5, 8).tokenEmbedding });
  const m = await modelFromWeights(weights(), tok, { backend: 'reference' });
  const greedy = { temperature: 0, maxTokens: 24 };
  const base = await collect(m, 'the', greedy);
  assert.ok(new Set(base.chunks.map((c) => c.token)).size > 3, 'greedy text is not degenerate');
  assert.equal(base.res.finishReason, 'length');
  assert.equal(base.res.completionTokens, 24);
  assert.equal(base.text, base.res.text);
  // a stop string that straddles two chunks: the text before it comes out, none of it does
  const at = base.chunks.findIndex((c, i) => i > 0 && c.text.length > 0 && base.chunks[i - 1].text.length > 0);
  assert.ok(at > 0, 'need two non-empty chunks');
  const before = base.chunks.slice(0, at).map((c) => c.text).join('');
  const stop = before.slice(-1) + base.chunks[at].text.slice(0, 1);
  const cut = base.text.indexOf(stop);
  const stopped = await collect(m, 'the', { ...greedy, stop: [stop, 'never-appears'] });
  assert.equal(stopped.res.finishReason, 'stop');
  assert.equal(stopped.text, base.text.slice(0, cut));
  assert.equal(stopped.res.text, stopped.text);
  for (const c of stopped.chunks) assert.ok(!c.text.includes(stop));
  // a stop token (the tokenizer's EOS set) ends generation without text: make the first new id of the greedy run a stop token
  const seqSession = m.createSession({ contextLength: 64 });
  await collect(m, 'the', { ...greedy, session: seqSession });
  const promptLen = tok.encode('the').length;
  const gen = seqSession.tokens.slice(promptLen);
  const j = gen.findIndex((t, i) => i > 0 && !gen.slice(0, i).includes(t));
  assert.ok(j > 0, 'greedy run repeats one token');
  const eosTok = Object.create(tok, { stopTokens: { value: new Set([gen[j]]) } });
  const m2 = await modelFromWeights(weights(), eosTok, { backend: 'reference' });
  const eos = await collect(m2, 'the', greedy);
  assert.equal(eos.res.finishReason, 'stop');
  assert.equal(eos.res.completionTokens, j + 1);
  assert.ok(base.text.startsWith(eos.text));
  // abort
  const ac = new AbortController(); ac.abort();
  assert.equal((await collect(m, 'the', { ...greedy, signal: ac.signal })).res.finishReason, 'abort');
  // a session holding the prompt is reused (only the new suffix is evaluated) and gives the same text
  const session = m.createSession({ contextLength: 64 });
  const first = await collect(m, 'the', { ...greedy, maxTokens: 6, session });
  const again = await collect(m, 'the', { ...greedy, maxTokens: 6, session });
  assert.equal(again.text, first.text);
  assert.equal(first.text, base.text.slice(0, first.text.length));
  await assert.rejects(collect(m, 'the', { ...greedy, maxTokens: 100, session }), /exceed the context length/);
});
