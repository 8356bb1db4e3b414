/**
 * Who the server answers (src/serve/guard.ts): empty keys refused at start, Host and Origin checked, JSON
 * endpoints only for application/json; chat templates rendered with limits; user text tokenized without
 * special tokens; oversized prompts refused before tokenizing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { modelFromWeights, type Model } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { BitnetServer, type ServeOptions } from '../src/serve/server.js';
import { renderChat } from '../src/tokenizer/chat.js';
import { renderTemplate } from '../src/tokenizer/template-limits.js';
import type { Tokenizer } from '../src/tokenizer/types.js';
import { CLI } from './util.js';

const shape = { dim: 64, nLayers: 1, nHeads: 2, nKvHeads: 2, ffnDim: 128, vocabSize: 300, contextLength: 128 };
let template: string | undefined;
const base = synthTokenizer(shape.vocabSize);
const tok: Tokenizer = Object.create(base, { chatTemplate: { get: () => template } });
const model: Model = await modelFromWeights(synthWeights(shape, 5, 4), tok, { backend: 'reference' });
const servers: BitnetServer[] = [];
after(async () => { for (const s of servers) await s.close(); model.dispose(); });

async function start(opts: ServeOptions = {}): Promise<number> {
  const s = new BitnetServer(model, { port: 0, ...opts });
  servers.push(s);
  return (await s.listen()).port;
}

/** A raw request (fetch cannot set Host). */
function send(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? (o.body ? 'POST' : 'GET'), headers: o.headers }, (res) => {
      let body = ''; res.setEncoding('utf8'); res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
const json = { 'content-type': 'application/json' };
const completion = JSON.stringify({ prompt: 'hello', max_tokens: 2, temperature: 0 });

test('an empty API key is an error at start (server and CLI), not "no authentication"', async () => {
  assert.throws(() => new BitnetServer(model, { apiKey: '' }), /--api-key is empty/);
  assert.throws(() => new BitnetServer(model, { apiKey: '  ' }), /empty/);
  for (const [args, env] of [[['--api-key', ''], {}], [[], { BITNET_API_KEY: '' }]] as const) {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI, 'serve', '--model', '/nonexistent.gguf', '--port', '0', ...args], { env: { ...process.env, ...env } });
      let err = ''; c.stderr.on('data', (d) => (err += d));
      c.on('close', (code) => resolve({ code, err }));
    });
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /(--api-key|BITNET_API_KEY) is empty/, 'refused before the model is opened');
  }
});

test('cross-site requests: simple text/plain POSTs, foreign Origins and rebinding Hosts are refused', async () => {
  const port = await start();
  const own = `127.0.0.1:${port}`;
  // the cross-site "simple" request: text/plain, no preflight
  const plain = await send(port, '/v1/completions', { headers: { 'content-type': 'text/plain', host: own }, body: completion });
  assert.equal(plain.status, 415, plain.body);
  assert.equal(JSON.parse(plain.body).error.code, 'unsupported_media_type');
  const form = await send(port, '/v1/completions', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: completion });
  assert.equal(form.status, 415);
  const evil = await send(port, '/v1/completions', { headers: { ...json, origin: 'http://evil.example', host: own }, body: completion });
  assert.equal(evil.status, 403);
  assert.equal(JSON.parse(evil.body).error.code, 'origin_not_allowed');
  assert.equal((await send(port, '/v1/models', { headers: { origin: 'null', host: own } })).status, 403);
  // DNS rebinding: the page's own origin, but a Host that is not this server's
  const rebound = await send(port, '/v1/models', { headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}` } });
  assert.equal(rebound.status, 403);
  assert.equal(JSON.parse(rebound.body).error.code, 'host_not_allowed');
  assert.equal((await send(port, '/health', { headers: { host: 'evil.example' } })).status, 403);
  // what is allowed: no Origin (curl, SDKs), the server's own origin, localhost, IP literals
  assert.equal((await send(port, '/v1/completions', { headers: json, body: completion })).status, 200);
  assert.equal((await send(port, '/v1/completions', { headers: { 'content-type': 'application/json; charset=utf-8', origin: `http://${own}`, host: own }, body: completion })).status, 200);
  for (const host of [`localhost:${port}`, '[::1]:8080', '10.0.0.7', 'app.localhost']) {
    assert.equal((await send(port, '/v1/models', { headers: { host } })).status, 200, host);
  }
});

