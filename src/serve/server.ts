/**
 * OpenAI-compatible HTTP server over node:http: GET /v1/models, GET /v1/models/{id}, POST /v1/completions,
 * POST /v1/chat/completions (SSE streaming or not), GET|HEAD /health, GET /metrics (Prometheus).
 * Requests are parsed by openai.ts, decoded together by the continuous-batching Scheduler; errors use
 * OpenAI's {"error": {message, type, param, code}} shape. Cross-origin browser access only with `cors`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Model } from '../model/transformer.js';
import { Scheduler, QueueFullError, type Job } from './scheduler.js';
import { KVBudgetError } from '../model/kv-cache.js';
import type { TokenLogprob } from '../model/generate.js';
import { HttpError, chatLogprobs, completionLogprobs, parseRequest, type CompletionRequest } from './openai.js';
import { renderMetrics, serverMetrics, type ServerMetrics } from './metrics.js';
import { checkApiKey, RequestGuard, type GuardOptions } from './guard.js';

export interface ServeOptions extends GuardOptions {
  host?: string; port?: number; apiKey?: string; parallel?: number; maxQueue?: number;
  maxPromptTokens?: number; maxTokensLimit?: number; modelName?: string; maxBodyBytes?: number;
}

/** max_tokens when a request gives none (clipped to what the context leaves). */
const DEFAULT_MAX_TOKENS = 256;
/** The `model` alias every server answers to besides its own id. */
export const MODEL_ALIAS = 'default';

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

function sendError(res: ServerResponse, e: HttpError): void {
  if (res.headersSent) { res.end(); return; }
  sendJson(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } }, e.headers);
}

/** Bytes past the limit read and dropped, so that a client still sending (Node's http client does not stop at an
 * early answer) has sent everything and reads the 413 instead of a reset; a longer body is cut off. */
const DRAIN_BYTES = 64 << 20;

/**
 * The request body as JSON. One over `limit` bytes is a 413 answered once the client has finished sending (the rest
 * is read and dropped, up to DRAIN_BYTES), with `connection: close`: answered, then closed cleanly.
 */
function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, `request body exceeds ${limit} bytes`, 'invalid_request_error', null,
      'request_too_large', { connection: 'close' });
    let size = 0;
    let chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else if (chunks.length) chunks = []; // over the limit: nothing more is kept
      if (size > limit + DRAIN_BYTES) { req.removeAllListeners('data'); reject(tooLarge()); }
    });
    req.once('end', () => {
      if (size > limit) return reject(tooLarge());
      try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))); } catch { reject(new HttpError(400, 'request body is not valid JSON')); }
    });
    req.once('error', reject);
    req.once('close', () => reject(new HttpError(400, 'the request body ended early (connection closed)')));
  });
}

type Body = Record<string, unknown>;

/** The metrics label of a path (a fixed set, so label cardinality stays bounded). */
function endpointLabel(path: string): string {
  if (path.startsWith('/v1/models/')) return '/v1/models/{id}';
  return ['/health', '/metrics', '/v1/models', '/v1/completions', '/v1/chat/completions'].includes(path) ? path : 'other';
}

export class BitnetServer {
  readonly scheduler: Scheduler;
  readonly metrics: ServerMetrics;
  private server: Server | undefined;
  private shuttingDown = false;
  private readonly o: Required<Omit<ServeOptions, 'apiKey' | 'allowedHosts'>> & { apiKey?: string };
  private readonly guard: RequestGuard;

