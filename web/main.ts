/** The page: picks a model (the server's bundled one or a local .gguf), sends prompts to the engine worker, shows tokens as they come. */
import type { FromPage, ToPage } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLDivElement>('status'), output = $<HTMLDivElement>('output'), stats = $<HTMLSpanElement>('stats');
const promptBox = $<HTMLTextAreaElement>('prompt'), go = $<HTMLButtonElement>('generate'), stop = $<HTMLButtonElement>('stop');
const file = $<HTMLInputElement>('file'), bundled = $<HTMLButtonElement>('bundled');
const maxTokens = $<HTMLInputElement>('max-tokens'), temperature = $<HTMLInputElement>('temperature'), chat = $<HTMLInputElement>('chat');

const worker = new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module' });
const send = (m: FromPage, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
const threads = Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));
let busy = false, loaded = false;

function setBusy(b: boolean, ready = loaded): void {
  busy = b;
  go.disabled = b || !ready;
  stop.disabled = !b || !ready;
  bundled.disabled = file.disabled = b;
}

const mb = (n: number) => (n / 1e6).toFixed(1);

worker.onmessage = (e: MessageEvent<ToPage>) => {
  const m = e.data;
  switch (m.type) {
    case 'progress':
      status.textContent = m.stage === 'download' ? `downloading ${mb(m.done)} / ${mb(m.total)} MB` : `preparing weights ${m.done}/${m.total}`;
      break;
    case 'loaded': {
      const i = m.info;
      status.textContent = `${i.name}: ${i.arch}, ${(i.parameters / 1e6).toFixed(1)}M parameters, ${i.layers} layers, context ${i.context}; ${i.backend} × ${i.threads} threads; loaded in ${m.seconds.toFixed(1)} s`;
      document.body.dataset.state = 'ready';
      loaded = true;
      setBusy(false);
      break;
    }
    case 'token':
      output.textContent += m.text;
      stats.textContent = `${m.tokens} tokens, ${m.tokensPerSecond.toFixed(1)} tok/s`;
      break;
    case 'done':
      stats.textContent = `${m.completionTokens} tokens (${m.finishReason}), prompt ${m.promptTokens} tokens in ${m.promptMs.toFixed(0)} ms, ${m.tokensPerSecond.toFixed(1)} tok/s`;
      document.body.dataset.state = 'done';
      setBusy(false);
      break;
    case 'error':
      status.textContent = `error: ${m.message}`;
      document.body.dataset.state = 'error';
      setBusy(false, loaded);
      break;
  }
};

function load(m: Extract<FromPage, { type: 'load' }>, transfer: Transferable[] = []): void {
  document.body.dataset.state = 'loading';
  status.textContent = `loading ${m.name}…`;
  loaded = false;
  setBusy(true, false);
  send(m, transfer);
}

bundled.onclick = () => load({ type: 'load', url: new URL('model.gguf', location.href).href, name: 'bundled model', threads });
file.onchange = async () => {
  const f = file.files?.[0];
  if (!f) return;
  const bytes = await f.arrayBuffer();
  load({ type: 'load', bytes, name: f.name, threads }, [bytes]);
};

go.onclick = () => {
  if (busy) return;
  output.textContent = '';
  stats.textContent = '';
  document.body.dataset.state = 'generating';
  setBusy(true);
  send({ type: 'generate', prompt: promptBox.value, chat: chat.checked, maxTokens: Number(maxTokens.value) || 128, temperature: Number(temperature.value) });
};
stop.onclick = () => send({ type: 'stop' });
promptBox.onkeydown = (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) go.click(); };

if (!crossOriginIsolated) status.textContent = 'this page is not cross-origin isolated (COOP/COEP headers missing): the WASM engine needs SharedArrayBuffer — serve it with `bitnet web`';
else if (new URLSearchParams(location.search).get('autoload') !== '0') bundled.click();
