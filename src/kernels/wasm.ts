/**
 * WASM SIMD backend: AssemblyScript kernels (src/kernels/assembly/kernels.ts) over one shared
 * WebAssembly.Memory, matmuls and attention split across worker threads (pool.ts).
 *
 * Memory: a bump allocator from 64 KiB up (below: the module's static data); memory.grow as needed.
 * Shared memory never detaches on grow, so views handed out by allocF32/allocI8 stay valid.
 * Arrays the caller passes that are not views into our memory are copied into reusable scratch
 * regions (correct, but allocate hot buffers with allocF32/allocI8 to avoid the copies).
 *
 * Ternary weights are repacked once (prepareTernary) into 4-row groups × 64-column chunks of 2-bit
 * codes; per-row scale when a row's block scales are all equal (per-tensor models), per-block scales
 * (blockSize a multiple of 64, e.g. TQ2_0's 256) otherwise. Other block sizes fall back to the
 * reference kernel on the canonical matrix.
 */
import {
  HEAD_CODE_MAX, type Activation, type AttentionShape, type Backend, type PagedKV, type PagedRows, type PreparedFloat,
  type PreparedTernary, type QuantizedHead,
} from './backend.js';
import type { FloatMatrix, GGMLTensor, TernaryMatrix } from '../quant/matrix.js';
import { attentionRef, kvWriteRef, pagedAttentionRef, ternaryMatMulRef } from './reference.js';
import {
  AddArg, AttentionArg, DotForm, ELEMENT_UNIT, KvStoreArg, PagedAttentionArg, F64Arg, FloatArg, GatedArg, HalfMode,
  HeadForm, Job, Q8Arg, Q8FromArg,
  QuantizeArg, RepackArg, RESULTS, RmsNormArg, RopeArg, StreamArg, TernaryArg, TernaryGatedArg, type KernelExports,
} from './jobs.js';
import { GGMLType } from '../quant/ggml.js';
import { findInvalidTernaryCode, invalidTernaryCode } from '../quant/ternary.js';
import { ThreadPool } from './pool.js';
import {
  compileVariant, DOT_FORM_NAMES, dotFormFor, instantiate, PROBE_BYTES, supportedVariants, type DotFormChoice, type DotFormName,
  type WasmVariant,
} from './wasm-module.js';

const PAGE = 65536;
const OS_PAGE = 4096;              // per-thread scratch: each part on pages of its own, THREAD_GAP apart (threadScratch)
const THREAD_GAP = 16384;
const HEAP_BASE = PAGE;          // the module's static data (math tables) lives below 64 KiB
const ALIGN = 64;                // cache line; also the slack kernels may read past a row's end
const MAX_PAGES = 65536;         // 4 GiB: the wasm32 limit
const SPLIT_MIN_ELEMENTS = 16384; // below this a small kernel costs less than waking the workers
const ATTENTION_TILE = 16;       // query rows of one sequence that share each converted K/V row (pagedAttention)
const ATTENTION_ITEMS_PER_THREAD = 4; // pagedAttention: work items per thread it keeps (splitting a tile's KV heads)
const ATTENTION_ITEM_ROWS = 20;   // pagedAttention: most score rows (tile rows × query heads) of one work item
const ATTENTION_POSITIONS = 4;    // pagedAttention: K/V positions per step, widened together (kernels.ts ATTN_POS)

/** A thread's part of a per-thread scratch: `bytes` rounded up to whole 4 KiB pages, then the gap (see threadScratch). */
function threadStride(bytes: number): number { return Math.ceil(bytes / OS_PAGE) * OS_PAGE + THREAD_GAP; }

interface WasmTernary extends PreparedTernary {
  ptr: number; scalesPtr: number;
  groups: number; chunks: number;
  nBlocks: number; chunksPerBlock: number; blockLen: number;
  fallback?: TernaryMatrix;      // block size the kernel does not handle: reference path
}
interface WasmFloat extends PreparedFloat {
  ptr: number; dtype: 'f32' | 'f16' | 'bf16' | 'q8' | 'q7';
  /** q8, q7 (the int8 and int7 heads, head.ts): codes at ptr, half block scales at scalesPtr, groups of Q8_ROWS rows. */
  scalesPtr?: number; groups?: number;
  /** prepareRowsOnDemand: rows are read from this tensor when looked up (nothing held at ptr). */
  rowsFrom?: GGMLTensor;
}

/** Bytes of source rows staged per step while a quantized head is built. */
const Q8_STAGE_BYTES = 8 * 2 ** 20;
/** Rows per quantized head group (head.ts Q8_ROWS). */
export const Q8_ROWS = 8;

export interface WasmBackendOptions {
  threads?: number;
  /** Force an ISA variant (tests, benchmarks); default: the best the engine validates. */
  variant?: WasmVariant;
  /** Spin iterations before a thread sleeps in Atomics.wait. */
  spin?: number;
  /** Initial memory in bytes (grows on demand). */
  initialBytes?: number;
  /**
   * Force the integer kernels' dot form (tests, benchmarks; jobs.ts DotForm; the ternary matmuls and the int7 head);
   * default: BITNET_DOT, else probed.
   */
  dotForm?: DotFormName;
}

// Scratch slots: one reusable region each, grown (never shrunk) on demand.
const enum Slot { X, Y, Z, Out, Inv, XSum, Pos, Scores, Repack, Pages, Cells, Ids, Codes, Q8x, Q8d, Q8b, Rows, Rope, Count }

export class WasmBackend implements Backend {
  readonly name: string;
  readonly threads: number;
  private top = HEAP_BASE;
  private readonly ours = new WeakSet<ArrayBufferLike>();
  private u8!: Uint8Array;
  private i32!: Int32Array;
  private readonly pagedChecked = new WeakMap<PagedKV, number>(); // arenas already checked to be ours
  private readonly slots: Array<{ ptr: number; bytes: number }> = [];
  private warnedCache = false;
  private readonly ropeKey = { n: -1, headDim: 0, theta: 0, positions: new Int32Array(64) }; // see ropeAngles
  private readonly freeBlocks = new Map<number, number[]>(); // rounded size -> freed addresses

