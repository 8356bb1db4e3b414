// The optional quantized LM heads: ggml Q8_0 arithmetic (blocks of 32 columns, int8 codes, one half-precision scale
// each) and its 7-bit twin (codes -63..63, d = amax / 63), in a layout for WASM SIMD. Bit-exact with
// src/kernels/reference.ts (quantizeQ8Ref with qmax 127 or 63, quantizeQ8ActsRef): the codes and the f16 scales; the
// float sums within rounding. Re-exported by index.ts.
//
// Weights, groups of Q8_ROWS = 8 rows, one contiguous stream per group: codes [group][block][step 0..7][half 0..1]
// [16 bytes], a 16-byte vector holding rows 4h..4h+3 × the step's 4 columns (row-major inside the vector), so that
// a dot of 4 adjacent bytes lands one row in one i32 lane (no transpose per block); scales IEEE half bits
// [group][block][row 0..7] (16 bytes per group and block). int8: the codes as int8. int7: code + 64 (1..127, u8),
// so the weights are the unsigned (0..127) operand of the relaxed dot and x's int8 codes the signed one.
// Activations per token, 2 * cols bytes. int8, relaxed build: |code| (u8, 0..127) then a sign mask (0 / -1) per
// column (the dot's unsigned operand must be in 0..127: the weights take x's sign). int7, relaxed build: the int8
// codes (first cols bytes), and per block -64 * Σ codes (i32, the bias of the weights, seeding the block's sum).
// SIMD128 build, both heads: the codes as int16 (for i32x4.dot_i16x8_s), and the bias for int7.
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

/** Rows per weight group (see the layout above). */
const Q8_ROWS = 8;

/** The int7 head's weight bias: codes are stored as w + Q7_BIAS (1..127). */
const Q7_BIAS: i32 = 64;

/**
 * Weights -> head layout for row groups [g0, g1): ggml's quantize_row_q8_0_ref per 32-column block
 * (d = amax / qmax, id = d ? 1 / d : 0, code = roundf(w * id), scale = half(d)); qmax 127 (int8) or 63 (int7,
 * stored biased, see above). Source rows r (row-major, type 0 = f32, 1 = IEEE half, 2 = bfloat16) start at
 * src + (r - srcRow0) * srcRowBytes, so a loader may stage a slice of the rows. Rows past `rows` (the last group's
 * padding) get zero weights and scales. cols % 32 == 0.
 */
