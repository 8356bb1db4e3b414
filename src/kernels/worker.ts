/**
 * Kernel worker (Node worker_threads or a browser module Web Worker): instantiates the shared
 * kernel module over the shared memory, says "ready", then loops: wait for the generation word to
 * change (spin briefly, then Atomics.wait), then take chunks of the job until none is left.
 * It never returns to its event loop until the Exit job, so it needs no messages after start.
 */
import { EXIT, FLOATS, GEN, PARAMS, runChunks } from './jobs.js';
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
    if (Atomics.load(ctrl, EXIT)) return;
    runChunks(k, ctrl, params, f64, init.thread); // nothing left if the others already finished
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
