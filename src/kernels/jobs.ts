/**
 * The threaded kernels as a table: how many work items a job has, and how to run a range of them.
 * The main thread and every worker run the same table, reading parameters from one shared
 * control block; they take the job's items in chunks (runChunks), so a job's split lives here.
 */

/** Exports of build/kernels-*.wasm (addresses are byte offsets into the shared memory). */
export interface KernelExports {
  repackTernary(dst: number, src: number, rows: number, cols: number, groups: number, chunks: number): void;
  blockSums(xq: number, n: number, cols: number, blockLen: number, nBlocks: number, out: number): void;
  ternaryRows(w: number, scales: number, nBlocks: number, chunksPerBlock: number, chunks: number,
              xq: number, cols: number, xsum: number, invScales: number, n: number,
              out: number, rows: number, g0: number, g1: number): void;
  f32Rows(w: number, cols: number, x: number, n: number, out: number, rows: number, r0: number, r1: number): void;
  f16Rows(w: number, cols: number, x: number, n: number, out: number, rows: number, r0: number, r1: number, prescaled: number): void;
  scaleForHalf(x: number, len: number, dst: number): number;
  quantizeRows(x: number, n: number, dim: number, xq: number, invScales: number): void;
  rmsNorm(out: number, x: number, weight: number, n: number, dim: number, eps: number): void;
  rope(x: number, n: number, nHeads: number, headDim: number, positions: number, theta: number, neox: number): void;
  addInPlace(x: number, y: number, length: number): void;
  gatedSilu(gate: number, up: number, length: number): void;
  gatedRelu2(gate: number, up: number, length: number): void;
  attention(out: number, q: number, n: number, startPos: number, kCache: number, vCache: number,
            nHeads: number, nKvHeads: number, headDim: number, scores: number, h0: number, h1: number): void;
  streamRead(p: number, bytes: number): number;
}

// Control block (Int32Array over a SharedArrayBuffer): barrier words, job kind, parameters, results,
// then f64 parameters (a Float64Array over the same bytes from int FLOATS on).
export const GEN = 0;       // bumped by the main thread to wake the workers for a job
export const DONE = 1;      // chunks of the current job completed
export const KIND = 2;
export const NTHREADS = 3;
export const CLAIM = 4;     // (chunks << 16) | next unclaimed chunk: threads take chunks by CAS
export const EXIT = 5;      // set once: workers return
export const PARAMS = 8;    // PARAMS .. PARAMS+15: job parameters
export const RESULTS = 32;  // RESULTS + thread: per-thread result (stream checksum)
export const MAX_THREADS = 32;
export const FLOATS = 64;   // FLOATS/2 .. : f64 job parameters (eps, theta), as a Float64Array index base
export const CONTROL_INTS = 96;

export const enum Job {
  Ternary = 1, F32 = 2, F16 = 3, Attention = 4, Stream = 5,
  Quantize = 6, RmsNorm = 7, Rope = 8, Gated = 9, Add = 10,
}

/** Elementwise jobs split their range in units of this many floats (keeps SIMD lanes whole). */
export const ELEMENT_UNIT = 64;

interface JobSpec {
  /** Number of independent work items (row groups, rows, heads, 64-byte lines). */
  items(p: Int32Array): number;
  run(k: KernelExports, p: Int32Array, begin: number, end: number, thread: number, ctrl: Int32Array, f: Float64Array): void;
}

const u = (v: number) => v >>> 0; // addresses above 2 GiB come back negative from an Int32Array
const units = (length: number) => Math.ceil(length / ELEMENT_UNIT);

