/**
 * OpenAI-compatible HTTP server over node:http: GET /v1/models, POST /v1/completions,
 * POST /v1/chat/completions (SSE streaming or not), GET /health. Requests are decoded together by the
 * continuous-batching Scheduler; errors use OpenAI's {"error": {message, type, param, code}} shape.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Model } from '../model/transformer.js';
import { Scheduler, QueueFullError, type Job } from './scheduler.js';
import { renderChat, type ChatMessage } from '../tokenizer/chat.js';

export interface ServeOptions {
  host?: string; port?: number; apiKey?: string; parallel?: number; maxQueue?: number;
  maxPromptTokens?: number; maxTokensLimit?: number; modelName?: string; maxBodyBytes?: number;
}

/** max_tokens when a request gives none (clipped to what the context leaves). */
const DEFAULT_MAX_TOKENS = 256;

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly type = 'invalid_request_error', readonly param: string | null = null,
              readonly code: string | null = null, readonly headers: Record<string, string> = {}) { super(message); }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

function sendError(res: ServerResponse, e: HttpError): void {
  if (res.headersSent) { res.end(); return; }
  sendJson(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } }, e.headers);
}

async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body exceeds ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  try { return JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { throw new HttpError(400, 'request body is not valid JSON'); }
}

type Body = Record<string, unknown>;
function optNumber(b: Body, key: string, min: number, max: number, int = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
    throw new HttpError(400, `'${key}' must be ${int ? 'an integer' : 'a number'} between ${min} and ${max}`, 'invalid_request_error', key);
  }
  return v;
}

function isTokenList(v: unknown, vocab: number): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && t >= 0 && t < vocab);
}

export class BitnetServer {
  readonly scheduler: Scheduler;
  private server: Server | undefined;
  private shuttingDown = false;
  private readonly o: Required<Omit<ServeOptions, 'apiKey'>> & { apiKey?: string };

  constructor(readonly model: Model, opts: ServeOptions = {}) {
    this.o = {
      host: '127.0.0.1', port: 8080, parallel: 8, maxQueue: 64, maxPromptTokens: Math.min(model.config.contextLength, 2048) - 1,
      maxTokensLimit: 1024, modelName: 'bitnet', maxBodyBytes: 1 << 20, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    } as typeof this.o;
    this.scheduler = new Scheduler(model, this.o.parallel, this.o.maxQueue);
  }

