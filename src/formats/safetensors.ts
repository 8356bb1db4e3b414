/**
 * safetensors (huggingface/safetensors, safetensors/src/tensor.rs): an 8-byte little-endian header
 * length N, N bytes of JSON header, then the data section. The header maps tensor names to
 * {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data section) plus an optional
 * "__metadata__" string→string map.
 *
 * Validation follows tensor.rs `read_metadata` / `Metadata::validate`: header size ≤ 100 MB and inside
 * the file, header starts with '{', tensors sorted by offset cover the data section exactly (first
 * begins at 0, each begins where the previous ends, the last ends at the end of the file), and
 * dtype size × Π shape = end − begin. We additionally reject duplicate names (serde keeps the last).
 * Reads go through a ByteSource: nothing is loaded until a tensor is asked for.
 */
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { bufferSource, fileSource, type ByteSource } from './source.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../quant/half.js';

export class SafetensorsError extends Error {
  constructor(message: string) { super(message); this.name = 'SafetensorsError'; }
}

/** Bytes per element, by safetensors dtype name (tensor.rs `Dtype::bitsize` / 8). */
export const SAFETENSORS_DTYPES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

export const MAX_HEADER_SIZE = 100_000_000;

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset in the file and length. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  readonly metadata: Record<string, string>;
  readonly tensors: SafetensorsTensorInfo[];
  tensor(name: string): SafetensorsTensorInfo | undefined;
  read(info: SafetensorsTensorInfo): Uint8Array;
  close(): void;
}

export interface SafetensorsTensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

const fail = (msg: string): never => { throw new SafetensorsError(msg); };

function isDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, d);
}

/** Top-level keys of a JSON object text, in order (JSON.parse silently keeps the last duplicate). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0, expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) { keys.push(JSON.parse(text.slice(i, j + 1)) as string); expectKey = false; }
      i = j;
    } else if (c === '{' || c === '[') { depth++; if (depth === 1) expectKey = true; }
    else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return keys;
}

function safeProduct(shape: number[], name: string): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) fail(`tensor "${name}": shape [${shape.join(', ')}] is too large`);
  }
  return n;
}

export function parseSafetensors(source: ByteSource): SafetensorsFile {
  try {
    return parseInner(source);
  } catch (e) {
    source.close();
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(`invalid safetensors file: ${(e as Error).message}`);
  }
}

function parseInner(source: ByteSource): SafetensorsFile {
  if (source.size < 8) fail(`file too short for a safetensors header (${source.size} bytes)`);
  const n = new DataView(source.read(0, 8).slice().buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) fail(`header size ${n} exceeds the ${MAX_HEADER_SIZE}-byte limit`);
  const headerSize = Number(n);
  if (8 + headerSize > source.size) fail(`header size ${headerSize} runs past the end of the ${source.size}-byte file`);
  let text: string;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(source.read(8, headerSize)); } catch { return fail('header is not valid UTF-8'); }
  if (!text.startsWith('{')) fail('header does not start with "{"');
  let header: unknown;
  try { header = JSON.parse(text); } catch (e) { return fail(`header is not valid JSON: ${(e as Error).message}`); }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const keys = topLevelKeys(text);
  if (new Set(keys).size !== keys.length) fail(`duplicate tensor name "${keys.find((k, i) => keys.indexOf(k) !== i)}"`);

  const dataStart = 8 + headerSize, dataSize = source.size - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Array<SafetensorsTensorInfo & { begin: number; end: number }> = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!v || typeof v !== 'object' || Array.isArray(v)) fail('"__metadata__" must be an object of strings');
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`"__metadata__.${mk}" is not a string`);
        metadata[mk] = mv as string;
      }
      continue;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) fail(`tensor "${name}": entry is not an object`);
    const e = v as Record<string, unknown>;
    if (!isDtype(e.dtype)) fail(`tensor "${name}": unknown dtype ${JSON.stringify(e.dtype)}`);
    const dtype = e.dtype as SafetensorsDtype;
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) fail(`tensor "${name}": shape must be a list of non-negative integers`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) fail(`tensor "${name}": data_offsets must be [begin, end]`);
    const [begin, end] = off as [number, number];
    if (end < begin) fail(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
    const want = safeProduct(shape as number[], name) * SAFETENSORS_DTYPES[dtype];
    if (want !== end - begin) fail(`tensor "${name}": ${dtype} [${(shape as number[]).join(', ')}] needs ${want} bytes, data_offsets give ${end - begin}`);
    tensors.push({ name, dtype, shape: shape as number[], offset: dataStart + begin, byteLength: end - begin, begin, end });
  }
  // contiguous cover of the data section, in offset order (tensor.rs Metadata::validate)
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of sorted) {
    if (t.begin !== at) fail(`tensor "${t.name}": data_offsets begin at ${t.begin}, expected ${at} (tensors must be contiguous and non-overlapping)`);
    at = t.end;
  }
  if (at !== dataSize) fail(`tensors cover ${at} bytes of data but the file holds ${dataSize}`);

  const infos: SafetensorsTensorInfo[] = tensors.map(({ begin: _b, end: _e, ...t }) => t);
  const byName = new Map(infos.map((t) => [t.name, t]));
  return {
    metadata, tensors: infos,
    tensor: (name) => byName.get(name),
    read: (info) => source.read(info.offset, info.byteLength),
    close: () => source.close(),
  };
}

export function openSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(fileSource(path));
}

export function parseSafetensorsBytes(bytes: Uint8Array): SafetensorsFile {
  return parseSafetensors(bufferSource(bytes));
}

function headerBytes(tensors: SafetensorsTensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let at = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, t.name)) fail(`duplicate or reserved tensor name "${t.name}"`);
    if (!isDtype(t.dtype)) fail(`tensor "${t.name}": unknown dtype ${String(t.dtype)}`);
    const want = safeProduct(t.shape, t.name) * SAFETENSORS_DTYPES[t.dtype];
    if (want !== t.data.byteLength) fail(`tensor "${t.name}": ${t.dtype} [${t.shape.join(', ')}] needs ${want} bytes, got ${t.data.byteLength}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + want] };
    at += want;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // data section 8-byte aligned, as upstream pads
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
  out.set(body, 8);
  return out;
}

/** The whole file in memory (tests, small files). */
export function serializeSafetensors(tensors: SafetensorsTensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const head = headerBytes(tensors, metadata);
  const out = new Uint8Array(head.length + tensors.reduce((s, t) => s + t.data.byteLength, 0));
  out.set(head);
  let at = head.length;
  for (const t of tensors) { out.set(t.data, at); at += t.data.byteLength; }
  return out;
}

