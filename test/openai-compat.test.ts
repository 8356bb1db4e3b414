/**
 * OpenAI API compatibility, field by field as the API reference defines it, driven by the official
 * `openai` client: content parts, roles, model ids, logprobs, logit_bias, penalties, n, stream_options,
 * HEAD /health, CORS, refusals of what is not implemented, and the Prometheus /metrics.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { loadModel, type Model } from '../src/model/index.js';
import { Sampler } from '../src/model/sampling.js';
import { tokenLogprob } from '../src/model/generate.js';
import { BitnetServer, type ServeOptions } from '../src/serve/server.js';
import type { Tokenizer } from '../src/tokenizer/types.js';
import { synthModel } from './util.js';

const shape = { dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 256, vocabSize: 300, contextLength: 256 };
const model: Model = await synthModel(shape, 21, 4, { backend: 'wasm', threads: 1 });
const servers: BitnetServer[] = [];
const models: Model[] = [model]; // disposed after the servers that use them are closed
after(async () => { for (const s of servers.splice(0)) await s.close(); for (const m of models) m.dispose(); });

async function start(opts: ServeOptions = {}, m: Model = model) {
  const server = new BitnetServer(m, { port: 0, ...opts });
  const { port } = await server.listen();
  servers.push(server);
  const root = `http://127.0.0.1:${port}`;
  return { server, root, base: `${root}/v1`, client: new OpenAI({ baseURL: `${root}/v1`, apiKey: 'none', maxRetries: 0 }) };
}
const { server, root, base, client } = await start({ modelName: 'tiny' });
type ApiError = InstanceType<typeof OpenAI.APIError>;
const rejects400 = (p: Promise<unknown>, param: string) =>
  assert.rejects(p, (e: ApiError) => { assert.equal(e.status, 400); assert.equal(e.param, param); return true; });
const greedy = { model: 'tiny', temperature: 0, max_tokens: 8 } as const;

test('content given as an array of text parts is the same as the joined string; image/audio parts are a 400', async () => {
  const parts = await client.chat.completions.create({ ...greedy, messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }, { type: 'text', text: 'there' }] }] });
  const plain = await client.chat.completions.create({ ...greedy, messages: [{ role: 'user', content: 'hello\nthere' }] });
  assert.equal(parts.choices[0].message.content, plain.choices[0].message.content);
  assert.equal(parts.usage!.prompt_tokens, plain.usage!.prompt_tokens);
  await rejects400(client.chat.completions.create({ ...greedy, messages: [{ role: 'user', content: [
    { type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }), 'messages[0].content[1]');
  await rejects400(client.chat.completions.create({ ...greedy, messages: [{ role: 'user', content: [
    { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] }), 'messages[0].content[0]');
});

test('developer messages are system messages; tool messages need a template with a tool role', async () => {
  const dev = await client.chat.completions.create({ ...greedy, messages: [{ role: 'developer', content: 'be brief' }, { role: 'user', content: 'hi' }] });
  const sys = await client.chat.completions.create({ ...greedy, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] });
  assert.equal(dev.choices[0].message.content, sys.choices[0].message.content);
  assert.equal(dev.usage!.prompt_tokens, sys.usage!.prompt_tokens);
  const toolMsgs = [{ role: 'user' as const, content: 'weather?' }, { role: 'tool' as const, content: 'sunny', tool_call_id: 'c1' }];
  await rejects400(client.chat.completions.create({ ...greedy, messages: toolMsgs }), 'messages[1].role'); // the fallback template has none
  const template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% if m.role == 'tool' %}[{{ m.tool_call_id }}]{% endif %}\n{% endfor %}<assistant>";
  const tok: Tokenizer = Object.create(model.tokenizer, { chatTemplate: { value: template } });
  const templated = Object.assign(Object.create(Object.getPrototypeOf(model)), model, { tokenizer: tok }) as Model;
  const t = await start({}, templated);
  const r = await t.client.chat.completions.create({ model: 'bitnet', temperature: 0, max_tokens: 2, messages: toolMsgs });
  // (templates render with trim_blocks, as Hugging Face does: no newline after a block tag)
  assert.equal(r.usage!.prompt_tokens, tok.encode('<user>weather?<tool>sunny[c1]<assistant>').length);
});

test('models: retrieve the served id and the alias default; an unknown model is 404 model_not_found', async () => {
  assert.equal((await client.models.retrieve('tiny')).id, 'tiny');
  assert.equal((await client.models.retrieve('default')).id, 'tiny');
  assert.equal((await client.models.list()).data[0].id, 'tiny');
  const notFound = (e: ApiError) => { assert.equal(e.status, 404); assert.equal(e.code, 'model_not_found'); return true; };
  await assert.rejects(client.models.retrieve('gpt-4o'), notFound);
  await assert.rejects(client.chat.completions.create({ ...greedy, model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }), notFound);
  await assert.rejects(client.completions.create({ ...greedy, model: 'bitnet', prompt: 'x' }), notFound);
  const ok = await client.completions.create({ ...greedy, model: 'default', prompt: 'x' });
  assert.equal(ok.model, 'tiny');
});

/** The engine's next-token logits after `ids` (the oracle for logprobs). */
function logitsAfter(ids: number[]): Float32Array {
  const s = model.createSession();
  try { return s.evaluate(ids).slice(); } finally { s.dispose(); }
}