export function q8FromRows(codes: usize, scales: usize, src: usize, srcRow0: i32, srcRowBytes: i32, type: i32,
                           rows: i32, cols: i32, g0: i32, g1: i32, qmax: i32): void {
  const blocks = cols >> 5, elemShift = type == 0 ? 2 : 1;
  const bias = qmax == 127 ? 0 : Q7_BIAS, zero = i32x4.splat(bias * 0x01010101), biasv = i32x4.splat(bias);
  for (let g = g0; g < g1; g++) {
    for (let rr = 0; rr < Q8_ROWS; rr++) {
      const r = g * Q8_ROWS + rr;
      const row = src + <usize>(r - srcRow0) * <usize>srcRowBytes;
      for (let b = 0; b < blocks; b++) {
        const gb = g * blocks + b;
        const sp = scales + (<usize>(gb * Q8_ROWS + rr) << 1);
        const c0 = codes + (<usize>gb << 8) + (<usize>(rr >> 2) << 4) + (<usize>(rr & 3) << 2); // step k: + 32 k
        if (r >= rows) {
          store<u16>(sp, 0);
          for (let k = 0; k < 8; k++) v128.store32_lane(c0 + (<usize>k << 5), zero, 0);
          continue;
        }
        const p = row + (<usize>(b * 32) << elemShift);
        const v0 = src4(p, 0, type), v1 = src4(p, 4, type), v2 = src4(p, 8, type), v3 = src4(p, 12, type);
        const v4 = src4(p, 16, type), v5 = src4(p, 20, type), v6 = src4(p, 24, type), v7 = src4(p, 28, type);
        const m = f32x4.max(f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
                            f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
        const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)),
                         max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
        const d = amax / <f32>qmax;
        const id = f32x4.splat(d != 0 ? <f32>1 / d : 0);
        const lo = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(away4(v0, id, biasv), away4(v1, id, biasv)),
                                        i16x8.narrow_i32x4_s(away4(v2, id, biasv), away4(v3, id, biasv)));
        const hi = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(away4(v4, id, biasv), away4(v5, id, biasv)),
                                        i16x8.narrow_i32x4_s(away4(v6, id, biasv), away4(v7, id, biasv)));
        v128.store32_lane(c0, lo, 0); v128.store32_lane(c0, lo, 1, 32); v128.store32_lane(c0, lo, 2, 64);
        v128.store32_lane(c0, lo, 3, 96); v128.store32_lane(c0, hi, 0, 128); v128.store32_lane(c0, hi, 1, 160);
        v128.store32_lane(c0, hi, 2, 192); v128.store32_lane(c0, hi, 3, 224);
        store<u16>(sp, <u16>halfBitsOf(d));
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

// roundf (ties away from zero) of v * id, plus bias, as i32 lanes (|v * id| <= qmax + a few ulps).
@inline function away4(v: v128, id: v128, bias: v128): v128 {
  const x = f32x4.mul(v, id);
  const t = f32x4.trunc(x), f = f32x4.sub(x, t); // f exact
  // comparison masks are -1: subtracting the "f >= 0.5" mask adds 1, adding the "f <= -0.5" mask subtracts 1
  const r = i32x4.add(i32x4.sub(i32x4.trunc_sat_f32x4_s(t), f32x4.ge(f, f32x4.splat(0.5))), f32x4.le(f, f32x4.splat(-0.5)));
  return i32x4.add(r, bias);
}

/**
 * Activations of n rows (cols % 32 == 0) -> codes (layout above) and f32 block scales, as ggml's x86
 * quantize_row_q8_0: per block amax, scale = half(amax / 127), code = roundeven(x * (amax != 0 ? 127 / amax : 0)).
 * xbias == 0: the int8 head's layout; else the int7 head's, with -64 * Σ codes per (token, block) at xbias (i32).
 */
export function q8QuantizeActs(x: usize, n: i32, cols: i32, xq: usize, dx: usize, xbias: usize): void {
  const blocks = cols >> 5;
  for (let t = 0; t < n; t++) {
    for (let b = 0; b < blocks; b++) {
      const i = t * cols + b * 32;
      const p = x + (<usize>i << 2);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      const v4 = v128.load(p, 64), v5 = v128.load(p, 80), v6 = v128.load(p, 96), v7 = v128.load(p, 112);
      const m = f32x4.max(f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
                          f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)),
                       max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      store<f32>(dx + (<usize>(t * blocks + b) << 2), toHalf(amax / <f32>127));
      const s = f32x4.splat(amax != 0 ? <f32>127 / amax : 0);
      const q0 = i16x8.narrow_i32x4_s(codes4(v0, s), codes4(v1, s)), q1 = i16x8.narrow_i32x4_s(codes4(v2, s), codes4(v3, s));
      const q2 = i16x8.narrow_i32x4_s(codes4(v4, s), codes4(v5, s)), q3 = i16x8.narrow_i32x4_s(codes4(v6, s), codes4(v7, s));
      if (xbias) { // |Σ| <= 32 * 127: the i16 lane sums (4 codes each) are exact
        const sum = i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.add(q0, q1), i16x8.add(q2, q3)));
        const total = i32x4.extract_lane(sum, 0) + i32x4.extract_lane(sum, 1) + i32x4.extract_lane(sum, 2) +
          i32x4.extract_lane(sum, 3);
        store<i32>(xbias + (<usize>(t * blocks + b) << 2), -Q7_BIAS * total);
      }
      if (ASC_FEATURE_RELAXED_SIMD) {
        const c0 = i8x16.narrow_i16x8_s(q0, q1), c1 = i8x16.narrow_i16x8_s(q2, q3); // |code| <= 127: exact
        const q = xq + <usize>(t * 2 * cols + b * 32), z = i8x16.splat(0);
        if (xbias) { v128.store(q, c0); v128.store(q, c1, 16); continue; }
        v128.store(q, i8x16.abs(c0)); v128.store(q, i8x16.abs(c1), 16);
        v128.store(q + <usize>cols, i8x16.lt_s(c0, z)); v128.store(q + <usize>cols, i8x16.lt_s(c1, z), 16);
      } else {
        const q = xq + (<usize>i << 1);
        v128.store(q, q0); v128.store(q, q1, 16); v128.store(q, q2, 32); v128.store(q, q3, 48);
      }
    }
  }
}