test('--cors origins and --allowed-hosts names are let in', async () => {
  const port = await start({ cors: ['http://app.example'], allowedHosts: ['my.box'] });
  assert.equal((await send(port, '/v1/completions', { headers: { ...json, origin: 'http://app.example' }, body: completion })).status, 200);
  assert.equal((await send(port, '/v1/completions', { headers: { ...json, origin: 'http://other.example' }, body: completion })).status, 403);
  assert.equal((await send(port, '/v1/models', { headers: { host: `my.box:${port}` } })).status, 200);
  assert.equal((await send(port, '/v1/models', { headers: { host: `their.box:${port}` } })).status, 403);
  const any = await start({ allowedHosts: ['*'] });
  assert.equal((await send(any, '/v1/models', { headers: { host: 'whatever.example' } })).status, 200);
});

test('special-token text typed by the user stays text; the template\'s own special tokens are parsed', async () => {
  const user = 'a</s>b';
  // without a template (fallback) and with one that writes </s> itself
  for (const t of [undefined, '{% for m in messages %}<s>{{ m.role }}: {{ m.content }}</s>{% endfor %}assistant:']) {
    template = t;
    const r = renderChat(tok, [{ role: 'user', content: user }]);
    const ids = tok.encode(r.prompt, { addBos: r.addBos, literalRanges: r.literal });
    const eos = tok.eos!;
    assert.equal(ids.filter((i) => i === eos).length, t ? 1 : 0, `only the template's </s> is a control token (${t})`);
    assert.deepEqual(tok.encode(user, { addBos: false, literalRanges: [[0, user.length]] }), tok.encode(user, { addBos: false, parseSpecial: false }));
  }
  template = '{% for m in messages %}{{ m.content }}{% endfor %}';
  const port = await start();
  const r = await send(port, '/v1/chat/completions', { headers: json, body: JSON.stringify({ messages: [{ role: 'user', content: user }], max_tokens: 1 }) });
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).usage.prompt_tokens, tok.encode(user, { parseSpecial: false }).length);
  const c = await send(port, '/v1/completions', { headers: json, body: JSON.stringify({ prompt: user, max_tokens: 1 }) });
  assert.equal(JSON.parse(c.body).usage.prompt_tokens, tok.encode(user, { parseSpecial: false }).length);
  // a template that transforms the content cannot be lined up: special text in the content is then refused
  template = '{% for m in messages %}{{ m.content | upper }}{% endfor %}';
  const up = await send(port, '/v1/chat/completions', { headers: json, body: JSON.stringify({ messages: [{ role: 'user', content: 'x</s>' }], max_tokens: 1 }) });
  assert.equal(up.status, 400, up.body);
  template = undefined;
});

test('a chat template that loops for ever is stopped: clear 500 within its time budget, /health answers right after', async () => {
  const port = await start();
  template = '{% for i in range(3000000) %}x{% endfor %}';
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
  let t0 = performance.now();
  const r = await send(port, '/v1/chat/completions', { headers: json, body });
  assert.equal(r.status, 500);
  assert.match(JSON.parse(r.body).error.message, /chat template exceeded its limits \(range\(\) of 3000000 items/);
  assert.ok(performance.now() - t0 < 1000);
  template = '{% for a in messages %}{% for i in range(90000) %}{% for j in range(90000) %}{% endfor %}{% endfor %}{% endfor %}';
  t0 = performance.now();
  const [slow, health] = await Promise.all([send(port, '/v1/chat/completions', { headers: json, body }), send(port, '/health')]);
  assert.equal(slow.status, 500);
  assert.match(JSON.parse(slow.body).error.message, /exceeded its limits \((more than|no result within)/);
  assert.equal(health.status, 200);
  assert.ok(performance.now() - t0 < 2000, `${performance.now() - t0} ms`);
  template = undefined;
  assert.throws(() => renderTemplate('{% for i in range(10) %}{{ i }}{% endfor %}', {}, { maxSteps: 1e6, maxMs: 1000, maxRange: 100, maxOutputChars: 5 }), /a string of 10 characters \(limit 5\)|output of 10/);
});

test('a prompt longer than the token limit can hold is refused before tokenizing', async () => {
  const port = await start();
  const encode = tok.encode;
  let calls = 0;
  (base as { encode: Tokenizer['encode'] }).encode = function (...a: Parameters<Tokenizer['encode']>) { calls++; return encode.apply(this, a); };
  try {
    const r = await send(port, '/v1/completions', { headers: json, body: JSON.stringify({ prompt: 'ab '.repeat(300_000), max_tokens: 1 }) });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.code, 'context_length_exceeded');
    assert.equal(calls, 0, 'the tokenizer never saw it');
  } finally { (base as { encode: Tokenizer['encode'] }).encode = encode; }
});
