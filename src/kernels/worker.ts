/**
 * Kernel worker (Node worker_threads or a browser module Web Worker): instantiates the shared
 * kernel module over the shared memory, says "ready", then loops: wait for the generation word to
 * change (spin briefly, then Atomics.wait), run its slice of the job, count itself done.
 * It never returns to its event loop until the Exit job, so it needs no messages after start.
 */
import { DONE, FLOATS, GEN, Job, KIND, NTHREADS, PARAMS, runJob } from './jobs.js';
import { instantiate } from './wasm-module.js';

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  thread: number;
  spin: number;
}

function serve(init: WorkerInit, ready: () => void): void {
  const k = instantiate(init.module, init.memory);
  const ctrl = new Int32Array(init.control);
  const params = ctrl.subarray(PARAMS);
  const f64 = new Float64Array(init.control, FLOATS * 4);
  let seen = Atomics.load(ctrl, GEN);
  ready();
  for (;;) {
    let gen = Atomics.load(ctrl, GEN);
    for (let spins = 0; gen === seen; gen = Atomics.load(ctrl, GEN)) {
      if (++spins > init.spin) { Atomics.wait(ctrl, GEN, seen); spins = 0; }
    }
    seen = gen;
    if (ctrl[KIND] === Job.Exit) return;
    runJob(k, ctrl, params, f64, init.thread);
    if (Atomics.add(ctrl, DONE, 1) + 1 === ctrl[NTHREADS] - 1) Atomics.notify(ctrl, DONE);
  }
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
if (isNode) {
  const { parentPort, workerData } = await import('node:worker_threads');
  if (parentPort && workerData) serve(workerData as WorkerInit, () => parentPort.postMessage('ready'));
} else {
  const scope = globalThis as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };
  scope.onmessage = (e: MessageEvent) => {
    scope.onmessage = null;
    serve(e.data as WorkerInit, () => scope.postMessage('ready'));
  };
}