@inline function codes4(v: v128, s: v128): v128 { return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, s))); }

// Touch-ahead of the decode stream (n == 1): per block (4 lines of codes), one word of each of the 4 lines
// Q8_AHEAD lines ahead; per 4 blocks, one word Q8_AHEAD / 16 lines ahead in the scales (see ternaryGroup in
// kernels.ts). 2B4T head, 2 threads: 19.2-19.4 ms with no touches, 17.0-18.9 at 8..32 lines ahead (noise between
// runs ~1 ms), 20-21 ms at 64..256 lines; bursts of 8 lines every 2 blocks or 2 lines per block were no better.
const Q8_AHEAD: usize = 16;

// Relaxed build, one step (4 columns) of one half (4 rows): acc + Σ_4 cols w * x, one row per i32 lane. a: the
// 4 |x| codes splatted, s: their sign masks; w takes x's sign ((w ^ s) - s), so the i7 operand is |x| (exact on
// every engine: |w| <= 127, pair sums <= 2 * 127 * 127 fit i16).
@inline function stepRelaxed(acc: v128, w: v128, a: v128, s: v128): v128 {
  return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(i8x16.sub(v128.xor(w, s), s), a)));
}

// Relaxed build, int7 head, one step of one half: a = the 4 int8 x codes splatted (signed operand), w = the biased
// weights (1..127, the unsigned one): exact on every engine (pair sums <= 2 * 127 * 127). dot + extadd + add
// (3 ops), or (add) the same sum by one i32x4.relaxed_dot_i8x16_i7x16_add_s: 1 op where the engine lowers it to
// VNNI (vpdpbusd: V8 >= 12), 3 elsewhere (Node 20).
@inline function step7(acc: v128, w: v128, a: v128, add: bool): v128 {
  if (add) return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, w, acc);
  return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(a, w)));
}

// SIMD128 build, one step of one half: lanes [r0 c01, r0 c23, r1 c01, r1 c23] into lo, rows 2, 3 into hi.
// x: the step's 4 int16 codes twice; u: the weights are the int7 head's biased u8 codes (else int8).
@inline function stepLo(acc: v128, w: v128, x: v128, u: bool): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(u ? i16x8.extend_low_i8x16_u(w) : i16x8.extend_low_i8x16_s(w), x));
}
@inline function stepHi(acc: v128, w: v128, x: v128, u: bool): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(u ? i16x8.extend_high_i8x16_u(w) : i16x8.extend_high_i8x16_s(w), x));
}

// [lo0 + lo1, lo2 + lo3, hi0 + hi1, hi2 + hi3]: the SIMD128 step lanes -> one row per lane.
@inline function pairs(lo: v128, hi: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(lo, hi, 0, 2, 4, 6), v128.shuffle<i32>(lo, hi, 1, 3, 5, 7));
}

// 4 half scale bits (u16 lanes 0..3, or 4..7 when hi) -> f32 of value * 2^-112, exact (subnormal halves too).
@inline function scales4(h: v128, hi: bool): v128 {
  return i32x4.shl(hi ? i32x4.extend_high_i16x8_u(h) : i32x4.extend_low_i16x8_u(h), 13);
}

