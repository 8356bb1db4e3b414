/**
 * GGUF v2/v3 reader and writer (ggml-org/llama.cpp ggml/src/gguf.cpp, docs in ggml/docs/gguf.md).
 *
 * File: magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv | n_kv × (string key, u32 type, value)
 *       | n_tensors × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)
 *       | padding to `general.alignment` (default 32) | tensor data (each offset aligned).
 * Strings are u64 length + UTF-8 bytes. Arrays are u32 item type + u64 count + items.
 *
 * The reader distrusts its input: every count, length and offset is checked against the bytes that
 * remain before anything is allocated, and every problem is a GGUFError naming it.
 */
import { openSync, closeSync, writeSync, renameSync, unlinkSync } from 'node:fs';
import { bufferSource, fileSource, type ByteSource } from './source.js';
import { GGML_TYPES, GGMLType, isKnownType, tensorBytes } from '../quant/ggml.js';

export class GGUFError extends Error {
  override name = 'GGUFError';
}

export enum GGUFValueType { UINT8 = 0, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 }

export type GGUFScalar = number | bigint | boolean | string;
export interface GGUFValue { type: GGUFValueType; value: GGUFScalar | unknown[]; itemType?: GGUFValueType }

export interface GGUFTensorInfo {
  name: string;
  dims: number[];
  type: GGMLType;
  offset: number;
  nbytes: number;
  nElements: number;
}

export interface GGUFFile {
  readonly version: number;
  readonly alignment: number;
  readonly metadata: Map<string, GGUFValue>;
  readonly tensors: GGUFTensorInfo[];
  readonly dataOffset: number;
  readonly size: number;
  get<T = unknown>(key: string): T | undefined;
  require<T = unknown>(key: string): T;
  tensor(name: string): GGUFTensorInfo | undefined;
  readTensor(nameOrInfo: string | GGUFTensorInfo): Uint8Array;
  /**
   * A tensor's bytes into dst (dst.byteLength must be its nbytes): no intermediate copy where the source allows.
   * With `at`: the dst.byteLength bytes from byte `at` of the tensor (a range inside it).
   */
  readTensorInto(info: GGUFTensorInfo, dst: Uint8Array, at?: number): void;
  close(): void;
}

const MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_DIMS = 4;        // GGML_MAX_DIMS
const MAX_NESTING = 8;
const SCALAR_SIZE: Partial<Record<GGUFValueType, number>> = {
  [GGUFValueType.UINT8]: 1, [GGUFValueType.INT8]: 1, [GGUFValueType.UINT16]: 2, [GGUFValueType.INT16]: 2,
  [GGUFValueType.UINT32]: 4, [GGUFValueType.INT32]: 4, [GGUFValueType.FLOAT32]: 4, [GGUFValueType.BOOL]: 1,
  [GGUFValueType.UINT64]: 8, [GGUFValueType.INT64]: 8, [GGUFValueType.FLOAT64]: 8,
};

/** Sequential reader over a ByteSource with a chunked buffer (headers can be tens of MB: vocabularies). */
class Cursor {
  pos = 0;
  private buf = new Uint8Array(0);
  private bufStart = 0;
  private dv = new DataView(this.buf.buffer);
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  constructor(private readonly src: ByteSource) {}

  get remaining(): number { return this.src.size - this.pos; }