  async listen(): Promise<{ host: string; port: number }> {
    this.server = createServer((req, res) => { this.handle(req, res).catch((e) => sendError(res, e instanceof HttpError ? e : new HttpError(500, (e as Error).message, 'server_error'))); });
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/health') {
      return sendJson(res, this.shuttingDown ? 503 : 200, { status: this.shuttingDown ? 'shutting_down' : 'ok', ...this.scheduler.load });
    }
    if (!this.authorized(req)) throw new HttpError(401, 'invalid or missing API key (Authorization: Bearer …)', 'invalid_request_error', null, 'invalid_api_key');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: this.o.modelName, object: 'model', created: 0, owned_by: 'bitnet-ts' }] });
    }
    const chat = url.pathname === '/v1/chat/completions';
    if (!chat && url.pathname !== '/v1/completions') throw new HttpError(404, `no route for ${req.method} ${url.pathname}`, 'invalid_request_error', null, 'not_found');
    if (req.method !== 'POST') throw new HttpError(405, `${url.pathname} takes POST`);
    if (this.shuttingDown) throw new HttpError(503, 'server is shutting down', 'server_error', null, null, { 'retry-after': '5' });
    const body = await readBody(req, this.o.maxBodyBytes);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object');
    return this.complete(req, res, body as Body, chat);
  }

  private parse(b: Body, chat: boolean): { prompt: number[]; job: Omit<Job, 'onText' | 'onDone' | 'onError'>; stream: boolean } {
    const tok = this.model.tokenizer;
    if (b.n !== undefined && b.n !== null && b.n !== 1) throw new HttpError(400, "only n=1 is supported (one choice per request): send separate requests for more", 'invalid_request_error', 'n');
    const askedMax = optNumber(b, 'max_tokens', 0, this.o.maxTokensLimit, true) ?? optNumber(b, 'max_completion_tokens', 0, this.o.maxTokensLimit, true);
    const temperature = optNumber(b, 'temperature', 0, 2) ?? 1;
    const topP = optNumber(b, 'top_p', 0.0001, 1) ?? 1;
    const seed = optNumber(b, 'seed', -(2 ** 53), 2 ** 53, true);
    let stop: string[] = [];
    if (b.stop !== undefined && b.stop !== null) {
      stop = typeof b.stop === 'string' ? [b.stop] : Array.isArray(b.stop) && b.stop.every((s) => typeof s === 'string') ? (b.stop as string[]) : [];
      if (!stop.length && !(Array.isArray(b.stop) && b.stop.length === 0)) throw new HttpError(400, "'stop' must be a string or an array of strings", 'invalid_request_error', 'stop');
      if (stop.length > 4) throw new HttpError(400, "'stop' takes at most 4 sequences", 'invalid_request_error', 'stop');
    }
    let text: string | number[], addBos: boolean | undefined;
    if (chat) {
      const msgs = b.messages;
      if (!Array.isArray(msgs) || msgs.length === 0) throw new HttpError(400, "'messages' must be a non-empty array", 'invalid_request_error', 'messages');
      const messages: ChatMessage[] = msgs.map((m, i) => {
        const mm = m as Body;
        if (!mm || !['system', 'user', 'assistant'].includes(mm.role as string) || typeof mm.content !== 'string') {
          throw new HttpError(400, `messages[${i}] must be {role: system|user|assistant, content: string}`, 'invalid_request_error', `messages[${i}]`);
        }
        return { role: mm.role as ChatMessage['role'], content: mm.content as string };
      });
      const r = renderChat(tok, messages);
      text = r.prompt; stop = [...stop, ...r.extraStops];
      addBos = r.addBos;
    } else {
      const p = Array.isArray(b.prompt) && b.prompt.length === 1 && typeof b.prompt[0] === 'string' ? b.prompt[0] : b.prompt;
      if (typeof p !== 'string' && !isTokenList(p, tok.vocabSize)) throw new HttpError(400, "'prompt' must be a string or an array of token ids (batches of prompts: send separate requests)", 'invalid_request_error', 'prompt');
      text = p;
    }
    const prompt = typeof text === 'string' ? tok.encode(text, { addBos }) : text;
    if (prompt.length === 0) throw new HttpError(400, 'the prompt is empty', 'invalid_request_error', chat ? 'messages' : 'prompt');
    if (prompt.length > this.o.maxPromptTokens) throw new HttpError(400, `the prompt has ${prompt.length} tokens; the limit is ${this.o.maxPromptTokens}`, 'invalid_request_error', chat ? 'messages' : 'prompt', 'context_length_exceeded');
    const context = this.model.config.contextLength;
    const maxTokens = askedMax ?? Math.max(0, Math.min(DEFAULT_MAX_TOKENS, context - prompt.length));
    if (prompt.length + maxTokens > context) throw new HttpError(400, `prompt (${prompt.length} tokens) + max_tokens (${maxTokens}) exceed the model's context length ${context}`, 'invalid_request_error', 'max_tokens', 'context_length_exceeded');
    if (b.stream !== undefined && typeof b.stream !== 'boolean') throw new HttpError(400, "'stream' must be a boolean", 'invalid_request_error', 'stream');
    return { prompt, stream: b.stream === true, job: { prompt, maxTokens, sampling: { temperature, topP, topK: 0, minP: 0, repeatPenalty: 1, seed, stop } } };
  }

  private async complete(req: IncomingMessage, res: ServerResponse, b: Body, chat: boolean): Promise<void> {
    const { job, stream } = this.parse(b, chat);
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
    const created = Math.floor(Date.now() / 1000);
    const model = this.o.modelName;
    const object = chat ? (stream ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion';
    const chunk = (text: string | null, finish: string | null, first = false) => chat
      ? { id, object, created, model, choices: [{ index: 0, delta: finish ? {} : { ...(first ? { role: 'assistant' } : {}), content: text }, logprobs: null, finish_reason: finish }] }
      : { id, object, created, model, choices: [{ index: 0, text: text ?? '', logprobs: null, finish_reason: finish }] };
    let closed = false;
    let cancel = () => {};
    res.on('close', () => { if (!res.writableFinished) { closed = true; cancel(); } });
    await new Promise<void>((resolve) => {
      let first = true;
      const full: Job = {
        ...job,
        onText: (text) => {
          if (!stream || closed) return;
          if (first) { res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' }); }
          res.write(`data: ${JSON.stringify(chunk(text, null, first))}\n\n`);
          first = false;
        },
        onDone: (r) => {
          if (!closed) {
            const finish = r.finishReason === 'abort' ? 'stop' : r.finishReason;
            const usage = { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens };
            if (stream) {
              if (first) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
              if (first && chat) res.write(`data: ${JSON.stringify(chunk('', null, true))}\n\n`);
              res.write(`data: ${JSON.stringify({ ...chunk(null, finish), usage })}\n\n`);
              res.end('data: [DONE]\n\n');
            } else {
              const choice = chat
                ? { index: 0, message: { role: 'assistant', content: r.text }, logprobs: null, finish_reason: finish }
                : { index: 0, text: r.text, logprobs: null, finish_reason: finish };
              sendJson(res, 200, { id, object, created, model, choices: [choice], usage });
            }
          }
          resolve();
        },
        onError: (e) => {
          // mid-stream the status line is gone: report the error as a last SSE event, as OpenAI does
          if (res.headersSent && !closed) res.end(`data: ${JSON.stringify({ error: { message: e.message, type: 'server_error', param: null, code: null } })}\n\n`);
          else sendError(res, new HttpError(500, e.message, 'server_error'));
          resolve();
        },
      };
      try {
        cancel = this.scheduler.submit(full);
      } catch (e) {
        if (e instanceof QueueFullError) sendError(res, new HttpError(this.shuttingDown ? 503 : 429, e.message, 'rate_limit_error', null, null, { 'retry-after': '1' }));
        else sendError(res, new HttpError(500, (e as Error).message, 'server_error'));
        resolve();
      }
    });
    void req;
  }
}
