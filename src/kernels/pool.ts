/**
 * Worker pool over one shared WebAssembly.Memory. Start-up is async (spawn + instantiate); every
 * job after that is synchronous: the main thread writes parameters into the shared control block,
 * opens the job's chunks, bumps the generation word (waking the workers), takes chunks itself and
 * waits on the DONE counter (spin, then Atomics.wait). Chunks are claimed dynamically (jobs.ts),
 * so on a busy machine a descheduled worker delays nothing: the others take its share.
 */
import {
  chunksFor, CLAIM, CONTROL_INTS, DONE, EXIT, FLOATS, GEN, Job, jobItems, KIND, MAX_THREADS, NTHREADS, PARAMS, RESULTS,
  runAll, runChunks, type KernelExports,
} from './jobs.js';
import type { WorkerInit } from './worker.js';

interface WorkerHandle { terminate(): void }

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Spawn one kernel worker and resolve once it has instantiated the module. */
async function spawnWorker(init: WorkerInit): Promise<WorkerHandle> {
  const url = new URL('./worker.js', import.meta.url);
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    // No inherited Node flags: a kernel worker needs none (V8 flags such as relaxed SIMD are process-wide), and
    // inheriting them breaks: --input-type (an -e entry point) is refused for a file, and Node 24's test runner
    // starts its processes with per-process options (--secure-heap-min, ...) that a Worker refuses.
    const w = new Worker(url, { workerData: init, execArgv: [] });
    w.unref(); // a forgotten dispose() must not keep the process alive
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`kernel worker exited with code ${code} during start-up`)));
    });
    w.removeAllListeners();
    return { terminate: () => void w.terminate() };
  }
  const w = new Worker(url, { type: 'module' });
  await new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(new Error(`kernel worker failed: ${e.message}`));
    w.postMessage(init);
  });
  w.onmessage = null;
  return { terminate: () => w.terminate() };
}

/** Can this thread block in Atomics.wait? (Not a browser's main thread.) */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

export class ThreadPool {
  readonly ctrl: Int32Array;
  /** Job parameters: write them, then call run(kind). */
  readonly params: Int32Array;
  /** f64 job parameters (eps, theta). */
  readonly f64: Float64Array;
  private workers: WorkerHandle[] = [];
  private readonly block = canBlock();
  private disposed = false;

  private constructor(readonly k: KernelExports, readonly threads: number, private readonly spin: number) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
    this.params = this.ctrl.subarray(PARAMS, RESULTS);
    this.f64 = new Float64Array(this.ctrl.buffer, FLOATS * 4, (CONTROL_INTS - FLOATS) / 2);
    this.ctrl[NTHREADS] = threads;
  }

  static async create(k: KernelExports, module: WebAssembly.Module, memory: WebAssembly.Memory,
                      threads: number, spin = 20000): Promise<ThreadPool> {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new Error(`threads must be an integer in 1..${MAX_THREADS}, got ${threads}`);
    }
    const pool = new ThreadPool(k, threads, spin);
    const control = pool.ctrl.buffer as SharedArrayBuffer;
    try {
      for (let t = 1; t < threads; t++) {
        pool.workers.push(await spawnWorker({ module, memory, control, thread: t, spin }));
      }
    } catch (err) {
      pool.dispose();
      throw err;
    }
    return pool;
  }

  /** Run `kind` with the parameters already in `params`, on all threads; returns when all are done. */
  run(kind: Job): void {
    if (this.disposed) throw new Error('kernel backend used after dispose()');
    const ctrl = this.ctrl;
    ctrl[KIND] = kind;
    if (this.threads === 1) { runAll(this.k, ctrl, this.params, this.f64); return; }
    const chunks = chunksFor(jobItems(ctrl, this.params), this.threads);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, CLAIM, chunks << 16); // opens the job: parameters are in place
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    runChunks(this.k, ctrl, this.params, this.f64, 0);
    let spins = 0;
    for (let done = Atomics.load(ctrl, DONE); done < chunks; done = Atomics.load(ctrl, DONE)) {
      if (this.block && ++spins > this.spin) { Atomics.wait(ctrl, DONE, done); spins = 0; }
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.workers.length) {
      Atomics.store(this.ctrl, EXIT, 1);
      Atomics.add(this.ctrl, GEN, 1);
      Atomics.notify(this.ctrl, GEN);
      for (const w of this.workers) w.terminate();
      this.workers = [];
    }
  }
}