/** q8Rows' inner-loop forms (jobs.ts HeadForm): the int8 head; the int7 head by dot + extadd + add, or by dot_add. */
const FORM_INT8 = 0, FORM_INT7_DOT = 1, FORM_INT7_DOT_ADD = 2;

/**
 * out[t*rows + r] = Σ_b scale[r, b] * dx[t, b] * Σ_{j∈b} code[r, j] * xq[t, j] for row groups [g0, g1), n tokens
 * (tokens inside a group: its 8 rows stay in L1). Block sums are exact integers (int7: Σ (code + 64) * xq seeded
 * with xbias[t, b] = -64 * Σ xq); each block adds f32(sum) * f32(scale * dx) to an f32 accumulator (dx * 2^112
 * meets the scale's 2^-112: one rounding, as scale * dx). form: FORM_INT8, or an int7 form (the relaxed build's two
 * give bit-identical sums; the SIMD128 build has one int7 loop). n == 1 touches the stream ahead as it goes; n > 1
 * touches the next group in one go.
 */
export function q8Rows(codes: usize, scales: usize, cols: i32, xq: usize, dx: usize, xbias: usize, n: i32, out: usize,
                       rows: i32, g0: i32, g1: i32, form: i32): void {
  // one inlined copy per form, each with its inner loop fixed at compile time (no branch per block)
  if (form == FORM_INT8) rowsOf(codes, scales, cols, xq, dx, xbias, n, out, rows, g0, g1, FORM_INT8);
  else if (form == FORM_INT7_DOT) rowsOf(codes, scales, cols, xq, dx, xbias, n, out, rows, g0, g1, FORM_INT7_DOT);
  else rowsOf(codes, scales, cols, xq, dx, xbias, n, out, rows, g0, g1, FORM_INT7_DOT_ADD);
}

