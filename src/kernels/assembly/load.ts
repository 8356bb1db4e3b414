// Loading kernels: ternary file layouts (quant/ggml.ts) straight into the 4-row-interleaved kernel layout
// (see repackTernary in kernels.ts), and half/bfloat16 rows to f32. Re-exported by kernels.ts.
// Each computes exactly what the canonical path does (quant/ternary.ts ternaryFromGGML, then repackTernary):
// the codes bit for bit, the scales as exact f16 -> f32. The invalid 2-bit code 3 is reported to the caller
// (repackTernaryFile returns 1), which refuses the tensor as the canonical reader does.

/** IEEE half bits -> f32, exact (subnormal halves as m * 2^-24, computed without f32 subnormals). */
@inline export function halfToF32(h: u32): f32 {
  const s = (h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) { const v = <f32>m * <f32>5.9604644775390625e-8; return s ? -v : v; }
  if (e == 31) return reinterpret<f32>(s | 0x7f800000 | (m << 13));
  return reinterpret<f32>(s | ((e + 112) << 23) | (m << 13));
}

// Field f (0..3) of every byte: (v >> 2f) & 3. 16-bit shifts: bits from the neighbour byte are masked off.
@inline function field(v: v128, shift: i32): v128 {
  return v128.and(i16x8.shr_u(v, shift), i8x16.splat(3));
}

// Four code vectors into one byte per column position (k-th code at bits 2k).
@inline function packFields(c0: v128, c1: v128, c2: v128, c3: v128): v128 {
  return v128.or(v128.or(c0, i16x8.shl(c1, 2)), v128.or(i16x8.shl(c2, 4), i16x8.shl(c3, 6)));
}

// Bit 2k of each byte set where field k of `packed` is 3 (both of its bits set).
@inline function threes(packed: v128): v128 {
  return v128.and(v128.and(packed, i16x8.shr_u(packed, 1)), i8x16.splat(0x55));
}

/**
 * TQ2_0 (layout 0) or I2_S (layout 1) codes -> kernel layout for row groups [g0, g1). cols % 64 == 0;
 * TQ2_0 rows are whole 66-byte blocks of 256 (element i at qs[(i>>7)*32 + (i&31)], bits 2*((i>>5)&3));
 * I2_S blocks of 128 elements run through the tensor (element i at byte i&31, bits 6 - 2*(i>>5)).
 * For the kernel's byte p of a 64-column chunk, code k is column p + 16k: both layouts hold columns
 * p and p + 16 of a 32-column run in bytes p and p + 16 of one 32-byte run, so a chunk is two 16-byte loads.
 * Returns 1 if any code of these rows is 3 (no ternary weight: the caller refuses the tensor), else 0.
 */
export function repackTernaryFile(dst: usize, src: usize, rows: i32, cols: i32, chunks: i32, layout: i32, g0: i32, g1: i32): i32 {
  const blocksPerRow = cols >> 8;
  let bad = i8x16.splat(0);
  for (let g = g0; g < g1; g++) {
    for (let rr = 0; rr < 4; rr++) {
      const r = g * 4 + rr;
      for (let c = 0; c < chunks; c++) {
        const out = dst + (<usize>(g * chunks + c) << 6) + <usize>(rr << 4);
        if (r >= rows) { v128.store(out, i8x16.splat(0)); continue; }
        let base: usize, lo: i32, hi: i32; // shifts of codes k = 0, 1 (lo) and k = 2, 3 (hi)
        if (layout == 0) {
          const q = c & 3;
          base = src + <usize>(r * blocksPerRow + (c >> 2)) * 66 + <usize>((q >> 1) << 5);
          lo = (q & 1) << 2; hi = lo + 2;
        } else {
          const e0 = <usize>r * <usize>cols + <usize>(c << 6);
          base = src + ((e0 >> 7) << 5);
          lo = 6 - (<i32>((e0 >> 6) & 1) << 2); hi = lo - 2;
        }
        const a = v128.load(base), b = v128.load(base, 16);
        const packed = packFields(field(a, lo), field(b, lo), field(a, hi), field(b, hi));
        bad = v128.or(bad, threes(packed));
        v128.store(out, packed);
      }
    }
  }
  return v128.any_true(bad) ? 1 : 0;
}

/**
 * TQ2_0 block scales (f16 d after each block's 64 code bytes) -> kernel scales [group][block][4 rows] f32,
 * or [group][4 rows] (one scale per row) when perRow. Rows past `rows` get 0.
 */
export function tq2Scales(dst: usize, src: usize, rows: i32, blocksPerRow: i32, groups: i32, perRow: i32): void {
  const nb = perRow ? 1 : blocksPerRow;
  for (let g = 0; g < groups; g++) {
    for (let b = 0; b < nb; b++) {
      for (let rr = 0; rr < 4; rr++) {
        const r = g * 4 + rr;
        const v: f32 = r < rows ? halfToF32(<u32>load<u16>(src + <usize>(r * blocksPerRow + b) * 66 + 64)) : 0;
        store<f32>(dst + (<usize>((g * nb + b) * 4 + rr) << 2), v);
      }
    }
  }
}

/** 1 if every row's TQ2_0 block scales are equal as f32 values (so one scale per row serves), else 0. */
export function tq2ScalesUniform(src: usize, rows: i32, blocksPerRow: i32): i32 {
  for (let r = 0; r < rows; r++) {
    const row = src + <usize>(r * blocksPerRow) * 66 + 64;
    const s0 = halfToF32(<u32>load<u16>(row));
    for (let b = 1; b < blocksPerRow; b++) if (halfToF32(<u32>load<u16>(row + <usize>b * 66)) != s0) return 0;
  }
  return 1;
}

/** out[t*cols + j] = W[ids[t], j] as f32 for 16-bit W: IEEE half (bf16 = 0, exact) or bfloat16 (bf16 = 1). */
export function gatherHalfRows(w: usize, cols: i32, ids: usize, n: i32, out: usize, bf16: i32): void {
  for (let t = 0; t < n; t++) {
    const row = w + (<usize>load<i32>(ids + (<usize>t << 2)) * <usize>cols << 1);
    const o = out + (<usize>(t * cols) << 2);
    if (bf16) for (let j = 0; j < cols; j++) store<u32>(o + (<usize>j << 2), <u32>load<u16>(row + (<usize>j << 1)) << 16);
    else for (let j = 0; j < cols; j++) store<f32>(o + (<usize>j << 2), halfToF32(<u32>load<u16>(row + (<usize>j << 1))));
  }
}
