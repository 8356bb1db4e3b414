/**
 * Ternary weights: BitNet b1.58 absmean quantization, and conversions between the ggml file layouts
 * (TQ1_0, TQ2_0, I2_S) and the canonical TernaryMatrix the kernels take (quant/matrix.ts).
 * Conversions go code to code: no f32 copy of a ternary tensor is ever made.
 */
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';
import { f16ToF32, f32ToF16 } from './half.js';
import { roundHalfAway } from './round.js';
import {
  GGML_TYPES, GGMLType, dequantize, ggmlTypeName, isTernaryType, packTernaryBlock, tensorBytes, unpackTernaryBlock,
} from './ggml.js';


function emptyTernary(rows: number, cols: number, blockSize: number): TernaryMatrix {
  if (cols % 4 !== 0) throw new Error(`ternary matrix needs cols % 4 == 0, got ${cols}`);
  return { rows, cols, codes: new Uint8Array((rows * cols) / 4), blockSize, scales: new Float32Array((rows * cols) / blockSize) };
}

function setCode(m: TernaryMatrix, e: number, code: number): void {
  m.codes[e >> 2] |= code << ((e & 3) * 2);
}

export function getCode(m: TernaryMatrix, e: number): number {
  return (m.codes[e >> 2] >> ((e & 3) * 2)) & 3;
}

/**
 * BitNet b1.58 weight quantization: scale = mean|W| (clamped to >= 1e-5), q = clamp(round(W/scale), -1, 1).
 * One scale for the whole tensor (blockSize = cols).
 */
export function absmeanTernarize(w: Float32Array, rows: number, cols: number): TernaryMatrix {
  const n = rows * cols;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.abs(w[i]);
  const scale = Math.max(sum / n, 1e-5);
  const m = emptyTernary(rows, cols, cols);
  m.scales.fill(scale);
  for (let i = 0; i < n; i++) setCode(m, i, Math.max(-1, Math.min(1, roundHalfAway(w[i] / scale))) + 1);
  return m;
}

/** Effective weights (code - 1) * scale, row-major. */
export function ternaryToF32(m: TernaryMatrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  const nb = m.cols / m.blockSize;
  for (let r = 0; r < m.rows; r++) {
    for (let j = 0; j < m.cols; j++) {
      const e = r * m.cols + j;
      out[e] = (getCode(m, e) - 1) * m.scales[r * nb + Math.floor(j / m.blockSize)];
    }
  }
  return out;
}

/** Canonical byte of 4 codes (0..2; file readers refuse code 3 first, see invalidTernaryCode). */
const VALID = [0, 1, 2, 1];
function packCanonical(codes: Uint8Array, dst: Uint8Array, at: number): void {
  for (let k = 0; k < codes.length; k += 4) {
    dst[at + (k >> 2)] = VALID[codes[k]] | (VALID[codes[k + 1]] << 2) | (VALID[codes[k + 2]] << 4) | (VALID[codes[k + 3]] << 6);
  }
}
function unpackCanonical(src: Uint8Array, at: number, codes: Uint8Array): void {
  for (let k = 0; k < codes.length; k += 4) {
    const v = src[at + (k >> 2)];
    codes[k] = VALID[v & 3]; codes[k + 1] = VALID[(v >> 2) & 3]; codes[k + 2] = VALID[(v >> 4) & 3]; codes[k + 3] = VALID[v >> 6];
  }
}

/**
 * The 2-bit code 3 (TQ2_0, I2_S; TQ1_0 trits are 0..2 by construction) is no ternary weight. No quantizer
 * writes it (llama.cpp quantize_row_tq2_0_ref and bitnet.cpp quantize_i2_s emit 0..2), so a tensor holding
 * one is corrupt. Upstream does not look: llama.cpp's dequantize_row_tq2_0 and vec_dot_tq2_0 compute
 * (code - 1)·d, i.e. +2·d (its ggml_validate_row_data checks only d, and only with --check-tensors), and
 * bitnet.cpp's I2_S kernels sum code·x - Σx, +2 as well. We refuse the tensor, naming it, before any use.
 * This is the one message both readers give (ternaryFromGGML here, WasmBackend.prepareGGML on its file bytes).
 */
export function invalidTernaryCode(type: GGMLType, element: number, cols: number, name?: string): Error {
  const r = Math.floor(element / cols), c = element % cols;
  return new Error(`${name ? `tensor "${name}"` : 'a tensor'} (${ggmlTypeName(type)}) holds the invalid 2-bit code 3 at row ${r}, ` +
    `column ${c}: a ternary code is 0, 1 or 2 (weight -1, 0, +1), so the file is corrupt ` +
    '(llama.cpp and bitnet.cpp would silently use it as weight +2)');
}