  private need(n: number, what: string): number {
    if (n > this.remaining) throw new GGUFError(`truncated file: ${what} needs ${n} bytes at offset ${this.pos}, only ${this.remaining} remain`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.byteLength) {
      const len = Math.min(Math.max(n, 1 << 20), this.src.size - this.pos);
      this.buf = this.src.read(this.pos, len).slice();
      this.bufStart = this.pos;
      this.dv = new DataView(this.buf.buffer);
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }
  u8(w = 'u8') { const at = this.need(1, w); return this.dv.getUint8(at); }
  i8(w = 'i8') { const at = this.need(1, w); return this.dv.getInt8(at); }
  u16(w = 'u16') { const at = this.need(2, w); return this.dv.getUint16(at, true); }
  i16(w = 'i16') { const at = this.need(2, w); return this.dv.getInt16(at, true); }
  u32(w = 'u32') { const at = this.need(4, w); return this.dv.getUint32(at, true); }
  i32(w = 'i32') { const at = this.need(4, w); return this.dv.getInt32(at, true); }
  f32(w = 'f32') { const at = this.need(4, w); return this.dv.getFloat32(at, true); }
  f64(w = 'f64') { const at = this.need(8, w); return this.dv.getFloat64(at, true); }
  u64(w = 'u64') { const at = this.need(8, w); return this.dv.getBigUint64(at, true); }
  i64(w = 'i64') { const at = this.need(8, w); return this.dv.getBigInt64(at, true); }
  /** u64 that must be a safe count/size. */
  size(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GGUFError(`${what} ${v} is impossibly large`);
    return Number(v);
  }
  str(what: string): string {
    const len = this.size(`${what} length`);
    if (len > this.remaining) throw new GGUFError(`${what} length ${len} exceeds the ${this.remaining} bytes left in the file`);
    const at = this.need(len, what);
    try {
      return this.decoder.decode(this.buf.subarray(at, at + len));
    } catch {
      throw new GGUFError(`${what} at offset ${this.pos - len} is not valid UTF-8`);
    }
  }
}

function toPlain(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

function readScalar(c: Cursor, type: GGUFValueType, what: string): GGUFScalar {
  switch (type) {
    case GGUFValueType.UINT8: return c.u8(what);
    case GGUFValueType.INT8: return c.i8(what);
    case GGUFValueType.UINT16: return c.u16(what);
    case GGUFValueType.INT16: return c.i16(what);
    case GGUFValueType.UINT32: return c.u32(what);
    case GGUFValueType.INT32: return c.i32(what);
    case GGUFValueType.FLOAT32: return c.f32(what);
    case GGUFValueType.BOOL: {
      const b = c.u8(what);
      if (b > 1) throw new GGUFError(`${what}: bool value ${b} is neither 0 nor 1`);
      return b === 1;
    }
    case GGUFValueType.STRING: return c.str(what);
    case GGUFValueType.UINT64: return toPlain(c.u64(what));
    case GGUFValueType.INT64: return toPlain(c.i64(what));
    case GGUFValueType.FLOAT64: return c.f64(what);
    default: throw new GGUFError(`${what}: unknown value type ${type}`);
  }
}

function readValue(c: Cursor, type: number, what: string, depth: number): GGUFValue {
  if (type === GGUFValueType.ARRAY) {
    if (depth >= MAX_NESTING) throw new GGUFError(`${what}: arrays nested deeper than ${MAX_NESTING}`);
    const itemType = c.u32(`${what} array type`);
    if (itemType > GGUFValueType.FLOAT64) throw new GGUFError(`${what}: unknown array item type ${itemType}`);
    const count = c.size(`${what} array length`);
    // Every item takes at least one byte (strings 8): reject counts the file cannot hold before allocating.
    const minItem = SCALAR_SIZE[itemType as GGUFValueType] ?? (itemType === GGUFValueType.STRING ? 8 : 12);
    if (count * minItem > c.remaining) throw new GGUFError(`${what}: array of ${count} items exceeds the ${c.remaining} bytes left in the file`);
    const items: unknown[] = new Array(count);
    for (let i = 0; i < count; i++) {
      items[i] = itemType === GGUFValueType.ARRAY ? readValue(c, itemType, `${what}[${i}]`, depth + 1) : readScalar(c, itemType, what);
    }
    return { type: GGUFValueType.ARRAY, value: items, itemType };
  }
  if (type > GGUFValueType.FLOAT64) throw new GGUFError(`${what}: unknown value type ${type}`);
  return { type, value: readScalar(c, type, what) };
}

/** Plain JS value of a metadata entry (nested arrays unwrapped). */
function plain(v: GGUFValue): unknown {
  if (v.type !== GGUFValueType.ARRAY) return v.value;
  const items = v.value as unknown[];
  return v.itemType === GGUFValueType.ARRAY ? items.map((x) => plain(x as GGUFValue)) : items;
}

export function parseGGUF(source: ByteSource): GGUFFile {
  const c = new Cursor(source);
  if (source.size < 24) throw new GGUFError(`not a GGUF file: only ${source.size} bytes`);
  const magic = c.u32('magic');
  if (magic !== MAGIC) throw new GGUFError(`not a GGUF file: bad magic 0x${magic.toString(16).padStart(8, '0')} (expected "GGUF")`);
  const version = c.u32('version');
  if (version !== 2 && version !== 3) throw new GGUFError(`unsupported GGUF version ${version} (this reader handles 2 and 3)`);
  const nTensors = c.size('tensor count');
  const nKv = c.size('metadata count');
  // A tensor info takes >= 8+1+4+8+4+8 bytes, a KV >= 8+1+4+1.
  if (nTensors * 33 > c.remaining) throw new GGUFError(`tensor count ${nTensors} exceeds what the file can hold`);
  if (nKv * 14 > c.remaining) throw new GGUFError(`metadata count ${nKv} exceeds what the file can hold`);

  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str(`metadata key #${i}`);
    if (metadata.has(key)) throw new GGUFError(`duplicate metadata key "${key}"`);
    const type = c.u32(`type of "${key}"`);
    metadata.set(key, readValue(c, type, `metadata "${key}"`, 0));
  }

  let alignment = 32;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (al.type !== GGUFValueType.UINT32 || typeof al.value !== 'number' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw new GGUFError(`general.alignment must be a u32 power of two, got ${String(al.value)}`);
    }
    alignment = al.value;
  }

