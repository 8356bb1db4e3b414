// The optional int8 LM head: ggml Q8_0 arithmetic (blocks of 32 columns, int8 codes, one scale each) in a
// layout for WASM SIMD. Bit-exact with src/kernels/reference.ts (quantizeQ8Ref, quantizeQ8ActsRef): the codes
// and the f16-rounded scales; the float sums within rounding. Re-exported by index.ts.
//
// Weights: codes [group of 4 rows][16-column chunk][row in group][16 bytes] (one 64-byte line per chunk and
// group: one stream for the prefetcher), scales f32 [group][block][row in group] (4 rows in one vector).
// Activations: int16 codes (widened once per token, so the dot is i32x4.dot_i16x8_s) and f32 block scales.
import { halfToF32 } from './load';
import { madd } from './vmath';

let q8Sink: u32 = 0;

/** Sink of the touch-ahead loads (keeps them from being optimized away). */
export function q8Checksum(): u32 { return q8Sink; }

// f32 -> IEEE half bits, round to nearest even (subnormals, overflow to inf), as src/quant/half.ts f32ToF16
// and ggml's GGML_FP32_TO_FP16 (F16C). Only finite non-negative scales reach it.
@inline function halfBitsOf(v: f32): u32 {
  const x = reinterpret<u32>(v);
  const sign = (x >> 16) & 0x8000;
  const exp = <i32>((x >> 23) & 0xff);
  let mant = x & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = <u32>(14 - e);
    let h = mant >> shift;
    const rem = mant & ((<u32>1 << shift) - 1), halfway = <u32>1 << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (<u32>e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** The f32 value of v rounded to half precision (the scale ggml stores in a block_q8_0). */
@inline function toHalf(v: f32): f32 { return halfToF32(halfBitsOf(v)); }

/**
 * Weights -> int8 head layout for row groups [g0, g1): ggml's quantize_row_q8_0_ref per 32-column block
 * (d = amax / 127, id = d ? 1 / d : 0, code = roundf(w * id), scale = half(d)). Source rows r (row-major,
 * type 0 = f32, 1 = IEEE half, 2 = bfloat16) start at src + (r - srcRow0) * srcRowBytes, so a loader may stage a slice of the rows.
 * Rows past `rows` (the last group's padding) get zero codes and scales. cols % 32 == 0.
 */
export function q8FromRows(codes: usize, scales: usize, src: usize, srcRow0: i32, srcRowBytes: i32, type: i32,
                           rows: i32, cols: i32, g0: i32, g1: i32): void {
  const chunks = cols >> 4, blocks = cols >> 5, elemShift = type == 0 ? 2 : 1;
  for (let g = g0; g < g1; g++) {
    for (let rr = 0; rr < 4; rr++) {
      const r = g * 4 + rr;
      const row = src + <usize>(r - srcRow0) * <usize>srcRowBytes;
      for (let b = 0; b < blocks; b++) {
        const sp = scales + (<usize>((g * blocks + b) * 4 + rr) << 2);
        const c0 = codes + (<usize>(g * chunks + 2 * b) << 6) + <usize>(rr << 4); // chunk 2b; chunk 2b + 1 is 64 on
        if (r >= rows) { store<f32>(sp, 0); v128.store(c0, i8x16.splat(0)); v128.store(c0, i8x16.splat(0), 64); continue; }
        const p = row + (<usize>(b * 32) << elemShift);
        const v0 = src4(p, 0, type), v1 = src4(p, 4, type), v2 = src4(p, 8, type), v3 = src4(p, 12, type);
        const v4 = src4(p, 16, type), v5 = src4(p, 20, type), v6 = src4(p, 24, type), v7 = src4(p, 28, type);
        const m = f32x4.max(f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
                            f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
        const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
        const d = amax / <f32>127;
        const id = f32x4.splat(d != 0 ? <f32>1 / d : 0);
        v128.store(c0, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(away4(v0, id), away4(v1, id)),
                                            i16x8.narrow_i32x4_s(away4(v2, id), away4(v3, id))));
        v128.store(c0, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(away4(v4, id), away4(v5, id)),
                                            i16x8.narrow_i32x4_s(away4(v6, id), away4(v7, id))), 64);
        store<f32>(sp, toHalf(d));
      }
    }
  }
}

const TWO_112: f32 = 5.192296858534828e33;

// Elements j..j+3 of a source row as f32, exact. A half's bits (h & 0x7fff) << 13 read as f32 are its value
// times 2^-112, subnormal halves included (as f32 subnormals), so one exact multiply by 2^112 widens it.
@inline function src4(p: usize, j: i32, type: i32): v128 {
  if (type == 0) return v128.load(p + (<usize>j << 2));
  const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p + (<usize>j << 1)));
  if (type == 2) return i32x4.shl(h, 16);
  const mag = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(TWO_112));
  return v128.or(mag, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// roundf (ties away from zero) of v * id, as i32 lanes (|v * id| <= 127.x).
@inline function away4(v: v128, id: v128): v128 {
  const x = f32x4.mul(v, id);
  const t = f32x4.trunc(x), f = f32x4.sub(x, t); // f exact
  // comparison masks are -1: subtracting the "f >= 0.5" mask adds 1, adding the "f <= -0.5" mask subtracts 1
  return i32x4.add(i32x4.sub(i32x4.trunc_sat_f32x4_s(t), f32x4.ge(f, f32x4.splat(0.5))), f32x4.le(f, f32x4.splat(-0.5)));
}

/**
 * Activations of n rows (cols % 32 == 0) -> int16 codes and f32 block scales, as ggml's x86 quantize_row_q8_0:
 * per block amax, scale = half(amax / 127), code = roundeven(x * (amax != 0 ? 127 / amax : 0)).
 */
export function q8QuantizeActs(x: usize, n: i32, cols: i32, xq: usize, dx: usize): void {
  const blocks = cols >> 5;
  for (let t = 0; t < n; t++) {
    for (let b = 0; b < blocks; b++) {
      const i = t * cols + b * 32;
      const p = x + (<usize>i << 2), q = xq + (<usize>i << 1);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      const v4 = v128.load(p, 64), v5 = v128.load(p, 80), v6 = v128.load(p, 96), v7 = v128.load(p, 112);
      const m = f32x4.max(f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
                          f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      store<f32>(dx + (<usize>(t * blocks + b) << 2), toHalf(amax / <f32>127));
      const s = f32x4.splat(amax != 0 ? <f32>127 / amax : 0);
      v128.store(q, i16x8.narrow_i32x4_s(codes4(v0, s), codes4(v1, s)));
      v128.store(q, i16x8.narrow_i32x4_s(codes4(v2, s), codes4(v3, s)), 16);
      v128.store(q, i16x8.narrow_i32x4_s(codes4(v4, s), codes4(v5, s)), 32);
      v128.store(q, i16x8.narrow_i32x4_s(codes4(v6, s), codes4(v7, s)), 48);
    }
  }
}

@inline function codes4(v: v128, s: v128): v128 { return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, s))); }