test('chat logprobs + top_logprobs are the log-softmax of the model\'s logits, best first', async () => {
  const messages = [{ role: 'user' as const, content: 'count with me' }];
  const r = await client.chat.completions.create({ ...greedy, messages, logprobs: true, top_logprobs: 3 });
  const lp = r.choices[0].logprobs!.content!;
  assert.ok(lp.length >= 1 && lp.length <= r.usage!.completion_tokens);
  for (const t of lp) {
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob && t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob);
    assert.equal(t.token, t.top_logprobs[0].token); // greedy: the chosen token is the most likely
    assert.equal(t.logprob, t.top_logprobs[0].logprob);
    assert.ok(t.logprob <= 0);
    assert.equal(new TextDecoder().decode(Uint8Array.from(t.bytes!)), t.token);
  }
  assert.equal(new TextDecoder().decode(Uint8Array.from(lp.flatMap((t) => t.bytes!))), r.choices[0].message.content);
  // the first token's figure from the engine directly
  const prompt = model.tokenizer.encode('User: count with me\n\nAssistant:');
  const want = tokenLogprob(logitsAfter(prompt), 0, 3);
  assert.ok(Math.abs(lp[0].top_logprobs[1].logprob - want.top[1].logprob) < 1e-5);
  assert.ok(Math.abs(lp[0].logprob - want.top[0].logprob) < 1e-5);
  // streaming carries the same logprobs, token by token
  const stream = await client.chat.completions.create({ ...greedy, messages, logprobs: true, top_logprobs: 3, stream: true });
  const streamed: number[] = [];
  for await (const c of stream) for (const t of c.choices[0]?.logprobs?.content ?? []) streamed.push(t.logprob);
  assert.deepEqual(streamed, lp.map((t) => t.logprob));
  await rejects400(client.chat.completions.create({ ...greedy, messages, top_logprobs: 2 }), 'top_logprobs');
  await rejects400(client.chat.completions.create({ ...greedy, messages, logprobs: true, top_logprobs: 21 }), 'top_logprobs');
});

test('completions logprobs: tokens, token_logprobs, top_logprobs, text_offset', async () => {
  const r = await client.completions.create({ ...greedy, prompt: 'abc', logprobs: 2 });
  const l = r.choices[0].logprobs!;
  assert.equal(l.tokens!.join(''), r.choices[0].text);
  assert.equal(l.tokens!.length, l.token_logprobs!.length);
  assert.equal(l.top_logprobs!.length, l.tokens!.length);
  let off = 0;
  l.tokens!.forEach((t, i) => { assert.equal(l.text_offset![i], off); off += t.length; });
  const first = tokenLogprob(logitsAfter(model.tokenizer.encode('abc')), 0, 2);
  assert.ok(Math.abs(l.token_logprobs![0] - first.top[0].logprob) < 1e-5);
  assert.equal(Object.keys(l.top_logprobs![0]).length, 2);
  await rejects400(client.completions.create({ ...greedy, prompt: 'abc', logprobs: 6 }), 'logprobs');
});

