/**
 * ggml tensor types: one table (id, block size, bytes per block) and each type's reference
 * quantize / dequantize pair, bit-exact with upstream.
 *
 * | type  | id | block | bytes | layout (upstream)                                                        |
 * |-------|----|-------|-------|--------------------------------------------------------------------------|
 * | F32   |  0 |   1   |   4   |                                                                          |
 * | F16   |  1 |   1   |   2   | IEEE half                                                                |
 * | Q8_0  |  8 |  32   |  34   | f16 d, 32 × int8 q; x = d·q (ggml-quants.c quantize_row_q8_0_ref)       |
 * | BF16  | 30 |   1   |   2   | top half of f32, round-to-nearest-even                                  |
 * | TQ1_0 | 34 |  256  |  54   | qs[48] (5 trits/byte), qh[4] (4 trits/byte), f16 d (quantize_row_tq1_0_ref) |
 * | TQ2_0 | 35 |  256  |  66   | qs[64] (4 × 2-bit codes/byte, code-1 = w), f16 d (quantize_row_tq2_0_ref) |
 * | I2_S  | 36 |  128  |  32   | bitnet.cpp fork: 2-bit codes, then ONE f32 scale per tensor (+32 bytes) |
 *
 * I2_S follows microsoft/BitNet src/ggml-bitnet-mad.cpp quantize_i2_s as built for x86 (AVX, ACT_PARALLEL,
 * the default in include/gemm-config.h): 128-element blocks of 32 bytes, element j at byte j%32, bits
 * 6-2*(j/32); scale = max|w| as f32 right after the n/4 code bytes. Its other builds place the codes
 * differently in a file of the same type and size (I2SLayout below; converted with i2sRelayout).
 * Code 3 never comes out of a quantizer; dequantize reads it as upstream's dequantize_row_tq2_0 does
 * (code - 1 = +2), while the model readers refuse it (quant/ternary.ts invalidTernaryCode).
 */
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './half.js';
import { roundHalfAway } from './round.js';

export enum GGMLType { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, I2_S = 36 }

export interface GGMLTypeTraits { name: string; blockSize: number; typeSize: number }

