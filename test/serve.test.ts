import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { modelFromWeights, type Model } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { BitnetServer } from '../src/serve/server.js';

let model: Model, server: BitnetServer, base: string;
const shape = { dim: 256, nLayers: 1, nHeads: 4, ffnDim: 256, vocabSize: 300, contextLength: 256 };

before(async () => {
  model = await modelFromWeights(synthWeights(shape, 2, 4), synthTokenizer(shape.vocabSize), { backend: 'wasm', threads: 1 });
  server = new BitnetServer(model, { port: 0, apiKey: 'sekret', parallel: 4, maxQueue: 40, maxTokensLimit: 64 });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
});
after(async () => { await server.close(); model.dispose(); });

const client = () => new OpenAI({ apiKey: 'sekret', baseURL: `${base}/v1`, maxRetries: 0 });

test('completions and chat, streaming and not, with the official openai client', async () => {
  const c = client();
  const models = await c.models.list();
  assert.equal(models.data[0].id, 'bitnet');
  const r = await c.completions.create({ model: 'bitnet', prompt: 'the', max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.usage?.completion_tokens, 8);
  assert.equal(r.choices[0].finish_reason, 'length');
  let streamed = '';
  const s = await c.completions.create({ model: 'bitnet', prompt: 'the', max_tokens: 8, temperature: 0, stream: true });
  for await (const ch of s) streamed += ch.choices[0]?.text ?? '';
  assert.equal(streamed, r.choices[0].text); // greedy: same text either way
  const chat = await c.chat.completions.create({ model: 'bitnet', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, seed: 3 });
  assert.equal(chat.choices[0].message.role, 'assistant');
  let chatStream = '';
  const cs = await c.chat.completions.create({ model: 'bitnet', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, seed: 3, stream: true });
  for await (const ch of cs) chatStream += ch.choices[0]?.delta?.content ?? '';
  assert.equal(chatStream, chat.choices[0].message.content);
});

test('bad requests and auth get OpenAI-shaped errors', async () => {
  const c = client();
  await assert.rejects(c.completions.create({ model: 'bitnet', prompt: 'x', max_tokens: 100000 }), (e: { status: number }) => e.status === 400);
  await assert.rejects(c.completions.create({ model: 'bitnet', prompt: 'x', n: 2 }), (e: { status: number }) => e.status === 400);
  await assert.rejects(new OpenAI({ apiKey: 'wrong', baseURL: `${base}/v1`, maxRetries: 0 }).models.list(), (e: { status: number }) => e.status === 401);
  const raw = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { authorization: 'Bearer sekret' }, body: '{not json' });
  assert.equal(raw.status, 400);
  const err = await raw.json() as { error: { message: string; type: string } };
  assert.match(err.error.message, /not valid JSON/);
  assert.equal(err.error.type, 'invalid_request_error');
  const health = await fetch(`${base}/health`);
  assert.equal(health.status, 200);
});

test('32 concurrent streams decode together without errors; a disconnect cancels', async () => {
  const c = client();
  const jobs = Array.from({ length: 32 }, async (_, i) => {
    const s = await c.completions.create({ model: 'bitnet', prompt: `the ${i}`, max_tokens: 12, temperature: 0.7, seed: i, stream: true });
    let n = 0;
    for await (const ch of s) if (ch.choices[0]?.text) n++;
    return n;
  });
  const counts = await Promise.all(jobs);
  assert.equal(counts.length, 32);
  assert.ok(server.scheduler.stats.maxBatch > 1, 'requests were batched');
  const ac = new AbortController();
  const before = server.scheduler.stats.cancelled;
  const p = fetch(`${base}/v1/completions`, { method: 'POST', signal: ac.signal, headers: { authorization: 'Bearer sekret', 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'the', max_tokens: 64, stream: true }) });
  const res = await p;
  const reader = res.body!.getReader();
  await reader.read();
  ac.abort();
  for (let i = 0; i < 100 && server.scheduler.stats.cancelled === before; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(server.scheduler.stats.cancelled > before, 'cancelled on disconnect');
});