test('logprobs end where the returned text ends: no tokens of a stop string, streaming or not', async () => {
  // the bundled model: real text, tokens of several characters (the synthetic one repeats single bytes)
  const kjv = await loadModel(undefined, { backend: 'wasm', threads: 1 });
  models.push(kjv);
  const { client } = await start({ modelName: 'tiny' }, kjv);
  const prompt = 'And God said', max_tokens = 24;
  const ascii = (t: string) => /^[\x20-\x7e]+$/.test(t);
  const full = (await client.completions.create({ ...greedy, max_tokens, prompt, logprobs: 0 })).choices[0].logprobs!.tokens!;
  const text = full.join('');
  // a stop string made of tokens k and k+1 whose first occurrence starts at token k: the tokens before k remain;
  // then one that starts inside token k (its last character): token k straddles the end and is listed
  const k = full.findIndex((t, i) => i > 0 && i + 1 < full.length && t.length > 1 && ascii(t) && ascii(full[i + 1]) &&
    text.indexOf(t + full[i + 1]) === full.slice(0, i).join('').length && text.indexOf(t.at(-1)! + full[i + 1]) === full.slice(0, i + 1).join('').length - 1);
  assert.ok(k > 0, `no usable stop string in ${JSON.stringify(full)}`);
  const cases = [{ stop: full[k] + full[k + 1], tokens: full.slice(0, k) }, { stop: full[k].at(-1)! + full[k + 1], tokens: full.slice(0, k + 1) }];
  for (const { stop, tokens } of cases) {
    const want = text.slice(0, text.indexOf(stop));
    const c = (await client.completions.create({ ...greedy, max_tokens, prompt, logprobs: 1, stop })).choices[0];
    assert.equal(c.text, want);
    assert.equal(c.finish_reason, 'stop');
    assert.deepEqual(c.logprobs!.tokens, tokens, `stop ${JSON.stringify(stop)}`);
    assert.ok(c.logprobs!.text_offset!.every((o) => o < want.length)); // every listed token shows in the text
    const messages = [{ role: 'user' as const, content: prompt }];
    const chat = (await client.chat.completions.create({ ...greedy, max_tokens, messages, logprobs: true, stop })).choices[0];
    const chatText = chat.message.content!;
    const lp = chat.logprobs!.content!;
    const bytes = (ts: typeof lp) => Buffer.from(ts.flatMap((t) => t.bytes!)).toString('latin1');
    const body = Buffer.from(chatText).toString('latin1');
    if (tokens.length === k) assert.equal(bytes(lp), body); // the tokens spell the returned text exactly
    assert.ok(bytes(lp).startsWith(body) && body.length > bytes(lp.slice(0, -1)).length); // the last one may run on
    const stream = await client.chat.completions.create({ ...greedy, max_tokens, messages, logprobs: true, stop, stream: true });
    let streamedText = '';
    const streamed: typeof lp = [];
    for await (const ch of stream) { streamedText += ch.choices[0]?.delta?.content ?? ''; streamed.push(...(ch.choices[0]?.logprobs?.content ?? [])); }
    assert.equal(streamedText, chatText);
    assert.deepEqual(streamed, lp);
    const cstream = await client.completions.create({ ...greedy, max_tokens, prompt, logprobs: 1, stop, stream: true });
    const ctoks: string[] = [];
    for await (const ch of cstream) ctoks.push(...(ch.choices[0]?.logprobs?.tokens ?? []));
    assert.deepEqual(ctoks, tokens);
  }
});

test('logit_bias: +100 forces a token, -100 bans the greedy choice', async () => {
  const tok = model.tokenizer;
  const forced = tok.encode('q', { addBos: false }).at(-1)!;
  const r = await client.completions.create({ ...greedy, prompt: 'abc', max_tokens: 4, logit_bias: { [forced]: 100 } });
  assert.equal(r.choices[0].text, new TextDecoder().decode(tok.tokenBytes(forced)).repeat(4));
  const first = tokenLogprob(logitsAfter(tok.encode('abc')), 0, 2).top; // the greedy choice and the runner-up
  const banned = await client.completions.create({ ...greedy, prompt: 'abc', max_tokens: 1, logprobs: 0, logit_bias: { [first[0].token]: -100 } });
  assert.equal(banned.choices[0].logprobs!.tokens![0], new TextDecoder().decode(tok.tokenBytes(first[1].token)));
  await rejects400(client.completions.create({ ...greedy, prompt: 'abc', logit_bias: { 99999: 1 } }), 'logit_bias');
  await rejects400(client.completions.create({ ...greedy, prompt: 'abc', logit_bias: { 5: 101 } }), 'logit_bias');
});