  constructor(readonly model: Model, opts: ServeOptions = {}) {
    this.o = {
      host: '127.0.0.1', port: 8080, parallel: 8, maxQueue: 64, maxPromptTokens: Math.min(model.config.contextLength, 2048) - 1,
      maxTokensLimit: 1024, modelName: 'bitnet', maxBodyBytes: 1 << 20, cors: [],
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as typeof this.o;
    this.scheduler = new Scheduler(model, this.o.parallel, this.o.maxQueue);
    this.metrics = serverMetrics(() => this.scheduler.load);
    checkApiKey(opts.apiKey);
    this.guard = new RequestGuard(this.o.host, opts);
  }

  async listen(): Promise<{ host: string; port: number }> {
    this.server = createServer((req, res) => {
      const endpoint = endpointLabel(new URL(req.url ?? '/', 'http://x').pathname);
      res.once('close', () => this.metrics.requests.inc({ endpoint, status: String(res.statusCode) }));
      this.handle(req, res).catch((e) => {
        const err = e instanceof HttpError ? e : new HttpError(500, (e as Error).message, 'server_error');
        this.metrics.errors.inc({ kind: err.code ?? err.type });
        sendError(res, err);
      });
    });
    await new Promise<void>((resolve, reject) => { this.server!.once('error', reject); this.server!.listen(this.o.port, this.o.host, () => resolve()); });
    const a = this.server.address();
    return { host: this.o.host, port: typeof a === 'object' && a ? a.port : this.o.port };
  }

  /** Graceful: refuse new work (503), let in-flight generations finish, then close. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    await this.scheduler.drain();
    const server = this.server;
    if (!server?.listening) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    // keep-alive sockets would hold close() open for seconds: drop the idle ones now, the rest after a
    // grace period (every generation has finished; only bytes still in flight could be lost)
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), 500);
    await closed;
    clearTimeout(force);
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.o.apiKey) return true;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    if (!m) return false;
    const a = Buffer.from(m[1]), b = Buffer.from(this.o.apiKey);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** The model ids requests may name: the served id and the alias 'default'. */
  get modelNames(): string[] { return [this.o.modelName, MODEL_ALIAS]; }

  /**
   * CORS (opt-in with `cors`): an allowed Origin gets Access-Control-Allow-Origin on every response, and
   * its preflight (OPTIONS) is answered here. Returns true when the request was a preflight.
   */
  private cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && (this.o.cors.includes('*') || this.o.cors.includes(origin));
    if (allowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
    }
    if (req.method !== 'OPTIONS') return false;
    if (!allowed) throw new HttpError(403, `cross-origin requests from ${origin ?? '(no Origin)'} are not allowed (see --cors)`);
    res.writeHead(204, {
      'access-control-allow-methods': 'GET, HEAD, POST, OPTIONS',
      'access-control-allow-headers': req.headers['access-control-request-headers'] ?? 'authorization, content-type',
      'access-control-max-age': '600',
    });
    res.end();
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const refused = this.guard.check(req); // Host, Origin, content-type: see guard.ts
    if (refused) throw new HttpError(refused.status, refused.message, 'invalid_request_error', null, refused.code);
    if (this.cors(req, res)) return;
    const get = req.method === 'GET' || req.method === 'HEAD'; // HEAD: the same status and headers, no body (node:http)
    if (get && url.pathname === '/health') {
      return sendJson(res, this.shuttingDown ? 503 : 200, {
        status: this.shuttingDown ? 'shutting_down' : 'ok', ...this.scheduler.load, rssBytes: process.memoryUsage.rss(),
      });
    }
    if (!this.authorized(req)) throw new HttpError(401, 'invalid or missing API key (Authorization: Bearer …)', 'invalid_request_error', null, 'invalid_api_key');
    if (get && url.pathname === '/metrics') {
      const text = renderMetrics(this.metrics);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (get && url.pathname === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [this.modelObject()] });
    }
    if (get && url.pathname.startsWith('/v1/models/')) {
      const id = decodeURIComponent(url.pathname.slice('/v1/models/'.length));
      if (!this.modelNames.includes(id)) throw new HttpError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
      return sendJson(res, 200, this.modelObject());
    }
    const chat = url.pathname === '/v1/chat/completions';
    if (!chat && url.pathname !== '/v1/completions') throw new HttpError(404, `no route for ${req.method} ${url.pathname}`, 'invalid_request_error', null, 'not_found');
    if (req.method !== 'POST') throw new HttpError(405, `${url.pathname} takes POST`);
    if (this.shuttingDown) throw new HttpError(503, 'server is shutting down', 'server_error', null, null, { 'retry-after': '5' });
    const body = await readBody(req, this.o.maxBodyBytes);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object');
    const r = parseRequest(body as Body, chat, this.model.tokenizer, {
      modelNames: this.modelNames, maxPromptTokens: this.o.maxPromptTokens, maxTokensLimit: this.o.maxTokensLimit,
      contextLength: this.model.config.contextLength, defaultMaxTokens: DEFAULT_MAX_TOKENS,
    });
    return this.complete(res, r);
  }

  private modelObject() { return { id: this.o.modelName, object: 'model', created: 0, owned_by: 'bitnet-ts' }; }

  /** Runs the request's n choices on the scheduler; answers as one JSON body or as an SSE stream. */
  private async complete(res: ServerResponse, r: CompletionRequest): Promise<void> {
    const tok = this.model.tokenizer;
    const m = this.metrics;
    const id = `${r.chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
    const created = Math.floor(Date.now() / 1000);
    const model = this.o.modelName;
    const object = r.chat ? (r.stream ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion';
    const usageField = r.stream && r.includeUsage ? { usage: null } : {};
    const t0 = performance.now();
    // per choice: logprobs not yet sent, text length so far (completions' text_offset), first-chunk flag
    const choices = Array.from({ length: r.n }, () => ({
      pendingLps: [] as TokenLogprob[], allLps: [] as TokenLogprob[], textLen: 0, first: true, lastToken: 0,
      result: undefined as undefined | { finishReason: string; completionTokens: number; text: string },
    }));
    const lpsOf = (c: typeof choices[number], lps: TokenLogprob[], offset: number) => r.logprobs === undefined ? null
      : r.chat ? chatLogprobs(tok, lps) : completionLogprobs(tok, lps, offset);
    const chunk = (index: number, text: string | null, finish: string | null) => {
      const c = choices[index];
      const lps = lpsOf(c, c.pendingLps.splice(0), c.textLen);
      c.textLen += text?.length ?? 0;
      const choice = r.chat
        ? { index, delta: finish ? {} : { ...(c.first ? { role: 'assistant' } : {}), content: text }, logprobs: lps, finish_reason: finish }
        : { index, text: text ?? '', logprobs: lps, finish_reason: finish };
      c.first = false;
      return { id, object, created, model, choices: [choice], ...usageField };
    };
    let closed = false, failed = false;
    const cancels: Array<() => void> = [];
    res.on('close', () => {
      if (res.writableFinished) return;
      closed = true;
      m.errors.inc({ kind: 'client_disconnected' });
      for (const c of cancels) c();
    });
    const open = () => { if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' }); };
    const send = (data: unknown) => { open(); res.write(`data: ${JSON.stringify(data)}\n\n`); };
    let left = r.n;
    await new Promise<void>((resolve) => {
      const finishAll = () => {
        if (closed || failed) return resolve();
        const usage = { prompt_tokens: r.prompt.length, completion_tokens: choices.reduce((a, c) => a + c.result!.completionTokens, 0), total_tokens: 0 };
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
        m.promptTokens.inc({}, r.prompt.length);
        m.duration.observe((performance.now() - t0) / 1000);
        if (r.stream) {
          if (r.includeUsage) send({ id, object, created, model, choices: [], usage });
          open();
          res.end('data: [DONE]\n\n');
        } else {
          sendJson(res, 200, {
            id, object, created, model, usage,
            choices: choices.map((c, index) => {
              const lps = lpsOf(c, c.allLps, 0);
              return r.chat
                ? { index, message: { role: 'assistant', content: c.result!.text, refusal: null }, logprobs: lps, finish_reason: c.result!.finishReason }
                : { index, text: c.result!.text, logprobs: lps, finish_reason: c.result!.finishReason };
            }),
          });
        }
        resolve();
      };
      const job = (index: number): Job => {
        const c = choices[index];
        const seed = r.sampling.seed === undefined ? undefined : r.sampling.seed + index;
        return {
          prompt: r.prompt, maxTokens: r.maxTokens, sampling: { ...r.sampling, seed, logprobs: r.logprobs },
          onToken: () => {
            const now = performance.now();
            if (c.lastToken === 0) m.ttft.observe((now - t0) / 1000); else m.perToken.observe((now - c.lastToken) / 1000);
            c.lastToken = now;
          },
          onText: (text, lps) => {
            c.pendingLps.push(...lps); c.allLps.push(...lps);
            if (r.stream && !closed && !failed) send(chunk(index, text, null));
          },
          onDone: (d) => {
            const finishReason = d.finishReason === 'abort' ? 'stop' : d.finishReason;
            c.result = { finishReason, completionTokens: d.completionTokens, text: d.text };
            m.completionTokens.inc({}, d.completionTokens);
            if (r.stream && !closed && !failed) {
              if (r.chat && c.first) send(chunk(index, '', null)); // the role still has to be announced
              send(chunk(index, null, finishReason));
            }
            if (--left === 0) finishAll();
          },
          onError: (e) => {
            m.errors.inc({ kind: 'server_error' });
            if (!failed && !closed) {
              // mid-stream the status line is gone: report the error as a last SSE event, as OpenAI does
              if (res.headersSent) res.end(`data: ${JSON.stringify({ error: { message: e.message, type: 'server_error', param: null, code: null } })}\n\n`);
              else sendError(res, new HttpError(500, e.message, 'server_error'));
            }
            failed = true;
            for (const x of cancels) x();
            if (--left === 0) resolve();
          },
        };
      };
      try {
        for (let i = 0; i < r.n; i++) cancels.push(this.scheduler.submit(job(i)));
      } catch (e) {
        failed = true;
        for (const x of cancels) x();
        left -= r.n - cancels.length; // the submitted ones still report onDone (aborted)
        const err = e instanceof QueueFullError
          ? new HttpError(this.shuttingDown ? 503 : 429, e.message, 'rate_limit_error', null, null, { 'retry-after': '1' })
          : e instanceof KVBudgetError // this request alone needs more KV cache than the whole budget
            ? new HttpError(400, e.message, 'invalid_request_error', 'max_tokens', 'context_length_exceeded')
            : new HttpError(500, (e as Error).message, 'server_error');
        m.errors.inc({ kind: err.type });
        sendError(res, err);
        if (left === 0) resolve();
      }
    });
  }
}
