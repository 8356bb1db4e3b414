/**
 * One KV cache per model, shared by all its sessions, allocated in blocks (paged, as vLLM's
 * PagedAttention or llama.cpp's unified cache).
 *
 * A block holds `blockSize` consecutive positions of one sequence for every layer (layout: PagedKV in
 * kernels/backend.ts). A sequence takes blocks as it grows and returns them when it is truncated or
 * released; nothing is allocated for positions a sequence never reaches. Blocks are reference-counted:
 * a sequence forked from another (a shared prompt prefix) shares its blocks, and the first write into
 * a shared block copies it (copy on write). Storage comes from the backend in arenas of 2^arenaShift
 * blocks, allocated on demand up to the memory budget; freed blocks go back to a free list.
 */
import type { Backend, KVDtype, PagedKV } from '../kernels/backend.js';

export interface KVCacheOptions {
  /** Cell type (default 'f16', as llama.cpp). */
  dtype?: KVDtype;
  /** Budget for the cache's storage in bytes (default DEFAULT_KV_MEMORY). */
  memoryBytes?: number;
  /** Positions per block, a power of two (default 16). */
  blockSize?: number;
}

/** Default budget: 1 GiB (7,281 positions of the 700M shape in f16, 13,981 of 2B4T). */
export const DEFAULT_KV_MEMORY = 2 ** 30;
const DEFAULT_BLOCK_SIZE = 16;
/** Storage grows in arenas of about this size (fewer, larger allocations; at most one arena unused budget). */
const ARENA_TARGET_BYTES = 8 * 2 ** 20;

/** Thrown when a sequence needs a block and the budget has none left (after reclaiming cached prefixes). */
export class KVBudgetError extends Error {}

export interface KVCacheStats {
  dtype: KVDtype; blockSize: number; blockBytes: number; bytesPerPosition: number;
  /** Budget in bytes, and the blocks it holds (whole arenas). */
  memoryBytes: number; capacityBlocks: number;
  /** Bytes of arenas allocated so far (grows on demand, never above memoryBytes). */
  allocatedBytes: number;
  /** Blocks held by at least one sequence, and their bytes. */
  usedBlocks: number; usedBytes: number;
}

export class KVCache implements PagedKV {
  readonly dtype: KVDtype;
  readonly nLayers: number;
  readonly kvDim: number;
  readonly blockSize: number;
  readonly blockElements: number;
  readonly blockBytes: number;
  readonly arenaShift: number;
  readonly arenas: Array<Uint16Array | Float32Array> = [];
  readonly memoryBytes: number;
  readonly capacityBlocks: number;
  private readonly reclaimers: Array<() => boolean> = [];
  private readonly refs: number[] = [];       // block id -> sequences holding it
  private readonly freeList: number[] = [];
  private used = 0;

  constructor(private readonly backend: Backend, shape: { nLayers: number; kvDim: number }, opts: KVCacheOptions = {}) {
    this.dtype = opts.dtype ?? 'f16';
    if (this.dtype !== 'f16' && this.dtype !== 'f32') throw new Error(`KV cache type must be f16 or f32, got '${String(this.dtype)}'`);
    this.blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isInteger(this.blockSize) || this.blockSize < 1 || (this.blockSize & (this.blockSize - 1))) {
      throw new Error(`KV block size must be a power of two, got ${this.blockSize}`);
    }
    this.nLayers = shape.nLayers; this.kvDim = shape.kvDim;
    this.blockElements = this.nLayers * 2 * this.blockSize * this.kvDim;
    this.blockBytes = this.blockElements * (this.dtype === 'f16' ? 2 : 4);
    this.memoryBytes = opts.memoryBytes ?? DEFAULT_KV_MEMORY;
    const maxBlocks = Math.floor(this.memoryBytes / this.blockBytes);
    if (!Number.isFinite(this.memoryBytes) || maxBlocks < 1) {
      throw new Error(`KV memory budget ${this.memoryBytes} bytes is less than one block ` +
        `(${this.blockSize} positions × ${this.bytesPerPosition} bytes = ${this.blockBytes} bytes)`);
    }
    const perArena = Math.max(1, Math.min(maxBlocks, Math.floor(ARENA_TARGET_BYTES / this.blockBytes)));
    this.arenaShift = Math.floor(Math.log2(perArena));
    this.capacityBlocks = Math.floor(maxBlocks / (1 << this.arenaShift)) << this.arenaShift;
  }

  /** Bytes one position of one sequence takes (K and V, every layer). */
  get bytesPerPosition(): number { return this.nLayers * 2 * this.kvDim * (this.dtype === 'f16' ? 2 : 4); }

  /** Blocks a sequence of `positions` positions holds. */
  blocksFor(positions: number): number { return Math.ceil(positions / this.blockSize); }

  /** Blocks that could still be handed out without reclaiming anything. */
  get freeBlocks(): number { return this.capacityBlocks - this.used; }

  get stats(): KVCacheStats {
    const allocated = this.arenas.length << this.arenaShift;
    return {
      dtype: this.dtype, blockSize: this.blockSize, blockBytes: this.blockBytes, bytesPerPosition: this.bytesPerPosition,
      memoryBytes: this.memoryBytes, capacityBlocks: this.capacityBlocks, allocatedBytes: allocated * this.blockBytes,
      usedBlocks: this.used, usedBytes: this.used * this.blockBytes,
    };
  }

  createSequence(): KVSequence { return new KVSequence(this); }

  /**
   * Registers a hook called when the budget has no block left: it releases something (e.g. a cached
   * prompt prefix) and returns true, or returns false when it has nothing left. Returns the unregister.
   */
  onReclaim(hook: () => boolean): () => void {
    this.reclaimers.push(hook);
    return () => { const i = this.reclaimers.indexOf(hook); if (i >= 0) this.reclaimers.splice(i, 1); };
  }

  /** Makes `blocks` blocks available (reclaiming if needed), or throws KVBudgetError. */
  ensureFree(blocks: number): void {
    while (blocks > this.freeBlocks) {
      if (!this.reclaimers.some((hook) => hook())) {
        throw new KVBudgetError(`KV cache budget exhausted: ${blocks} more blocks of ${this.blockSize} positions needed, ` +
          `${this.used} (${mib(this.used * this.blockBytes)}) are in use and the budget is ${mib(this.memoryBytes)} ` +
          `(raise it with --kv-memory / kvMemoryBytes, or run fewer or shorter sequences)`);
      }
    }
  }

  /** A free block (refcount 1), growing the storage or reclaiming when none is free. */
  acquire(): number {
    this.ensureFree(1);
    if (!this.freeList.length) this.grow();
    const b = this.freeList.pop()!;
    this.refs[b] = 1; this.used++;
    return b;
  }

  retain(b: number): void { this.refs[b]++; }

  release(b: number): void {
    if (--this.refs[b] === 0) { this.freeList.push(b); this.used--; }
  }

  refCount(b: number): number { return this.refs[b]; }

  /** Copies block src's cells (every layer) into block dst. */
  copyBlock(dst: number, src: number): void {
    const mask = (1 << this.arenaShift) - 1, E = this.blockElements;
    const s = this.arenas[src >> this.arenaShift], so = (src & mask) * E;
    this.arenas[dst >> this.arenaShift].set(s.subarray(so, so + E), (dst & mask) * E);
  }

  private grow(): void {
    const blocks = 1 << this.arenaShift, first = this.arenas.length << this.arenaShift;
    const floats = (blocks * this.blockBytes) / 4;
    const f = this.backend.allocF32(floats);
    this.arenas.push(this.dtype === 'f16' ? new Uint16Array(f.buffer, f.byteOffset, 2 * floats) : f);
    for (let i = blocks - 1; i >= 0; i--) { this.freeList.push(first + i); this.refs[first + i] = 0; }
  }
}

