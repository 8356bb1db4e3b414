/**
 * Chat templates are code from the model file: they render with limits, so that a hostile template costs a
 * bounded, small amount of time and memory instead of freezing or killing the server (measured before:
 * `{% for i in range(3000000) %}` took 7.8 s per request, with /health blocked meanwhile).
 *
 * Two layers. In Node, renderTemplate hands the render to a worker thread (template-worker.ts) and waits for the
 * answer at most maxMs + WORKER_GRACE_MS; past that the worker is terminated (and replaced on the next render).
 * That bound holds whatever the template does, also when one step is slow (a filter over a long string).
 * Inside the worker (and on the calling thread where there are no worker threads: the browser, whose engine
 * already runs in a Web Worker), hooks on the interpreter count its steps (every statement and expression
 * @huggingface/jinja evaluates, and every item a `range()` yields), check the wall time every 128 steps, cap
 * the length of a `range()`, and refuse any value, the output included, longer than maxOutputChars the step it
 * is made; so memory stays bounded too (at most one over-long string at a time, dropped at once) and the common
 * cases get a precise message. (The worker has no heap limit of its own: Node 20 aborts the whole process, not
 * the worker, when one allocation overshoots a worker's resourceLimits.)
 */
import { Interpreter, Template } from '@huggingface/jinja';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { RenderJob, RenderReply, TemplateWorkerData } from './template-worker.js';

export interface TemplateLimits { maxSteps: number; maxMs: number; maxRange: number; maxOutputChars: number }

export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = { maxSteps: 2_000_000, maxMs: 250, maxRange: 100_000, maxOutputChars: 4 << 20 };

export class TemplateLimitError extends Error {}

interface Budget { steps: number; deadline: number; limits: TemplateLimits }
let budget: Budget | undefined;

// One hook on the interpreter's evaluate(): rendering is synchronous, so a module-level budget is the
// budget of the render in progress (and none outside renderTemplate, e.g. for other users of the library).
const proto = Interpreter.prototype as unknown as { evaluate: (...a: unknown[]) => unknown; run: (p: unknown) => unknown };
const evaluate = proto.evaluate, run = proto.run;
// the library's range() builds any length it is asked for: under a budget, the global is swapped for ours
proto.run = function limitedRun(this: Interpreter, program: unknown): unknown {
  if (budget !== undefined) { this.global.variables.delete('range'); this.global.set('range', limitedRange(budget.limits)); }
  return run.call(this, program);
};
proto.evaluate = function limitedEvaluate(this: unknown, ...a: unknown[]): unknown {
  const b = budget;
  if (b === undefined) return evaluate.apply(this, a);
  b.steps++;
  if (b.steps > b.limits.maxSteps) throw new TemplateLimitError(`more than ${b.limits.maxSteps} steps`);
  if ((b.steps & 127) === 0 && performance.now() > b.deadline) throw new TemplateLimitError(`more than ${b.limits.maxMs} ms`);
  const r = evaluate.apply(this, a) as { value?: unknown } | undefined;
  // no value may outgrow the output limit: a huge string (indent(5e8), s ~ s …) is dropped the step it appears
  const v = r?.value;
  if (typeof v === 'string' && v.length > b.limits.maxOutputChars) {
    throw new TemplateLimitError(`a string of ${v.length} characters (limit ${b.limits.maxOutputChars})`);
  }
  return r;
};

function limitedRange(limits: TemplateLimits) {
  return (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) { stop = start; start = 0; }
    if (![start, stop, step].every(Number.isInteger)) throw new Error('range() takes integers');
    if (step === 0) throw new Error('range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (n > limits.maxRange) throw new TemplateLimitError(`range() of ${n} items (limit ${limits.maxRange})`);
    // each item is a loop iteration to come, which may evaluate nothing (an empty body): charge it now
    if (budget !== undefined) {
      budget.steps += n;
      if (budget.steps > limits.maxSteps) throw new TemplateLimitError(`more than ${limits.maxSteps} steps`);
      if (performance.now() > budget.deadline) throw new TemplateLimitError(`more than ${limits.maxMs} ms`);
    }
    return Array.from({ length: n }, (_, i) => start + i * step);
  };
}

/** Renders `source` with `items` on this thread, with the hooks' limits; throws TemplateLimitError naming the one hit. */
export function renderTemplateHere(source: string, items: Record<string, unknown>, limits = DEFAULT_TEMPLATE_LIMITS): string {
  const template = new Template(source);
  budget = { steps: 0, deadline: performance.now() + limits.maxMs, limits };
  let out: string;
  try { out = template.render(items); } finally { budget = undefined; }
  if (out.length > limits.maxOutputChars) throw new TemplateLimitError(`output of ${out.length} characters (limit ${limits.maxOutputChars})`);
  return out;
}

// ---- the worker (Node) ------------------------------------------------------------------------------

/** How much longer than maxMs the caller waits for the worker's own (more precise) limit error. */
export const WORKER_GRACE_MS = 100;
/** The worker's start-up (a fresh thread importing the jinja library) is not charged to a render's budget. */
const WORKER_START_MS = 10_000;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const threads = isNode ? await import('node:worker_threads') : undefined;

interface RenderWorker { worker: Worker; port: MessagePort; signal: Int32Array }
let current: RenderWorker | undefined;

function startWorker(wt: typeof import('node:worker_threads')): RenderWorker {
  const { port1, port2 } = new wt.MessageChannel();
  const signal = new Int32Array(new SharedArrayBuffer(8));
  const data: TemplateWorkerData = { port: port2, signal };
  const worker = new wt.Worker(new URL('./template-worker.js', import.meta.url), {
    workerData: data, transferList: [port2], resourceLimits: { stackSizeMb: 4 },
  });
  worker.unref(); // never what keeps a process alive
  worker.on('error', () => { if (current?.worker === worker) current = undefined; }); // a new one next time
  return { worker, port: port1, signal };
}

function stopWorker(w: RenderWorker): void {
  if (current === w) current = undefined;
  void w.worker.terminate();
  w.port.close();
}

/**
 * Renders `source` with `items` under `limits`: in Node on the template worker, waiting (blocked) at most
 * maxMs + WORKER_GRACE_MS; elsewhere on this thread. Throws TemplateLimitError when a limit is hit.
 */
export function renderTemplate(source: string, items: Record<string, unknown>, limits = DEFAULT_TEMPLATE_LIMITS): string {
  if (!threads) return renderTemplateHere(source, items, limits);
  const w = (current ??= startWorker(threads));
  if (Atomics.load(w.signal, 1) === 0 && Atomics.wait(w.signal, 1, 0, WORKER_START_MS) === 'timed-out') {
    stopWorker(w);
    throw new Error(`the chat-template worker did not start within ${WORKER_START_MS} ms`);
  }
  const sent = Atomics.load(w.signal, 0);
  const job: RenderJob = { source, items, limits };
  w.port.postMessage(job);
  const deadline = performance.now() + limits.maxMs + WORKER_GRACE_MS;
  while (Atomics.load(w.signal, 0) === sent) {
    const left = deadline - performance.now();
    if (left <= 0 || Atomics.wait(w.signal, 0, sent, left) === 'timed-out') {
      stopWorker(w);
      throw new TemplateLimitError(`no result within ${limits.maxMs} ms`);
    }
  }
  const reply = threads.receiveMessageOnPort(w.port)?.message as RenderReply | undefined;
  if (!reply) { stopWorker(w); throw new Error('the chat-template worker answered nothing'); }
  if ('out' in reply) return reply.out;
  throw reply.limit ? new TemplateLimitError(reply.error) : new Error(reply.error);
}