@inline function rowsOf(codes: usize, scales: usize, cols: i32, xq: usize, dx: usize, xbias: usize, n: i32, out: usize,
                        rows: i32, g0: i32, g1: i32, form: i32): void {
  const blocks = cols >> 5, groupBytes = <usize>blocks << 8;
  const wEnd = codes + <usize>g1 * groupBytes, sEnd = scales + (<usize>(g1 * blocks) << 4);
  const touch = n == 1;
  let sink: u32 = 0;
  for (let g = g0; g < g1; g++) {
    const wg = codes + <usize>g * groupBytes, sg = scales + (<usize>(g * blocks) << 4);
    if (!touch && g + 1 < g1) for (let o: usize = 0; o < groupBytes; o += 64) sink ^= load<u32>(wg + groupBytes + o);
    const paired = ASC_FEATURE_RELAXED_SIMD && form != FORM_INT8;
    for (let t = 0; t < n; t++) {
      if (paired && t + 3 < n) { // int7: tokens t..t + 3 share each weight load
        quad7(wg, sg, blocks, xq, dx, xbias, cols, t, out, rows, g, form == FORM_INT7_DOT_ADD);
        t += 3;
        continue;
      }
      if (paired && t + 1 < n) { // int7: tokens t, t + 1 share each weight load
        pair7(wg, sg, blocks, xq, dx, xbias, cols, t, out, rows, g, form == FORM_INT7_DOT_ADD);
        t++;
        continue;
      }
      const xt = xq + <usize>(t * 2 * cols), dt = dx + (<usize>(t * blocks) << 2), bt = xbias + (<usize>(t * blocks) << 2);
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const wp = wg + (<usize>b << 8), sp = sg + (<usize>b << 4);
        if (touch) {
          const ahead = wp + (Q8_AHEAD << 6), sAhead = sp + (Q8_AHEAD << 2);
          if (ahead + 256 <= wEnd) sink ^= load<u32>(ahead) ^ load<u32>(ahead, 64) ^ load<u32>(ahead, 128) ^ load<u32>(ahead, 192);
          if ((b & 3) == 0 && sAhead < sEnd) sink ^= load<u32>(sAhead);
        }
        let s0: v128, s1: v128;
        if (ASC_FEATURE_RELAXED_SIMD) {
          const xa = xt + (<usize>b << 5);
          if (form == FORM_INT8) {
            const xs = xa + <usize>cols;
            s0 = i32x4.splat(0); s1 = i32x4.splat(0);
            for (let k: usize = 0; k < 32; k += 16) { // 4 steps (16 columns) per iteration
              const w = wp + (k << 3);
              let a = v128.load32_splat(xa + k), s = v128.load32_splat(xs + k);
              s0 = stepRelaxed(s0, v128.load(w), a, s); s1 = stepRelaxed(s1, v128.load(w, 16), a, s);
              a = v128.load32_splat(xa + k, 4); s = v128.load32_splat(xs + k, 4);
              s0 = stepRelaxed(s0, v128.load(w, 32), a, s); s1 = stepRelaxed(s1, v128.load(w, 48), a, s);
              a = v128.load32_splat(xa + k, 8); s = v128.load32_splat(xs + k, 8);
              s0 = stepRelaxed(s0, v128.load(w, 64), a, s); s1 = stepRelaxed(s1, v128.load(w, 80), a, s);
              a = v128.load32_splat(xa + k, 12); s = v128.load32_splat(xs + k, 12);
              s0 = stepRelaxed(s0, v128.load(w, 96), a, s); s1 = stepRelaxed(s1, v128.load(w, 112), a, s);
            }
          } else {
            const add = form == FORM_INT7_DOT_ADD;
            s0 = v128.load32_splat(bt + (<usize>b << 2)); s1 = s0;
            for (let k: usize = 0; k < 32; k += 16) {
              const w = wp + (k << 3);
              let a = v128.load32_splat(xa + k);
              s0 = step7(s0, v128.load(w), a, add); s1 = step7(s1, v128.load(w, 16), a, add);
              a = v128.load32_splat(xa + k, 4);
              s0 = step7(s0, v128.load(w, 32), a, add); s1 = step7(s1, v128.load(w, 48), a, add);
              a = v128.load32_splat(xa + k, 8);
              s0 = step7(s0, v128.load(w, 64), a, add); s1 = step7(s1, v128.load(w, 80), a, add);
              a = v128.load32_splat(xa + k, 12);
              s0 = step7(s0, v128.load(w, 96), a, add); s1 = step7(s1, v128.load(w, 112), a, add);
            }
          }
        } else { // int7: the same loop on the biased u8 codes, then the bias
          const xb = xt + (<usize>b << 6), u = form != FORM_INT8;
          let l0 = i32x4.splat(0), h0 = i32x4.splat(0), l1 = i32x4.splat(0), h1 = i32x4.splat(0);
          for (let k: usize = 0; k < 64; k += 16) { // 2 steps (8 columns) per iteration
            const w = wp + (k << 2);
            let x = v128.load64_splat(xb + k);
            let w0 = v128.load(w), w1 = v128.load(w, 16);
            l0 = stepLo(l0, w0, x, u); h0 = stepHi(h0, w0, x, u); l1 = stepLo(l1, w1, x, u); h1 = stepHi(h1, w1, x, u);
            x = v128.load64_splat(xb + k, 8);
            w0 = v128.load(w, 32); w1 = v128.load(w, 48);
            l0 = stepLo(l0, w0, x, u); h0 = stepHi(h0, w0, x, u); l1 = stepLo(l1, w1, x, u); h1 = stepHi(h1, w1, x, u);
          }
          s0 = pairs(l0, h0); s1 = pairs(l1, h1);
          if (u) {
            const bias = v128.load32_splat(bt + (<usize>b << 2));
            s0 = i32x4.add(s0, bias); s1 = i32x4.add(s1, bias);
          }
        }
        const sc = v128.load(sp), d = f32x4.splat(load<f32>(dt + (<usize>b << 2)) * TWO_112);
        acc0 = madd(f32x4.convert_i32x4_s(s0), f32x4.mul(scales4(sc, false), d), acc0);
        acc1 = madd(f32x4.convert_i32x4_s(s1), f32x4.mul(scales4(sc, true), d), acc1);
      }
      storeRows(out + (<usize>(t * rows + g * Q8_ROWS) << 2), acc0, acc1, rows - g * Q8_ROWS);
    }
  }
  q8Sink ^= sink;
}

