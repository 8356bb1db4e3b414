/**
 * Load generator for a running OpenAI-compatible server (`bitnet bench --server URL`): `concurrency`
 * clients each send streaming chat (or completion) requests back to back until `requests` are done;
 * reports throughput and latency percentiles (time to first token, total, per-token).
 */
export interface ServerBenchOptions {
  server: string;           // base URL, e.g. http://127.0.0.1:8080 (with or without /v1)
  concurrency?: number;     // clients in flight (default 32)
  requests?: number;        // total requests (default 2 × concurrency)
  maxTokens?: number;       // max_tokens per request (default 64)
  prompt?: string;
  apiKey?: string;
  endpoint?: 'chat' | 'completions';
  temperature?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Percentiles { p50: number; p90: number; p99: number; max: number; mean: number }

export interface ServerBenchResult {
  server: string; concurrency: number; requests: number; ok: number; failed: number; errors: string[];
  wallSeconds: number; completionTokens: number; promptTokens: number;
  tokensPerSecond: number;      // completion tokens / wall time, all clients together
  requestsPerSecond: number;
  ttftMs: Percentiles; latencyMs: Percentiles; perTokenMs: Percentiles;
}

export function percentiles(xs: number[]): Percentiles {
  if (xs.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

interface One { ttft: number; total: number; completionTokens: number; promptTokens: number }

/** One streaming request; resolves with its timings, rejects with a readable message. */
async function oneRequest(base: string, o: Required<Omit<ServerBenchOptions, 'apiKey' | 'onProgress'>> & { apiKey?: string }, i: number): Promise<One> {
  const chat = o.endpoint === 'chat';
  const body = {
    model: 'default', stream: true, stream_options: { include_usage: true }, max_tokens: o.maxTokens, temperature: o.temperature, seed: i,
    ...(chat ? { messages: [{ role: 'user', content: o.prompt }] } : { prompt: o.prompt }),
  };
  const t0 = performance.now();
  const res = await fetch(`${base}/${chat ? 'chat/completions' : 'completions'}`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  let ttft = NaN, buf = '', done = false, usage: { prompt_tokens: number; completion_tokens: number } | undefined, pieces = 0;
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let k: number;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, k); buf = buf.slice(k + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') { done = true; continue; }
      const j = JSON.parse(data);
      if (j.error) throw new Error(`stream error: ${j.error.message}`);
      const text = chat ? j.choices?.[0]?.delta?.content : j.choices?.[0]?.text;
      if (text && Number.isNaN(ttft)) ttft = performance.now() - t0;
      if (text) pieces++;
      if (j.usage) usage = j.usage;
    }
  }
  if (!done) throw new Error('stream ended without data: [DONE]');
  const total = performance.now() - t0;
  return { ttft: Number.isNaN(ttft) ? total : ttft, total, completionTokens: usage?.completion_tokens ?? pieces, promptTokens: usage?.prompt_tokens ?? 0 };
}

export async function runServerBench(opts: ServerBenchOptions): Promise<ServerBenchResult> {
  let base: string;
  try { base = new URL(opts.server).toString().replace(/\/+$/, ''); } catch { throw new Error(`--server must be a URL like http://127.0.0.1:8080, got '${opts.server}'`); }
  if (!base.endsWith('/v1')) base += '/v1';
  const concurrency = opts.concurrency ?? 32;
  const o = {
    server: base, concurrency, requests: opts.requests ?? 2 * concurrency, maxTokens: opts.maxTokens ?? 64,
    prompt: opts.prompt ?? 'Write a short story about a lighthouse keeper.', apiKey: opts.apiKey, endpoint: opts.endpoint ?? 'chat',
    temperature: opts.temperature ?? 0.8,
  };
  for (const [k, v] of [['concurrency', o.concurrency], ['requests', o.requests], ['maxTokens', o.maxTokens]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
  }
  const results: One[] = [], errors: string[] = [];
  let next = 0, finished = 0;
  const t0 = performance.now();
  const client = async () => {
    while (next < o.requests) {
      const i = next++;
      try { results.push(await oneRequest(base, o, i)); } catch (e) { errors.push((e as Error).message); }
      opts.onProgress?.(++finished, o.requests);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.requests) }, client));
  const wall = (performance.now() - t0) / 1000;
  const completionTokens = results.reduce((a, r) => a + r.completionTokens, 0);
  return {
    server: base, concurrency: o.concurrency, requests: o.requests, ok: results.length, failed: errors.length,
    errors: [...new Set(errors)].slice(0, 5), wallSeconds: wall, completionTokens,
    promptTokens: results.reduce((a, r) => a + r.promptTokens, 0),
    tokensPerSecond: completionTokens / wall, requestsPerSecond: results.length / wall,
    ttftMs: percentiles(results.map((r) => r.ttft)), latencyMs: percentiles(results.map((r) => r.total)),
    perTokenMs: percentiles(results.filter((r) => r.completionTokens > 1).map((r) => (r.total - r.ttft) / (r.completionTokens - 1))),
  };
}

export function formatServerBench(r: ServerBenchResult): string {
  const row = (name: string, p: Percentiles) => `  ${name.padEnd(14)} p50 ${p.p50.toFixed(1).padStart(8)}  p90 ${p.p90.toFixed(1).padStart(8)}  p99 ${p.p99.toFixed(1).padStart(8)}  max ${p.max.toFixed(1).padStart(8)} ms`;
  return [
    `server ${r.server}: ${r.requests} requests, ${r.concurrency} concurrent`,
    `  ok ${r.ok}, failed ${r.failed}${r.errors.length ? ` (${r.errors.join('; ')})` : ''}`,
    `  ${r.completionTokens} completion tokens in ${r.wallSeconds.toFixed(2)} s: ${r.tokensPerSecond.toFixed(1)} tok/s, ${r.requestsPerSecond.toFixed(2)} req/s`,
    row('first token', r.ttftMs), row('request', r.latencyMs), row('per token', r.perTokenMs),
  ].join('\n');
}
