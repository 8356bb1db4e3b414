/**
 * The engine in a Web Worker: loads a GGUF (fetched from the page's server or picked by the user) into
 * the WASM backend and streams generated text back to the page. Kernel threads are further workers
 * sharing one WebAssembly.Memory, so the page must be cross-origin isolated (COOP/COEP headers).
 */
import { loadModelFromBytes, type Model } from '../src/model/index.js';
import { renderChat } from '../src/tokenizer/chat.js';
import type { FromPage, ToPage } from './protocol.js';

// generate() yields to the event loop with setImmediate (Node); a message channel is the browser's equivalent.
if (typeof (globalThis as { setImmediate?: unknown }).setImmediate !== 'function') {
  const ch = new MessageChannel(), queue: Array<() => void> = [];
  ch.port1.onmessage = () => queue.shift()?.();
  (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate = (f) => { queue.push(f); ch.port2.postMessage(0); };
}

const post = (m: ToPage) => (self as unknown as Worker).postMessage(m);
let model: Model | undefined;
let abort: AbortController | undefined;

/** Downloads with progress (the bundled model is tens of MB or more). */
async function download(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}${res.status === 404 ? ' (no bundled model: pick a .gguf file)' : ''}`);
  const total = Number(res.headers.get('content-length')) || 0;
  if (!res.body || !total) return new Uint8Array(await res.arrayBuffer());
  const out = new Uint8Array(total);
  let done = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    out.set(value, done);
    done += value.length;
    post({ type: 'progress', stage: 'download', done, total });
  }
  return out;
}

async function load(m: Extract<FromPage, { type: 'load' }>): Promise<void> {
  const t0 = performance.now();
  const bytes = m.bytes ? new Uint8Array(m.bytes) : await download(m.url ?? 'model.gguf');
  model?.dispose();
  model = undefined;
  model = await loadModelFromBytes(bytes, { backend: 'wasm', threads: m.threads, onProgress: (done, total) => post({ type: 'progress', stage: 'weights', done, total }) });
  const c = model.config, i = model.info;
  post({
    type: 'loaded', seconds: (performance.now() - t0) / 1000,
    info: { name: m.name, arch: i.arch, parameters: i.parameters, backend: i.backend, threads: i.threads, layers: c.nLayers, dim: c.dim, vocab: c.vocabSize, context: c.contextLength, chatTemplate: !!model.tokenizer.chatTemplate },
  });
}

async function run(m: Extract<FromPage, { type: 'generate' }>): Promise<void> {
  if (!model) throw new Error('no model loaded');
  abort = new AbortController();
  const tok = model.tokenizer;
  let prompt = m.prompt, stop: string[] = [], addBos: boolean | undefined, literal: Array<[number, number]> | undefined;
  if (m.chat) {
    const r = renderChat(tok, [{ role: 'user', content: m.prompt }]);
    prompt = r.prompt; stop = r.extraStops; addBos = r.addBos; literal = r.literal;
  }
  // the typed text is data: special tokens only from the chat template's own text
  const ids = tok.encode(prompt, { addBos, parseSpecial: m.chat, literalRanges: literal });
  const maxTokens = Math.max(0, Math.min(m.maxTokens, model.config.contextLength - ids.length));
  const t0 = performance.now();
  let first = 0, n = 0;
  const it = model.generate(ids, { maxTokens, temperature: m.temperature, seed: m.seed, stop, signal: abort.signal });
  for (let r = await it.next(); ; r = await it.next()) {
    const now = performance.now();
    if (r.done) {
      const decodeS = n > 1 ? (now - first) / 1000 : NaN;
      post({ type: 'done', finishReason: r.value.finishReason, promptTokens: r.value.promptTokens, completionTokens: r.value.completionTokens,
        promptMs: first ? first - t0 : now - t0, tokensPerSecond: n > 1 ? (n - 1) / decodeS : 0 });
      return;
    }
    if (n++ === 0) first = now;
    post({ type: 'token', text: r.value.text, tokens: n, tokensPerSecond: n > 1 ? (n - 1) / ((now - first) / 1000) : 0 });
  }
}

self.onmessage = (e: MessageEvent<FromPage>) => {
  const m = e.data;
  if (m.type === 'stop') { abort?.abort(); return; }
  const job = m.type === 'load' ? load(m) : run(m);
  job.catch((err: Error) => post({ type: 'error', message: err.message }));
};
