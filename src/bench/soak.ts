/**
 * Soak test of a running server (`bitnet bench --server URL --soak SECONDS`): `concurrency` clients send
 * requests back to back for the given time, mixing in what real traffic brings besides good requests:
 * clients that hang up mid-stream, malformed JSON, a wrong content type, out-of-range parameters, and
 * prompts longer than the context. Every response is classified (a refusal is counted as expected only
 * with the status it should have), and the server's RSS (/health `rssBytes`) is sampled over time.
 */
export interface SoakOptions {
  server: string; seconds: number; concurrency?: number; maxTokens?: number; apiKey?: string;
  sampleEverySec?: number; onSample?: (s: SoakSample) => void;
}
export interface SoakSample { t: number; rssMB: number | null; requests: number }
export interface SoakResult {
  server: string; seconds: number; concurrency: number; requests: number;
  /** Outcome → count: ok, disconnected (by us, on purpose), refused_as_expected, and every unexpected kind. */
  outcomes: Record<string, number>;
  unexpected: number; completionTokens: number; rss: SoakSample[];
}

/** The mix, one entry per request in turn: 6 good streams, 1 hang-up, 3 bad requests. */
const MIX = ['stream', 'stream', 'stream', 'disconnect', 'stream', 'bad_json', 'stream', 'wrong_type', 'stream', 'bad_param'] as const;
type Kind = typeof MIX[number] | 'too_long';

async function one(base: string, kind: Kind, o: Required<Pick<SoakOptions, 'maxTokens'>> & { apiKey?: string }, i: number): Promise<{ outcome: string; tokens: number }> {
  const auth: Record<string, string> = o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {};
  const good = { messages: [{ role: 'user', content: `soak request ${i}: tell a story` }], max_tokens: o.maxTokens, stream: true, seed: i };
  const bodies: Record<Kind, { body: string; type: string; expect: number }> = {
    stream: { body: JSON.stringify(good), type: 'application/json', expect: 200 },
    disconnect: { body: JSON.stringify(good), type: 'application/json', expect: 200 },
    bad_json: { body: '{"messages": [', type: 'application/json', expect: 400 },
    wrong_type: { body: JSON.stringify(good), type: 'text/plain', expect: 415 },
    bad_param: { body: JSON.stringify({ ...good, temperature: 7 }), type: 'application/json', expect: 400 },
    too_long: { body: JSON.stringify({ ...good, messages: [{ role: 'user', content: 'x '.repeat(200_000) }] }), type: 'application/json', expect: 400 },
  };
  const b = bodies[kind];
  const ac = new AbortController();
  let res: Response;
  try {
    res = await fetch(`${base}/chat/completions`, { method: 'POST', body: b.body, headers: { 'content-type': b.type, ...auth }, signal: ac.signal });
  } catch (e) { return { outcome: `network_${((e as { cause?: { code?: string } }).cause?.code ?? 'error').toLowerCase()}`, tokens: 0 }; }
  if (res.status !== b.expect) { await res.body?.cancel(); return { outcome: `http_${res.status}_for_${kind}`, tokens: 0 }; }
  if (b.expect !== 200) { await res.text(); return { outcome: 'refused_as_expected', tokens: 0 }; }
  let tokens = 0, done = false, buf = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (kind === 'disconnect') { ac.abort(); return { outcome: 'disconnected', tokens: 0 }; }
      buf += decoder.decode(chunk, { stream: true });
      let k: number;
      while ((k = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, k); buf = buf.slice(k + 2);
        if (ev === 'data: [DONE]') { done = true; continue; }
        if (!ev.startsWith('data: ')) continue;
        const j = JSON.parse(ev.slice(6));
        if (j.error) return { outcome: 'stream_error', tokens };
        if (j.choices?.[0]?.delta?.content) tokens++;
      }
    }
  } catch (e) {
    if (kind === 'disconnect') return { outcome: 'disconnected', tokens: 0 };
    return { outcome: `stream_broken_${(e as Error).name}`, tokens };
  }
  return { outcome: done ? 'ok' : 'stream_without_done', tokens };
}

async function rssMB(root: string, apiKey?: string): Promise<number | null> {
  try {
    const r = await fetch(`${root}/health`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
    const j = await r.json() as { rssBytes?: number };
    return typeof j.rssBytes === 'number' ? Math.round(j.rssBytes / 2 ** 20) : null;
  } catch { return null; }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  let root: string;
  try { root = new URL(opts.server).toString().replace(/\/+$/, '').replace(/\/v1$/, ''); } catch { throw new Error(`--server must be a URL like http://127.0.0.1:8080, got '${opts.server}'`); }
  if (!(opts.seconds > 0)) throw new Error(`--soak must be a positive number of seconds, got ${opts.seconds}`);
  const base = `${root}/v1`;
  const concurrency = opts.concurrency ?? 8, maxTokens = opts.maxTokens ?? 16, every = opts.sampleEverySec ?? Math.max(1, opts.seconds / 20);
  const outcomes: Record<string, number> = {};
  const rss: SoakSample[] = [];
  let requests = 0, tokens = 0, next = 0;
  const t0 = performance.now();
  const end = t0 + opts.seconds * 1000;
  const sample = async () => { const s = { t: Math.round((performance.now() - t0) / 100) / 10, rssMB: await rssMB(root, opts.apiKey), requests }; rss.push(s); opts.onSample?.(s); };
  await sample();
  const sampler = setInterval(() => { void sample(); }, every * 1000);
  const client = async () => {
    while (performance.now() < end) {
      const i = next++;
      const kind: Kind = i % 50 === 49 ? 'too_long' : MIX[i % MIX.length];
      const r = await one(base, kind, { maxTokens, apiKey: opts.apiKey }, i);
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      requests++; tokens += r.tokens;
    }
  };
  try { await Promise.all(Array.from({ length: concurrency }, client)); } finally { clearInterval(sampler); }
  await sample();
  const expected = new Set(['ok', 'disconnected', 'refused_as_expected']);
  const unexpected = Object.entries(outcomes).filter(([k]) => !expected.has(k)).reduce((a, [, n]) => a + n, 0);
  return { server: base, seconds: opts.seconds, concurrency, requests, outcomes, unexpected, completionTokens: tokens, rss };
}

export function formatSoak(r: SoakResult): string {
  const rss = r.rss.filter((s) => s.rssMB !== null);
  return [
    `soak ${r.server}: ${r.seconds} s, ${r.concurrency} clients, ${r.requests} requests, ${r.completionTokens} streamed pieces`,
    `  outcomes: ${Object.entries(r.outcomes).sort().map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `  unexpected: ${r.unexpected}`,
    `  server RSS (MB) over time: ${rss.length ? rss.map((s) => `${s.t}s ${s.rssMB}`).join(', ') : 'not reported by /health'}`,
  ].join('\n');
}