/** First element of a TQ2_0/I2_S tensor (in the file layout `bytes`) whose code is 3, or -1. */
export function findInvalidTernaryCode(type: GGMLType, bytes: Uint8Array, rows: number, cols: number): number {
  if (type !== GGMLType.TQ2_0 && type !== GGMLType.I2_S) return -1;
  const { blockSize, typeSize } = GGML_TYPES[type];
  const codes = new Uint8Array(blockSize);
  for (let b = 0; b < (rows * cols) / blockSize; b++) {
    unpackTernaryBlock(type, bytes, b * typeSize, codes);
    const k = codes.indexOf(3);
    if (k >= 0) return b * blockSize + k;
  }
  return -1;
}

/**
 * File layout -> canonical matrix, block by block (codes to codes, no f32 copy). TQ1_0/TQ2_0 keep their
 * per-256 f16 scales (blockSize 256); I2_S has one scale (blockSize = cols). A code 3 throws (invalidTernaryCode;
 * `name` is the tensor's, for the message).
 */
export function ternaryFromGGML(type: GGMLType, bytes: Uint8Array, rows: number, cols: number, name?: string): TernaryMatrix {
  const n = rows * cols;
  const need = tensorBytes(type, n);
  if (bytes.byteLength < need) throw new Error(`${ggmlTypeName(type)} tensor data too short: ${bytes.byteLength} < ${need}`);
  const { blockSize, typeSize } = GGML_TYPES[type];
  const perTensor = type === GGMLType.I2_S;
  if (!perTensor && cols % blockSize !== 0) throw new Error(`${ggmlTypeName(type)} rows must be a multiple of ${blockSize}, got ${cols}`);
  const m = emptyTernary(rows, cols, perTensor ? cols : blockSize);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const codes = new Uint8Array(blockSize);
  for (let b = 0; b < n / blockSize; b++) {
    unpackTernaryBlock(type, bytes, b * typeSize, codes);
    const bad = codes.indexOf(3);
    if (bad >= 0) throw invalidTernaryCode(type, b * blockSize + bad, cols, name);
    packCanonical(codes, m.codes, (b * blockSize) >> 2);
    if (!perTensor) m.scales[b] = f16ToF32(dv.getUint16(b * typeSize + typeSize - 2, true));
  }
  if (perTensor) m.scales.fill(dv.getFloat32(n / 4, true));
  return m;
}

/** Canonical matrix -> file layout. TQ1_0/TQ2_0 take scale blocks of 256 or whole rows; I2_S needs one scale. */
export function ternaryToGGML(type: GGMLType, m: TernaryMatrix): Uint8Array {
  const n = m.rows * m.cols;
  const { blockSize, typeSize } = GGML_TYPES[type];
  if (!isTernaryType(type)) throw new Error(`${ggmlTypeName(type)} is not a ternary type`);
  const perTensor = type === GGMLType.I2_S;
  if (perTensor) {
    const s0 = m.scales[0];
    for (let i = 1; i < m.scales.length; i++) {
      if (m.scales[i] !== s0) throw new Error('I2_S holds one scale per tensor: this matrix has several (use TQ2_0 or TQ1_0)');
    }
  } else {
    if (m.cols % blockSize !== 0) throw new Error(`${ggmlTypeName(type)} needs rows of a multiple of ${blockSize} weights, got ${m.cols}`);
    if (m.blockSize % blockSize !== 0 && m.blockSize !== m.cols) throw new Error(`cannot store ${m.blockSize}-wide scale blocks in ${ggmlTypeName(type)}`);
  }
  const out = new Uint8Array(tensorBytes(type, n));
  const dv = new DataView(out.buffer);
  const nb = m.cols / m.blockSize;
  const codes = new Uint8Array(blockSize);
  for (let b = 0; b < n / blockSize; b++) {
    const e = b * blockSize;
    unpackCanonical(m.codes, e >> 2, codes);
    packTernaryBlock(type, codes, out, b * typeSize);
    if (!perTensor) {
      const scale = m.scales[Math.floor(e / m.cols) * nb + Math.floor((e % m.cols) / m.blockSize)];
      dv.setUint16(b * typeSize + typeSize - 2, f32ToF16(scale), true);
    }
  }
  if (perTensor) dv.setFloat32(n / 4, m.scales[0], true);
  return out;
}

/** Full-precision tensor for the engine: F16 stays half (bits), everything else becomes f32. */
export function floatFromGGML(type: GGMLType, bytes: Uint8Array, rows: number, cols: number): FloatMatrix {
  if (type === GGMLType.F16) {
    const data = new Uint16Array(rows * cols);
    new Uint8Array(data.buffer).set(bytes.subarray(0, rows * cols * 2));
    return { rows, cols, dtype: 'f16', data };
  }
  return { rows, cols, dtype: 'f32', data: dequantize(type, bytes, rows * cols) };
}

/** A float matrix as f32 values (f16 converted). */
export function floatToF32(m: FloatMatrix): Float32Array {
  if (m.dtype === 'f32') return m.data as Float32Array;
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f16ToF32(m.data[i]);
  return out;
}