// One group's 8 outputs (rows 0..3 in acc0, 4..7 in acc1) at o; `left` rows remain in the matrix (the last group).
@inline function storeRows(o: usize, acc0: v128, acc1: v128, left: i32): void {
  if (left >= Q8_ROWS) { v128.store(o, acc0); v128.store(o, acc1, 16); return; }
  for (let rr = 0; rr < min(4, left); rr++) store<f32>(o + (<usize>rr << 2), laneOf(acc0, rr));
  for (let rr = 4; rr < left; rr++) store<f32>(o + (<usize>rr << 2), laneOf(acc1, rr - 4));
}

// Relaxed build, int7 head, tokens t and t + 1 of group g: each weight vector loaded once for both (4 block sums,
// 4 f32 accumulators); per token the same arithmetic in the same order as rowsOf's one-token loop (same outputs).
// 2B4T head, 2 threads: n = 16 107 -> 89-92 ms, n = 4 35.4 -> 32.4 (n = 1 unchanged: it never pairs).
@inline function pair7(wg: usize, sg: usize, blocks: i32, xq: usize, dx: usize, xbias: usize, cols: i32, t: i32,
                       out: usize, rows: i32, g: i32, add: bool): void {
  const xa = xq + <usize>(t * 2 * cols), xb = xa + <usize>(2 * cols);
  const da = dx + (<usize>(t * blocks) << 2), db = da + (<usize>blocks << 2);
  const ba = xbias + (<usize>(t * blocks) << 2), bb = ba + (<usize>blocks << 2);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const wp = wg + (<usize>b << 8), sp = sg + (<usize>b << 4), xo = <usize>b << 5;
    let sa0 = v128.load32_splat(ba + (<usize>b << 2)), sa1 = sa0;
    let sb0 = v128.load32_splat(bb + (<usize>b << 2)), sb1 = sb0;
    for (let k: usize = 0; k < 32; k += 4) { // one step (4 columns) per iteration
      const w = wp + (k << 3), w0 = v128.load(w), w1 = v128.load(w, 16);
      const x0 = v128.load32_splat(xa + xo + k), x1 = v128.load32_splat(xb + xo + k);
      sa0 = step7(sa0, w0, x0, add); sa1 = step7(sa1, w1, x0, add);
      sb0 = step7(sb0, w0, x1, add); sb1 = step7(sb1, w1, x1, add);
    }
    const sc = v128.load(sp), f0 = scales4(sc, false), f1 = scales4(sc, true);
    const d0 = f32x4.splat(load<f32>(da + (<usize>b << 2)) * TWO_112), d1 = f32x4.splat(load<f32>(db + (<usize>b << 2)) * TWO_112);
    a0 = madd(f32x4.convert_i32x4_s(sa0), f32x4.mul(f0, d0), a0); a1 = madd(f32x4.convert_i32x4_s(sa1), f32x4.mul(f1, d0), a1);
    b0 = madd(f32x4.convert_i32x4_s(sb0), f32x4.mul(f0, d1), b0); b1 = madd(f32x4.convert_i32x4_s(sb1), f32x4.mul(f1, d1), b1);
  }
  const r0 = g * Q8_ROWS;
  storeRows(out + (<usize>(t * rows + r0) << 2), a0, a1, rows - r0);
  storeRows(out + (<usize>((t + 1) * rows + r0) << 2), b0, b1, rows - r0);
}