  const tensors: GGUFTensorInfo[] = [];
  const byName = new Map<string, GGUFTensorInfo>();
  const relOffsets: number[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.str(`tensor name #${i}`);
    if (byName.has(name)) throw new GGUFError(`duplicate tensor name "${name}"`);
    const nDims = c.u32(`dims of "${name}"`);
    if (nDims < 1 || nDims > MAX_DIMS) throw new GGUFError(`tensor "${name}" has ${nDims} dimensions (1..${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = c.size(`dim ${d} of "${name}"`);
      dims.push(ne);
      nElements *= ne;
      if (!Number.isSafeInteger(nElements)) throw new GGUFError(`tensor "${name}" has too many elements`);
    }
    const type = c.u32(`type of "${name}"`);
    if (!isKnownType(type)) throw new GGUFError(`tensor "${name}" has unknown or unsupported ggml type ${type}`);
    const { blockSize, name: tname } = GGML_TYPES[type];
    // I2_S packs the flattened tensor in 128-element blocks (bitnet.cpp); other types pack each row.
    if (type === GGMLType.I2_S ? nElements % blockSize !== 0 : dims[0] % blockSize !== 0) {
      throw new GGUFError(`tensor "${name}": ${type === GGMLType.I2_S ? `${nElements} elements are` : `row length ${dims[0]} is`} not a multiple of the ${tname} block size ${blockSize}`);
    }
    const off = c.size(`offset of "${name}"`);
    if (off % alignment !== 0) throw new GGUFError(`tensor "${name}" offset ${off} is not aligned to ${alignment}`);
    const info: GGUFTensorInfo = { name, dims, type, offset: off, nbytes: tensorBytes(type, nElements), nElements };
    tensors.push(info);
    byName.set(name, info);
    relOffsets.push(off);
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  for (const t of tensors) {
    t.offset += dataOffset;
    if (t.offset + t.nbytes > source.size) {
      throw new GGUFError(`tensor "${t.name}" data (${t.nbytes} bytes at ${t.offset}) runs past the end of the ${source.size}-byte file`);
    }
  }
  // Tensors must not overlap (gguf.cpp checks that offsets follow each other).
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].nbytes) {
      throw new GGUFError(`tensor "${sorted[i].name}" overlaps tensor "${sorted[i - 1].name}"`);
    }
  }

  const file: GGUFFile = {
    version, alignment, metadata, tensors, dataOffset, size: source.size,
    get<T>(key: string): T | undefined {
      const v = metadata.get(key);
      return v === undefined ? undefined : (plain(v) as T);
    },
    require<T>(key: string): T {
      const v = metadata.get(key);
      if (v === undefined) throw new GGUFError(`missing required key "${key}"`);
      return plain(v) as T;
    },
    tensor: (name) => byName.get(name),
    readTensor(nameOrInfo) {
      const info = typeof nameOrInfo === 'string' ? byName.get(nameOrInfo) : nameOrInfo;
      if (!info) throw new GGUFError(`missing required tensor "${String(nameOrInfo)}"`);
      return source.read(info.offset, info.nbytes);
    },
    readTensorInto(info, dst, at) {
      if (at === undefined ? dst.byteLength !== info.nbytes : !(at >= 0 && at + dst.byteLength <= info.nbytes)) {
        throw new GGUFError(`tensor "${info.name}": ${dst.byteLength}-byte read at ${at ?? 0} of its ${info.nbytes} bytes`);
      }
      const offset = info.offset + (at ?? 0);
      if (source.readInto) source.readInto(offset, dst);
      else dst.set(source.read(offset, dst.byteLength));
    },
    close: () => source.close(),
  };
  return file;
}

export function openGGUF(path: string): GGUFFile {
  const src = fileSource(path);
  try {
    return parseGGUF(src);
  } catch (e) {
    src.close();
    if (e instanceof GGUFError) throw new GGUFError(`${path}: ${e.message}`);
    throw e;
  }
}

// ---------------------------------------------------------------- writer

export interface GGUFTensorToWrite { name: string; type: GGMLType; dims: number[]; data: Uint8Array | (() => Uint8Array) }

const enc = new TextEncoder();

class ByteWriter {
  // room() may swap in a new chunk (and DataView): call it before touching this.dv
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1 << 16);
  private dv = new DataView(this.cur.buffer);
  private at = 0;
  length = 0;
  private room(n: number) {
    if (this.at + n > this.cur.byteLength) {
      this.chunks.push(this.cur.subarray(0, this.at));
      this.cur = new Uint8Array(Math.max(1 << 16, n));
      this.dv = new DataView(this.cur.buffer);
      this.at = 0;
    }
    const a = this.at;
    this.at += n;
    this.length += n;
    return a;
  }
  u8(v: number) { const a = this.room(1); this.dv.setUint8(a, v); }
  i8(v: number) { const a = this.room(1); this.dv.setInt8(a, v); }
  u16(v: number) { const a = this.room(2); this.dv.setUint16(a, v, true); }
  i16(v: number) { const a = this.room(2); this.dv.setInt16(a, v, true); }
  u32(v: number) { const a = this.room(4); this.dv.setUint32(a, v, true); }
  i32(v: number) { const a = this.room(4); this.dv.setInt32(a, v, true); }
  f32(v: number) { const a = this.room(4); this.dv.setFloat32(a, v, true); }
  f64(v: number) { const a = this.room(8); this.dv.setFloat64(a, v, true); }
  u64(v: number | bigint) { const a = this.room(8); this.dv.setBigUint64(a, BigInt(v), true); }
  i64(v: number | bigint) { const a = this.room(8); this.dv.setBigInt64(a, BigInt(v), true); }
  bytes(b: Uint8Array) { const a = this.room(b.byteLength); this.cur.set(b, a); }
  str(s: string) { const b = enc.encode(s); this.u64(b.byteLength); this.bytes(b); }
  pad(alignment: number) { const n = (alignment - (this.length % alignment)) % alignment; if (n) this.bytes(new Uint8Array(n)); }
  finish(): Uint8Array {
    this.chunks.push(this.cur.subarray(0, this.at));
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.byteLength; }
    return out;
  }
}

/** Integer ranges of the fixed-size metadata types (the writer refuses values that would wrap). */
const INT_RANGE: Partial<Record<GGUFValueType, [number, number]>> = {
  [GGUFValueType.UINT8]: [0, 0xff], [GGUFValueType.INT8]: [-0x80, 0x7f],
  [GGUFValueType.UINT16]: [0, 0xffff], [GGUFValueType.INT16]: [-0x8000, 0x7fff],
  [GGUFValueType.UINT32]: [0, 0xffffffff], [GGUFValueType.INT32]: [-0x80000000, 0x7fffffff],
};
const BIG_RANGE: Partial<Record<GGUFValueType, [bigint, bigint]>> = {
  [GGUFValueType.UINT64]: [0n, 2n ** 64n - 1n], [GGUFValueType.INT64]: [-(2n ** 63n), 2n ** 63n - 1n],
};

function writeScalar(w: ByteWriter, type: GGUFValueType, v: unknown, key: string): void {
  const bad = (what: string): never => { throw new Error(`metadata "${key}": ${what} for type ${GGUFValueType[type] ?? type}`); };
  const range = INT_RANGE[type];
  if (range) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) bad(`value ${String(v)} is not an integer in [${range[0]}, ${range[1]}]`);
  }
  const big = BIG_RANGE[type];
  if (big) {
    if ((typeof v !== 'number' || !Number.isInteger(v)) && typeof v !== 'bigint') bad(`value ${String(v)} is not an integer`);
    const b = BigInt(v as number | bigint);
    if (b < big[0] || b > big[1]) bad(`value ${b} is out of range`);
  }
  switch (type) {
    case GGUFValueType.UINT8: return w.u8(v as number);
    case GGUFValueType.INT8: return w.i8(v as number);
    case GGUFValueType.UINT16: return w.u16(v as number);
    case GGUFValueType.INT16: return w.i16(v as number);
    case GGUFValueType.UINT32: return w.u32(v as number);
    case GGUFValueType.INT32: return w.i32(v as number);
    case GGUFValueType.FLOAT32:
    case GGUFValueType.FLOAT64:
      if (typeof v !== 'number') bad(`expected a number, got ${typeof v}`);
      return type === GGUFValueType.FLOAT32 ? w.f32(v as number) : w.f64(v as number);
    case GGUFValueType.UINT64: return w.u64(v as number | bigint);
    case GGUFValueType.INT64: return w.i64(v as number | bigint);
    case GGUFValueType.BOOL:
      if (typeof v !== 'boolean') bad(`expected a boolean, got ${typeof v}`);
      return w.u8(v ? 1 : 0);
    case GGUFValueType.STRING:
      if (typeof v !== 'string') bad(`expected a string, got ${typeof v}`);
      return w.str(v as string);
    default: return bad('unknown value type');
  }
}

/** Array body: item type, count, items (arrays of arrays recurse, as deep as the reader accepts). */
function writeArray(w: ByteWriter, v: GGUFValue, key: string, depth: number): void {
  if (depth >= MAX_NESTING) throw new Error(`metadata "${key}": arrays nested deeper than ${MAX_NESTING}`);
  if (!Array.isArray(v.value) && !ArrayBuffer.isView(v.value)) throw new Error(`metadata "${key}": an ARRAY value needs an array`);
  const items = v.value as ArrayLike<unknown>;
  const itemType = v.itemType ?? GGUFValueType.STRING;
  w.u32(itemType);
  w.u64(items.length);
  for (let i = 0; i < items.length; i++) {
    if (itemType === GGUFValueType.ARRAY) writeArray(w, items[i] as GGUFValue, key, depth + 1);
    else writeScalar(w, itemType, items[i], key);
  }
}

function writeValue(w: ByteWriter, v: GGUFValue, key: string): void {
  w.u32(v.type);
  if (v.type === GGUFValueType.ARRAY) writeArray(w, v, key, 0);
  else writeScalar(w, v.type, v.value, key);
}

function headerAndLayout(metadata: Map<string, GGUFValue> | Array<[string, GGUFValue]>, tensors: GGUFTensorToWrite[], alignment: number) {
  const entries = metadata instanceof Map ? [...metadata] : metadata;
  const meta = entries.filter(([k]) => k !== 'general.alignment');
  if (alignment !== 32) meta.push(['general.alignment', { type: GGUFValueType.UINT32, value: alignment }]);
  const seen = new Set<string>();
  for (const [k] of meta) { if (seen.has(k)) throw new Error(`duplicate metadata key "${k}"`); seen.add(k); }
  const names = new Set<string>();
  const w = new ByteWriter();
  w.u32(MAGIC); w.u32(3); w.u64(tensors.length); w.u64(meta.length);
  for (const [k, v] of meta) { w.str(k); writeValue(w, v, k); }
  const sizes: number[] = [];
  let off = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    const n = t.dims.reduce((a, b) => a * b, 1);
    const nbytes = tensorBytes(t.type, n);
    sizes.push(nbytes);
    w.str(t.name); w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type); w.u64(off);
    off += Math.ceil(nbytes / alignment) * alignment;
  }
  w.pad(alignment);
  return { header: w.finish(), sizes };
}

function tensorData(t: GGUFTensorToWrite, size: number): Uint8Array {
  const d = typeof t.data === 'function' ? t.data() : t.data;
  if (d.byteLength !== size) throw new Error(`tensor "${t.name}": ${d.byteLength} bytes of data, expected ${size} for ${GGML_TYPES[t.type].name} ${t.dims.join('×')}`);
  return d;
}

export function serializeGGUF(metadata: Map<string, GGUFValue> | Array<[string, GGUFValue]>, tensors: GGUFTensorToWrite[], opts: { alignment?: number } = {}): Uint8Array {
  const alignment = opts.alignment ?? 32;
  const { header, sizes } = headerAndLayout(metadata, tensors, alignment);
  const total = header.byteLength + sizes.reduce((a, s) => a + Math.ceil(s / alignment) * alignment, 0);
  const out = new Uint8Array(total);
  out.set(header);
  let o = header.byteLength;
  tensors.forEach((t, i) => { out.set(tensorData(t, sizes[i]), o); o += Math.ceil(sizes[i] / alignment) * alignment; });
  return out;
}

/** Streams a GGUF to `path.tmp`, tensor by tensor, then renames it into place. */
export function writeGGUF(path: string, metadata: Map<string, GGUFValue> | Array<[string, GGUFValue]>, tensors: GGUFTensorToWrite[],
                          opts: { alignment?: number; onTensor?: (i: number, n: number) => void } = {}): void {
  const alignment = opts.alignment ?? 32;
  const { header, sizes } = headerAndLayout(metadata, tensors, alignment);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, header);
    tensors.forEach((t, i) => {
      const d = tensorData(t, sizes[i]);
      writeAll(fd, d);
      const pad = Math.ceil(sizes[i] / alignment) * alignment - sizes[i];
      if (pad) writeAll(fd, new Uint8Array(pad));
      opts.onTensor?.(i + 1, tensors.length);
    });
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw e;
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let o = 0;
  while (o < b.byteLength) o += writeSync(fd, b, o, Math.min(b.byteLength - o, 1 << 30));
}

export function parseGGUFBytes(bytes: Uint8Array): GGUFFile {
  return parseGGUF(bufferSource(bytes));
}

/** Convenience constructors for typed metadata values. */
export const gguf = {
  u8: (v: number): GGUFValue => ({ type: GGUFValueType.UINT8, value: v }),
  u32: (v: number): GGUFValue => ({ type: GGUFValueType.UINT32, value: v }),
  i32: (v: number): GGUFValue => ({ type: GGUFValueType.INT32, value: v }),
  u64: (v: number | bigint): GGUFValue => ({ type: GGUFValueType.UINT64, value: v }),
  f32: (v: number): GGUFValue => ({ type: GGUFValueType.FLOAT32, value: v }),
  bool: (v: boolean): GGUFValue => ({ type: GGUFValueType.BOOL, value: v }),
  str: (v: string): GGUFValue => ({ type: GGUFValueType.STRING, value: v }),
  strArray: (v: string[]): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value: v }),
  f32Array: (v: ArrayLike<number>): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.FLOAT32, value: Array.from(v) }),
  i32Array: (v: ArrayLike<number>): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value: Array.from(v) }),
};
