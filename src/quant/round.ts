/**
 * The two rounding rules bitnet-ts uses, stated once.
 *
 * - roundHalfEven: activation quantization. ggml's `nearest_int` (float + 1.5·2^23 trick, ggml-quants.c),
 *   bitnet.cpp's `quantize_row_i8_s`, PyTorch's `torch.round` and the reference BitNet code all round
 *   exact .5 ties to the even integer. The WASM kernels use `f32x4.nearest` (IEEE roundeven): bit-exact.
 * - roundHalfAway: C's `lroundf`, which ggml's `quantize_row_{q8_0,tq1_0,tq2_0}_ref` use for weights.
 */

/** Round to the nearest integer, ties to even (2.5 → 2, 3.5 → 4, -2.5 → -2). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // ties toward +∞
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Round to the nearest integer, ties away from zero (2.5 → 3, -2.5 → -3), as C's lroundf. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}