// p[i] is PARAMS + i; the orders below are the ones WasmBackend writes.
const jobs: Record<number, JobSpec> = {
  // w, scales, nBlocks, chunksPerBlock, chunks, xq, cols, xsum, invScales, n, out, rows, groups
  [Job.Ternary]: {
    items: (p) => p[12],
    run: (k, p, b, e) => k.ternaryRows(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], b, e),
  },
  // w, cols, x, n, out, rows
  [Job.F32]: {
    items: (p) => p[5],
    run: (k, p, b, e) => k.f32Rows(p[0], p[1], p[2], p[3], p[4], p[5], b, e),
  },
  // w, cols, x, n, out, rows, prescaled; split in row pairs (the kernel's unit)
  [Job.F16]: {
    items: (p) => Math.ceil(p[5] / 2),
    run: (k, p, b, e) => k.f16Rows(p[0], p[1], p[2], p[3], p[4], p[5], 2 * b, Math.min(2 * e, p[5]), p[6]),
  },
  // out, q, n, startPos, k, v, nHeads, nKvHeads, headDim, scores, scoresStrideBytes
  [Job.Attention]: {
    items: (p) => p[6],
    run: (k, p, b, e, thread) =>
      k.attention(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], (p[9] >>> 0) + thread * p[10], b, e),
  },
  // base, lines (64 bytes each)
  [Job.Stream]: {
    items: (p) => p[1],
    run: (k, p, b, e, thread, ctrl) => { ctrl[RESULTS + thread] = k.streamRead((p[0] >>> 0) + b * 64, (e - b) * 64); },
  },
  // x, n, dim, xq, invScales: split over tokens
  [Job.Quantize]: {
    items: (p) => p[1],
    run: (k, p, b, e) => k.quantizeRows(u(p[0]) + b * p[2] * 4, e - b, p[2], u(p[3]) + b * p[2], u(p[4]) + b * 4),
  },
  // out, x, weight, n, dim; f[0] = eps
  [Job.RmsNorm]: {
    items: (p) => p[3],
    run: (k, p, b, e, _t, _c, f) => k.rmsNorm(u(p[0]) + b * p[4] * 4, u(p[1]) + b * p[4] * 4, p[2], e - b, p[4], f[0]),
  },
  // x, n, nHeads, headDim, positions, neox; f[0] = theta
  [Job.Rope]: {
    items: (p) => p[1],
    run: (k, p, b, e, _t, _c, f) => k.rope(u(p[0]) + b * p[2] * p[3] * 4, e - b, p[2], p[3], u(p[4]) + b * 4, f[0], p[5]),
  },
  // gate, up, length, relu2 (0 = SiLU)
  [Job.Gated]: {
    items: (p) => units(p[2]),
    run: (k, p, b, e) => {
      const lo = b * ELEMENT_UNIT, hi = Math.min(e * ELEMENT_UNIT, p[2]);
      (p[3] ? k.gatedRelu2 : k.gatedSilu)(u(p[0]) + lo * 4, u(p[1]) + lo * 4, hi - lo);
    },
  },
  // x, y, length
  [Job.Add]: {
    items: (p) => units(p[2]),
    run: (k, p, b, e) => {
      const lo = b * ELEMENT_UNIT, hi = Math.min(e * ELEMENT_UNIT, p[2]);
      k.addInPlace(u(p[0]) + lo * 4, u(p[1]) + lo * 4, hi - lo);
    },
  },
};

/** Chunks per thread: enough that a thread the OS deschedules leaves little work stranded. */
const CHUNKS_PER_THREAD = 4;

export function chunksFor(items: number, threads: number): number {
  return Math.max(1, Math.min(items, threads * CHUNKS_PER_THREAD, 0xffff));
}

/**
 * Work on the current job until no chunk is left: claim the next chunk by compare-and-swap on CLAIM,
 * run its items, count it in DONE (the last one wakes the main thread). Dynamic rather than a fixed
 * split, so a thread that starts late (busy machine) leaves its share to the others.
 * Parameters are read after a successful claim: the job cannot change while a chunk of it is open.
 */
export function runChunks(k: KernelExports, ctrl: Int32Array, params: Int32Array, f64: Float64Array, thread: number): void {
  for (;;) {
    const w = Atomics.load(ctrl, CLAIM);
    const chunks = w >>> 16, next = w & 0xffff;
    if (next >= chunks) return;
    if (Atomics.compareExchange(ctrl, CLAIM, w, w + 1) !== w) continue;
    const spec = jobs[ctrl[KIND]];
    const items = spec.items(params);
    const per = Math.ceil(items / chunks);
    const begin = next * per, end = Math.min(items, begin + per);
    if (end > begin) spec.run(k, params, begin, end, thread, ctrl, f64);
    if (Atomics.add(ctrl, DONE, 1) + 1 === chunks) Atomics.notify(ctrl, DONE);
  }
}

export function jobItems(ctrl: Int32Array, params: Int32Array): number {
  return jobs[ctrl[KIND]].items(params);
}

/** Single-threaded: the whole job at once. */
export function runAll(k: KernelExports, ctrl: Int32Array, params: Int32Array, f64: Float64Array): void {
  const spec = jobs[ctrl[KIND]];
  const items = spec.items(params);
  if (items > 0) spec.run(k, params, 0, items, 0, ctrl, f64);
}