test('presence and frequency penalties follow the API reference formula; the server applies them', async () => {
  // logits [0, 1, 0.5]: greedy picks 1; then 1 - count × 0.6 = 0.4 < 0.5, so frequency 0.6 moves it to 2
  const freq = new Sampler({ temperature: 0, repeatPenalty: 1, frequencyPenalty: 0.6 });
  assert.equal(freq.sample(new Float32Array([0, 1, 0.5]), []), 1);
  assert.equal(freq.sample(new Float32Array([0, 1, 0.5]), []), 2);
  assert.equal(freq.sample(new Float32Array([0, 1, 0.5]), []), 1); // 1 - 0.6 = 0.4 vs 0.5 - 0.6 = -0.1
  const pres = new Sampler({ temperature: 0, repeatPenalty: 1, presencePenalty: 0.4 });
  assert.equal(pres.sample(new Float32Array([0, 1, 0.7]), []), 1);
  assert.equal(pres.sample(new Float32Array([0, 1, 0.7]), []), 2); // 0.6 < 0.7
  assert.equal(pres.sample(new Float32Array([0, 1, 0.7]), []), 1); // both seen: 0.6 > 0.3
  // through the server: the same text as the engine with the same penalties
  for (const p of [{ frequency_penalty: 2 }, { presence_penalty: 2 }, { presence_penalty: -1.5 }]) {
    const r = await client.completions.create({ ...greedy, prompt: 'abc', max_tokens: 12, ...p });
    const it = model.generate('abc', { temperature: 0, repeatPenalty: 1, maxTokens: 12, frequencyPenalty: p.frequency_penalty, presencePenalty: p.presence_penalty });
    let x = await it.next();
    while (!x.done) x = await it.next();
    assert.equal(r.choices[0].text, x.value.text, JSON.stringify(p));
  }
  const none = await client.completions.create({ ...greedy, prompt: 'abc', max_tokens: 12 });
  const pen = await client.completions.create({ ...greedy, prompt: 'abc', max_tokens: 12, frequency_penalty: 2 });
  assert.notEqual(pen.choices[0].text, none.choices[0].text);
  await rejects400(client.completions.create({ ...greedy, prompt: 'abc', presence_penalty: 2.5 }), 'presence_penalty');
});

test('n > 1: n choices, choice i is the request with seed + i; streaming interleaves indices', async () => {
  const body = { model: 'tiny', prompt: 'abc', max_tokens: 6, temperature: 1, seed: 40 } as const;
  const r = await client.completions.create({ ...body, n: 3 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
  for (let i = 0; i < 3; i++) {
    const one = await client.completions.create({ ...body, seed: 40 + i });
    assert.equal(r.choices[i].text, one.choices[0].text);
  }
  const single = await client.completions.create({ ...body });
  assert.equal(r.usage!.prompt_tokens, single.usage!.prompt_tokens);
  const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 6, temperature: 1, seed: 3, n: 2, stream: true });
  const texts = ['', ''], finishes: Array<string | null> = [null, null];
  for await (const c of stream) for (const ch of c.choices) { texts[ch.index] += ch.delta.content ?? ''; finishes[ch.index] ??= ch.finish_reason; }
  const full = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 6, temperature: 1, seed: 3, n: 2 });
  assert.deepEqual(texts, full.choices.map((c) => c.message.content));
  assert.ok(finishes.every((f) => f !== null));
});

