/** The OpenAI-compatible server, driven by the official `openai` client against a live server on 127.0.0.1. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { modelFromWeights, type Model } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { BitnetServer, type ServeOptions } from '../src/serve/server.js';
import { runServerBench } from '../src/bench/server-load.js';
import { renderChat } from '../src/tokenizer/chat.js';
import type { Tokenizer } from '../src/tokenizer/types.js';
import { synthModel } from './util.js';

const shape = { dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 256, vocabSize: 300, contextLength: 256 };
const model: Model = await synthModel(shape, 21, 4, { backend: 'wasm', threads: 1 });
const servers: BitnetServer[] = [];
// closed in the last test, not in after(): the root after() only runs once the event loop is idle, which
// keep-alive sockets postpone by seconds
const closeAll = async () => { for (const s of servers.splice(0)) await s.close(); };
after(closeAll);

async function start(opts: ServeOptions = {}): Promise<{ server: BitnetServer; base: string; client: OpenAI }> {
  const server = new BitnetServer(model, { port: 0, ...opts });
  const { port } = await server.listen();
  servers.push(server);
  const base = `http://127.0.0.1:${port}/v1`;
  return { server, base, client: new OpenAI({ baseURL: base, apiKey: opts.apiKey ?? 'none', maxRetries: 0 }) };
}

const { server, base, client } = await start({ parallel: 8 });
const greedy = { temperature: 0 } as const;

async function reference(prompt: string | number[], maxTokens: number): Promise<string> {
  const it = model.generate(prompt, { temperature: 0, repeatPenalty: 1, maxTokens });
  let r = await it.next();
  while (!r.done) r = await it.next();
  return r.value.text;
}

test('GET /health and /v1/models', async () => {
  const h = await fetch(`${base.replace('/v1', '')}/health`);
  assert.equal(h.status, 200);
  assert.equal((await h.json()).status, 'ok');
  const models = await client.models.list();
  assert.equal(models.data[0].id, 'bitnet');
});

test('completions: greedy text equals the engine\'s generate(); usage counts; streaming gives the same text', async () => {
  const prompt = 'the quick brown fox';
  const want = await reference(prompt, 12);
  const r = await client.completions.create({ model: 'bitnet', prompt, max_tokens: 12, ...greedy });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.choices[0].text, want);
  assert.ok(['length', 'stop'].includes(r.choices[0].finish_reason));
  assert.equal(r.usage!.prompt_tokens, model.tokenizer.encode(prompt).length);
  assert.ok(r.usage!.completion_tokens >= 1 && r.usage!.completion_tokens <= 12);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
  const stream = await client.completions.create({ model: 'bitnet', prompt, max_tokens: 12, stream: true, ...greedy });
  let text = '', finish: string | null = null;
  for await (const c of stream) { text += c.choices[0]?.text ?? ''; finish = c.choices[0]?.finish_reason ?? finish; }
  assert.equal(text, want);
  assert.equal(finish, r.choices[0].finish_reason);
});

test('a long prompt (token ids) is prefilled over several steps and gives the same greedy text', async () => {
  const ids = Array.from({ length: 200 }, (_, i) => 3 + ((i * 37) % 290));
  const want = await reference(ids, 8);
  const [r, other] = await Promise.all([
    client.completions.create({ model: 'bitnet', prompt: ids, max_tokens: 8, ...greedy }),
    client.completions.create({ model: 'bitnet', prompt: 'meanwhile', max_tokens: 20, ...greedy }),
  ]);
  assert.equal(r.choices[0].text, want);
  assert.equal(r.usage!.prompt_tokens, 200);
  assert.equal(other.choices[0].text, await reference('meanwhile', 20));
});

test('chat: fallback template, streaming deltas add up to the non-streaming message; seeded sampling is reproducible', async () => {
  const messages = [{ role: 'system' as const, content: 'be brief' }, { role: 'user' as const, content: 'hello there' }];
  const a = await client.chat.completions.create({ model: 'bitnet', messages, max_tokens: 10, temperature: 0.9, seed: 7 });
  assert.equal(a.object, 'chat.completion');
  assert.equal(a.choices[0].message.role, 'assistant');
  const stream = await client.chat.completions.create({ model: 'bitnet', messages, max_tokens: 10, temperature: 0.9, seed: 7, stream: true });
  let text = '', role = '', finish: string | null = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    assert.equal(c.object, 'chat.completion.chunk');
    role ||= c.choices[0]?.delta?.role ?? '';
    text += c.choices[0]?.delta?.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(chunks >= 2);
  assert.equal(role, 'assistant');
  assert.equal(text, a.choices[0].message.content);
  assert.equal(finish, a.choices[0].finish_reason);
});

const TEMPLATE = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
const withTemplate = (tok: Tokenizer, chatTemplate: string): Tokenizer => Object.create(tok, { chatTemplate: { value: chatTemplate } });

test('chat templates: the model\'s Jinja template is rendered (no second BOS); the fallback otherwise', async () => {
  const tok = withTemplate(model.tokenizer, TEMPLATE);
  const r = renderChat(tok, [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi' }]);
  assert.equal(r.prompt, `${tok.piece(tok.bos!)}<|system|>S\n<|user|>hi\n<|assistant|>`);
  assert.equal(r.addBos, false);
  assert.deepEqual(r.extraStops, []);
  const f = renderChat(model.tokenizer, [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi' }]);
  assert.equal(f.prompt, 'System: S\n\nUser: hi\n\nAssistant:');
  assert.deepEqual(f.extraStops, ['\n\nUser:']);
  // through the server: usage.prompt_tokens counts the rendered template, with exactly one BOS
  const templated = { ...slowModelParts(), tokenizer: tok } as unknown as Model;
  const s = new BitnetServer(templated, { port: 0 });
  const { port } = await s.listen();
  servers.push(s);
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
  const out = await c.chat.completions.create({ model: 'bitnet', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  const ids = tok.encode(`${tok.piece(tok.bos!)}<|user|>hi\n<|assistant|>`, { addBos: false });
  assert.equal(ids.filter((t) => t === tok.bos).length, 1);
  assert.equal(out.usage!.prompt_tokens, ids.length);
  await assert.rejects(new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 }).chat.completions.create({ model: 'bitnet', messages: [{ role: 'user', content: 'x' }], max_tokens: 1, n: 1, stop: ['a', 'b', 'c', 'd', 'e'] }),
    (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && e.param === 'stop');
});

test('stop strings end the text before the stop string', async () => {
  const full = await reference('abc', 30);
  const cut = full.slice(3, 5);
  assert.ok(cut.length === 2 && full.indexOf(cut) > 0, `the test model's greedy text is too short: '${full}'`);
  const r = await client.completions.create({ model: 'bitnet', prompt: 'abc', max_tokens: 30, stop: [cut], ...greedy });
  assert.equal(r.choices[0].text, full.slice(0, full.indexOf(cut)));
  assert.equal(r.choices[0].finish_reason, 'stop');
});

test('bad requests get 400 with OpenAI-shaped errors naming the parameter', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ prompt: 'x', n: 0 }, 'n'],
    [{ prompt: 'x', max_tokens: -1 }, 'max_tokens'],
    [{ prompt: 'x', max_tokens: 100000 }, 'max_tokens'],
    [{ prompt: 'x', temperature: 'hot' }, 'temperature'],
    [{ prompt: 'x', top_p: 0 }, 'top_p'],
    [{ prompt: 'x', stop: 5 }, 'stop'],
    [{ prompt: 42 }, 'prompt'],
    [{ prompt: 'x '.repeat(400) }, 'prompt'],
  ];
  for (const [body, param] of cases) {
    await assert.rejects(client.completions.create({ model: 'bitnet', ...body } as never), (e: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(e.status, 400, JSON.stringify(body));
      assert.equal(e.param, param, JSON.stringify(body));
      assert.equal(e.type, 'invalid_request_error');
      return true;
    });
  }
  await assert.rejects(client.chat.completions.create({ model: 'bitnet', messages: [] }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && e.param === 'messages');
  await assert.rejects(client.chat.completions.create({ model: 'bitnet', messages: [{ role: 'wizard', content: 'x' }] } as never), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400);
  const raw = await fetch(`${base}/completions`, { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } });
  assert.equal(raw.status, 400);
  const j = await raw.json();
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal((await fetch(`${base}/nowhere`)).status, 404);
  assert.equal((await fetch(`${base}/completions`)).status, 405);
});

test('a body key that names an Object.prototype member ("__proto__", "constructor") is refused by its name', async () => {
  for (const key of ['__proto__', 'constructor', 'toString']) {
    const r = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: `{"model":"bitnet","prompt":"x","${key}":{"a":1}}` });
    assert.equal(r.status, 400, key);
    const e = (await r.json()).error;
    assert.equal(e.message, `Unrecognized request argument supplied: ${key}`);
    assert.deepEqual([e.param, e.code], [key, 'unknown_parameter']);
  }
});

test('a body over 1 MiB (maxBodyBytes) gets a 413 JSON error the Node HTTP client reads, then the connection closes', async () => {
  const post = (bytes: number) => new Promise<{ status?: number; headers?: http.IncomingHttpHeaders; body?: string; error?: string }>(
    (resolve) => {
      const req = http.request(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c)).on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
      req.end(JSON.stringify({ model: 'bitnet', prompt: 'x'.repeat(bytes) }));
    });
  for (const mb of [2, 16]) { // 16 MB was a connection reset before the fix (the body was still being sent)
    const r = await post(mb << 20);
    assert.equal(r.error, undefined, `${mb} MB: ${r.error}`);
    assert.equal(r.status, 413);
    assert.equal(r.headers?.connection, 'close');
    assert.deepEqual(JSON.parse(r.body!).error, {
      message: 'request body exceeds 1048576 bytes', type: 'invalid_request_error', param: null, code: 'request_too_large',
    });
  }
  assert.equal((await post(16)).status, 200); // the server still answers
});

test('bearer-token auth: 401 without the key, 200 with it; /health stays open', async () => {
  const { client: good, base: b } = await start({ apiKey: 'sekrit' });
  const bad = new OpenAI({ baseURL: b, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 401);
  assert.equal((await fetch(`${b}/models`)).status, 401);
  assert.equal((await good.models.list()).data.length, 1);
  assert.equal((await fetch(`${b.replace('/v1', '')}/health`)).status, 200);
});

/** The same model, but each batched decoding step takes ≥ 4 ms, so a generation is still running when the client leaves. */
function slowModelParts(delayMs = 0) {
  const busy = (ms: number) => { const t = performance.now(); while (performance.now() - t < ms); };
  return {
    config: model.config, tokenizer: model.tokenizer, info: model.info,
    kvCache: model.kvCache, createSession: (o?: { contextLength?: number }) => model.createSession(o),
    decodeBatch: (...args: Parameters<Model['decodeBatch']>) => { busy(delayMs); return model.decodeBatch(...args); },
  };
}
const slowModel = (): Model => slowModelParts(4) as unknown as Model;