  /** The integer kernels' dot form and how it was chosen (wasm-module.ts dotFormFor). */
  private dot: DotFormChoice = { form: DotForm.Pair, source: 'probe', speedup: 0 };

  private constructor(readonly variant: WasmVariant, private readonly memory: WebAssembly.Memory,
                      private readonly k: KernelExports, private readonly pool: ThreadPool) {
    this.name = `wasm-${variant}`;
    this.threads = pool.threads;
    this.refreshViews();
    for (let i = 0; i < Slot.Count; i++) this.slots.push({ ptr: 0, bytes: 0 });
  }

  static async create(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
    const supported = await supportedVariants();
    const variant = opts.variant ?? supported[0];
    if (!variant || !supported.includes(variant)) {
      throw new Error(`WebAssembly ${opts.variant ?? 'SIMD'} is not supported by this JavaScript engine`);
    }
    const threads = opts.threads ?? (await defaultThreads());
    const module = await compileVariant(variant);
    const initial = Math.max(2, Math.ceil((opts.initialBytes ?? 16 * 2 ** 20) / PAGE));
    const memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared: true });
    const k = instantiate(module, memory);
    const pool = await ThreadPool.create(k, module, memory, threads, opts.spin);
    const backend = new WasmBackend(variant, memory, k, pool);
    try {
      const probe = backend.alloc(PROBE_BYTES);
      backend.dot = dotFormFor(variant, k, memory, probe, opts.dotForm);
      backend.releaseBlock(probe, PROBE_BYTES);
    } catch (err) {
      backend.dispose();
      throw err;
    }
    return backend;
  }

  /** The dot form the integer kernels use: 'add' (relaxed dot-add, VNNI where lowered so) or 'pair'. */
  get dotForm(): DotFormName { return DOT_FORM_NAMES[this.dot.form]; }
  /** How dotForm was chosen ('option', 'env' or 'probe') and the probe's pair/add time ratio (0: not probed). */
  get dotFormChoice(): Readonly<DotFormChoice> { return this.dot; }

  // ---- memory -------------------------------------------------------------------------------

  private refreshViews(): void {
    const buf = this.memory.buffer;
    this.ours.add(buf);
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
  }

  /**
   * Allocate `bytes` (64-byte aligned, 64 bytes of slack after): a freed block of the same rounded
   * size if there is one, else bump-allocated, growing memory if needed.
   */
  alloc(bytes: number): number {
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    const reuse = this.freeBlocks.get(size)?.pop();
    if (reuse !== undefined) return reuse;
    const ptr = this.top;
    const end = ptr + size + ALIGN;
    if (end > this.memory.buffer.byteLength) {
      const pages = Math.ceil((end - this.memory.buffer.byteLength) / PAGE);
      if (this.memory.buffer.byteLength / PAGE + pages > MAX_PAGES) {
        throw new Error(`wasm backend out of memory: ${end} bytes needed, 4 GiB is the wasm32 limit`);
      }
      this.memory.grow(pages);
      this.refreshViews();
    }
    this.top = end - ALIGN;
    return ptr;
  }

  /** Bytes allocated so far (weights, buffers, scratch). */
  get allocatedBytes(): number { return this.top - HEAP_BASE; }

  private owns(a: ArrayBufferView): boolean {
    if (this.ours.has(a.buffer)) return true;
    if (a.buffer === this.memory.buffer) { this.refreshViews(); return true; }
    return false;
  }

  private scratch(slot: Slot, bytes: number): number {
    const s = this.slots[slot];
    if (bytes > s.bytes) {
      if (s.bytes) this.releaseBlock(s.ptr, s.bytes);
      s.bytes = Math.max(bytes, 2 * s.bytes);
      s.ptr = this.alloc(s.bytes);
    }
    return s.ptr;
  }

  /**
   * Per-thread scratch in `slot`: thread t's part starts at the result + t * stride, stride = threadStride(bytes):
   * each part on 4 KiB pages of its own, THREAD_GAP bytes after the previous one ends. Packed parts (64-byte
   * aligned, back to back) made the 2-thread n = 4 ternary GEMM, which rewrites its part for every row group, run
   * slower by an amount that depended on where the slot landed (2B4T gate projection, a microbench over 12
   * 6912×2560 matrices, Node 24: 67-72 GMAC/s packed, 77-81 page-aligned, 82-92 with the gap; single-threaded the
   * placement changes nothing, so it is the two cores: a core's prefetchers pull lines the other core is writing,
   * each steal a coherence round trip). The cost is < 20 KiB per thread per slot.
   */
  private threadScratch(slot: Slot, stride: number): number {
    return Math.ceil(this.scratch(slot, stride * this.threads + OS_PAGE) / OS_PAGE) * OS_PAGE;
  }

  private f32View(ptr: number, length: number): Float32Array { return new Float32Array(this.u8.buffer, ptr, length); }

  /** Address of `a` in our memory, copying it into scratch `slot` first if it lives elsewhere. */
  private input(a: Float32Array | Int8Array | Int32Array, length: number, slot: Slot): number {
    if (this.owns(a)) return a.byteOffset;
    const bytes = length * a.BYTES_PER_ELEMENT;
    const ptr = this.scratch(slot, bytes);
    this.u8.set(new Uint8Array(a.buffer, a.byteOffset, bytes), ptr);
    return ptr;
  }

  /** Address to write `a`'s contents to (copied in too when `copyIn`, for in-place kernels). */
  private output(a: Float32Array, length: number, slot: Slot, copyIn: boolean): number {
    if (this.owns(a)) return a.byteOffset;
    return copyIn ? this.input(a, length, slot) : this.scratch(slot, length * 4);
  }

  private finish(a: Float32Array, ptr: number, length: number): void {
    if (a.byteOffset !== ptr || !this.owns(a)) a.set(this.f32View(ptr, length));
  }

  /** Return a buffer from allocF32/allocI8 for reuse by a later allocation of the same size. */
  free(buffer: Float32Array | Int8Array): void {
    if (!this.owns(buffer)) throw new Error('free(): buffer was not allocated by this backend');
    this.releaseBlock(buffer.byteOffset, buffer.byteLength);
  }

  private releaseBlock(ptr: number, bytes: number): void {
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    let list = this.freeBlocks.get(size);
    if (!list) this.freeBlocks.set(size, (list = []));
    list.push(ptr);
  }

  allocF32(length: number): Float32Array {
    const ptr = this.alloc(length * 4);
    return new Float32Array(this.u8.buffer, ptr, length);
  }

  allocI8(length: number): Int8Array {
    const ptr = this.alloc(length);
    return new Int8Array(this.u8.buffer, ptr, length);
  }

  // ---- weights ------------------------------------------------------------------------------

  prepareTernary(m: TernaryMatrix): PreparedTernary {
    const { rows, cols, blockSize, scales } = m;
    if (cols % 4 !== 0 || rows < 1) throw new Error(`ternary matrix ${rows}x${cols}: cols must be a positive multiple of 4`);
    if (blockSize < 1 || cols % blockSize !== 0) throw new Error(`ternary matrix: blockSize ${blockSize} does not divide cols ${cols}`);
    const srcBlocks = cols / blockSize;
    if (m.codes.length < (rows * cols) / 4 || scales.length < rows * srcBlocks) {
      throw new Error(`ternary matrix ${rows}x${cols}: codes or scales too short`);
    }
    const bytes = m.codes.byteLength + m.scales.byteLength;
    let uniform = true;
    for (let r = 0; r < rows && uniform; r++) {
      for (let b = 1; b < srcBlocks; b++) if (scales[r * srcBlocks + b] !== scales[r * srcBlocks]) { uniform = false; break; }
    }
    const groups = Math.ceil(rows / 4), chunks = Math.ceil(cols / 64);
    if (!uniform && blockSize % 64 !== 0) {
      const p: WasmTernary = { rows, cols, bytes, ptr: 0, scalesPtr: 0, groups, chunks, nBlocks: 0, chunksPerBlock: 0, blockLen: 0, fallback: m };
      return p;
    }
    const nBlocks = uniform ? 1 : srcBlocks;
    const ptr = this.alloc(groups * chunks * 64);
    const src = this.scratch(Slot.Repack, (rows * cols) / 4);
    this.u8.set(m.codes.subarray(0, (rows * cols) / 4), src);
    this.k.repackTernary(ptr, src, rows, cols, groups, chunks);
    const scalesPtr = this.alloc(groups * 4 * nBlocks * 4);
    const sv = this.f32View(scalesPtr, groups * 4 * nBlocks);
    sv.fill(0);
    for (let r = 0; r < rows; r++) { // kernel layout: [group][block][row within group]
      for (let b = 0; b < nBlocks; b++) sv[((r >> 2) * nBlocks + b) * 4 + (r & 3)] = scales[r * srcBlocks + b];
    }
    const p: WasmTernary = {
      rows, cols, bytes: groups * chunks * 64 + sv.byteLength, ptr, scalesPtr, groups, chunks, nBlocks,
      chunksPerBlock: uniform ? chunks : blockSize / 64, blockLen: uniform ? cols : blockSize,
    };
    return p;
  }

  prepareFloat(m: FloatMatrix): PreparedFloat {
    const n = m.rows * m.cols;
    if (m.data.length < n) throw new Error(`float matrix ${m.rows}x${m.cols}: data too short`);
    const bytes = n * m.data.BYTES_PER_ELEMENT;
    const ptr = this.alloc(bytes);
    this.u8.set(new Uint8Array(m.data.buffer, m.data.byteOffset, bytes), ptr);
    const p: WasmFloat = { rows: m.rows, cols: m.cols, bytes, ptr, dtype: m.dtype };
    return p;
  }

  /**
   * From the file bytes: F32/F16/BF16 are read straight into their final place (the one copy that both
   * gatherRows and floatMatMul use); TQ2_0 and I2_S into a staging region, then repacked by a WASM kernel
   * on the worker threads, which also flags the invalid code 3 (refused as ternaryFromGGML refuses it). Other types (TQ1_0, Q8_0) and shapes the repack kernel does not take: undefined.
   */
  prepareGGML(t: GGMLTensor): { kind: 'ternary'; w: PreparedTernary } | { kind: 'float'; w: PreparedFloat } | undefined {
    const { type, rows, cols, nbytes } = t;
    const dtype = type === GGMLType.F32 ? 'f32' : type === GGMLType.F16 ? 'f16' : type === GGMLType.BF16 ? 'bf16' : undefined;
    if (dtype) {
      if (nbytes !== rows * cols * (dtype === 'f32' ? 4 : 2)) throw new Error(`${dtype} tensor ${rows}x${cols}: ${nbytes} bytes`);
      const ptr = this.alloc(nbytes);
      t.read(this.u8.subarray(ptr, ptr + nbytes));
      const p: WasmFloat = { rows, cols, bytes: nbytes, ptr, dtype };
      return { kind: 'float', w: p };
    }
    const layout = type === GGMLType.TQ2_0 ? 0 : type === GGMLType.I2_S ? 1 : -1;
    if (layout < 0 || rows < 1 || cols % (layout === 0 ? 256 : 64) !== 0) return undefined;
    const groups = Math.ceil(rows / 4), chunks = cols / 64;
    const src = this.scratch(Slot.Repack, nbytes);
    t.read(this.u8.subarray(src, src + nbytes));
    const ptr = this.alloc(groups * chunks * 64);
    const a = this.pool.params;
    a[RepackArg.Dst] = ptr; a[RepackArg.Src] = src; a[RepackArg.Rows] = rows; a[RepackArg.Cols] = cols;
    a[RepackArg.Chunks] = chunks; a[RepackArg.Layout] = layout; a[RepackArg.Groups] = groups;
    const flags = this.pool.ctrl.subarray(RESULTS, RESULTS + this.threads);
    flags.fill(0);
    this.pool.run(Job.Repack);
    if (flags.some((v) => v !== 0)) { // a code 3 somewhere: find it for the message (error path only)
      const bad = findInvalidTernaryCode(type, this.u8.subarray(src, src + nbytes), rows, cols);
      throw invalidTernaryCode(type, bad, cols, t.name);
    }
    const blocksPerRow = cols / 256;
    const uniform = layout === 1 || this.k.tq2ScalesUniform(src, rows, blocksPerRow) === 1;
    const nBlocks = uniform ? 1 : blocksPerRow;
    const scalesPtr = this.alloc(groups * 4 * nBlocks * 4);
    if (layout === 0) this.k.tq2Scales(scalesPtr, src, rows, blocksPerRow, groups, uniform ? 1 : 0);
    else { // I2_S: one f32 scale after the codes
      const s = new DataView(this.u8.buffer, src + (rows * cols) / 4, 4).getFloat32(0, true);
      this.f32View(scalesPtr, groups * 4).fill(0).fill(s, 0, rows);
    }
    const p: WasmTernary = {
      rows, cols, bytes: groups * chunks * 64 + groups * 16 * nBlocks, ptr, scalesPtr, groups, chunks, nBlocks,
      chunksPerBlock: uniform ? chunks : 4, blockLen: uniform ? cols : 256,
    };
    return { kind: 'ternary', w: p };
  }

  /**
   * A quantized head (int8, int7): source rows staged Q8_STAGE_BYTES at a time (file bytes through readRange, or a
   * FloatMatrix's data) and quantized by q8FromRows on the worker threads into codes + scales; no full-size staging copy.
   */
  prepareQ8(m: FloatMatrix | GGMLTensor, codes: QuantizedHead = 'int8'): PreparedFloat | undefined {
    const { rows, cols } = m;
    let type: number, rowBytes: number, readRows: (r0: number, count: number, dst: Uint8Array) => void;
    let slice = (r: number) => Math.max(Q8_ROWS, Math.floor(Q8_STAGE_BYTES / (Q8_ROWS * r)) * Q8_ROWS);
    if ('data' in m) {
      type = m.dtype === 'f32' ? 0 : 1; rowBytes = cols * m.data.BYTES_PER_ELEMENT;
      if (m.data.length < rows * cols) throw new Error(`float matrix ${rows}x${cols}: data too short`);
      const bytes = new Uint8Array(m.data.buffer, m.data.byteOffset, rows * rowBytes);
      readRows = (r0, count, dst) => dst.set(bytes.subarray(r0 * rowBytes, (r0 + count) * rowBytes));
    } else {
      const t = m;
      type = t.type === GGMLType.F32 ? 0 : t.type === GGMLType.F16 ? 1 : t.type === GGMLType.BF16 ? 2 : -1;
      if (type < 0) return undefined;
      rowBytes = cols * (type === 0 ? 4 : 2);
      if (t.nbytes !== rows * rowBytes) throw new Error(`float tensor ${rows}x${cols}: ${t.nbytes} bytes`);
      if (t.readRange) readRows = (r0, _count, dst) => t.readRange!(r0 * rowBytes, dst);
      else { readRows = (_r0, _count, dst) => t.read(dst); slice = () => rows; } // whole tensor in one step
    }
    return this.q8From(rows, cols, type, rowBytes, slice(rowBytes), readRows, codes);
  }

  private q8From(rows: number, cols: number, type: number, rowBytes: number, sliceRows: number,
                 readRows: (r0: number, count: number, dst: Uint8Array) => void, codes: QuantizedHead): PreparedFloat {
    if (!(codes in HEAD_CODE_MAX)) throw new Error(`quantized head must be int8 or int7, got '${codes}'`);
    if (rows < 1 || cols < 32 || cols % 32 !== 0) {
      throw new Error(`${codes} head ${rows}x${cols}: cols must be a positive multiple of 32`);
    }
    const groups = Math.ceil(rows / Q8_ROWS), blocks = cols / 32;
    const codeBytes = groups * Q8_ROWS * cols, scaleBytes = groups * blocks * Q8_ROWS * 2; // scales: IEEE half bits
    const ptr = this.alloc(codeBytes), scalesPtr = this.alloc(scaleBytes);
    const a = this.pool.params;
    for (let r0 = 0; r0 < rows; r0 += sliceRows) {
      const count = Math.min(sliceRows, rows - r0);
      const src = this.scratch(Slot.Repack, count * rowBytes);
      readRows(r0, count, this.u8.subarray(src, src + count * rowBytes));
      a[Q8FromArg.Codes] = ptr; a[Q8FromArg.Scales] = scalesPtr; a[Q8FromArg.Src] = src; a[Q8FromArg.SrcRow0] = r0;
      a[Q8FromArg.SrcRowBytes] = rowBytes; a[Q8FromArg.Type] = type; a[Q8FromArg.Rows] = rows; a[Q8FromArg.Cols] = cols;
      a[Q8FromArg.G0] = r0 / Q8_ROWS; a[Q8FromArg.G1] = Math.ceil((r0 + count) / Q8_ROWS);
      a[Q8FromArg.QMax] = HEAD_CODE_MAX[codes];
      this.pool.run(Job.Q8From);
    }
    const dtype = codes === 'int8' ? 'q8' : 'q7';
    const p: WasmFloat = { rows, cols, bytes: codeBytes + scaleBytes, ptr, dtype, scalesPtr, groups };
    return p;
  }

  prepareRowsOnDemand(t: GGMLTensor): PreparedFloat | undefined {
    const dtype = t.type === GGMLType.F32 ? 'f32' : t.type === GGMLType.F16 ? 'f16' : t.type === GGMLType.BF16 ? 'bf16' : undefined;
    if (!dtype || !t.readRange) return undefined;
    if (t.nbytes !== t.rows * t.cols * (dtype === 'f32' ? 4 : 2)) throw new Error(`${dtype} tensor ${t.rows}x${t.cols}: ${t.nbytes} bytes`);
    const p: WasmFloat = { rows: t.rows, cols: t.cols, bytes: 0, ptr: 0, dtype, rowsFrom: t };
    return p;
  }

  gatherRows(w: PreparedFloat, ids: Int32Array, n: number, out: Float32Array): void {
    const p = w as WasmFloat;
    for (let t = 0; t < n; t++) {
      if (!(ids[t] >= 0 && ids[t] < p.rows)) throw new Error(`gatherRows: row ${ids[t]} is outside 0..${p.rows - 1}`);
    }
    if (p.dtype === 'q8' || p.dtype === 'q7') {
      throw new Error('gatherRows: a quantized head is not an embedding (look rows up in the float copy)');
    }
    if (p.rowsFrom) { this.gatherFromFile(p, p.rowsFrom, ids, n, out); return; }
    if (p.dtype === 'f32') {
      for (let t = 0; t < n; t++) out.set(this.f32View(p.ptr + ids[t] * p.cols * 4, p.cols), t * p.cols);
      return;
    }
    const ip = this.input(ids, n, Slot.Ids);
    const op = this.output(out, n * p.cols, Slot.Out, false);
    this.k.gatherHalfRows(p.ptr, p.cols, ip, n, op, p.dtype === 'bf16' ? 1 : 0);
    this.finish(out, op, n * p.cols);
  }

  /** gatherRows of a prepareRowsOnDemand handle: the n rows read into scratch, then converted as in memory. */
  private gatherFromFile(p: WasmFloat, t: GGMLTensor, ids: Int32Array, n: number, out: Float32Array): void {
    const rowBytes = p.cols * (p.dtype === 'f32' ? 4 : 2);
    const stage = this.scratch(Slot.Rows, n * rowBytes);
    const seq = this.scratch(Slot.Ids, n * 4);
    for (let i = 0; i < n; i++) {
      t.readRange!(ids[i] * rowBytes, this.u8.subarray(stage + i * rowBytes, stage + (i + 1) * rowBytes));
      this.i32[(seq >>> 2) + i] = i;
    }
    const staged: WasmFloat = { rows: n, cols: p.cols, bytes: 0, ptr: stage, dtype: p.dtype };
    this.gatherRows(staged, this.i32.subarray(seq >>> 2, (seq >>> 2) + n), n, out);
  }

  // ---- kernels ------------------------------------------------------------------------------

  /** Worth waking the workers? Only with an item for each thread and enough elements to amortize it. */
  private split(items: number, elements: number): boolean {
    return this.threads > 1 && items >= this.threads && elements >= SPLIT_MIN_ELEMENTS;
  }

  quantizeRows(x: Float32Array, n: number, dim: number, xq: Int8Array, invScales: Float32Array): void {
    const xp = this.input(x, n * dim, Slot.X);
    const qOurs = this.owns(xq);
    const qp = qOurs ? xq.byteOffset : this.scratch(Slot.Y, n * dim);
    const ip = this.output(invScales, n, Slot.Inv, false);
    if (this.split(n, n * dim)) {
      const a = this.pool.params;
      a[QuantizeArg.X] = xp; a[QuantizeArg.N] = n; a[QuantizeArg.Dim] = dim;
      a[QuantizeArg.Xq] = qp; a[QuantizeArg.InvScales] = ip;
      this.pool.run(Job.Quantize);
    } else {
      this.k.quantizeRows(xp, n, dim, qp, ip);
    }
    if (!qOurs) xq.set(new Int8Array(this.u8.buffer, qp, n * dim));
    this.finish(invScales, ip, n);
  }

  ternaryMatMul(w: PreparedTernary, xq: Int8Array, invScales: Float32Array, n: number, out: Float32Array): void {
    const p = w as WasmTernary;
    if (p.fallback) { ternaryMatMulRef(p.fallback, xq, invScales, n, out); return; }
    const op = this.output(out, n * p.rows, Slot.Out, false);
    this.ternaryParams(p, xq, invScales, n, op);
    this.pool.run(Job.Ternary);
    this.finish(out, op, n * p.rows);
  }

  /** The Ternary job's slots for p (output at op), after x's per-block sums. */
  private ternaryParams(p: WasmTernary, xq: Int8Array, invScales: Float32Array, n: number, op: number): void {
    const xp = this.input(xq, n * p.cols, Slot.X);
    const ip = this.input(invScales, n, Slot.Inv);
    const sp = this.scratch(Slot.XSum, n * p.nBlocks * 4);
    this.k.blockSums(xp, n, p.cols, p.blockLen, p.nBlocks, sp);
    const a = this.pool.params;
    a[TernaryArg.W] = p.ptr; a[TernaryArg.Scales] = p.scalesPtr; a[TernaryArg.NBlocks] = p.nBlocks;
    a[TernaryArg.ChunksPerBlock] = p.chunksPerBlock; a[TernaryArg.Chunks] = p.chunks;
    a[TernaryArg.Xq] = xp; a[TernaryArg.Cols] = p.cols; a[TernaryArg.XSum] = sp; a[TernaryArg.InvScales] = ip;
    a[TernaryArg.N] = n; a[TernaryArg.Out] = op; a[TernaryArg.Rows] = p.rows; a[TernaryArg.Groups] = p.groups;
    // per thread: one row group's unpacked codes, (chunks × 4 steps) × 64 bytes (see unpackGroup)
    const codesStride = n > 1 ? threadStride(p.chunks * 256) : 0;
    a[TernaryArg.Codes] = n > 1 ? this.threadScratch(Slot.Codes, codesStride) : 0;
    a[TernaryArg.CodesStrideBytes] = codesStride;
    a[TernaryArg.DotForm] = this.dot.form;
  }

  /**
   * Gate and up in one job (TernaryGated): each thread multiplies a range of row groups of both, then applies the
   * activation to those rows while they are in its cache (one dispatch instead of three; no pass over gate and up
   * written by the other thread). Same outputs as the three calls (SiLU: within its rounding where rows % 4 != 0,
   * the vector loop's lanes then fall differently). Matrices of another layout, or buffers not in our memory: the
   * three calls.
   */
  ternaryGatedMatMul(wGate: PreparedTernary, wUp: PreparedTernary, xq: Int8Array, invScales: Float32Array, n: number,
                     gate: Float32Array, up: Float32Array, act: Activation): void {
    const g = wGate as WasmTernary, u = wUp as WasmTernary;
    const same = !g.fallback && !u.fallback && g.rows === u.rows && g.cols === u.cols && g.nBlocks === u.nBlocks &&
      g.blockLen === u.blockLen;
    if (!same || !this.owns(gate) || !this.owns(up)) {
      this.ternaryMatMul(wGate, xq, invScales, n, gate);
      this.ternaryMatMul(wUp, xq, invScales, n, up);
      this.gatedActivation(gate, up, n * g.rows, act);
      return;
    }
    this.ternaryParams(g, xq, invScales, n, gate.byteOffset);
    const a = this.pool.params;
    a[TernaryGatedArg.WUp] = u.ptr; a[TernaryGatedArg.ScalesUp] = u.scalesPtr; a[TernaryGatedArg.OutUp] = up.byteOffset;
    a[TernaryGatedArg.Relu2] = act === 'silu' ? 0 : 1;
    this.pool.run(Job.TernaryGated);
  }

  floatMatMul(w: PreparedFloat, x: Float32Array, n: number, out: Float32Array): void {
    const p = w as WasmFloat;
    if (p.dtype === 'q8' || p.dtype === 'q7') { this.q8MatMul(p, x, n, out); return; }
    let xp = this.input(x, n * p.cols, Slot.X);
    let mode = p.dtype === 'bf16' ? HalfMode.BF16 : HalfMode.F16;
    if (p.dtype === 'f16') {
      const zp = this.scratch(Slot.Z, n * p.cols * 4);
      if (this.k.scaleForHalf(xp, n * p.cols, zp)) { xp = zp; mode = HalfMode.F16Prescaled; }
    }
    const op = this.output(out, n * p.rows, Slot.Out, false);
    const a = this.pool.params;
    a[FloatArg.W] = p.ptr; a[FloatArg.Cols] = p.cols; a[FloatArg.X] = xp; a[FloatArg.N] = n;
    a[FloatArg.Out] = op; a[FloatArg.Rows] = p.rows; a[FloatArg.Mode] = mode;
    this.pool.run(p.dtype === 'f32' ? Job.F32 : Job.Half);
    this.finish(out, op, n * p.rows);
  }

  /**
   * The quantized heads: x quantized per 32-column block (q8QuantizeActs; int7: with the bias -64 * Σ xq per block),
   * then q8Rows over row groups on the threads.
   */
  private q8MatMul(p: WasmFloat, x: Float32Array, n: number, out: Float32Array): void {
    const blocks = p.cols / 32, int7 = p.dtype === 'q7';
    const xp = this.input(x, n * p.cols, Slot.X);
    const qp = this.scratch(Slot.Q8x, n * p.cols * 2), dp = this.scratch(Slot.Q8d, n * blocks * 4);
    const bp = int7 ? this.scratch(Slot.Q8b, n * blocks * 4) : 0;
    this.k.q8QuantizeActs(xp, n, p.cols, qp, dp, bp);
    const op = this.output(out, n * p.rows, Slot.Out, false);
    const a = this.pool.params;
    a[Q8Arg.Codes] = p.ptr; a[Q8Arg.Scales] = p.scalesPtr!; a[Q8Arg.Cols] = p.cols; a[Q8Arg.Xq] = qp; a[Q8Arg.Dx] = dp;
    a[Q8Arg.XBias] = bp; a[Q8Arg.N] = n; a[Q8Arg.Out] = op; a[Q8Arg.Rows] = p.rows; a[Q8Arg.Groups] = p.groups!;
    a[Q8Arg.Form] = !int7 ? HeadForm.Int8 : this.dot.form === DotForm.Add ? HeadForm.Int7DotAdd : HeadForm.Int7Dot;
    this.pool.run(Job.Q8);
    this.finish(out, op, n * p.rows);
  }

  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, dim: number, eps: number): void {
    const xp = this.input(x, n * dim, Slot.X);
    const wp = this.input(weight, dim, Slot.Y);
    const op = out === x ? xp : this.output(out, n * dim, Slot.Out, false);
    if (this.split(n, n * dim)) {
      const a = this.pool.params;
      a[RmsNormArg.Out] = op; a[RmsNormArg.X] = xp; a[RmsNormArg.Weight] = wp; a[RmsNormArg.N] = n;
      a[RmsNormArg.Dim] = dim; this.pool.f64[F64Arg.Eps] = eps;
      this.pool.run(Job.RmsNorm);
    } else {
      this.k.rmsNorm(op, xp, wp, n, dim, eps);
    }
    this.finish(out, op, n * dim);
  }

  rope(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, theta: number, neox: boolean): void {
    const len = n * nHeads * headDim;
    const xp = this.output(x, len, Slot.X, true);
    const tp = this.ropeAngles(positions, n, headDim, theta);
    if (this.split(n, len)) {
      const a = this.pool.params;
      a[RopeArg.X] = xp; a[RopeArg.N] = n; a[RopeArg.NHeads] = nHeads; a[RopeArg.HeadDim] = headDim;
      a[RopeArg.Table] = tp; a[RopeArg.Neox] = neox ? 1 : 0;
      this.pool.run(Job.Rope);
    } else {
      this.k.rope(xp, n, nHeads, headDim, tp, neox ? 1 : 0);
    }
    this.finish(x, xp, len);
  }

  /**
   * The (cos, sin) table of these rows (ropeTable), computed again only when the positions, head size or theta
   * differ from the last call's: the q and k of every layer of a pass share one.
   */
  private ropeAngles(positions: Int32Array, n: number, headDim: number, theta: number): number {
    const key = this.ropeKey, bytes = n * headDim * 4;
    let same = key.n === n && key.headDim === headDim && key.theta === theta && this.slots[Slot.Rope].bytes >= bytes;
    for (let t = 0; same && t < n; t++) same = key.positions[t] === positions[t];
    if (same) return this.slots[Slot.Rope].ptr;
    const tp = this.scratch(Slot.Rope, bytes);
    const pp = this.input(positions, n, Slot.Pos);
    this.k.ropeTable(pp, n, headDim, theta, tp);
    if (key.positions.length < n) key.positions = new Int32Array(Math.max(n, 2 * key.positions.length));
    key.positions.set(positions.subarray(0, n));
    key.n = n; key.headDim = headDim; key.theta = theta;
    return tp;
  }

  attention(out: Float32Array, q: Float32Array, n: number, startPos: number,
            kCache: Float32Array, vCache: Float32Array, shape: AttentionShape): void {
    const { nHeads, nKvHeads, headDim } = shape;
    if (!this.owns(kCache) || !this.owns(vCache)) {
      // Copying a whole cache per call would cost more than the reference; allocF32 the cache instead.
      if (!this.warnedCache) {
        this.warnedCache = true;
        const warn = globalThis.process?.emitWarning ?? console.warn;
        warn('wasm backend: KV cache arrays not from backend.allocF32(): attention runs the slow reference kernel');
      }
      attentionRef(out, q, n, startPos, kCache, vCache, shape);
      return;
    }
    const len = n * nHeads * headDim;
    const qp = this.input(q, len, Slot.Y);
    const op = this.output(out, len, Slot.Out, false);
    const stride = threadStride(nHeads * (startPos + n + 1) * 4); // per thread: see attention()
    const sp = this.threadScratch(Slot.Scores, stride);
    const a = this.pool.params;
    a[AttentionArg.Out] = op; a[AttentionArg.Q] = qp; a[AttentionArg.N] = n; a[AttentionArg.StartPos] = startPos;
    a[AttentionArg.KCache] = kCache.byteOffset; a[AttentionArg.VCache] = vCache.byteOffset;
    a[AttentionArg.NHeads] = nHeads; a[AttentionArg.NKvHeads] = nKvHeads; a[AttentionArg.HeadDim] = headDim;
    a[AttentionArg.Scores] = sp; a[AttentionArg.ScoresStrideBytes] = stride;
    this.pool.run(Job.Attention);
    this.finish(out, op, len);
  }

  /** Can the kernels address this cache (every arena in our memory, rows of whole SIMD vectors)? */
  private pagedOk(kv: PagedKV, headDim: number): boolean {
    if (headDim % 4 !== 0) return false;
    const checked = this.pagedChecked.get(kv) ?? 0;
    for (let i = checked; i < kv.arenas.length; i++) if (!this.owns(kv.arenas[i])) return false;
    this.pagedChecked.set(kv, kv.arenas.length);
    return true;
  }

  /** Byte address of block b of a paged cache. */
  private blockAddress(kv: PagedKV, b: number): number {
    const cell = kv.dtype === 'f16' ? 2 : 4;
    return kv.arenas[b >> kv.arenaShift].byteOffset + (b & ((1 << kv.arenaShift) - 1)) * kv.blockElements * cell;
  }

  kvWrite(kv: PagedKV, layer: number, k: Float32Array, v: Float32Array, n: number, rows: PagedRows): void {
    if (!this.pagedOk(kv, kv.kvDim)) { kvWriteRef(kv, layer, k, v, n, rows); return; }
    const cell = kv.dtype === 'f16' ? 2 : 4, kvDim = kv.kvDim, bs = kv.blockSize;
    const kp = this.input(k, n * kvDim, Slot.X), vp = this.input(v, n * kvDim, Slot.Y);
    const dp = this.scratch(Slot.Cells, n * 4);
    const layerOffset = layer * 2 * bs * kvDim * cell;
    for (let t = 0; t < n; t++) {
      const p = rows.positions[t];
      const b = rows.tables[t][Math.floor(p / bs)];
      this.i32[(dp >>> 2) + t] = this.blockAddress(kv, b) + layerOffset + (p % bs) * kvDim * cell;
    }
    const vOffset = bs * kvDim * cell, f16 = kv.dtype === 'f16' ? 1 : 0;
    if (this.split(n, 2 * n * kvDim)) {
      const a = this.pool.params;
      a[KvStoreArg.K] = kp; a[KvStoreArg.V] = vp; a[KvStoreArg.N] = n; a[KvStoreArg.KvDim] = kvDim;
      a[KvStoreArg.Dst] = dp; a[KvStoreArg.VOffset] = vOffset; a[KvStoreArg.F16] = f16;
      this.pool.run(Job.KvStore);
    } else {
      this.k.kvStoreRows(kp, vp, n, kvDim, dp, vOffset, f16);
    }
  }

  /**
   * Writes each row's list of block addresses into scratch (one list per run of rows that share a
   * table, long enough for the run's last position), then the runs cut into tiles of at most ATTENTION_TILE
   * rows at consecutive positions ((first row, rows) pairs; see pagedAttention()). Returns the address of the
   * n row pointers, of the tiles, their count and the longest row.
   */
  private blockLists(kv: PagedKV, rows: PagedRows, n: number): { rowBlocks: number; tiles: number; nTiles: number; maxLen: number } {
    const { tables, positions } = rows, bs = kv.blockSize;
    const runEnd = (t0: number) => { let t1 = t0 + 1; while (t1 < n && tables[t1] === tables[t0]) t1++; return t1; };
    const runLen = (t0: number, t1: number) => { let m = 0; for (let t = t0; t < t1; t++) m = Math.max(m, positions[t] + 1); return m; };
    // a tile's rows follow one another in one sequence: t + 1 is at position positions[t] + 1
    const tileEnd = (t0: number, t1: number) => {
      let t = t0 + 1;
      while (t < t1 && t - t0 < ATTENTION_TILE && positions[t] === positions[t - 1] + 1) t++;
      return t;
    };
    let total = n, maxLen = 0, nTiles = 0;
    for (let t0 = 0; t0 < n;) {
      const t1 = runEnd(t0), len = runLen(t0, t1);
      total += Math.ceil(len / bs); maxLen = Math.max(maxLen, len);
      for (let t = t0; t < t1; t = tileEnd(t, t1)) nTiles++;
      t0 = t1;
    }
    const ptr = this.scratch(Slot.Pages, (total + 2 * nTiles) * 4);
    const i32 = this.i32, base = ptr >>> 2, tiles = ptr + total * 4;
    let w = base + n, tw = tiles >>> 2;
    for (let t0 = 0; t0 < n;) {
      const t1 = runEnd(t0), blocks = Math.ceil(runLen(t0, t1) / bs), list = w << 2, table = tables[t0];
      for (let i = 0; i < blocks; i++) i32[w++] = this.blockAddress(kv, table[i]);
      for (let t = t0; t < t1; t++) i32[base + t] = list;
      for (let t = t0; t < t1;) { const e = tileEnd(t, t1); i32[tw++] = t; i32[tw++] = e - t; t = e; }
      t0 = t1;
    }
    return { rowBlocks: ptr, tiles, nTiles, maxLen };
  }

  pagedAttention(out: Float32Array, q: Float32Array, n: number, kv: PagedKV, layer: number, rows: PagedRows,
                 shape: AttentionShape): void {
    const { nHeads, nKvHeads, headDim } = shape;
    if (!this.pagedOk(kv, headDim) || kv.kvDim !== nKvHeads * headDim) {
      pagedAttentionRef(out, q, n, kv, layer, rows, shape);
      return;
    }
    const len = n * nHeads * headDim, cell = kv.dtype === 'f16' ? 2 : 4, bs = kv.blockSize;
    const qp = this.input(q, len, Slot.Y);
    const op = this.output(out, len, Slot.Out, false);
    const pp = this.input(rows.positions, n, Slot.Pos);
    const { rowBlocks, tiles, nTiles, maxLen } = this.blockLists(kv, rows, n);
    // KV heads per work item: the largest divisor of nKvHeads that keeps an item's score rows (tile rows × query
    // heads) within ATTENTION_ITEM_ROWS and gives every thread ATTENTION_ITEMS_PER_THREAD items. Batched decode
    // (one row per sequence) thus streams each sequence's cells once per layer for all its heads; a prompt's
    // tiles take one or two KV heads each (their q rows and scores stay in L1).
    const rowsMax = Math.min(n, ATTENTION_TILE), group = nHeads / nKvHeads;
    let kvPer = nKvHeads;
    while (kvPer > 1 && (rowsMax * kvPer * group > ATTENTION_ITEM_ROWS ||
                         nTiles * (nKvHeads / kvPer) < ATTENTION_ITEMS_PER_THREAD * this.threads)) {
      kvPer--;
      while (nKvHeads % kvPer) kvPer--;
    }
    const heads = rowsMax * kvPer * group; // score rows of one item
    const stride = threadStride((heads * (maxLen + 1) + ATTENTION_POSITIONS * kvPer * headDim) * 4); // per thread: see pagedAttention()
    const sp = this.threadScratch(Slot.Scores, stride);
    const a = this.pool.params;
    a[PagedAttentionArg.Out] = op; a[PagedAttentionArg.Q] = qp; a[PagedAttentionArg.RowBlocks] = rowBlocks;
    a[PagedAttentionArg.Positions] = pp; a[PagedAttentionArg.Tiles] = tiles; a[PagedAttentionArg.NTiles] = nTiles;
    a[PagedAttentionArg.KvPer] = kvPer;
    a[PagedAttentionArg.LayerOffset] = layer * 2 * bs * kv.kvDim * cell;
    a[PagedAttentionArg.VOffset] = bs * kv.kvDim * cell; a[PagedAttentionArg.BlockShift] = Math.log2(bs);
    a[PagedAttentionArg.F16] = kv.dtype === 'f16' ? 1 : 0; a[PagedAttentionArg.NHeads] = nHeads;
    a[PagedAttentionArg.NKvHeads] = nKvHeads; a[PagedAttentionArg.HeadDim] = headDim;
    a[PagedAttentionArg.Scratch] = sp; a[PagedAttentionArg.ScratchStrideBytes] = stride;
    this.pool.run(Job.PagedAttention);
    this.finish(out, op, len);
  }

  gatedActivation(gate: Float32Array, up: Float32Array, length: number, act: Activation): void {
    const gp = this.output(gate, length, Slot.X, true);
    const up_ = this.input(up, length, Slot.Y);
    if (this.split(length / ELEMENT_UNIT, length)) {
      const a = this.pool.params;
      a[GatedArg.Gate] = gp; a[GatedArg.Up] = up_; a[GatedArg.Length] = length; a[GatedArg.Relu2] = act === 'silu' ? 0 : 1;
      this.pool.run(Job.Gated);
    } else if (act === 'silu') {
      this.k.gatedSilu(gp, up_, length);
    } else {
      this.k.gatedRelu2(gp, up_, length);
    }
    this.finish(gate, gp, length);
  }

  addInPlace(x: Float32Array, y: Float32Array, length: number): void {
    const xp = this.output(x, length, Slot.X, true);
    const yp = this.input(y, length, Slot.Y);
    if (this.split(length / ELEMENT_UNIT, length)) {
      const a = this.pool.params;
      a[AddArg.X] = xp; a[AddArg.Y] = yp; a[AddArg.Length] = length;
      this.pool.run(Job.Add);
    } else {
      this.k.addInPlace(xp, yp, length);
    }
    this.finish(x, xp, length);
  }

  // ---- measurement --------------------------------------------------------------------------

  /**
   * Memory bandwidth in bytes/s: stream-read `bytes` of this backend's memory with all threads
   * (the prepared weights themselves when enough are loaded, else a fresh region), best of `repeats`.
   */
  measureBandwidth(bytes: number, repeats = 5): { bytesPerSecond: number; bytes: number } {
    const lines = Math.max(1, Math.floor(bytes / 64));
    let base = HEAP_BASE;
    if (HEAP_BASE + lines * 64 > this.top) base = this.alloc(lines * 64);
    const a = this.pool.params;
    let best = Infinity;
    for (let i = 0; i < repeats; i++) {
      a[StreamArg.Base] = base; a[StreamArg.Lines] = lines;
      const t0 = performance.now();
      this.pool.run(Job.Stream);
      best = Math.min(best, performance.now() - t0);
    }
    return { bytesPerSecond: (lines * 64) / (best / 1000), bytes: lines * 64 };
  }

  dispose(): void { this.pool.dispose(); }
}

async function defaultThreads(): Promise<number> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const os = await import('node:os');
    return os.availableParallelism();
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}