/** One sequence's blocks: table[i] holds positions [i*blockSize, (i+1)*blockSize). */
export class KVSequence {
  /** Block ids (PagedRows.tables entry); entries past blocks() are stale. */
  table = new Int32Array(4);
  private nBlocks = 0;
  private released = false;

  constructor(readonly cache: KVCache) {}

  get blocks(): number { return this.nBlocks; }

  /**
   * Makes positions [from, to) writable: blocks up to position `to`, and a private copy of a shared
   * block that `from` falls in. Checks the whole need against the budget before taking anything.
   */
  reserve(from: number, to: number): void {
    if (this.released) throw new Error('KV sequence is released');
    const c = this.cache, bs = c.blockSize;
    const need = c.blocksFor(to);
    const first = Math.floor(from / bs);
    let cow = 0;
    for (let i = first; i < Math.min(this.nBlocks, need); i++) if (c.refCount(this.table[i]) > 1) cow++;
    c.ensureFree(Math.max(0, need - this.nBlocks) + cow);
    for (let i = first; i < Math.min(this.nBlocks, need); i++) {
      const b = this.table[i];
      if (c.refCount(b) > 1) { const nb = c.acquire(); c.copyBlock(nb, b); c.release(b); this.table[i] = nb; }
    }
    while (this.nBlocks < need) this.push(c.acquire());
  }

  /**
   * Blocks that writing from `position` on never replaces: those wholly before it, and the one it falls in
   * unless that one is shared (copied on write). What the sequence may still take is blocksFor(end) minus these.
   */
  keptBlocks(position: number): number {
    const c = this.cache, whole = Math.min(this.nBlocks, Math.floor(position / c.blockSize));
    return whole < this.nBlocks && c.refCount(this.table[whole]) === 1 ? whole + 1 : whole;
  }

  /** Keeps positions [0, length): blocks past them go back to the cache. */
  truncate(length: number): void {
    const keep = this.cache.blocksFor(length);
    while (this.nBlocks > keep) this.cache.release(this.table[--this.nBlocks]);
  }

  /** Shares the blocks of other's first `length` positions (copied on the first write into a shared block). */
  shareFrom(other: KVSequence, length: number): void {
    if (other.cache !== this.cache) throw new Error('shareFrom: sequences of different caches');
    if (length > other.nBlocks * this.cache.blockSize) throw new Error(`shareFrom: the source holds fewer than ${length} positions`);
    this.truncate(0);
    const n = this.cache.blocksFor(length);
    for (let i = 0; i < n; i++) { this.cache.retain(other.table[i]); this.push(other.table[i]); }
  }

  release(): void {
    if (this.released) return;
    this.truncate(0);
    this.released = true;
  }

  private push(b: number): void {
    if (this.nBlocks === this.table.length) {
      const t = new Int32Array(2 * this.table.length);
      t.set(this.table);
      this.table = t;
    }
    this.table[this.nBlocks++] = b;
  }
}

function mib(bytes: number): string { return `${(bytes / 2 ** 20).toFixed(1)} MiB`; }