test('a client that disconnects cancels its generation', async () => {
  const server = new BitnetServer(slowModel(), { port: 0 });
  const { port } = await server.listen();
  servers.push(server);
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
  const before = server.scheduler.stats.cancelled;
  const ac = new AbortController();
  const stream = await client.completions.create({ model: 'bitnet', prompt: 'once upon', max_tokens: 200, temperature: 1, stream: true }, { signal: ac.signal });
  let got = 0;
  for await (const _ of stream) { if (++got === 2) { ac.abort(); break; } } // (the client's iterator ends quietly on abort)
  assert.equal(got, 2);
  for (let i = 0; i < 100 && server.scheduler.stats.cancelled === before; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.scheduler.stats.cancelled, before + 1);
  for (let i = 0; i < 100 && server.scheduler.load.active > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.scheduler.load.active, 0);
});

test('a full queue answers 429 with Retry-After', async () => {
  const { base: b } = await start({ parallel: 1, maxQueue: 1 });
  const send = () => fetch(`${b}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi', max_tokens: 40, temperature: 1 }) });
  const rs = await Promise.all([send(), send(), send(), send()]);
  const codes = rs.map((r) => r.status).sort();
  assert.ok(codes.includes(200), codes.join());
  const limited = rs.find((r) => r.status === 429);
  assert.ok(limited, `expected a 429, got ${codes.join()}`);
  assert.equal(limited.headers.get('retry-after'), '1');
  assert.equal((await limited.json()).error.type, 'rate_limit_error');
  await Promise.all(rs.filter((r) => r !== limited).map((r) => r.text()));
});

test('32 concurrent streams are decoded together (continuous batching) with no errors; greedy output unchanged by batching', async () => {
  const { server: s, base: b, client: c } = await start({ parallel: 32, maxQueue: 64 });
  const r = await runServerBench({ server: b, concurrency: 32, requests: 32, maxTokens: 8, endpoint: 'completions', prompt: 'abc' });
  assert.equal(r.failed, 0, r.errors.join('; '));
  assert.equal(r.ok, 32);
  assert.ok(r.completionTokens >= 32);
  assert.ok(s.scheduler.stats.maxBatch > 1, `largest batch ${s.scheduler.stats.maxBatch}`);
  assert.ok(r.latencyMs.p50 > 0 && r.ttftMs.p99 <= r.latencyMs.max);
  // batched greedy decoding gives each sequence what it would get alone
  const want = await reference('the fox', 10);
  const many = await Promise.all(Array.from({ length: 6 }, () => c.completions.create({ model: 'bitnet', prompt: 'the fox', max_tokens: 10, ...greedy })));
  for (const m of many) assert.equal(m.choices[0].text, want);
});

test('prompt cache: a request sharing a prefix with a finished one prefills only the rest; greedy text unchanged', async () => {
  const { server: s, client: c } = await start({ parallel: 4 });
  const ids = Array.from({ length: 40 }, (_, i) => 3 + ((i * 13) % 200));
  const first = await c.completions.create({ model: 'bitnet', prompt: ids, max_tokens: 4, ...greedy });
  assert.equal(first.choices[0].text, await reference(ids, 4));
  const before = s.scheduler.stats.promptTokensReused;
  const turn2 = [...ids, 7, 8, 9];
  const r = await c.completions.create({ model: 'bitnet', prompt: turn2, max_tokens: 6, ...greedy });
  assert.equal(r.choices[0].text, await reference(turn2, 6));
  assert.ok(s.scheduler.stats.promptTokensReused - before >= ids.length, `reused ${s.scheduler.stats.promptTokensReused - before}`);
});

test('admission by KV budget: requests whose worst cases do not fit together wait their turn; one larger than the budget gets 400', async () => {
  const positions = 64; // 4 blocks of 16
  const bytesPerPosition = 2 * shape.nLayers * shape.nKvHeads * (shape.dim / shape.nHeads) * 2;
  const small = await modelFromWeights(synthWeights(shape, 21, 4), synthTokenizer(shape.vocabSize),
    { backend: 'wasm', threads: 1, kvMemoryBytes: positions * bytesPerPosition });
  const s = new BitnetServer(small, { port: 0, parallel: 8 });
  const { port } = await s.listen();
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
  try {
    // each worst case is 10 + 20 = 30 positions (2 blocks): two at a time fit
    const prompts = Array.from({ length: 4 }, (_, k) => Array.from({ length: 10 }, (_, i) => 3 + ((i * 7 + k * 50) % 250)));
    const rs = await Promise.all(prompts.map((p) => c.completions.create({ model: 'bitnet', prompt: p, max_tokens: 20, temperature: 1, seed: 3 })));
    assert.ok(rs.every((r) => r.usage!.completion_tokens >= 1));
    assert.equal(s.scheduler.stats.maxBatch, 2);
    const big = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: prompts[0], max_tokens: 100 }) });
    assert.equal(big.status, 400);
    const j = await big.json();
    assert.match(j.error.message, /exceed the KV cache budget/);
    assert.equal(j.error.code, 'context_length_exceeded');
  } finally {
    await s.close();
    small.dispose();
  }
});

test('admission credits shared prefix blocks: requests sharing a running prompt prefix need only their new blocks', async () => {
  const bytesPerPosition = 2 * shape.nLayers * shape.nKvHeads * (shape.dim / shape.nHeads) * 2;
  const small = await modelFromWeights(synthWeights(shape, 21, 4), synthTokenizer(shape.vocabSize),
    { backend: 'wasm', threads: 1, kvMemoryBytes: 8 * 16 * bytesPerPosition }); // 8 blocks of 16 positions
  const s = new BitnetServer(small, { port: 0, parallel: 8 });
  const { port } = await s.listen();
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
  try {
    // worst case 50 + 20 = 70 positions = 5 blocks each: two fresh ones (10) do not fit in 8. With the 48-token
    // prefix (3 whole blocks) shared, the second needs 2 more: 4 held + 1 the first may still take + 2 = 7 fit;
    // a third would need 9.
    const common = Array.from({ length: 48 }, (_, i) => 3 + ((i * 11) % 250));
    const prompts = [[1, 2], [4, 5], [6, 7]].map((tail) => [...common, ...tail]);
    const want: string[] = [];
    for (const p of prompts) { // one at a time: the budget holds one fresh sequence
      const it = small.generate(p, { temperature: 0, repeatPenalty: 1, maxTokens: 20 });
      let r = await it.next();
      while (!r.done) r = await it.next();
      want.push(r.value.text);
    }
    const rs = await Promise.all(prompts.map((p) => c.completions.create({ model: 'bitnet', prompt: p, max_tokens: 20, ...greedy })));
    assert.deepEqual(rs.map((r) => r.choices[0].text), want); // forked sequences decode as fresh ones
    assert.equal(s.scheduler.stats.maxBatch, 2);
    assert.ok(s.scheduler.stats.promptTokensReused >= 2 * common.length, `reused ${s.scheduler.stats.promptTokensReused}`);
    // distinct prompts of the same length get no credit: one at a time
    const distinct = prompts.map((p, k) => p.map((t) => 3 + ((t + 37 * (k + 1)) % 250)));
    const before = s.scheduler.stats.steps;
    s.scheduler.stats.maxBatch = 0;
    await Promise.all(distinct.map((p) => c.completions.create({ model: 'bitnet', prompt: p, max_tokens: 20, ...greedy })));
    assert.equal(s.scheduler.stats.maxBatch, 1, `after ${s.scheduler.stats.steps - before} steps`);
  } finally {
    await s.close();
    small.dispose();
  }
});

test('graceful shutdown: in-flight requests finish, new ones get 503', async () => {
  const { server: s, base: b, client: c } = await start({});
  const inflight = c.completions.create({ model: 'bitnet', prompt: 'hello', max_tokens: 30, temperature: 1, seed: 1 });
  await new Promise((r) => setTimeout(r, 30));
  const closing = s.close();
  const late = await fetch(`${b}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x' }) }).catch(() => undefined);
  if (late) { assert.equal(late.status, 503); assert.ok(late.headers.get('retry-after')); }
  const r = await inflight;
  assert.ok(r.choices[0].text.length >= 0 && r.usage!.completion_tokens >= 1);
  await closing;
});

test('servers close promptly (idle keep-alive connections are dropped)', async () => {
  const t = performance.now();
  await closeAll();
  assert.ok(performance.now() - t < 2000);
  model.dispose();
});