test('stream_options.include_usage: usage null on every chunk, then one chunk with choices [] and the usage', async () => {
  const stream = await client.chat.completions.create({ ...greedy, messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage && last.usage.total_tokens === last.usage.prompt_tokens + last.usage.completion_tokens && last.usage.completion_tokens >= 1);
  for (const c of chunks.slice(0, -1)) { assert.equal(c.usage, null); assert.equal(c.choices.length, 1); }
  assert.ok(chunks.slice(0, -1).some((c) => c.choices[0].finish_reason !== null));
  // without it: no usage anywhere in the stream
  const plain = await client.completions.create({ ...greedy, prompt: 'hi', stream: true });
  for await (const c of plain) assert.ok(!('usage' in c));
  await rejects400(client.completions.create({ ...greedy, prompt: 'hi', stream_options: { include_usage: true } }), 'stream_options');
});

test('what is not implemented answers 400 naming the parameter; text response_format and empty tools are fine', async () => {
  const messages = [{ role: 'user' as const, content: 'x' }];
  const tools = [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
  await rejects400(client.chat.completions.create({ ...greedy, messages, tools }), 'tools');
  await rejects400(client.chat.completions.create({ ...greedy, messages, tool_choice: 'required' }), 'tool_choice');
  await rejects400(client.chat.completions.create({ ...greedy, messages, response_format: { type: 'json_schema', json_schema: { name: 's', schema: {} } } }), 'response_format');
  await rejects400(client.chat.completions.create({ ...greedy, messages, response_format: { type: 'json_object' } }), 'response_format');
  await rejects400(client.chat.completions.create({ ...greedy, messages, reasoning_effort: 'high' }), 'reasoning_effort');
  await rejects400(client.completions.create({ ...greedy, prompt: 'x', echo: true }), 'echo');
  await rejects400(client.completions.create({ ...greedy, prompt: 'x', suffix: 'tail' }), 'suffix');
  await rejects400(client.completions.create({ ...greedy, prompt: 'x', best_of: 3 }), 'best_of');
  await rejects400(client.completions.create({ ...greedy, prompt: 'x', wibble: 1 } as never), 'wibble');
  const ok = await client.chat.completions.create({ ...greedy, messages, response_format: { type: 'text' }, tools: [], user: 'u1' });
  assert.equal(ok.choices.length, 1);
  // top_k (an extension llama.cpp and vLLM take): top_k 1 is greedy whatever the temperature
  const k1 = await client.completions.create({ ...greedy, prompt: 'abc', temperature: 1.5, seed: 9, top_k: 1 } as never) as OpenAI.Completion;
  assert.equal(k1.choices[0].text, (await client.completions.create({ ...greedy, prompt: 'abc' })).choices[0].text);
});

test('HEAD /health answers like GET without a body', async () => {
  const h = await fetch(`${root}/health`, { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.match(h.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(await h.text(), '');
});

test('--cors: only listed origins get CORS headers and preflights', async () => {
  const c = await start({ cors: ['http://app.example'] });
  const pre = await fetch(`${c.base}/chat/completions`, { method: 'OPTIONS', headers: {
    origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const other = await fetch(`${c.base}/models`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
  assert.equal(other.status, 403);
  const get = await fetch(`${c.base}/models`, { headers: { origin: 'http://app.example' } });
  assert.equal(get.headers.get('access-control-allow-origin'), 'http://app.example');
  const evil = await fetch(`${c.base}/models`, { headers: { origin: 'http://evil.example' } });
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  // off by default
  const none = await fetch(`${base}/models`, { headers: { origin: 'http://app.example' } });
  assert.equal(none.headers.get('access-control-allow-origin'), null);
});

test('/metrics: Prometheus text with requests, tokens, queue depth, latency histograms, errors by kind', async () => {
  const before = server.metrics.completionTokens.get();
  const r = await client.completions.create({ ...greedy, prompt: 'abc' });
  await assert.rejects(client.models.retrieve('nope'));
  const res = await fetch(`${root}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const value = (re: RegExp) => { const m = re.exec(text); assert.ok(m, `missing ${re}`); return Number(m[1]); };
  assert.ok(value(/^bitnet_requests_total\{endpoint="\/v1\/completions",status="200"\} (\d+)$/m) >= 1);
  assert.equal(value(/^bitnet_completion_tokens_total (\d+)$/m) - before, r.usage!.completion_tokens);
  assert.ok(value(/^bitnet_prompt_tokens_total (\d+)$/m) >= r.usage!.prompt_tokens);
  assert.equal(value(/^bitnet_queue_depth (\d+)$/m), 0);
  assert.ok(value(/^bitnet_errors_total\{kind="model_not_found"\} (\d+)$/m) >= 1);
  const ttft = value(/^bitnet_time_to_first_token_seconds_count (\d+)$/m);
  assert.ok(ttft >= 1);
  assert.equal(value(/^bitnet_time_to_first_token_seconds_bucket\{le="\+Inf"\} (\d+)$/m), ttft);
  assert.ok(value(/^bitnet_time_per_output_token_seconds_count (\d+)$/m) >= r.usage!.completion_tokens - 1);
  // buckets are cumulative
  const buckets = [...text.matchAll(/^bitnet_time_per_output_token_seconds_bucket\{le="[^"]+"\} (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(buckets.every((b, i) => i === 0 || b >= buckets[i - 1]));
  assert.match(text, /^# TYPE bitnet_time_to_first_token_seconds histogram$/m);
});