// Σ of the 4 lanes of each of a, b, c, d as one vector [Σa, Σb, Σc, Σd].
@inline function sum4x4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

// One 16-column chunk of one row: Σ code * x over its 16 columns, as i32 lanes.
@inline function chunkDot(w: usize, xa: v128, xb: v128): v128 {
  const c = v128.load(w);
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(c), xa), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(c), xb));
}

/**
 * out[t*rows + r] = Σ_b scale[r, b] * dx[t, b] * Σ_{j∈b} code[r, j] * xq[t, j] for row groups [g0, g1), n tokens
 * (tokens inside a group: its 4 rows stay in L1). The next group's lines are touched ahead.
 */
export function q8Rows(codes: usize, scales: usize, cols: i32, xq: usize, dx: usize, n: i32, out: usize, rows: i32,
                       g0: i32, g1: i32): void {
  const chunks = cols >> 4, blocks = cols >> 5, groupBytes = <usize>chunks << 6;
  let sink: u32 = 0;
  for (let g = g0; g < g1; g++) {
    const wg = codes + <usize>g * groupBytes, sg = scales + (<usize>(g * blocks) << 4);
    if (g + 1 < g1) for (let o: usize = 0; o < groupBytes; o += 64) sink ^= load<u32>(wg + groupBytes + o);
    for (let t = 0; t < n; t++) {
      const xt = xq + (<usize>(t * cols) << 1), dt = dx + (<usize>(t * blocks) << 2);
      let acc = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const xp = xt + (<usize>b << 6), wp = wg + (<usize>b << 7);
        const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
        const s0 = i32x4.add(chunkDot(wp, x0, x1), chunkDot(wp + 64, x2, x3));
        const s1 = i32x4.add(chunkDot(wp + 16, x0, x1), chunkDot(wp + 80, x2, x3));
        const s2 = i32x4.add(chunkDot(wp + 32, x0, x1), chunkDot(wp + 96, x2, x3));
        const s3 = i32x4.add(chunkDot(wp + 48, x0, x1), chunkDot(wp + 112, x2, x3));
        const sums = f32x4.convert_i32x4_s(sum4x4(s0, s1, s2, s3));
        const scale = f32x4.mul(v128.load(sg + (<usize>b << 4)), f32x4.splat(load<f32>(dt + (<usize>b << 2))));
        acc = madd(sums, scale, acc);
      }
      const o = out + (<usize>(t * rows + g * 4) << 2);
      if (g * 4 + 4 <= rows) v128.store(o, acc);
      else for (let rr = 0; rr < rows - g * 4; rr++) store<f32>(o + (<usize>rr << 2), laneOf(acc, rr));
    }
  }
  q8Sink ^= sink;
}

@inline function laneOf(v: v128, i: i32): f32 {
  return i == 0 ? f32x4.extract_lane(v, 0) : i == 1 ? f32x4.extract_lane(v, 1) : i == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3);
}
