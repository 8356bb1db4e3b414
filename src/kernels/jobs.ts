/**
 * The threaded kernels as a table: how many work items a job has, and how to run a range of them.
 * The main thread and every worker run the same table, reading parameters from one shared
 * control block; they take the job's items in chunks (runChunks), so a job's split lives here.
 */

import { trainJobs, type TrainKernelExports } from './train-jobs.js';

/** Exports of build/kernels-*.wasm (addresses are byte offsets into the shared memory). */
export interface KernelExports extends TrainKernelExports {
  repackTernary(dst: number, src: number, rows: number, cols: number, groups: number, chunks: number): void;
  repackTernaryFile(dst: number, src: number, rows: number, cols: number, chunks: number, layout: number, g0: number, g1: number): number;
  tq2Scales(dst: number, src: number, rows: number, blocksPerRow: number, groups: number, perRow: number): void;
  tq2ScalesUniform(src: number, rows: number, blocksPerRow: number): number;
  gatherHalfRows(w: number, cols: number, ids: number, n: number, out: number, bf16: number): void;
  blockSums(xq: number, n: number, cols: number, blockLen: number, nBlocks: number, out: number): void;
  ternaryRows(w: number, scales: number, nBlocks: number, chunksPerBlock: number, chunks: number,
              xq: number, cols: number, xsum: number, invScales: number, n: number,
              out: number, rows: number, g0: number, g1: number, codes: number, dotForm: DotForm): void;
  dotFormProbe(x: number, codes: number, bytes: number, reps: number, form: DotForm): number;
  f32Rows(w: number, cols: number, x: number, n: number, out: number, rows: number, r0: number, r1: number): void;
  halfRows(w: number, cols: number, x: number, n: number, out: number, rows: number, r0: number, r1: number, mode: number): void;
  scaleForHalf(x: number, len: number, dst: number): number;
  q8FromRows(codes: number, scales: number, src: number, srcRow0: number, srcRowBytes: number, type: number,
             rows: number, cols: number, g0: number, g1: number, qmax: number): void;
  q8QuantizeActs(x: number, n: number, cols: number, xq: number, dx: number, xbias: number): void;
  q8Rows(codes: number, scales: number, cols: number, xq: number, dx: number, xbias: number, n: number, out: number,
         rows: number, g0: number, g1: number, form: number): void;
  quantizeRows(x: number, n: number, dim: number, xq: number, invScales: number): void;
  rmsNorm(out: number, x: number, weight: number, n: number, dim: number, eps: number): void;
  ropeTable(positions: number, n: number, headDim: number, theta: number, table: number): void;
  rope(x: number, n: number, nHeads: number, headDim: number, table: number, neox: number): void;
  addInPlace(x: number, y: number, length: number): void;
  gatedSilu(gate: number, up: number, length: number): void;
  gatedRelu2(gate: number, up: number, length: number): void;
  attention(out: number, q: number, n: number, startPos: number, kCache: number, vCache: number,
            nHeads: number, nKvHeads: number, headDim: number, scores: number, h0: number, h1: number): void;
  streamRead(p: number, bytes: number): number;
  kvStoreRows(k: number, v: number, n: number, kvDim: number, dst: number, vOffset: number, f16: number): void;
  pagedAttention(out: number, q: number, rowBlocks: number, positions: number, tiles: number, kvPer: number,
                 layerOffset: number, vOffset: number, blockShift: number, f16: number, nHeads: number, nKvHeads: number,
                 headDim: number, scratch: number, i0: number, i1: number): void;
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
export const RESULTS = 32;  // RESULTS + thread: per-thread result (stream checksum, repack's invalid-code flag)
export const MAX_THREADS = 32;
export const FLOATS = 64;   // FLOATS/2 .. : f64 job parameters (eps, theta), as a Float64Array index base
export const CONTROL_INTS = 96;

export const enum Job {
  Ternary = 1, F32 = 2, Half = 3, Attention = 4, Stream = 5,
  Quantize = 6, RmsNorm = 7, Rope = 8, Gated = 9, Add = 10, PagedAttention = 11, Repack = 12, Q8 = 13, Q8From = 14, KvStore = 15,
  TernaryGated = 16,
}

/** Elementwise jobs split their range in units of this many floats (keeps SIMD lanes whole). */
export const ELEMENT_UNIT = 64;

// Each job's parameter slots, by name: WasmBackend writes `params[TernaryArg.Out] = …` and the table
// below reads the same names, so the order lives only here. Slots index ThreadPool.params (PARAMS..).
// Int slots hold i32 (addresses above 2 GiB read back negative: see u()); f64 slots index ThreadPool.f64.
export const enum TernaryArg {
  W, Scales, NBlocks, ChunksPerBlock, Chunks, Xq, Cols, XSum, InvScales, N, Out, Rows, Groups, Codes, CodesStrideBytes,
  DotForm,
}
/**
 * Job.TernaryGated: the TernaryArg slots describe the gate matrix (Out = gate), these the up matrix of the same
 * shape and layout (its codes, scales and output) and the activation (Relu2: 0 = SiLU, 1 = squared ReLU).
 */
export const enum TernaryGatedArg { WUp = 16, ScalesUp, OutUp, Relu2 }
/**
 * How an integer kernel sums int8 × u7 products (the `DotForm` slot of a job, e.g. TernaryArg.DotForm):
 * - Pair: `i16x8.relaxed_dot_i8x16_i7x16_s` into i16 accumulators + `i16x8.add`, flushed to i32 before an i16 lane
 *   can overflow (2 instructions per 16 multiply-adds on x86);
 * - Add: `i32x4.relaxed_dot_i8x16_i7x16_add_s` straight into i32 accumulators (1 instruction, AVX-VNNI vpdpbusd,
 *   where the engine lowers it so: V8 12+, Node 22+; Node 20's V8 11.3 emits 3).
 * Both give the same integer sums (the u7 operand is in 0..127), so the same outputs bit for bit. The backend picks
 * one per process at load (wasm.ts dotFormFor: a timed probe, `BITNET_DOT=add|pair`, or the `dotForm` option);
 * the SIMD128 build computes both forms with plain SIMD (Pair is its form).
 */
export const enum DotForm { Pair = 0, Add = 1 }
export const enum FloatArg { W, Cols, X, N, Out, Rows, Mode } // F32 and Half jobs; Mode: see HalfMode
/** halfRows' formats: IEEE half (x as is, or prescaled by 2^112: see scaleForHalf) or bfloat16. */
export const enum HalfMode { F16 = 0, F16Prescaled = 1, BF16 = 2 }
export const enum RepackArg { Dst, Src, Rows, Cols, Chunks, Layout, Groups } // Layout: 0 = TQ2_0, 1 = I2_S
export const enum AttentionArg {
  Out, Q, N, StartPos, KCache, VCache, NHeads, NKvHeads, HeadDim, Scores, ScoresStrideBytes,
}
export const enum PagedAttentionArg {
  Out, Q, RowBlocks, Positions, Tiles, NTiles, KvPer, LayerOffset, VOffset, BlockShift, F16, NHeads, NKvHeads, HeadDim, Scratch,
  ScratchStrideBytes,
}
/**
 * The quantized heads (head.ts): Q8 multiplies, Q8From quantizes staged rows (groups G0..G1, source type Type, codes
 * -QMax..QMax: 127 int8, 63 int7). XBias: the int7 head's -64 * Σ xq per (token, block), 0 for int8.
 */
export const enum Q8Arg { Codes, Scales, Cols, Xq, Dx, XBias, N, Out, Rows, Groups, Form }
/**
 * q8Rows' inner loop (Q8Arg.Form). Int7Dot: relaxed dot + extadd + add (3 ops per 16 multiply-adds); Int7DotAdd: one
 * i32x4.relaxed_dot_i8x16_i7x16_add_s, the same integer sums, chosen where the backend's DotForm is Add (VNNI). The
 * SIMD128 build runs one int7 loop for both.
 */
export const enum HeadForm { Int8 = 0, Int7Dot = 1, Int7DotAdd = 2 }
export const enum Q8FromArg { Codes, Scales, Src, SrcRow0, SrcRowBytes, Type, Rows, Cols, G0, G1, QMax }
export const enum StreamArg { Base, Lines }
export const enum KvStoreArg { K, V, N, KvDim, Dst, VOffset, F16 } // Dst: each row's K cell address
export const enum QuantizeArg { X, N, Dim, Xq, InvScales }
export const enum RmsNormArg { Out, X, Weight, N, Dim }
export const enum RopeArg { X, N, NHeads, HeadDim, Table, Neox } // Table: ropeTable's (cos, sin) per row and pair
export const enum GatedArg { Gate, Up, Length, Relu2 } // Relu2: 0 = SiLU, 1 = squared ReLU
export const enum AddArg { X, Y, Length }
export const enum F64Arg { Eps = 0 } // RmsNorm: eps

export interface JobSpec {
  /** Number of independent work items (row groups, rows, heads, 64-byte lines). */
  items(p: Int32Array): number;
  run(k: KernelExports, p: Int32Array, begin: number, end: number, thread: number, ctrl: Int32Array, f: Float64Array): void;
}

const u = (v: number) => v >>> 0; // addresses above 2 GiB come back negative from an Int32Array
const units = (length: number) => Math.ceil(length / ELEMENT_UNIT);

/** Row groups [b, e) of the ternary matmul in the TernaryArg slots, with codes w, scales and output out. */
function ternaryGroups(k: KernelExports, p: Int32Array, b: number, e: number, thread: number, w: number, scales: number,
                       out: number): void {
  k.ternaryRows(
    u(w), u(scales), p[TernaryArg.NBlocks], p[TernaryArg.ChunksPerBlock],
    p[TernaryArg.Chunks], u(p[TernaryArg.Xq]), p[TernaryArg.Cols], u(p[TernaryArg.XSum]), u(p[TernaryArg.InvScales]),
    p[TernaryArg.N], u(out), p[TernaryArg.Rows], b, e,
    u(p[TernaryArg.Codes]) + thread * p[TernaryArg.CodesStrideBytes], p[TernaryArg.DotForm]);
}

const jobs: Record<number, JobSpec> = {
  // split over row groups; each thread unpacks codes into its own scratch (n >= 2)
  [Job.Ternary]: {
    items: (p) => p[TernaryArg.Groups],
    run: (k, p, b, e, thread) =>
      ternaryGroups(k, p, b, e, thread, p[TernaryArg.W], p[TernaryArg.Scales], p[TernaryArg.Out]),
  },
  // gate and up over the same row groups, then the activation on those rows while they are in this thread's cache
  [Job.TernaryGated]: {
    items: (p) => p[TernaryArg.Groups],
    run: (k, p, b, e, thread) => {
      const gate = p[TernaryArg.Out], up = p[TernaryGatedArg.OutUp];
      ternaryGroups(k, p, b, e, thread, p[TernaryArg.W], p[TernaryArg.Scales], gate);
      ternaryGroups(k, p, b, e, thread, p[TernaryGatedArg.WUp], p[TernaryGatedArg.ScalesUp], up);
      const rows = p[TernaryArg.Rows], r0 = 4 * b, len = Math.min(4 * e, rows) - r0;
      const act = p[TernaryGatedArg.Relu2] ? k.gatedRelu2 : k.gatedSilu;
      for (let t = 0; t < p[TernaryArg.N]; t++) act(u(gate) + (t * rows + r0) * 4, u(up) + (t * rows + r0) * 4, len);
    },
  },
  [Job.F32]: {
    items: (p) => p[FloatArg.Rows],
    run: (k, p, b, e) => k.f32Rows(
      u(p[FloatArg.W]), p[FloatArg.Cols], u(p[FloatArg.X]), p[FloatArg.N], u(p[FloatArg.Out]), p[FloatArg.Rows], b, e),
  },
  // split in row quads (the kernel's unit)
  [Job.Half]: {
    items: (p) => Math.ceil(p[FloatArg.Rows] / 4),
    run: (k, p, b, e) => k.halfRows(
      u(p[FloatArg.W]), p[FloatArg.Cols], u(p[FloatArg.X]), p[FloatArg.N], u(p[FloatArg.Out]), p[FloatArg.Rows],
      4 * b, Math.min(4 * e, p[FloatArg.Rows]), p[FloatArg.Mode]),
  },
  // quantized heads, split over row groups
  [Job.Q8]: {
    items: (p) => p[Q8Arg.Groups],
    run: (k, p, b, e) => k.q8Rows(u(p[Q8Arg.Codes]), u(p[Q8Arg.Scales]), p[Q8Arg.Cols], u(p[Q8Arg.Xq]), u(p[Q8Arg.Dx]),
      u(p[Q8Arg.XBias]), p[Q8Arg.N], u(p[Q8Arg.Out]), p[Q8Arg.Rows], b, e, p[Q8Arg.Form]),
  },
  [Job.Q8From]: {
    items: (p) => p[Q8FromArg.G1] - p[Q8FromArg.G0],
    run: (k, p, b, e) => k.q8FromRows(u(p[Q8FromArg.Codes]), u(p[Q8FromArg.Scales]), u(p[Q8FromArg.Src]), p[Q8FromArg.SrcRow0],
      p[Q8FromArg.SrcRowBytes], p[Q8FromArg.Type], p[Q8FromArg.Rows], p[Q8FromArg.Cols], p[Q8FromArg.G0] + b, p[Q8FromArg.G0] + e,
      p[Q8FromArg.QMax]),
  },
  // ternary file layout -> kernel layout, split over row groups; RESULTS + thread |= 1 where a code 3 was met
  [Job.Repack]: {
    items: (p) => p[RepackArg.Groups],
    run: (k, p, b, e, thread, ctrl) => {
      ctrl[RESULTS + thread] |= k.repackTernaryFile(u(p[RepackArg.Dst]), u(p[RepackArg.Src]), p[RepackArg.Rows],
        p[RepackArg.Cols], p[RepackArg.Chunks], p[RepackArg.Layout], b, e);
    },
  },
  // split over heads; each thread has its own scores scratch
  [Job.Attention]: {
    items: (p) => p[AttentionArg.NHeads],
    run: (k, p, b, e, thread) => k.attention(
      u(p[AttentionArg.Out]), u(p[AttentionArg.Q]), p[AttentionArg.N], p[AttentionArg.StartPos],
      u(p[AttentionArg.KCache]), u(p[AttentionArg.VCache]), p[AttentionArg.NHeads], p[AttentionArg.NKvHeads],
      p[AttentionArg.HeadDim], u(p[AttentionArg.Scores]) + thread * p[AttentionArg.ScoresStrideBytes], b, e),
  },
  // split over (row tile, range of KvPer kv heads) pairs; each thread has its own scratch
  [Job.PagedAttention]: {
    items: (p) => p[PagedAttentionArg.NTiles] * (p[PagedAttentionArg.NKvHeads] / p[PagedAttentionArg.KvPer]),
    run: (k, p, b, e, thread) => k.pagedAttention(
      u(p[PagedAttentionArg.Out]), u(p[PagedAttentionArg.Q]), u(p[PagedAttentionArg.RowBlocks]), u(p[PagedAttentionArg.Positions]),
      u(p[PagedAttentionArg.Tiles]), p[PagedAttentionArg.KvPer], p[PagedAttentionArg.LayerOffset], p[PagedAttentionArg.VOffset], p[PagedAttentionArg.BlockShift], p[PagedAttentionArg.F16],
      p[PagedAttentionArg.NHeads], p[PagedAttentionArg.NKvHeads], p[PagedAttentionArg.HeadDim],
      u(p[PagedAttentionArg.Scratch]) + thread * p[PagedAttentionArg.ScratchStrideBytes], b, e),
  },
  // split over 64-byte lines
  [Job.Stream]: {
    items: (p) => p[StreamArg.Lines],
    run: (k, p, b, e, thread, ctrl) => {
      ctrl[RESULTS + thread] = k.streamRead(u(p[StreamArg.Base]) + b * 64, (e - b) * 64);
    },
  },
  // split over tokens
  [Job.Quantize]: {
    items: (p) => p[QuantizeArg.N],
    run: (k, p, b, e) => {
      const dim = p[QuantizeArg.Dim];
      k.quantizeRows(u(p[QuantizeArg.X]) + b * dim * 4, e - b, dim, u(p[QuantizeArg.Xq]) + b * dim,
                     u(p[QuantizeArg.InvScales]) + b * 4);
    },
  },
  [Job.KvStore]: {
    items: (p) => p[KvStoreArg.N],
    run: (k, p, b, e) => {
      const off = b * p[KvStoreArg.KvDim] * 4;
      k.kvStoreRows(u(p[KvStoreArg.K]) + off, u(p[KvStoreArg.V]) + off, e - b, p[KvStoreArg.KvDim],
                    u(p[KvStoreArg.Dst]) + b * 4, p[KvStoreArg.VOffset], p[KvStoreArg.F16]);
    },
  },
  [Job.RmsNorm]: {
    items: (p) => p[RmsNormArg.N],
    run: (k, p, b, e, _t, _c, f) => {
      const dim = p[RmsNormArg.Dim];
      k.rmsNorm(u(p[RmsNormArg.Out]) + b * dim * 4, u(p[RmsNormArg.X]) + b * dim * 4, u(p[RmsNormArg.Weight]),
                e - b, dim, f[F64Arg.Eps]);
    },
  },
  [Job.Rope]: {
    items: (p) => p[RopeArg.N],
    run: (k, p, b, e) => {
      const nHeads = p[RopeArg.NHeads], headDim = p[RopeArg.HeadDim];
      k.rope(u(p[RopeArg.X]) + b * nHeads * headDim * 4, e - b, nHeads, headDim, u(p[RopeArg.Table]) + b * headDim * 4,
             p[RopeArg.Neox]);
    },
  },
  [Job.Gated]: {
    items: (p) => units(p[GatedArg.Length]),
    run: (k, p, b, e) => {
      const lo = b * ELEMENT_UNIT, hi = Math.min(e * ELEMENT_UNIT, p[GatedArg.Length]);
      (p[GatedArg.Relu2] ? k.gatedRelu2 : k.gatedSilu)(u(p[GatedArg.Gate]) + lo * 4, u(p[GatedArg.Up]) + lo * 4, hi - lo);
    },
  },
  [Job.Add]: {
    items: (p) => units(p[AddArg.Length]),
    run: (k, p, b, e) => {
      const lo = b * ELEMENT_UNIT, hi = Math.min(e * ELEMENT_UNIT, p[AddArg.Length]);
      k.addInPlace(u(p[AddArg.X]) + lo * 4, u(p[AddArg.Y]) + lo * 4, hi - lo);
    },
  },
  ...trainJobs, // the trainer's kernels (train-jobs.ts)
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