/** Writes a safetensors file atomically (path.tmp, then rename), tensors in the given order. */
export function writeSafetensors(path: string, tensors: SafetensorsTensorToWrite[], metadata?: Record<string, string>): void {
  const head = headerBytes(tensors, metadata);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    for (const t of tensors) writeSync(fd, t.data);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try { closeSync(fd); } catch { /* closed */ }
    try { unlinkSync(tmp); } catch { /* gone */ }
    throw e;
  }
}

/** A float tensor's values as f32 (F32, F16, BF16, F64; integer types as their values). */
export function safetensorsToF32(dtype: SafetensorsDtype, bytes: Uint8Array): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / SAFETENSORS_DTYPES[dtype];
  const out = new Float32Array(n);
  const get: Partial<Record<SafetensorsDtype, (i: number) => number>> = {
    F32: (i) => dv.getFloat32(i * 4, true),
    F16: (i) => f16ToF32(dv.getUint16(i * 2, true)),
    BF16: (i) => bf16ToF32(dv.getUint16(i * 2, true)),
    F64: (i) => dv.getFloat64(i * 8, true),
    U8: (i) => bytes[i],
    I8: (i) => dv.getInt8(i),
  };
  const g = get[dtype] ?? fail(`cannot read ${dtype} tensor data as floats`);
  for (let i = 0; i < n; i++) out[i] = g(i);
  return out;
}

/** f32 values as F32 / F16 / BF16 bytes. */
export function f32ToSafetensors(dtype: 'F32' | 'F16' | 'BF16', v: Float32Array): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  const out = new Uint16Array(v.length);
  const conv = dtype === 'F16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < v.length; i++) out[i] = conv(v[i]);
  return new Uint8Array(out.buffer);
}
