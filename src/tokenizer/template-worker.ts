/**
 * The chat-template renderer's worker thread (Node): renders with the in-process limits of template-limits.ts
 * and answers on its port. Started and, when a render overruns, terminated by template-limits.ts
 * (renderTemplate); it never runs on the thread that serves requests.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { renderTemplateHere, TemplateLimitError, type TemplateLimits } from './template-limits.js';

export interface RenderJob { source: string; items: Record<string, unknown>; limits: TemplateLimits }
export type RenderReply = { out: string } | { error: string; limit: boolean };
/** signal[0]: replies sent (bumped after each postMessage); signal[1]: 1 once the worker listens. */
export interface TemplateWorkerData { port: MessagePort; signal: Int32Array }

const { port, signal } = workerData as TemplateWorkerData;
port.on('message', (job: RenderJob) => {
  let reply: RenderReply;
  try {
    reply = { out: renderTemplateHere(job.source, job.items, job.limits) };
  } catch (e) {
    reply = { error: e instanceof Error ? e.message : String(e), limit: e instanceof TemplateLimitError || e instanceof RangeError };
  }
  port.postMessage(reply);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
Atomics.store(signal, 1, 1);
Atomics.notify(signal, 1);