export const GGML_TYPES: Record<GGMLType, GGMLTypeTraits> = {
  [GGMLType.F32]: { name: 'F32', blockSize: 1, typeSize: 4 },
  [GGMLType.F16]: { name: 'F16', blockSize: 1, typeSize: 2 },
  [GGMLType.Q8_0]: { name: 'Q8_0', blockSize: 32, typeSize: 34 },
  [GGMLType.BF16]: { name: 'BF16', blockSize: 1, typeSize: 2 },
  [GGMLType.TQ1_0]: { name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  [GGMLType.TQ2_0]: { name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  [GGMLType.I2_S]: { name: 'I2_S', blockSize: 128, typeSize: 32 },
};

/** Bytes appended after I2_S packed data: one f32 scale, padded to 32 bytes (bitnet.cpp ggml_nbytes). */
export const I2S_TAIL = 32;

/**
 * Where bitnet.cpp's builds put I2_S codes (src/ggml-bitnet-mad.cpp quantize_i2_s). All three share the
 * type id 36, the size (n/4 code bytes + I2S_TAIL), the codes (w + 1) and the f32 scale after them; a file
 * does not record which build wrote it. Each packs the flattened tensor in units of 4·G elements held in
 * G bytes: element j of a unit is in byte j % G, bits 6 − 2·⌊j/G⌋.
 *
 * | layout   | G    | build                                                                  |
 * |----------|------|------------------------------------------------------------------------|
 * | x86      | 32   | x86 (AVX/SSSE3) with ACT_PARALLEL, include/gemm-config.h's default (QK_I2_S 128) |
 * | arm      | 16   | ARM NEON (QK_I2_S 64)                                                  |
 * | x86-rows | cols | x86 without ACT_PARALLEL: one byte holds rows 4g..4g+3 of a column     |
 */
export type I2SLayout = 'x86' | 'arm' | 'x86-rows';
export const I2S_LAYOUTS: readonly I2SLayout[] = ['x86', 'arm', 'x86-rows'];

/** G of the table above: bytes per unit of 4·G elements. */
function i2sGroupBytes(layout: I2SLayout, cols: number): number {
  return layout === 'x86' ? 32 : layout === 'arm' ? 16 : cols;
}

/** Why a rows×cols tensor cannot be held in an I2_S layout, or undefined when it can. */
export function i2sLayoutProblem(layout: I2SLayout, rows: number, cols: number): string | undefined {
  if (!I2S_LAYOUTS.includes(layout)) return `unknown I2_S layout '${String(layout)}' (expected ${I2S_LAYOUTS.join(', ')})`;
  if (layout === 'x86-rows') return rows % 4 === 0 ? undefined : `the x86-rows I2_S layout packs 4 rows per byte: ${rows} rows`;
  const unit = 4 * i2sGroupBytes(layout, cols);
  return (rows * cols) % unit === 0 ? undefined : `the ${layout} I2_S layout packs ${unit}-weight blocks: ${rows * cols} weights`;
}

/** I2_S bytes of a rows×cols tensor moved from one layout to another: codes relocated, the scale tail copied. */
export function i2sRelayout(src: Uint8Array, rows: number, cols: number, from: I2SLayout, to: I2SLayout): Uint8Array {
  const n = rows * cols, q = n / 4;
  for (const l of [from, to]) {
    const problem = i2sLayoutProblem(l, rows, cols);
    if (problem) throw new Error(problem);
  }
  if (src.byteLength < q + I2S_TAIL) throw new Error(`I2_S data too short: ${src.byteLength} < ${q + I2S_TAIL} bytes`);
  const out = new Uint8Array(q + I2S_TAIL);
  out.set(src.subarray(q, q + I2S_TAIL), q);
  const gFrom = i2sGroupBytes(from, cols), gTo = i2sGroupBytes(to, cols);
  if (gFrom === gTo) { out.set(src.subarray(0, q)); return out; }
  const codes = new Uint8Array(n); // (n) one code per element, flattened row-major
  for (let u = 0; u < n; u += 4 * gFrom) {
    const o = u >> 2;
    for (let f = 0; f < 4; f++) {
      const shift = 6 - 2 * f, e = u + f * gFrom;
      for (let k = 0; k < gFrom; k++) codes[e + k] = (src[o + k] >> shift) & 3;
    }
  }
  for (let u = 0; u < n; u += 4 * gTo) {
    const o = u >> 2;
    for (let k = 0; k < gTo; k++) {
      out[o + k] = (codes[u + k] << 6) | (codes[u + gTo + k] << 4) | (codes[u + 2 * gTo + k] << 2) | codes[u + 3 * gTo + k];
    }
  }
  return out;
}

export function isKnownType(id: number): id is GGMLType {
  return Object.prototype.hasOwnProperty.call(GGML_TYPES, id);
}

export function ggmlTypeName(type: GGMLType): string {
  return GGML_TYPES[type]?.name ?? `unknown(${type})`;
}

export function ggmlTypeFromName(name: string): GGMLType {
  const up = name.toUpperCase();
  for (const [id, t] of Object.entries(GGML_TYPES)) if (t.name === up) return Number(id) as GGMLType;
  throw new Error(`unknown tensor type '${name}' (expected one of ${Object.values(GGML_TYPES).map((t) => t.name.toLowerCase()).join(', ')})`);
}

export function isTernaryType(type: GGMLType): boolean {
  return type === GGMLType.TQ1_0 || type === GGMLType.TQ2_0 || type === GGMLType.I2_S;
}

/** Byte size of a tensor of nElements (a multiple of the block size). */
export function tensorBytes(type: GGMLType, nElements: number): number {
  const t = GGML_TYPES[type];
  if (nElements % t.blockSize !== 0) {
    throw new Error(`${t.name} needs a multiple of ${t.blockSize} elements, got ${nElements}`);
  }
  const bytes = (nElements / t.blockSize) * t.typeSize;
  return type === GGMLType.I2_S ? bytes + I2S_TAIL : bytes;
}


/**
 * Where each element of a ternary block lives, as tables (built once): element i of the block is in
 * byte BYTE[i] of the packed codes, as the 2-bit field at bit SHIFT[i] (TQ2_0, I2_S) or as trit TRIT[i]
 * (0 = most significant of the byte's base-3 number; TQ1_0).
 */
interface TernaryLayout { blockSize: number; codeBytes: number; byte: Uint8Array; shift: Uint8Array; trit: Uint8Array }

function layout(blockSize: number, codeBytes: number, place: (push: (byte: number, shiftOrTrit: number) => void) => void): TernaryLayout {
  const byte = new Uint8Array(blockSize), shift = new Uint8Array(blockSize);
  let i = 0;
  place((b, s) => { byte[i] = b; shift[i] = s; i++; });
  if (i !== blockSize) throw new Error('ternary layout table is incomplete');
  return { blockSize, codeBytes, byte, shift, trit: shift };
}

const TERNARY_LAYOUTS: Partial<Record<GGMLType, TernaryLayout>> = {
  // quantize_row_tq2_0_ref: element i at qs[(i>>7)*32 + (i&31)], bits 2*((i>>5)&3); code = w + 1
  [GGMLType.TQ2_0]: layout(256, 64, (push) => { for (let i = 0; i < 256; i++) push((i >> 7) * 32 + (i & 31), ((i >> 5) & 3) * 2); }),
  // I2SLayout 'x86' (G = 32): element i at byte i % 32, bits 6 - 2*⌊i/32⌋
  [GGMLType.I2_S]: layout(128, 32, (push) => { for (let i = 0; i < 128; i++) push(i & 31, 6 - 2 * (i >> 5)); }),
  // quantize_row_tq1_0_ref: 160 elements as 5 trits of qs[0..32), 80 as 5 trits of qs[32..48), 16 as 4 trits of qh[0..4)
  [GGMLType.TQ1_0]: layout(256, 52, (push) => {
    for (let n = 0; n < 5; n++) for (let m = 0; m < 32; m++) push(m, n);
    for (let n = 0; n < 5; n++) for (let m = 0; m < 16; m++) push(32 + m, n);
    for (let n = 0; n < 4; n++) for (let j = 0; j < 4; j++) push(48 + j, n);
  }),
};

/** TQ1_0 trit n (0..4) of a byte, as dequantize_row_tq1_0 computes it: ((byte·3^n mod 256)·3) >> 8. */
const TQ1_TRITS: Uint8Array = (() => {
  const t = new Uint8Array(256 * 5);
  for (let v = 0; v < 256; v++) for (let n = 0; n < 5; n++) t[v * 5 + n] = ((((v * 3 ** n) & 0xff) * 3) >> 8);
  return t;
})();

function ternaryLayout(type: GGMLType): TernaryLayout {
  const l = TERNARY_LAYOUTS[type];
  if (!l) throw new Error(`${ggmlTypeName(type)} is not a ternary type`);
  return l;
}

export function dequantize(type: GGMLType, bytes: Uint8Array, nElements: number): Float32Array {
  const need = tensorBytes(type, nElements);
  if (bytes.byteLength < need) throw new Error(`${ggmlTypeName(type)} data too short: ${bytes.byteLength} < ${need} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(nElements);
  switch (type) {
    case GGMLType.F32:
      for (let i = 0; i < nElements; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case GGMLType.F16:
      for (let i = 0; i < nElements; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
      break;
    case GGMLType.BF16:
      for (let i = 0; i < nElements; i++) out[i] = bf16ToF32(dv.getUint16(i * 2, true));
      break;
    case GGMLType.Q8_0:
      for (let b = 0; b < nElements / 32; b++) {
        const d = f16ToF32(dv.getUint16(b * 34, true));
        for (let i = 0; i < 32; i++) out[b * 32 + i] = d * dv.getInt8(b * 34 + 2 + i);
      }
      break;
    case GGMLType.TQ1_0:
    case GGMLType.TQ2_0:
    case GGMLType.I2_S: {
      // weight = (code - 1)·d; TQ1_0/TQ2_0 keep an f16 d after each block's codes, I2_S one f32 after all blocks
      const { blockSize, typeSize } = GGML_TYPES[type];
      const codes = new Uint8Array(blockSize);
      const tensorScale = type === GGMLType.I2_S ? dv.getFloat32(nElements / 4, true) : 0;
      for (let b = 0; b < nElements / blockSize; b++) {
        unpackTernaryBlock(type, bytes, b * typeSize, codes);
        const d = type === GGMLType.I2_S ? tensorScale : f16ToF32(dv.getUint16(b * typeSize + typeSize - 2, true));
        for (let i = 0; i < blockSize; i++) out[b * blockSize + i] = (codes[i] - 1) * d;
      }
      break;
    }
    default:
      throw new Error(`cannot dequantize type ${ggmlTypeName(type)}`);
  }
  return out;
}

/** Reference quantizers (ggml's quantize_row_*_ref; I2_S as bitnet.cpp's quantize_i2_s). */
export function quantize(type: GGMLType, src: Float32Array, rows: number, cols: number): Uint8Array {
  const n = rows * cols;
  if (src.length < n) throw new Error(`quantize: ${src.length} values for ${rows}×${cols}`);
  const out = new Uint8Array(tensorBytes(type, n));
  const dv = new DataView(out.buffer);
  switch (type) {
    case GGMLType.F32:
      for (let i = 0; i < n; i++) dv.setFloat32(i * 4, src[i], true);
      break;
    case GGMLType.F16:
      for (let i = 0; i < n; i++) dv.setUint16(i * 2, f32ToF16(src[i]), true);
      break;
    case GGMLType.BF16:
      for (let i = 0; i < n; i++) dv.setUint16(i * 2, f32ToBf16(src[i]), true);
      break;
    case GGMLType.Q8_0:
      for (let b = 0; b < n / 32; b++) {
        let amax = 0;
        for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(src[b * 32 + i]));
        const d = Math.fround(amax / 127);
        const id = d ? Math.fround(1 / d) : 0;
        dv.setUint16(b * 34, f32ToF16(d), true);
        for (let i = 0; i < 32; i++) dv.setInt8(b * 34 + 2 + i, roundHalfAway(Math.fround(src[b * 32 + i] * id)));
      }
      break;
    case GGMLType.TQ1_0:
    case GGMLType.TQ2_0: {
      const tq1 = type === GGMLType.TQ1_0;
      const bsz = tq1 ? 54 : 66;
      const codes = new Uint8Array(256);
      for (let b = 0; b < n / 256; b++) {
        let amax = 0;
        for (let i = 0; i < 256; i++) amax = Math.max(amax, Math.abs(src[b * 256 + i]));
        const id = amax ? Math.fround(1 / amax) : 0;
        for (let i = 0; i < 256; i++) codes[i] = Math.max(-1, Math.min(1, roundHalfAway(Math.fround(src[b * 256 + i] * id)))) + 1;
        packTernaryBlock(type, codes, out, b * bsz);
        dv.setUint16(b * bsz + bsz - 2, f32ToF16(amax), true);
      }
      break;
    }
    case GGMLType.I2_S: {
      let amax = 0;
      for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(src[i]));
      const codes = new Uint8Array(128);
      for (let b = 0; b < n / 128; b++) {
        for (let i = 0; i < 128; i++) {
          const v = src[b * 128 + i];
          codes[i] = Math.abs(v) < 1e-6 ? 1 : v > 0 ? 2 : 0;
        }
        packTernaryBlock(type, codes, out, b * 32);
      }
      dv.setFloat32(n / 4, amax, true);
      break;
    }
    default:
      throw new Error(`cannot quantize to type ${ggmlTypeName(type)}`);
  }
  return out;
}

/** Packs one block of codes (0..2) into TQ1_0 (qs+qh, 52 bytes), TQ2_0 (64 bytes) or I2_S (32 bytes) at dst[o]. */
export function packTernaryBlock(type: GGMLType, codes: Uint8Array, dst: Uint8Array, o: number): void {
  const { blockSize, codeBytes, byte, shift } = ternaryLayout(type);
  dst.fill(0, o, o + codeBytes);
  if (type !== GGMLType.TQ1_0) {
    for (let i = 0; i < blockSize; i++) dst[o + byte[i]] |= codes[i] << shift[i];
    return;
  }
  // Each byte holds a base-3 number, first trit most significant, scaled to 0..255 by ceil(q·256/243);
  // the qh bytes hold 4 trits, shifted up by one trit. Elements reach each byte in trit order.
  const acc = new Uint16Array(codeBytes);
  for (let i = 0; i < blockSize; i++) acc[byte[i]] = acc[byte[i]] * 3 + codes[i];
  for (let j = 0; j < codeBytes; j++) {
    const q = j < 48 ? acc[j] : acc[j] * 3;
    dst[o + j] = Math.floor((q * 256 + 242) / 243);
  }
}

/** Unpacks one block's codes (0..2; 3 only from a TQ2_0/I2_S block no quantizer wrote). */
export function unpackTernaryBlock(type: GGMLType, src: Uint8Array, o: number, codes: Uint8Array): void {
  const { blockSize, byte, shift, trit } = ternaryLayout(type);
  if (type === GGMLType.TQ1_0) {
    for (let i = 0; i < blockSize; i++) codes[i] = TQ1_TRITS[src[o + byte[i]] * 5 + trit[i]];
  } else {
    for (let i = 0; i < blockSize; i++) codes[i] = (src[o + byte[i]] >> shift[i]) & 3;
  }
}