// Relaxed build, int7 head, tokens t..t + 3 of group g: each weight vector loaded once for all four (8 block sums,
// 8 f32 accumulators); per token the same arithmetic in the same order as rowsOf's one-token loop (same outputs).
// bench-head, 2B4T head, 2 threads, Node 24 add form, 3 runs alternating: n = 4 24.0-25.2 -> 22.9-24.3 ms,
// n = 8 33.6-35.9 -> 32.9-34.1, n = 16 54.4-60.0 -> 52.0-54.4.
@inline function quad7(wg: usize, sg: usize, blocks: i32, xq: usize, dx: usize, xbias: usize, cols: i32, t: i32,
                       out: usize, rows: i32, g: i32, add: bool): void {
  const row = <usize>(2 * cols), xa = xq + <usize>(t * 2 * cols);
  const bRow = <usize>blocks << 2, da = dx + (<usize>(t * blocks) << 2), ba = xbias + (<usize>(t * blocks) << 2);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), e0 = f32x4.splat(0), e1 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const wp = wg + (<usize>b << 8), sp = sg + (<usize>b << 4), xo = xa + (<usize>b << 5), bo = ba + (<usize>b << 2);
    let sa0 = v128.load32_splat(bo), sa1 = sa0;
    let sb0 = v128.load32_splat(bo + bRow), sb1 = sb0;
    let sc0 = v128.load32_splat(bo + 2 * bRow), sc1 = sc0;
    let se0 = v128.load32_splat(bo + 3 * bRow), se1 = se0;
    for (let k: usize = 0; k < 32; k += 4) { // one step (4 columns) per iteration
      const w = wp + (k << 3), w0 = v128.load(w), w1 = v128.load(w, 16), x = xo + k;
      let xv = v128.load32_splat(x);
      sa0 = step7(sa0, w0, xv, add); sa1 = step7(sa1, w1, xv, add);
      xv = v128.load32_splat(x + row);
      sb0 = step7(sb0, w0, xv, add); sb1 = step7(sb1, w1, xv, add);
      xv = v128.load32_splat(x + 2 * row);
      sc0 = step7(sc0, w0, xv, add); sc1 = step7(sc1, w1, xv, add);
      xv = v128.load32_splat(x + 3 * row);
      se0 = step7(se0, w0, xv, add); se1 = step7(se1, w1, xv, add);
    }
    const sc = v128.load(sp), f0 = scales4(sc, false), f1 = scales4(sc, true), dp = da + (<usize>b << 2);
    let d = f32x4.splat(load<f32>(dp) * TWO_112);
    a0 = madd(f32x4.convert_i32x4_s(sa0), f32x4.mul(f0, d), a0);
    a1 = madd(f32x4.convert_i32x4_s(sa1), f32x4.mul(f1, d), a1);
    d = f32x4.splat(load<f32>(dp + bRow) * TWO_112);
    b0 = madd(f32x4.convert_i32x4_s(sb0), f32x4.mul(f0, d), b0);
    b1 = madd(f32x4.convert_i32x4_s(sb1), f32x4.mul(f1, d), b1);
    d = f32x4.splat(load<f32>(dp + 2 * bRow) * TWO_112);
    c0 = madd(f32x4.convert_i32x4_s(sc0), f32x4.mul(f0, d), c0);
    c1 = madd(f32x4.convert_i32x4_s(sc1), f32x4.mul(f1, d), c1);
    d = f32x4.splat(load<f32>(dp + 3 * bRow) * TWO_112);
    e0 = madd(f32x4.convert_i32x4_s(se0), f32x4.mul(f0, d), e0);
    e1 = madd(f32x4.convert_i32x4_s(se1), f32x4.mul(f1, d), e1);
  }
  const r0 = g * Q8_ROWS, o = out + (<usize>(t * rows + r0) << 2), oRow = <usize>rows << 2;
  storeRows(o, a0, a1, rows - r0);
  storeRows(o + oRow, b0, b1, rows - r0);
  storeRows(o + 2 * oRow, c0, c1, rows - r0);
  storeRows(o + 3 * oRow, e0, e1, rows - r0);
}

@inline function laneOf(v: v128, i: i32): f32 {
  return i == 0 ? f32x4.extract_lane(v, 0) : i == 1 ? f32x4.extract_lane(v, 1) : i == 2 ? f32x4.extract_lane(v, 2)
    : f32x4.extract_lane(v, 3);
}
