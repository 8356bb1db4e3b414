/**
 * The two matrix forms every layer of the system hands around: loaders and the trainer's exporter
 * produce them, quant/ converts them to and from file layouts, kernels/ prepares them for its kernels.
 */

import type { GGMLType } from './ggml.js';

/**
 * Canonical ternary matrix. Row-major, `rows` output features × `cols` input features.
 * codes: 2-bit codes, code = w + 1 ∈ {0, 1, 2}; element j of row r is at bit offset 2*((r*cols + j) & 3)
 *        of byte (r*cols + j) >> 2 (low bits first). cols must be a multiple of 4.
 * scales: one float per (row, column block of `blockSize`): effective weight = (code - 1) * scale.
 *        A per-tensor scale is blockSize = cols with every row's scale equal.
 */
export interface TernaryMatrix {
  rows: number;
  cols: number;
  codes: Uint8Array;
  blockSize: number;
  scales: Float32Array;
}

/** Full-precision matrix, row-major rows × cols. f16 data are IEEE half bits. */
export interface FloatMatrix {
  rows: number;
  cols: number;
  dtype: 'f32' | 'f16';
  data: Float32Array | Uint16Array;
}

/**
 * A matrix still in its file, in its ggml layout (quant/ggml.ts): rows × cols, `nbytes` of data that
 * read() copies into dst (dst.byteLength === nbytes). Backends that take it (prepareGGML) read it straight
 * into their own memory, so no canonical or f32 copy is ever made.
 */
export interface GGMLTensor {
  type: GGMLType;
  rows: number;
  cols: number;
  nbytes: number;
  /** The tensor's name in its file, for error messages. */
  name?: string;
  read(dst: Uint8Array): void;
  /**
   * Optional: the dst.byteLength bytes from byte `at` of the tensor (a slice of rows), e.g. to stage a large
   * tensor in pieces or read embedding rows on demand; readable as long as its file is open.
   */
  readRange?(at: number, dst: Uint8Array): void;
}
