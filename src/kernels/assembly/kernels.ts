// WASM SIMD kernels (AssemblyScript). Compiled twice by scripts/build-wasm.mjs:
//   build/kernels-simd128.wasm  (SIMD128 only: runs everywhere)
//   build/kernels-relaxed.wasm  (+ relaxed SIMD: i16x8.relaxed_dot_i8x16_i7x16_s, f32x4.relaxed_madd)
// ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so each build keeps one branch.
//
// Memory is imported (shared, one per backend); JS owns allocation (a bump allocator) and passes
// byte addresses. No kernel allocates; the only static data is the std Math tables (below 64 KiB,
// under JS's heap base). Every kernel that threads takes a [begin, end) range of its outer work
// items; src/kernels/jobs.ts splits them.
//
// Ternary layout (see repackTernary): rows in groups of 4, columns in chunks of 64.
// Group g, chunk c is 64 bytes at (g * chunks + c) * 64: 16 bytes per row of the group; byte i of
// a row holds the 2-bit codes (w + 1) of columns c*64 + i + 16k in bits 2k..2k+1 (k = 0..3).
// One 16-byte load thus yields 4 vectors of 16 codes that line up with 4 plain loads of x.

import { halfToF32 } from './load';
export { repackTernaryFile, tq2Scales, tq2ScalesUniform, gatherHalfRows } from './load';
import { expv, hsumf, madd } from './vmath';

// ---------------------------------------------------------------------------------------------
// Ternary weights: repack and matmul

/** Repack canonical row-major 2-bit codes (see backend.ts) into the 4-row-interleaved layout. */
export function repackTernary(dst: usize, src: usize, rows: i32, cols: i32, groups: i32, chunks: i32): void {
  const rowBytes = cols >> 2;
  for (let g = 0; g < groups; g++) {
    for (let c = 0; c < chunks; c++) {
      const out = dst + (<usize>(g * chunks + c) << 6);
      for (let rr = 0; rr < 4; rr++) {
        const r = g * 4 + rr;
        for (let i = 0; i < 16; i++) {
          let byte: u32 = 0;
          if (r < rows) {
            for (let k = 0; k < 4; k++) {
              const j = c * 64 + k * 16 + i;
              if (j < cols) {
                const code = (<u32>load<u8>(src + <usize>(r * rowBytes + (j >> 2))) >> ((j & 3) << 1)) & 3;
                byte |= code << (k << 1);
              }
            }
          }
          store<u8>(out + <usize>(rr * 16 + i), <u8>byte);
        }
      }
    }
  }
}

/** out[t*nBlocks + b] = Σ xq[t*cols + b*blockLen .. +blockLen): the "− sum(x)" term of dot(x, code − 1). */
export function blockSums(xq: usize, n: i32, cols: i32, blockLen: i32, nBlocks: i32, out: usize): void {
  for (let t = 0; t < n; t++) {
    for (let b = 0; b < nBlocks; b++) {
      const p = xq + <usize>(t * cols + b * blockLen);
      let acc = i32x4.splat(0);
      let j = 0;
      for (; j + 16 <= blockLen; j += 16) {
        acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(p + <usize>j))));
      }
      let s = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
      for (; j < blockLen; j++) s += <i32>load<i8>(p + <usize>j);
      store<i32>(out + (<usize>(t * nBlocks + b) << 2), s);
    }
  }
}

// 16 int8 x times 16 codes in 0..2, pairwise summed into 8 i16 lanes (exact: |lane| <= 512).
@inline export function dotCodes(x: v128, codes: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i16x8.relaxed_dot_i8x16_i7x16_s(x, codes); // exact on x86 because codes are in 0..127
  } else {
    return i16x8.add(i16x8.extmul_low_i8x16_s(x, codes), i16x8.extmul_high_i8x16_s(x, codes));
  }
}

// acc + the pairwise sums of dotCodes(x, codes) in i32 lanes, one instruction where the engine lowers
// i32x4.relaxed_dot_i8x16_i7x16_add_s to AVX-VNNI vpdpbusd (V8 12+; Node 20's V8 11.3 emits 3 ops instead). Exact on
// x86 for the same reason as dotCodes: every lane of `codes` is in 0..127, so no i16 intermediate saturates.
// Used by the kernels' DotForm.Add paths (src/kernels/jobs.ts), chosen at load by dotFormProbe's timing.
@inline export function dotAddCodes(acc: v128, x: v128, codes: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(x, codes, acc);
  } else {
    return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(dotCodes(x, codes)));
  }
}

// The kernels' two dot forms (jobs.ts DotForm): 0 = pair (dotCodes into i16 + i16x8.add, flushed to i32),
// 1 = add (dotAddCodes straight into i32).
const DOT_ADD = 1;

/**
 * Calibration loop for the dot form, shaped like ternaryTile's inner loop (4 code vectors × 2 token rows, 8
 * accumulators): `steps` (<= 64) steps of 64 bytes of codes (0..2) at `c` against two rows of 16·steps int8 at `x`,
 * `reps` times, in `form`; returns the exact integer sum (the caller checks both forms agree, and times them:
 * wasm-module.ts probeDotForm). 4 Ki multiply-adds per rep at 32 steps, L1-resident.
 */
export function dotFormProbe(x: usize, c: usize, steps: i32, reps: i32, form: i32): i32 {
  let total = i32x4.splat(0);
  const xb = x + (<usize>steps << 4);
  for (let r = 0; r < reps; r++) {
    if (form == DOT_ADD) {
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (let s = 0; s < steps; s++) {
        const cp = c + (<usize>s << 6), xo = <usize>s << 4;
        const c0 = v128.load(cp), c1 = v128.load(cp, 16), c2 = v128.load(cp, 32), c3 = v128.load(cp, 48);
        const va = v128.load(x + xo), vb = v128.load(xb + xo);
        a0 = dotAddCodes(a0, va, c0); a1 = dotAddCodes(a1, va, c1); a2 = dotAddCodes(a2, va, c2);
        a3 = dotAddCodes(a3, va, c3); b0 = dotAddCodes(b0, vb, c0); b1 = dotAddCodes(b1, vb, c1);
        b2 = dotAddCodes(b2, vb, c2); b3 = dotAddCodes(b3, vb, c3);
      }
      total = i32x4.add(total, i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)),
                                         i32x4.add(i32x4.add(b0, b1), i32x4.add(b2, b3))));
    } else { // i16 lanes gain <= 512 per step: 64 steps stay exact (as FLUSH_STEPS)
      let a0 = i16x8.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (let s = 0; s < steps; s++) {
        const cp = c + (<usize>s << 6), xo = <usize>s << 4;
        const c0 = v128.load(cp), c1 = v128.load(cp, 16), c2 = v128.load(cp, 32), c3 = v128.load(cp, 48);
        const va = v128.load(x + xo), vb = v128.load(xb + xo);
        a0 = i16x8.add(a0, dotCodes(va, c0)); a1 = i16x8.add(a1, dotCodes(va, c1));
        a2 = i16x8.add(a2, dotCodes(va, c2)); a3 = i16x8.add(a3, dotCodes(va, c3));
        b0 = i16x8.add(b0, dotCodes(vb, c0)); b1 = i16x8.add(b1, dotCodes(vb, c1));
        b2 = i16x8.add(b2, dotCodes(vb, c2)); b3 = i16x8.add(b3, dotCodes(vb, c3));
      }
      const sa = i32x4.add(i32x4.add(i32x4.extadd_pairwise_i16x8_s(a0), i32x4.extadd_pairwise_i16x8_s(a1)),
                           i32x4.add(i32x4.extadd_pairwise_i16x8_s(a2), i32x4.extadd_pairwise_i16x8_s(a3)));
      const sb = i32x4.add(i32x4.add(i32x4.extadd_pairwise_i16x8_s(b0), i32x4.extadd_pairwise_i16x8_s(b1)),
                           i32x4.add(i32x4.extadd_pairwise_i16x8_s(b2), i32x4.extadd_pairwise_i16x8_s(b3)));
      total = i32x4.add(total, i32x4.add(sa, sb));
    }
  }
  return hsum(total);
}

// One row's 64 columns (one 16-byte vector w of the layout) go into two i16 accumulators with a single shift:
//   lo += x0·code0 + x2·code2         (w & 3,  (w >> 4) & 3)
//   hi += x1·(4·code1) + x3·(4·code3) (w & 12, (w >> 4) & 12)
// The 16-bit shift brings bits of the neighbour byte into bits 4..7, which both masks clear; 4·code is in 0..8,
// inside the relaxed dot's exact range (second operand 0..127). Per row vector: 1 shift + 4 and + 4 dots + 4 adds
// (was 3 shifts + 4 and + 4 dots + 4 adds: x86 has 3 vector ALU ports, so the op count sets the L2-resident rate).
// scripts/bench-gemv.mjs, 640×2560 in L2, 1 thread: 35.4 → 30.3 us per call (per-256 scales 41.6 → 36.9).
// The masks are parameters (m3 = splat(3), m12 = splat(12), built from codeMasks): see codeMasks.
@inline function pairLo(lo: v128, w: v128, t: v128, x0: v128, x2: v128, m3: v128): v128 {
  return i16x8.add(i16x8.add(lo, dotCodes(x0, v128.and(w, m3))), dotCodes(x2, v128.and(t, m3)));
}
@inline function pairHi(hi: v128, w: v128, t: v128, x1: v128, x3: v128, m12: v128): v128 {
  return i16x8.add(i16x8.add(hi, dotCodes(x1, v128.and(w, m12))), dotCodes(x3, v128.and(t, m12)));
}
// The same sums in the add form (DotForm.Add): lo and hi are i32 accumulators, so a window may be any length.
@inline function addLo(lo: v128, w: v128, t: v128, x0: v128, x2: v128, m3: v128): v128 {
  return dotAddCodes(dotAddCodes(lo, x0, v128.and(w, m3)), x2, v128.and(t, m3));
}
@inline function addHi(hi: v128, w: v128, t: v128, x1: v128, x3: v128, m12: v128): v128 {
  return dotAddCodes(dotAddCodes(hi, x1, v128.and(w, m12)), x3, v128.and(t, m12));
}
/** lo + hi / 4 for i32 accumulators (add form). */
@inline function flushAdd(lo: v128, hi: v128): v128 {
  return i32x4.add(lo, i32x4.shr_s(hi, 2));
}

// The decode masks 3 and 12 (bytes 0 and 1), as a mutable exported global so that no compiler sees them as
// constants: V8 12+ (Node 22+) rematerializes a constant vector at each use in windowSums' loop, where registers run
// short (movq + vmovq + vpunpcklqdq per mask use: 16 per chunk), which ran the n = 1 GEMV at 29.5 GMAC/s on Node 24
// against 49 on Node 20 (640×2560-sized matrices in L2, 1 thread). A runtime value is spilled once and read as a
// memory operand instead.
export let codeMasks: i32 = 0x0c03;

/** lo + hi / 4 (exact: hi is 4 × an integer), pairwise into i32 lanes. */
@inline function flushPair(lo: v128, hi: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(lo, i16x8.shr_s(hi, 2)));
}

/** [hsum(s0), hsum(s1), hsum(s2), hsum(s3)]: a 4x4 transpose-add, 6 shuffles + 3 adds. */
@inline function hsum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const v = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 4, 1, 5), v128.shuffle<i32>(s0, s1, 2, 6, 3, 7));
  const w = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 4, 1, 5), v128.shuffle<i32>(s2, s3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(v, w, 0, 1, 4, 5), v128.shuffle<i32>(v, w, 2, 3, 6, 7));
}

/** acc + scales[4 rows] * f32(d), d the 4 rows' corrected integer dot products. */
@inline function scaleSums(acc: v128, d: v128, scales: usize): v128 {
  return f32x4.add(acc, f32x4.mul(v128.load(scales), f32x4.convert_i32x4_s(d)));
}

/** acc + scales[4 rows] * f32(dots - corr), dots from the 4 rows' i32 lane sums. */
@inline function scaleBlock(acc: v128, s0: v128, s1: v128, s2: v128, s3: v128, corr: i32, scales: usize): v128 {
  return scaleSums(acc, i32x4.sub(hsum4(s0, s1, s2, s3), i32x4.splat(corr)), scales);
}

/** out[t*rows + r0 .. r0+3] = acc * inv, only the rows that exist. */
@inline function storeGroup(out: usize, rows: i32, r0: i32, t: i32, acc: v128, invScales: usize): void {
  const v = f32x4.mul(acc, f32x4.splat(load<f32>(invScales + (<usize>t << 2))));
  const o = out + (<usize>(t * rows + r0) << 2);
  if (r0 + 4 <= rows) { v128.store(o, v); return; }
  store<f32>(o, f32x4.extract_lane(v, 0));
  if (r0 + 1 < rows) store<f32>(o, f32x4.extract_lane(v, 1), 4);
  if (r0 + 2 < rows) store<f32>(o, f32x4.extract_lane(v, 2), 8);
}

@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

let prefetchSink: u32 = 0;

// Touch one word per 64-byte line of [p, p + bytes): a software prefetch (see ternaryRows).
@inline function touchLines(p: usize, bytes: usize): u32 {
  let x: u32 = 0;
  for (let b: usize = 0; b < bytes; b += 64) x ^= load<u32>(p + b);
  return x;
}

// A decode flush window: per chunk lo moves by <= 2 * 512 and hi by <= 2 * 2048 (products of int8 and 4·code <= 8,
// pairwise). Over 8 chunks hi stays in [-32768, 32512] (x all -128 or all 127, every weight +1), exact in i16;
// lo + hi / 4 <= 16384 at the flush.
const FLUSH_CHUNKS = 8;

/**
 * Ternary matmul over row groups [g0, g1) for n tokens:
 * out[t*rows + r] = invScales[t] * Σ_b scale[r, b] * (Σ_{j∈b} code[r,j] * xq[t,j] − xsum[t, b]).
 * Scales are f32 [group][block][4 rows]; a block spans chunksPerBlock chunks (the last may be shorter).
 * n == 1 (decode) unpacks the codes as it streams them (decodeGroups: two streams per thread). 2 <= n < SMALL_N in
 * the add form decodes them in registers too, one row against up to 4 tokens (smallRows; `codes` holds only its
 * masks and per-lane constants). Otherwise n >= 2 (prompt, batched decode)
 * unpacks each group once into `codes` (this thread's scratch of chunks * 256 bytes, see unpackGroup),
 * then runs tiles of 4 rows × 2 tokens over it (ternaryTile), so an unpacked code vector is loaded
 * once per token pair: 1 dot + 1 add per 16 multiply-adds (unpacking inside the loop added ~0.9 ops more).
 * dotForm (jobs.ts DotForm) picks the sums' form: 1 (add) runs ternaryTileAdd and windowSums' add form, one
 * relaxed dot-add per 16 multiply-adds; 0 (pair) the dot + add forms. Both give the same integer sums.
 */
export function ternaryRows(w: usize, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                            xq: usize, cols: i32, xsum: usize, invScales: usize, n: i32,
                            out: usize, rows: i32, g0: i32, g1: i32, codes: usize, dotForm: i32): void {
  let sink: u32 = 0;
  const groupBytes = <usize>chunks << 6;
  if (n == 1) { // decode: two streams, the first and second half of the range (see decodeGroups)
    const wEnd = w + <usize>((rows + 3) >> 2) * groupBytes;
    const half = (g1 - g0 + 1) >> 1;
    for (let gA = g0; gA < g0 + half; gA++) {
      const gB = gA + half;
      sink ^= decodeGroups(w, groupBytes, scales, nBlocks, chunksPerBlock, chunks, xq, xsum, invScales, out, rows,
                           gA, gB < g1 ? gB : -1, wEnd, dotForm);
    }
    prefetchSink ^= sink;
    return;
  }
  if (n < SMALL_N && dotForm == DOT_ADD) {
    prefetchSink ^= smallRows(w, scales, nBlocks, chunksPerBlock, chunks, xq, cols, xsum, invScales, n, out, rows,
                              g0, g1, codes);
    return;
  }
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * groupBytes;
    // compute-bound: touch the next group's lines in one go (many misses in flight at once)
    if ((g + 1) * 4 < rows) sink ^= touchLines(wg + groupBytes, groupBytes);
    unpackGroup(wg, chunks, codes);
    for (let t = 0; t < n; t += 2) {
      const two = t + 1 < n;
      if (dotForm == DOT_ADD) {
        if (two) ternaryTileAdd(codes, scales, nBlocks, chunksPerBlock, chunks, xq, cols, xsum, invScales, out, rows, g, t, true);
        else ternaryTileAdd(codes, scales, nBlocks, chunksPerBlock, chunks, xq, cols, xsum, invScales, out, rows, g, t, false);
      } else {
        if (two) ternaryTile(codes, scales, nBlocks, chunksPerBlock, chunks, xq, cols, xsum, invScales, out, rows, g, t, true);
        else ternaryTile(codes, scales, nBlocks, chunksPerBlock, chunks, xq, cols, xsum, invScales, out, rows, g, t, false);
      }
    }
  }
  prefetchSink ^= sink;
}

// Decode prefetch. WASM has no prefetch instruction, and the compute loop (~60 instructions per 64-byte line) lets
// the reorder buffer hold only ~8 lines' worth of loads: too few misses in flight to hide DRAM latency, and the
// hardware prefetcher alone, following one stream per thread, falls behind (62-66 ms for a 2B4T token, below).
// Two measures (scripts/bench-gemv.mjs --sets stream: the 210 matmuls of a 2B4T token, 524-554 MB, 2 threads):
// - Touches: at the start of each flush window the loop loads one word of each of its lines TOUCH_AHEAD lines ahead
//   (short bursts of misses spread through the stream). Old loop: 45 ms with one whole-group burst, 36-37 with these;
//   bursts of 4 or 16 lines, or 16/24/48/64 ahead, no better; one line per chunk 75 ms.
// - Two streams per thread: it runs the first and the second half of its row groups side by side, alternating
//   flush windows, so the prefetcher follows two streams. Per-256 scales 41-43 → 35.6-36.6 ms, per-row 38 → 35-36.
const TOUCH_AHEAD: usize = 32;

// One row vector's step in either form; `form` is a constant at every (inlined) call, so the choice folds away.
@inline function stepLo(form: i32, lo: v128, w: v128, t: v128, x0: v128, x2: v128, m3: v128): v128 {
  if (form == DOT_ADD) return addLo(lo, w, t, x0, x2, m3);
  return pairLo(lo, w, t, x0, x2, m3);
}
@inline function stepHi(form: i32, hi: v128, w: v128, t: v128, x1: v128, x3: v128, m12: v128): v128 {
  if (form == DOT_ADD) return addHi(hi, w, t, x1, x3, m12);
  return pairHi(hi, w, t, x1, x3, m12);
}
@inline function flushSums(form: i32, lo: v128, hi: v128): v128 {
  if (form == DOT_ADD) return flushAdd(lo, hi);
  return flushPair(lo, hi);
}

/** One flush window, chunks [c0, c1) of row group wg: the 4 rows' integer dot products [r0, r1, r2, r3]. */
@inline function windowSums(wg: usize, xt: usize, c0: i32, c1: i32, m3: v128, m12: v128, form: i32): v128 {
  let l0 = i16x8.splat(0), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
  for (let c = c0; c < c1; c++) {
    const wp = wg + (<usize>c << 6), xp = xt + (<usize>c << 6);
    const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
    let w = v128.load(wp), sh = i16x8.shr_u(w, 4);
    l0 = stepLo(form, l0, w, sh, x0, x2, m3); h0 = stepHi(form, h0, w, sh, x1, x3, m12);
    w = v128.load(wp, 16); sh = i16x8.shr_u(w, 4);
    l1 = stepLo(form, l1, w, sh, x0, x2, m3); h1 = stepHi(form, h1, w, sh, x1, x3, m12);
    w = v128.load(wp, 32); sh = i16x8.shr_u(w, 4);
    l2 = stepLo(form, l2, w, sh, x0, x2, m3); h2 = stepHi(form, h2, w, sh, x1, x3, m12);
    w = v128.load(wp, 48); sh = i16x8.shr_u(w, 4);
    l3 = stepLo(form, l3, w, sh, x0, x2, m3); h3 = stepHi(form, h3, w, sh, x1, x3, m12);
  }
  return hsum4(flushSums(form, l0, h0), flushSums(form, l1, h1), flushSums(form, l2, h2), flushSums(form, l3, h3));
}

/**
 * Decode (one token, xq row xt): row groups gA and gB (gB < 0: none) side by side, alternating flush windows;
 * out[r] for their rows. Touches each stream TOUCH_AHEAD lines ahead, up to wEnd (the matrix end); returns the
 * touched words' xor (keeps them alive).
 */
function decodeGroups(w: usize, groupBytes: usize, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                      xt: usize, xsum: usize, invScales: usize, out: usize, rows: i32, gA: i32, gB: i32, wEnd: usize,
                      form: i32): u32 {
  let sink: u32 = 0;
  const m3 = i8x16.splat(<i8>codeMasks), m12 = i8x16.splat(<i8>(codeMasks >> 8));
  const wA = w + <usize>gA * groupBytes, wB = gB >= 0 ? w + <usize>gB * groupBytes : 0;
  let accA = f32x4.splat(0), accB = f32x4.splat(0);
  for (let b = 0; b < nBlocks; b++) {
    let sA = i32x4.splat(0), sB = i32x4.splat(0);
    let c = b * chunksPerBlock;
    const cEnd = min(c + chunksPerBlock, chunks);
    while (c < cEnd) {
      const fEnd = min(c + FLUSH_CHUNKS, cEnd);
      const ahead = (<usize>c + TOUCH_AHEAD) << 6, burst = <usize>(fEnd - c) << 6;
      if (wA + ahead + burst <= wEnd) sink ^= touchLines(wA + ahead, burst);
      if (wB && wB + ahead + burst <= wEnd) sink ^= touchLines(wB + ahead, burst);
      if (form == DOT_ADD) {
        sA = i32x4.add(sA, windowSums(wA, xt, c, fEnd, m3, m12, DOT_ADD));
        if (wB) sB = i32x4.add(sB, windowSums(wB, xt, c, fEnd, m3, m12, DOT_ADD));
      } else {
        sA = i32x4.add(sA, windowSums(wA, xt, c, fEnd, m3, m12, 0));
        if (wB) sB = i32x4.add(sB, windowSums(wB, xt, c, fEnd, m3, m12, 0));
      }
      c = fEnd;
    }
    const corr = i32x4.splat(load<i32>(xsum + (<usize>b << 2)));
    accA = scaleSums(accA, i32x4.sub(sA, corr), scales + (<usize>(gA * nBlocks + b) << 4));
    if (wB) accB = scaleSums(accB, i32x4.sub(sB, corr), scales + (<usize>(gB * nBlocks + b) << 4));
  }
  storeGroup(out, rows, gA * 4, 0, accA, invScales);
  if (wB) storeGroup(out, rows, gB * 4, 0, accB, invScales);
  return sink;
}

/**
 * Row group wg's codes (chunks × 64 bytes, the 4-row-interleaved layout) as one byte per code (0..2) at
 * `codes`: step s (columns 16s .. 16s+15) is 64 bytes, rows 0..3 × 16 codes, so a tile reads its 4 rows'
 * vectors for 16 columns from one cache line. chunks * 256 bytes (27 KiB at cols 6912: fits L1).
 */
function unpackGroup(wg: usize, chunks: i32, codes: usize): void {
  const m = i8x16.splat(<i8>codeMasks); // 3, not a constant: see codeMasks
  for (let c = 0; c < chunks; c++) {
    const wp = wg + (<usize>c << 6), cp = codes + (<usize>c << 8);
    for (let r: usize = 0; r < 64; r += 16) { // field k of chunk c is step 4c + k
      const v = v128.load(wp + r);
      v128.store(cp + r, v128.and(v, m));
      v128.store(cp + r, v128.and(i16x8.shr_u(v, 2), m), 64);
      v128.store(cp + r, v128.and(i16x8.shr_u(v, 4), m), 128);
      v128.store(cp + r, v128.and(i16x8.shr_u(v, 6), m), 192);
    }
  }
}

// An i16 lane takes one dot per step, in [-512, 508] (2 products of int8 and a code <= 2): 64 steps stay in
// [-32768, 32512], exact.
const FLUSH_STEPS = 64;

/**
 * Rows 4g .. 4g+3 for token t, and t+1 when `two` (inlined with a constant: the one-token tile is the same
 * loop with half the accumulators). 8 i16 accumulators + 4 code vectors + 2 x vectors: 14 of x64's 16
 * vector registers. 2560×2560, 1 thread, in L2: 117 GOPS (ternaryGroupPair) → 148 at n = 16, 166 at 64.
 */
@inline function ternaryTile(codes: usize, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                             xq: usize, cols: i32, xsum: usize, invScales: usize,
                             out: usize, rows: i32, g: i32, t: i32, two: bool): void {
  const pa = xq + <usize>(t * cols), pb = pa + <usize>cols;
  const steps = chunks * 4, stepsPerBlock = chunksPerBlock * 4;
  let accA = f32x4.splat(0), accB = f32x4.splat(0);
  for (let b = 0; b < nBlocks; b++) {
    let sa0 = i32x4.splat(0), sa1 = i32x4.splat(0), sa2 = i32x4.splat(0), sa3 = i32x4.splat(0);
    let sb0 = i32x4.splat(0), sb1 = i32x4.splat(0), sb2 = i32x4.splat(0), sb3 = i32x4.splat(0);
    let s = b * stepsPerBlock;
    const sEnd = min(s + stepsPerBlock, steps);
    while (s < sEnd) {
      const fEnd = min(s + FLUSH_STEPS, sEnd);
      let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
      let b0 = i16x8.splat(0), b1 = i16x8.splat(0), b2 = i16x8.splat(0), b3 = i16x8.splat(0);
      for (; s < fEnd; s++) {
        const cp = codes + (<usize>s << 6), xo = <usize>s << 4;
        const c0 = v128.load(cp), c1 = v128.load(cp, 16), c2 = v128.load(cp, 32), c3 = v128.load(cp, 48);
        const xa = v128.load(pa + xo);
        a0 = i16x8.add(a0, dotCodes(xa, c0)); a1 = i16x8.add(a1, dotCodes(xa, c1));
        a2 = i16x8.add(a2, dotCodes(xa, c2)); a3 = i16x8.add(a3, dotCodes(xa, c3));
        if (two) {
          const xb = v128.load(pb + xo);
          b0 = i16x8.add(b0, dotCodes(xb, c0)); b1 = i16x8.add(b1, dotCodes(xb, c1));
          b2 = i16x8.add(b2, dotCodes(xb, c2)); b3 = i16x8.add(b3, dotCodes(xb, c3));
        }
      }
      sa0 = i32x4.add(sa0, i32x4.extadd_pairwise_i16x8_s(a0)); sa1 = i32x4.add(sa1, i32x4.extadd_pairwise_i16x8_s(a1));
      sa2 = i32x4.add(sa2, i32x4.extadd_pairwise_i16x8_s(a2)); sa3 = i32x4.add(sa3, i32x4.extadd_pairwise_i16x8_s(a3));
      if (two) {
        sb0 = i32x4.add(sb0, i32x4.extadd_pairwise_i16x8_s(b0)); sb1 = i32x4.add(sb1, i32x4.extadd_pairwise_i16x8_s(b1));
        sb2 = i32x4.add(sb2, i32x4.extadd_pairwise_i16x8_s(b2)); sb3 = i32x4.add(sb3, i32x4.extadd_pairwise_i16x8_s(b3));
      }
    }
    const sp = scales + (<usize>(g * nBlocks + b) << 4);
    accA = scaleBlock(accA, sa0, sa1, sa2, sa3, load<i32>(xsum + (<usize>(t * nBlocks + b) << 2)), sp);
    if (two) accB = scaleBlock(accB, sb0, sb1, sb2, sb3, load<i32>(xsum + (<usize>((t + 1) * nBlocks + b) << 2)), sp);
  }
  storeGroup(out, rows, g * 4, t, accA, invScales);
  if (two) storeGroup(out, rows, g * 4, t + 1, accB, invScales);
}

/**
 * ternaryTile in the add form (DotForm.Add): each dot goes straight into its i32 accumulator (one instruction per 16
 * multiply-adds where the engine emits vpdpbusd), so there are no i16 flush windows. Same integer sums as
 * ternaryTile, so the same outputs bit for bit. An i32 lane gains at most 4 · 128 · 2 = 1024 per step: exact for
 * rows below 2^25 columns. (A 4 × 3 tile, 12 accumulators, ran slower: V8 kept the 4 code vectors live and spilled
 * accumulators to the stack.)
 */
@inline function ternaryTileAdd(codes: usize, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                                xq: usize, cols: i32, xsum: usize, invScales: usize,
                                out: usize, rows: i32, g: i32, t: i32, two: bool): void {
  const pa = xq + <usize>(t * cols), pb = pa + <usize>cols;
  const steps = chunks * 4, stepsPerBlock = chunksPerBlock * 4;
  let accA = f32x4.splat(0), accB = f32x4.splat(0);
  for (let b = 0; b < nBlocks; b++) {
    let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    let b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const sEnd = min((b + 1) * stepsPerBlock, steps);
    for (let s = b * stepsPerBlock; s < sEnd; s++) {
      const cp = codes + (<usize>s << 6), xo = <usize>s << 4;
      const c0 = v128.load(cp), c1 = v128.load(cp, 16), c2 = v128.load(cp, 32), c3 = v128.load(cp, 48);
      const xa = v128.load(pa + xo);
      a0 = dotAddCodes(a0, xa, c0); a1 = dotAddCodes(a1, xa, c1);
      a2 = dotAddCodes(a2, xa, c2); a3 = dotAddCodes(a3, xa, c3);
      if (two) {
        const xb = v128.load(pb + xo);
        b0 = dotAddCodes(b0, xb, c0); b1 = dotAddCodes(b1, xb, c1);
        b2 = dotAddCodes(b2, xb, c2); b3 = dotAddCodes(b3, xb, c3);
      }
    }
    const sp = scales + (<usize>(g * nBlocks + b) << 4);
    accA = scaleBlock(accA, a0, a1, a2, a3, load<i32>(xsum + (<usize>(t * nBlocks + b) << 2)), sp);
    if (two) accB = scaleBlock(accB, b0, b1, b2, b3, load<i32>(xsum + (<usize>((t + 1) * nBlocks + b) << 2)), sp);
  }
  storeGroup(out, rows, g * 4, t, accA, invScales);
  if (two) storeGroup(out, rows, g * 4, t + 1, accB, invScales);
}

// ---------------------------------------------------------------------------------------------
// Small batches in the add form (2 <= n < SMALL_N, DotForm.Add): no unpacked copy. A pass decodes one row's codes
// straight from the packed layout, as the decode GEMV does (one 4-bit shift per row vector; lo takes codes × 1, hi
// codes × 4: see pairLo), and runs them against k = 2, 3 or 4 tokens at once: 2k i32 accumulators, each row vector
// loaded, shifted and masked once for the k tokens, the tokens' x loaded at each use (k × cols bytes: they stay in
// L1). Four passes (one per row) cover a row group; n = 5..8 runs two token blocks per group (3 + 2, 4 + 2, 4 + 3,
// 4 + 4).
// Per row vector and token: 4 dot-adds + 4 x loads (the unpacked path: 4 dot-adds + 1 x load, plus unpacking a
// quarter shift, an and and a store per token pair and reloading the codes).
// 640×2560 in L2, per-row scales, 1 thread, Node 24, GMAC/s, unpacked → passes: n = 2 47 → 58, 3 47 → 68,
// 4 63 → 71-75, 5 56-58 → 64-66, 6 66-69 → 70-72, 7 65-67 → 71-74, 8 71-72 → 75-80 (ternaryRows alone, best of
// 8 × 100 calls; 2560×6912, n = 8: 65-66 → 71-74). From n = 9 on the unpacked tiles are as fast (9-12 within noise)
// or faster (n = 16: 70-76 → 67-75). 2B4T B4 step (scripts/profile-batch.mjs, 2 threads): ternary 112-117 → 98-101 ms.
// The pair form keeps the unpacked path: it needs a dot and an add per 16 multiply-adds, and with 4 x loads per
// row vector and token the passes ran slower there (Node 20, n = 4: 60 → 49). V8 allocates 15 vector registers:
// 8 accumulators + 4 codes + 2 x is what fits (a 2-row × 2-token pass needed more and spilled accumulators to the
// stack, each spilled chain waiting on a store and a reload); the masks are reloaded from memory at each row
// vector so that they hold no register.
// Same integer sums as the tiles and the same float steps per (row, token) (acc + scale · f32(sum − xsum) per block,
// then · invScale), so the outputs are those of the unpacked path bit for bit.
const SMALL_N = 9;

/**
 * Two dot-add steps into i32 accumulator a: a + x·c + y·d. `split`: y·d goes into a fresh accumulator added after,
 * so a's chain waits for one dot-add (5 cycles) + one add per row vector instead of two dot-adds: the 1×4 pass's 8
 * chains were latency-bound (65 → 70 GMAC/s above); with 4 or 6 chains the extra zeroing and add cost more than they
 * gain (2 tokens 59 → 56, 3 tokens 72 → 66).
 */
@inline function dotStep2(split: bool, a: v128, x: v128, c: v128, y: v128, d: v128): v128 {
  if (split) return i32x4.add(dotAddCodes(a, x, c), dotAddCodes(i32x4.splat(0), y, d));
  return dotAddCodes(dotAddCodes(a, x, c), y, d);
}

/**
 * Chunks [c0, c1) of a one-row pass over k tokens: the k tokens' integer dot products in lanes
 * 0..k-1 (the rest 0). wr: the row's vectors, 64 bytes apart; xt: the first token's xq, the others `cols` bytes
 * apart; mp: the masks splat(3), splat(12) (loaded at each use, see above).
 */
@inline function passWindow(k: i32, wr: usize, xt: usize, cols: usize, c0: i32, c1: i32, mp: usize): v128 {
  let l0 = i16x8.splat(0), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
  const x1 = xt + cols, x2 = x1 + cols, x3 = x2 + cols, split = k == 4;
  for (let c = c0; c < c1; c++) {
    const o = <usize>c << 6, m3 = v128.load(mp), m12 = v128.load(mp, 16);
    const w = v128.load(wr + o), sh = i16x8.shr_u(w, 4);
    const f0 = v128.and(w, m3), f1 = v128.and(w, m12), f2 = v128.and(sh, m3), f3 = v128.and(sh, m12);
    l0 = dotStep2(split, l0, v128.load(xt + o), f0, v128.load(xt + o, 32), f2);
    h0 = dotStep2(split, h0, v128.load(xt + o, 16), f1, v128.load(xt + o, 48), f3);
    l1 = dotStep2(split, l1, v128.load(x1 + o), f0, v128.load(x1 + o, 32), f2);
    h1 = dotStep2(split, h1, v128.load(x1 + o, 16), f1, v128.load(x1 + o, 48), f3);
    if (k > 2) {
      l2 = dotStep2(split, l2, v128.load(x2 + o), f0, v128.load(x2 + o, 32), f2);
      h2 = dotStep2(split, h2, v128.load(x2 + o, 16), f1, v128.load(x2 + o, 48), f3);
    }
    if (k > 3) {
      l3 = dotStep2(split, l3, v128.load(x3 + o), f0, v128.load(x3 + o, 32), f2);
      h3 = dotStep2(split, h3, v128.load(x3 + o, 16), f1, v128.load(x3 + o, 48), f3);
    }
  }
  return hsum4(flushAdd(l0, h0), flushAdd(l1, h1), flushAdd(l2, h2), flushAdd(l3, h3));
}

/**
 * The pass over row r of group g (row vectors at wr, block scales at sr, 16 bytes apart) for k tokens from xt: per
 * block, the tokens' sums minus their xsum (lanes: the pass's per-block xsum vectors, see smallLanes), times the
 * row's block scale, accumulated in f32. Returns the k tokens' acc (before invScales) in lanes 0..k-1.
 */
@inline function smallPass(k: i32, wr: usize, sr: usize, xt: usize, cols: usize, nBlocks: i32,
                           chunksPerBlock: i32, chunks: i32, lanes: usize, mp: usize): v128 {
  let acc = f32x4.splat(0);
  for (let b = 0; b < nBlocks; b++) {
    let s = i32x4.splat(0);
    let c = b * chunksPerBlock;
    const cEnd = min(c + chunksPerBlock, chunks);
    while (c < cEnd) { // i32 lanes need no windows; with whole blocks V8 spilled an accumulator (64 → 54-61 GMAC/s)
      const fEnd = min(c + FLUSH_CHUNKS, cEnd);
      s = i32x4.add(s, passWindow(k, wr, xt, cols, c, fEnd, mp));
      c = fEnd;
    }
    const d = i32x4.sub(s, v128.load(lanes + (<usize>b << 4)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(sr + (<usize>b << 4))), f32x4.convert_i32x4_s(d)));
  }
  return acc;
}

/**
 * The per-lane constants of the pass over tokens t0 .. t0+k-1 at `lanes`: nBlocks vectors of the tokens' xsum (lane j:
 * token t0 + j, 0 past k), then one of their invScales.
 */
function smallLanes(lanes: usize, xsum: usize, invScales: usize, nBlocks: i32, k: i32, t0: i32): void {
  for (let j = 0; j < 4; j++) {
    const t = t0 + j, live = j < k;
    for (let b = 0; b < nBlocks; b++) {
      store<i32>(lanes + (<usize>(b * 4 + j) << 2), live ? load<i32>(xsum + (<usize>(t * nBlocks + b) << 2)) : 0);
    }
    store<f32>(lanes + (<usize>(nBlocks * 4 + j) << 2), live ? load<f32>(invScales + (<usize>t << 2)) : 0);
  }
}

/** The k-token passes over the rows of group g that exist: out[t*rows + r] for tokens t0 .. t0+k-1. */
@inline function smallGroup(k: i32, wg: usize, g: i32, xq: usize, cols: i32, scales: usize, nBlocks: i32,
                            chunksPerBlock: i32, chunks: i32, out: usize, rows: i32, t0: i32, lanes: usize,
                            mp: usize): void {
  const xt = xq + <usize>(t0 * cols), inv = v128.load(lanes + (<usize>nBlocks << 4)), ts = <usize>rows << 2;
  const sg = scales + (<usize>(g * nBlocks) << 4);
  for (let rr = 0; rr < 4 && g * 4 + rr < rows; rr++) {
    const acc = smallPass(k, wg + (<usize>rr << 4), sg + (<usize>rr << 2), xt, <usize>cols, nBlocks,
                          chunksPerBlock, chunks, lanes, mp);
    const v = f32x4.mul(acc, inv);
    const o = out + (<usize>(t0 * rows + g * 4 + rr) << 2);
    store<f32>(o, f32x4.extract_lane(v, 0));
    store<f32>(o + ts, f32x4.extract_lane(v, 1));
    if (k > 2) store<f32>(o + 2 * ts, f32x4.extract_lane(v, 2));
    if (k > 3) store<f32>(o + 3 * ts, f32x4.extract_lane(v, 3));
  }
}

// One function per k, each inlining smallGroup with its constant: with the choice made by if-arms in one function,
// Binaryen merged the arms (they differ only in constants) into one loop that tested k inside (n = 4: 71 → 49 GMAC/s).
function group2(wg: usize, g: i32, xq: usize, cols: i32, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                out: usize, rows: i32, t0: i32, lanes: usize, mp: usize): void {
  smallGroup(2, wg, g, xq, cols, scales, nBlocks, chunksPerBlock, chunks, out, rows, t0, lanes, mp);
}
function group3(wg: usize, g: i32, xq: usize, cols: i32, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                out: usize, rows: i32, t0: i32, lanes: usize, mp: usize): void {
  smallGroup(3, wg, g, xq, cols, scales, nBlocks, chunksPerBlock, chunks, out, rows, t0, lanes, mp);
}
function group4(wg: usize, g: i32, xq: usize, cols: i32, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                out: usize, rows: i32, t0: i32, lanes: usize, mp: usize): void {
  smallGroup(4, wg, g, xq, cols, scales, nBlocks, chunksPerBlock, chunks, out, rows, t0, lanes, mp);
}

/** The k-token passes over row group g for tokens t0.. (lanes: their smallLanes). */
@inline function groupPass(k: i32, wg: usize, g: i32, xq: usize, cols: i32, scales: usize, nBlocks: i32,
                           chunksPerBlock: i32, chunks: i32, out: usize, rows: i32, t0: i32, lanes: usize,
                           mp: usize): void {
  if (k == 2) group2(wg, g, xq, cols, scales, nBlocks, chunksPerBlock, chunks, out, rows, t0, lanes, mp);
  else if (k == 3) group3(wg, g, xq, cols, scales, nBlocks, chunksPerBlock, chunks, out, rows, t0, lanes, mp);
  else group4(wg, g, xq, cols, scales, nBlocks, chunksPerBlock, chunks, out, rows, t0, lanes, mp);
}

/** The token block from t: 4 tokens, but 3 + 2 for the last 5 and all of the last 2 or 3 (no block of 1). */
@inline function blockTokens(n: i32, t: i32): i32 {
  const left = n - t;
  return left == 5 ? 3 : min(left, 4);
}

/**
 * ternaryRows for 2 <= n < SMALL_N: per row group, one pass per token block (blockTokens). `scratch` (this
 * thread's, >= 32 + 3 · (nBlocks + 1) · 16 bytes): the masks, then each token block's lane constants (smallLanes).
 */
function smallRows(w: usize, scales: usize, nBlocks: i32, chunksPerBlock: i32, chunks: i32,
                   xq: usize, cols: i32, xsum: usize, invScales: usize, n: i32,
                   out: usize, rows: i32, g0: i32, g1: i32, scratch: usize): u32 {
  let sink: u32 = 0;
  const groupBytes = <usize>chunks << 6;
  v128.store(scratch, i8x16.splat(<i8>codeMasks)); // see passWindow
  v128.store(scratch, i8x16.splat(<i8>(codeMasks >> 8)), 16);
  const lanesBytes = <usize>(nBlocks + 1) << 4, lanes0 = scratch + 32;
  for (let t = 0, blk: usize = 0; t < n; blk++) {
    const k = blockTokens(n, t);
    smallLanes(lanes0 + blk * lanesBytes, xsum, invScales, nBlocks, k, t);
    t += k;
  }
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * groupBytes;
    if ((g + 1) * 4 < rows) sink ^= touchLines(wg + groupBytes, groupBytes); // see ternaryRows
    for (let t = 0, blk: usize = 0; t < n; blk++) {
      const k = blockTokens(n, t);
      groupPass(k, wg, g, xq, cols, scales, nBlocks, chunksPerBlock, chunks, out, rows, t, lanes0 + blk * lanesBytes,
                scratch);
      t += k;
    }
  }
  return sink;
}

/** Keeps the prefetch touches observable so the optimizer cannot drop them. */
export function prefetchChecksum(): u32 { return prefetchSink; }

// ---------------------------------------------------------------------------------------------
// Full-precision matmul (LM head, full-precision models)

/** out[t*rows + r] = Σ_j W[r,j] x[t*cols + j] for rows [r0, r1), W f32 row-major. */
export function f32Rows(w: usize, cols: i32, x: usize, n: i32, out: usize, rows: i32, r0: i32, r1: i32): void {
  const vecEnd = cols & ~7;
  for (let r = r0; r < r1; r++) {
    const wr = w + (<usize>(r * cols) << 2);
    for (let t = 0; t < n; t++) {
      const xt = x + (<usize>(t * cols) << 2);
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      let j = 0;
      for (; j < vecEnd; j += 8) {
        const o = <usize>j << 2;
        acc0 = madd(v128.load(wr + o), v128.load(xt + o), acc0);
        acc1 = madd(v128.load(wr + o, 16), v128.load(xt + o, 16), acc1);
      }
      let s = hsumf(f32x4.add(acc0, acc1));
      for (; j < cols; j++) s += load<f32>(wr + (<usize>j << 2)) * load<f32>(xt + (<usize>j << 2));
      store<f32>(out + (<usize>(t * rows + r) << 2), s);
    }
  }
}

// 16-bit floats as f32 lanes: lanes 0..3 (hi = false) or 4..7 of h. The interleave with zero (x86 punpck*wd,
// one instruction) puts each value in the top half of its lane: that is the bfloat16's f32 already. An IEEE
// half is then shifted into f32 position (sign kept by the arithmetic shift, its copies masked off): the f32
// whose value is the half's times 2^-112. Exact for every half; a subnormal half gives a subnormal f32, which
// x86 multiplies at full speed at the rate real embeddings have them (measured: 0.04% of halves, no
// slowdown; 0.3%: 1.5x slower; see docs/PERFORMANCE.md).
// m: splat(0x8fffe000), built once per tile from halfMask (a runtime value: see codeMasks for why).
@inline function widen16(h: v128, hi: bool, bf16: bool, m: v128): v128 {
  const z = i32x4.splat(0);
  const v = hi ? v128.shuffle<i16>(z, h, 4, 12, 5, 13, 6, 14, 7, 15) : v128.shuffle<i16>(z, h, 0, 8, 1, 9, 2, 10, 3, 11);
  if (bf16) return v;
  return v128.and(i32x4.shr_s(v, 3), m);
}

// widen16's mask as a mutable exported global (see codeMasks): as a constant, V8 12+ rebuilt it at each use in
// halfTile (3 instructions per 4 weights); 2B4T F16 head 39.3 ms on Node 24 against 34.8 on Node 20.
export let halfMask: i32 = 0x8fffe000;

// Sign-extended half bits in i32 lanes -> the f32 whose value is the half's times 2^-112 (see widen16).
@inline function halfBits(h: v128): v128 {
  return v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffe000));
}

const TWO_112: f32 = 5.192296858534828e33;
const TWO_M112: f32 = 1.925929944387236e-34;

/**
 * x' = x * 2^112 into dst when max|x| < 2^14 (so x' and the sums stay finite), returning 1; else 0.
 * With x' the f16 matmul multiplies widened halves by x' directly: one multiply fewer per 4 weights.
 */
export function scaleForHalf(x: usize, len: i32, dst: usize): i32 {
  let m = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= len; i += 4) m = f32x4.max(m, f32x4.abs(v128.load(x + (<usize>i << 2))));
  let amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; i < len; i++) amax = max(amax, abs(load<f32>(x + (<usize>i << 2))));
  if (!(amax < <f32>16384)) return 0; // also false for NaN
  const k = f32x4.splat(TWO_112);
  i = 0;
  for (; i + 4 <= len; i += 4) v128.store(dst + (<usize>i << 2), f32x4.mul(v128.load(x + (<usize>i << 2)), k));
  for (; i < len; i++) store<f32>(dst + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) * TWO_112);
  return 1;
}

// Format of a 16-bit matrix for halfRows (a constant at each call site of the inline helpers).
const F16 = 0, F16_PRESCALED = 1, BF16 = 2;

// 4 of the 8 weights in h (lanes 0..3 when lo) as f32 in the units the sums use (see halfRows).
@inline function weights4(h: v128, mode: i32, lo: bool, m: v128): v128 {
  const v = widen16(h, !lo, mode == BF16, m);
  return mode == F16 ? f32x4.mul(v, f32x4.splat(TWO_112)) : v;
}

// One scalar weight, exact, in the same units.
@inline function weight1(w: usize, mode: i32): f32 {
  const h = <u32>load<u16>(w);
  if (mode == BF16) return reinterpret<f32>(h << 16);
  const v = halfToF32(h);
  return mode == F16_PRESCALED ? v * TWO_M112 : v;
}

// acc + lo·x[o..o+4) + hi·x[o+4..o+8): one row's 8 widened weights against one token (lo first, then hi).
@inline function dot8(lo: v128, hi: v128, xt: usize, o: usize, acc: v128): v128 {
  return madd(hi, v128.load(xt + o, 16), madd(lo, v128.load(xt + o), acc));
}

// The columns past the last multiple of 8 of one row against one token, scalar.
@inline function halfTail(wr: usize, xt: usize, j: i32, cols: i32, mode: i32): f32 {
  let s: f32 = 0;
  for (; j < cols; j++) s += weight1(wr + (<usize>j << 1), mode) * load<f32>(xt + (<usize>j << 2));
  return s;
}

/**
 * One register tile: R rows (1, 2 or 4: wa and the next rows, rowBytes apart) × T tokens (1..4: xt and the next
 * tokens, cols f32 apart), one accumulator per (row, token). Each 8 weights are widened once and used for all T
 * tokens. Every (row, token) sum sees the same operations in the same order whatever R and T are, so a row's
 * logits do not depend on the batch around it. out: (first token, first row); token stride rows f32.
 */
@inline function halfTile(wa: usize, rowBytes: usize, xt: usize, cols: i32, mode: i32, out: usize, rows: i32,
                          R: i32, T: i32): void {
  const xs = <usize>cols << 2;
  const x0 = xt, x1 = xt + xs, x2 = xt + 2 * xs, x3 = xt + 3 * xs;
  const wb = wa + rowBytes, wc = wb + rowBytes, wd = wc + rowBytes;
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
  let c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
  const vecEnd = cols & ~7;
  const m = i32x4.splat(halfMask);
  let j = 0;
  for (; j < vecEnd; j += 8) {
    const o = <usize>j << 2, oh = <usize>j << 1;
    let h = v128.load(wa + oh);
    let lo = weights4(h, mode, true, m), hi = weights4(h, mode, false, m);
    a0 = dot8(lo, hi, x0, o, a0);
    if (T > 1) a1 = dot8(lo, hi, x1, o, a1);
    if (T > 2) a2 = dot8(lo, hi, x2, o, a2);
    if (T > 3) a3 = dot8(lo, hi, x3, o, a3);
    if (R > 1) {
      h = v128.load(wb + oh); lo = weights4(h, mode, true, m); hi = weights4(h, mode, false, m);
      b0 = dot8(lo, hi, x0, o, b0);
      if (T > 1) b1 = dot8(lo, hi, x1, o, b1);
      if (T > 2) b2 = dot8(lo, hi, x2, o, b2);
      if (T > 3) b3 = dot8(lo, hi, x3, o, b3);
    }
    if (R > 2) {
      h = v128.load(wc + oh); lo = weights4(h, mode, true, m); hi = weights4(h, mode, false, m);
      c0 = dot8(lo, hi, x0, o, c0);
      if (T > 1) c1 = dot8(lo, hi, x1, o, c1);
      if (T > 2) c2 = dot8(lo, hi, x2, o, c2);
      if (T > 3) c3 = dot8(lo, hi, x3, o, c3);
      h = v128.load(wd + oh); lo = weights4(h, mode, true, m); hi = weights4(h, mode, false, m);
      d0 = dot8(lo, hi, x0, o, d0);
      if (T > 1) d1 = dot8(lo, hi, x1, o, d1);
      if (T > 2) d2 = dot8(lo, hi, x2, o, d2);
      if (T > 3) d3 = dot8(lo, hi, x3, o, d3);
    }
  }
  const os = <usize>rows << 2;
  store<f32>(out, hsumf(a0) + halfTail(wa, x0, j, cols, mode));
  if (T > 1) store<f32>(out + os, hsumf(a1) + halfTail(wa, x1, j, cols, mode));
  if (T > 2) store<f32>(out + 2 * os, hsumf(a2) + halfTail(wa, x2, j, cols, mode));
  if (T > 3) store<f32>(out + 3 * os, hsumf(a3) + halfTail(wa, x3, j, cols, mode));
  if (R > 1) {
    store<f32>(out, hsumf(b0) + halfTail(wb, x0, j, cols, mode), 4);
    if (T > 1) store<f32>(out + os, hsumf(b1) + halfTail(wb, x1, j, cols, mode), 4);
    if (T > 2) store<f32>(out + 2 * os, hsumf(b2) + halfTail(wb, x2, j, cols, mode), 4);
    if (T > 3) store<f32>(out + 3 * os, hsumf(b3) + halfTail(wb, x3, j, cols, mode), 4);
  }
  if (R > 2) {
    store<f32>(out, hsumf(c0) + halfTail(wc, x0, j, cols, mode), 8);
    if (T > 1) store<f32>(out + os, hsumf(c1) + halfTail(wc, x1, j, cols, mode), 8);
    if (T > 2) store<f32>(out + 2 * os, hsumf(c2) + halfTail(wc, x2, j, cols, mode), 8);
    if (T > 3) store<f32>(out + 3 * os, hsumf(c3) + halfTail(wc, x3, j, cols, mode), 8);
    store<f32>(out, hsumf(d0) + halfTail(wd, x0, j, cols, mode), 12);
    if (T > 1) store<f32>(out + os, hsumf(d1) + halfTail(wd, x1, j, cols, mode), 12);
    if (T > 2) store<f32>(out + 2 * os, hsumf(d2) + halfTail(wd, x2, j, cols, mode), 12);
    if (T > 3) store<f32>(out + 3 * os, hsumf(d3) + halfTail(wd, x3, j, cols, mode), 12);
  }
}

// R rows from wa (row index r) against all n tokens: tiles of HALF_T tokens, then the remaining 1..HALF_T-1.
@inline function halfRowBand(wa: usize, rowBytes: usize, x: usize, cols: i32, n: i32, out: usize, rows: i32, r: i32,
                             mode: i32, R: i32): void {
  const xs = <usize>cols << 2;
  let t = 0;
  for (; t + HALF_T <= n; t += HALF_T) {
    halfTile(wa, rowBytes, x + <usize>t * xs, cols, mode, out + (<usize>(t * rows + r) << 2), rows, R, HALF_T);
  }
  const left = n - t, xt = x + <usize>t * xs, ot = out + (<usize>(t * rows + r) << 2);
  if (left == 3) halfTile(wa, rowBytes, xt, cols, mode, ot, rows, R, 3);
  else if (left == 2) halfTile(wa, rowBytes, xt, cols, mode, ot, rows, R, 2);
  else if (left == 1) halfTile(wa, rowBytes, xt, cols, mode, ot, rows, R, 1);
}

const HALF_R = 4, HALF_T = 4;

// Touches: n >= 2 (compute-bound) touches the next band's lines in one burst. Decode (n == 1) touches nothing:
// 2B4T head (656 MB), 2 threads: 36.0-36.3 ms with the burst, 33.8-34.2 ms without, and touches spread through
// the band (one word per row 512..4096 bytes ahead every 64 bytes, loop unrolled to 32 columns) 33.8-34.0 ms.
@inline function halfRowsMode(w: usize, cols: i32, x: usize, n: i32, out: usize, rows: i32, r0: i32, r1: i32, mode: i32): u32 {
  const rowBytes = <usize>cols << 1;
  let sink: u32 = 0;
  let r = r0;
  for (; r + HALF_R <= r1; r += HALF_R) {
    const wa = w + <usize>r * rowBytes;
    if (n > 1 && r + 2 * HALF_R <= rows) sink ^= touchLines(wa + HALF_R * rowBytes, HALF_R * rowBytes); // next band
    halfRowBand(wa, rowBytes, x, cols, n, out, rows, r, mode, HALF_R);
  }
  for (; r < r1; r++) halfRowBand(w + <usize>r * rowBytes, rowBytes, x, cols, n, out, rows, r, mode, 1);
  return sink;
}

/**
 * As f32Rows with W as 16-bit floats: mode 0 = IEEE half, 1 = IEEE half with x prescaled by 2^112
 * (scaleForHalf: no multiply per weight), 2 = bfloat16. Register tiles of 4 rows × up to 4 tokens (halfTile:
 * each weight is widened once per 4 tokens, each x load feeds 4 rows), with n >= 2 the next four rows' lines
 * touched ahead. The LM head of a tied-embedding model: the F16 token embedding itself, read in place.
 */
export function halfRows(w: usize, cols: i32, x: usize, n: i32, out: usize, rows: i32, r0: i32, r1: i32, mode: i32): void {
  let sink: u32;
  if (mode == F16_PRESCALED) sink = halfRowsPrescaled(w, cols, x, n, out, rows, r0, r1);
  else if (mode == BF16) sink = halfRowsBf16(w, cols, x, n, out, rows, r0, r1);
  else sink = halfRowsF16(w, cols, x, n, out, rows, r0, r1);
  prefetchSink ^= sink;
}

// One function per format, so that each inlined copy of halfTile sees its mode as a constant (in one function
// holding all three, binaryen left `mode` a runtime test inside the hot loop).
function halfRowsPrescaled(w: usize, cols: i32, x: usize, n: i32, out: usize, rows: i32, r0: i32, r1: i32): u32 {
  return halfRowsMode(w, cols, x, n, out, rows, r0, r1, F16_PRESCALED);
}
function halfRowsBf16(w: usize, cols: i32, x: usize, n: i32, out: usize, rows: i32, r0: i32, r1: i32): u32 {
  return halfRowsMode(w, cols, x, n, out, rows, r0, r1, BF16);
}
function halfRowsF16(w: usize, cols: i32, x: usize, n: i32, out: usize, rows: i32, r0: i32, r1: i32): u32 {
  return halfRowsMode(w, cols, x, n, out, rows, r0, r1, F16);
}

// ---------------------------------------------------------------------------------------------
// Activation quantization (bit-exact with quantizeRowsRef)

/**
 * s = 127 / max(amax, 1e-5); xq = clamp(roundHalfEven(x * s), -128, 127); invScales[t] = 1 / s.
 * A row with a finite amax has |x * s| <= 127 (+ rounding), so x * s + 1.5 * 2^23 rounds it to an integer, ties to
 * even, in the mantissa's low bits (exact for |v| < 2^22), read back with one integer subtract: 3 vector ops per 4
 * columns instead of nearest + trunc_sat (trunc_sat lowers to ~8 x86 instructions). amax from 4 accumulators (max
 * is exact in any order). Rows with an infinite or NaN amax take the nearest + trunc_sat loop (same codes as the
 * reference there too). 4 rows × 2560 in L1: 15.5 -> 5.0 us (Node 20), 16.2 -> 6.0 (Node 24); in a 2B4T B4 step
 * (profile-batch) 21.8 -> 9.8 us per call.
 */
export function quantizeRows(x: usize, n: i32, dim: i32, xq: usize, invScales: usize): void {
  const vecEnd = dim & ~15;
  for (let t = 0; t < n; t++) {
    const xt = x + (<usize>(t * dim) << 2);
    const qt = xq + <usize>(t * dim);
    let m0 = f32x4.splat(0), m1 = m0, m2 = m0, m3 = m0;
    let j = 0;
    for (; j < vecEnd; j += 16) {
      const p = xt + (<usize>j << 2);
      m0 = f32x4.max(m0, f32x4.abs(v128.load(p))); m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 16)));
      m2 = f32x4.max(m2, f32x4.abs(v128.load(p, 32))); m3 = f32x4.max(m3, f32x4.abs(v128.load(p, 48)));
    }
    for (; j < (dim & ~3); j += 4) m0 = f32x4.max(m0, f32x4.abs(v128.load(xt + (<usize>j << 2))));
    const m = f32x4.max(f32x4.max(m0, m1), f32x4.max(m2, m3));
    let amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    for (; j < dim; j++) amax = max(amax, abs(load<f32>(xt + (<usize>j << 2))));
    const s: f32 = <f32>127 / max(amax, <f32>1e-5);
    const sv = f32x4.splat(s);
    j = 0;
    if (amax <= F32.MAX_VALUE) { // finite (NaN fails the comparison)
      for (; j < vecEnd; j += 16) quantize16(xt + (<usize>j << 2), qt + <usize>j, sv, true);
    } else {
      for (; j < vecEnd; j += 16) quantize16(xt + (<usize>j << 2), qt + <usize>j, sv, false);
    }
    for (; j < dim; j++) {
      const q = roundClamp(f32x4.splat(load<f32>(xt + (<usize>j << 2)) * s));
      store<i8>(qt + <usize>j, <i8>i32x4.extract_lane(q, 0));
    }
    store<f32>(invScales + (<usize>t << 2), <f32>1 / s);
  }
}

// |v| < 2^22 -> roundHalfEven(v) as i32 lanes: the f32 add of 1.5 * 2^23 rounds (ties to even) to an integer held in
// the low mantissa bits; the bits minus those of 1.5 * 2^23 are that integer. Unfused: v is the rounded product.
@inline function roundSmall(v: v128): v128 {
  return i32x4.sub(f32x4.add(v, f32x4.splat(12582912)), i32x4.splat(0x4b400000));
}

/** 16 columns of quantizeRows: dst[0..15] = the codes of src[0..15] * sv, by roundSmall (finite rows) or roundClamp. */
@inline function quantize16(src: usize, dst: usize, sv: v128, finite: bool): void {
  const q0 = roundCodes(f32x4.mul(v128.load(src), sv), finite);
  const q1 = roundCodes(f32x4.mul(v128.load(src, 16), sv), finite);
  const q2 = roundCodes(f32x4.mul(v128.load(src, 32), sv), finite);
  const q3 = roundCodes(f32x4.mul(v128.load(src, 48), sv), finite);
  v128.store(dst, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
}
@inline function roundCodes(v: v128, finite: bool): v128 { return finite ? roundSmall(v) : roundClamp(v); }

// Round ties to even (f32x4.nearest is IEEE roundeven, as ggml's nearest_int and src/quant/round.ts
// roundHalfEven), then to i32 lanes; the narrowing after it saturates to -128..127.
@inline function roundClamp(v: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(v));
}

// ---------------------------------------------------------------------------------------------
// Elementwise and per-row kernels

/**
 * out[t,:] = x[t,:] / sqrt(mean(x^2) + eps) * weight (out may alias x). The sum of squares in 4 accumulators of 4
 * lanes (one chain of dependent multiply-adds waited ~4 cycles per vector: 2B4T ffn_sub_norm, 4 rows of 6912).
 */
export function rmsNorm(out: usize, x: usize, weight: usize, n: i32, dim: i32, eps: f32): void {
  const vecEnd = dim & ~3;
  for (let t = 0; t < n; t++) {
    const xt = x + (<usize>(t * dim) << 2);
    const ot = out + (<usize>(t * dim) << 2);
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    let j = 0;
    for (; j < (dim & ~15); j += 16) {
      const p = xt + (<usize>j << 2);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      a0 = madd(v0, v0, a0); a1 = madd(v1, v1, a1); a2 = madd(v2, v2, a2); a3 = madd(v3, v3, a3);
    }
    for (; j < vecEnd; j += 4) {
      const v = v128.load(xt + (<usize>j << 2));
      a0 = madd(v, v, a0);
    }
    let ss = hsumf(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    for (; j < dim; j++) { const v = load<f32>(xt + (<usize>j << 2)); ss += v * v; }
    const k: f32 = <f32>1 / Mathf.sqrt(ss / <f32>dim + eps);
    const kv = f32x4.splat(k);
    j = 0;
    for (; j < vecEnd; j += 4) {
      const o = <usize>j << 2;
      v128.store(ot + o, f32x4.mul(f32x4.mul(v128.load(xt + o), kv), v128.load(weight + o)));
    }
    for (; j < dim; j++) {
      const o = <usize>j << 2;
      store<f32>(ot + o, load<f32>(xt + o) * k * load<f32>(weight + o));
    }
  }
}

/**
 * RoPE angles of n rows: table[t][i] = (cos, sin) of positions[t] * theta^(-2i / headDim) as f32, i < headDim / 2.
 * Every layer's q and k of a pass share one table.
 */
export function ropeTable(positions: usize, n: i32, headDim: i32, theta: f64, table: usize): void {
  const half = headDim >> 1;
  for (let t = 0; t < n; t++) {
    const pos = <f64>load<i32>(positions + (<usize>t << 2));
    const row = table + (<usize>(t * half) << 3);
    for (let i = 0; i < half; i++) {
      const angle = pos * Math.pow(theta, <f64>(-2 * i) / <f64>headDim);
      store<f32>(row + (<usize>i << 3), <f32>Math.cos(angle));
      store<f32>(row + (<usize>i << 3), <f32>Math.sin(angle), 4);
    }
  }
}

/**
 * Rotary embedding in place from ropeTable's angles; neox pairs (i, i + half), else adjacent pairs (2i, 2i + 1).
 * neox with half a multiple of 4: 4 pairs per step (the same products and differences, unfused, as the scalar loop).
 */
export function rope(x: usize, n: i32, nHeads: i32, headDim: i32, table: usize, neox: bool): void {
  const half = headDim >> 1;
  if (neox && (half & 3) == 0) {
    for (let t = 0; t < n; t++) {
      const row = table + (<usize>(t * half) << 3);
      for (let i = 0; i < half; i += 4) {
        const cs0 = v128.load(row + (<usize>i << 3)), cs1 = v128.load(row + (<usize>i << 3), 16);
        const c = v128.shuffle<f32>(cs0, cs1, 0, 2, 4, 6), s = v128.shuffle<f32>(cs0, cs1, 1, 3, 5, 7);
        for (let h = 0; h < nHeads; h++) {
          const a = x + (<usize>((t * nHeads + h) * headDim + i) << 2), b = a + (<usize>half << 2);
          const x0 = v128.load(a), x1 = v128.load(b);
          v128.store(a, f32x4.sub(f32x4.mul(x0, c), f32x4.mul(x1, s)));
          v128.store(b, f32x4.add(f32x4.mul(x0, s), f32x4.mul(x1, c)));
        }
      }
    }
    return;
  }
  for (let t = 0; t < n; t++) {
    const row = table + (<usize>(t * half) << 3);
    for (let i = 0; i < half; i++) {
      const c = load<f32>(row + (<usize>i << 3)), s = load<f32>(row + (<usize>i << 3), 4);
      for (let h = 0; h < nHeads; h++) {
        const o = (t * nHeads + h) * headDim;
        const a = x + (<usize>(neox ? o + i : o + 2 * i) << 2);
        const b = x + (<usize>(neox ? o + i + half : o + 2 * i + 1) << 2);
        const x0 = load<f32>(a), x1 = load<f32>(b);
        store<f32>(a, x0 * c - x1 * s);
        store<f32>(b, x0 * s + x1 * c);
      }
    }
  }
}

/** x[i] += y[i]. */
export function addInPlace(x: usize, y: usize, length: i32): void {
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
  }
  for (; i < length; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o));
  }
}

/** gate[i] = silu(gate[i]) * up[i]. */
export function gatedSilu(gate: usize, up: usize, length: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o);
    const e = expv(f32x4.neg(g));
    v128.store(gate + o, f32x4.mul(f32x4.div(g, f32x4.add(one, e)), v128.load(up + o)));
  }
  for (; i < length; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    store<f32>(gate + o, g / (<f32>1 + Mathf.exp(-g)) * load<f32>(up + o));
  }
}

/** gate[i] = relu(gate[i])^2 * up[i]. */
export function gatedRelu2(gate: usize, up: usize, length: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const o = <usize>i << 2;
    const g = f32x4.max(v128.load(gate + o), zero);
    v128.store(gate + o, f32x4.mul(f32x4.mul(g, g), v128.load(up + o)));
  }
  for (; i < length; i++) {
    const o = <usize>i << 2;
    const g = max(load<f32>(gate + o), <f32>0);
    store<f32>(gate + o, g * g * load<f32>(up + o));
  }
}

// ---------------------------------------------------------------------------------------------
// Attention over the KV cache ([position][nKvHeads * headDim]), heads [h0, h1)

// Four accumulators: one chain of dependent multiply-adds would be latency-bound.
@inline function dotf(a: usize, b: usize, len: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= len; i += 16) {
    const o = <usize>i << 2;
    a0 = madd(v128.load(a + o), v128.load(b + o), a0);
    a1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), a1);
    a2 = madd(v128.load(a + o, 32), v128.load(b + o, 32), a2);
    a3 = madd(v128.load(a + o, 48), v128.load(b + o, 48), a3);
  }
  for (; i + 4 <= len; i += 4) a0 = madd(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), a0);
  let s = hsumf(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; i < len; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/**
 * Causal GQA attention for query rows t < n at positions startPos + t, heads [h0, h1).
 * scores: scratch of (h1 - h0) * (startPos + n + 1) floats. Loops run position-major so the cache
 * rows ([position][nKvHeads * headDim]) stream sequentially, touched a few positions ahead.
 */
// scores[0..len) ← exp(scores − max(scores)) in place; returns their sum (softmax without the 1/sum)
@inline function expShiftInPlace(sh: usize, len: i32): f32 {
  let mx: f32 = -Infinity;
  for (let p = 0; p < len; p++) mx = max(mx, load<f32>(sh + (<usize>p << 2)));
  let sum: f32 = 0;
  let p = 0;
  const mv = f32x4.splat(mx);
  for (; p + 4 <= len; p += 4) {
    const o = sh + (<usize>p << 2);
    const e = expv(f32x4.sub(v128.load(o), mv));
    v128.store(o, e);
    sum += hsumf(e);
  }
  for (; p < len; p++) {
    const o = sh + (<usize>p << 2);
    const e = Mathf.exp(load<f32>(o) - mx);
    store<f32>(o, e);
    sum += e;
  }
  return sum;
}

export function attention(out: usize, q: usize, n: i32, startPos: i32, kCache: usize, vCache: usize,
                          nHeads: i32, nKvHeads: i32, headDim: i32, scores: usize, h0: i32, h1: i32): void {
  const kvDim = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale: f32 = <f32>1 / Mathf.sqrt(<f32>headDim);
  const stride = startPos + n; // floats per head in scores
  const kv0 = (h0 / group) * headDim, kv1 = ((h1 - 1) / group + 1) * headDim; // this slice's kv columns
  const rowBytes = <usize>kvDim << 2;
  const sums = scores + (<usize>((h1 - h0) * stride) << 2); // 1 / softmax denominator per head
  let sink: u32 = 0;
  for (let t = 0; t < n; t++) {
    const len = startPos + t + 1;
    const qt = q + (<usize>(t * nHeads * headDim) << 2);
    // scores[h][p] = q_h . k_p * scale
    for (let p = 0; p < len; p++) {
      const kp = kCache + <usize>p * rowBytes;
      if (p + ATTN_AHEAD < len) sink ^= touchLines(kp + ATTN_AHEAD * rowBytes + (<usize>kv0 << 2), <usize>(kv1 - kv0) << 2);
      for (let h = h0; h < h1; h++) {
        const s = dotf(qt + (<usize>(h * headDim) << 2), kp + (<usize>((h / group) * headDim) << 2), headDim) * scale;
        store<f32>(scores + (<usize>((h - h0) * stride + p) << 2), s);
      }
    }
    // softmax per head (unnormalized; 1/sum applied at the end)
    for (let h = h0; h < h1; h++) {
      const sh = scores + (<usize>((h - h0) * stride) << 2);
      const sum = expShiftInPlace(sh, len);
      const oo = out + (<usize>((t * nHeads + h) * headDim) << 2);
      memory.fill(oo, 0, <usize>headDim << 2);
      store<f32>(sums + (<usize>(h - h0) << 2), <f32>1 / sum);
    }
    // out_h = sum_p e[h][p] * v_p, then / sum
    for (let p = 0; p < len; p++) {
      const vp = vCache + <usize>p * rowBytes;
      if (p + ATTN_AHEAD < len) sink ^= touchLines(vp + ATTN_AHEAD * rowBytes + (<usize>kv0 << 2), <usize>(kv1 - kv0) << 2);
      for (let h = h0; h < h1; h++) {
        const pv = f32x4.splat(load<f32>(scores + (<usize>((h - h0) * stride + p) << 2)));
        const oo = out + (<usize>((t * nHeads + h) * headDim) << 2);
        const vh = vp + (<usize>((h / group) * headDim) << 2);
        let i = 0;
        for (; i + 4 <= headDim; i += 4) {
          const o = <usize>i << 2;
          v128.store(oo + o, madd(pv, v128.load(vh + o), v128.load(oo + o)));
        }
        for (; i < headDim; i++) {
          const o = <usize>i << 2;
          store<f32>(oo + o, load<f32>(oo + o) + f32x4.extract_lane(pv, 0) * load<f32>(vh + o));
        }
      }
    }
    for (let h = h0; h < h1; h++) {
      const inv = f32x4.splat(load<f32>(sums + (<usize>(h - h0) << 2)));
      const oo = out + (<usize>((t * nHeads + h) * headDim) << 2);
      let i = 0;
      for (; i + 4 <= headDim; i += 4) v128.store(oo + (<usize>i << 2), f32x4.mul(v128.load(oo + (<usize>i << 2)), inv));
      for (; i < headDim; i++) store<f32>(oo + (<usize>i << 2), load<f32>(oo + (<usize>i << 2)) * f32x4.extract_lane(inv, 0));
    }
  }
  prefetchSink ^= sink;
}


const ATTN_AHEAD: usize = 2;

// ---------------------------------------------------------------------------------------------
// Paged KV cache (src/model/kv-cache.ts; layout in PagedKV, src/kernels/backend.ts): f16 or f32 cells.
// JS resolves block ids to byte addresses: each row gets a list of its sequence's block addresses.

/** 4 floats -> 4 IEEE halves (low 16 bits of each lane), round to nearest even, as f32ToF16. */
@inline function halfFromFloat(x: v128): v128 {
  const sign = v128.and(x, i32x4.splat(0x80000000));
  const f = v128.xor(x, sign);
  // normal halves: drop 13 mantissa bits, rounding to nearest even; rebias the exponent (127 -> 15)
  const odd = v128.and(i32x4.shr_u(f, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(i32x4.add(f, i32x4.splat(((15 - 127) << 23) + 0xfff)), odd), 13);
  // below 2^-14 (subnormal or zero): an f32 add aligns the mantissa and rounds (nearest even) for us
  const magic = i32x4.splat((127 - 15 + 23 - 10 + 1) << 23);
  const small = i32x4.sub(f32x4.add(f, magic), magic);
  const inf = v128.bitselect(i32x4.splat(0x7e00), i32x4.splat(0x7c00), i32x4.gt_s(f, i32x4.splat(0x7f800000)));
  let o = v128.bitselect(small, normal, i32x4.lt_s(f, i32x4.splat(113 << 23)));
  o = v128.bitselect(inf, o, i32x4.ge_s(f, i32x4.splat((127 + 16) << 23)));
  return v128.or(o, i32x4.shr_u(sign, 16));
}

/** Halves at p (4 of them, 8 bytes) -> 4 floats; exact (subnormal halves go through f32 subnormals). */
@inline function floatFromHalf4(p: usize): v128 {
  return f32x4.mul(halfBits(i32x4.extend_low_i16x8_s(v128.load64_zero(p))), f32x4.splat(5.192296858534828e33));
}

/** len floats at src -> len cells at dst (f16: halves, else a copy). len is a multiple of 4. */
@inline function storeCells(dst: usize, src: usize, len: i32, f16: bool): void {
  if (!f16) { memory.copy(dst, src, <usize>len << 2); return; }
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    const a = halfFromFloat(v128.load(src + (<usize>i << 2))), b = halfFromFloat(v128.load(src + (<usize>i << 2), 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
  }
  for (; i < len; i += 4) {
    v128.store64_lane(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(halfFromFloat(v128.load(src + (<usize>i << 2))), i32x4.splat(0)), 0);
  }
}

/**
 * Stores n rows of k and v (kvDim floats each) into the cache: row t's K cells at dst[t] (a byte
 * address), its V cells vOffset bytes further.
 */
export function kvStoreRows(k: usize, v: usize, n: i32, kvDim: i32, dst: usize, vOffset: i32, f16: bool): void {
  for (let t = 0; t < n; t++) {
    const d = <usize>load<u32>(dst + (<usize>t << 2));
    const src = <usize>(t * kvDim) << 2;
    storeCells(d, k + src, kvDim, f16);
    storeCells(d + <usize>vOffset, v + src, kvDim, f16);
  }
}

/** len cells at src -> len floats at dst (len a multiple of 4): 8 halves per load. */
@inline function loadHalves(dst: usize, src: usize, len: i32): void {
  const k = f32x4.splat(TWO_112);
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    const h = v128.load(src + (<usize>i << 1)), o = dst + (<usize>i << 2);
    v128.store(o, f32x4.mul(halfBits(i32x4.extend_low_i16x8_s(h)), k));
    v128.store(o, f32x4.mul(halfBits(i32x4.extend_high_i16x8_s(h)), k), 16);
  }
  if (i < len) v128.store(dst + (<usize>i << 2), floatFromHalf4(src + (<usize>i << 1)));
}

// Positions per step of pagedAttention's K and V passes: each q vector load serves 4 keys, each output vector's
// load and store 4 values (the single-position tail runs the same arithmetic, so results do not depend on it).
const ATTN_POS = 4;

/** q . k over headDim floats (a multiple of 4): two accumulators over alternating 4-float steps. */
@inline function qk1(q: usize, k: usize, headDim: i32): f32 {
  let e = f32x4.splat(0), o = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= headDim; j += 8) {
    const b = <usize>j << 2;
    e = madd(v128.load(q + b), v128.load(k + b), e);
    o = madd(v128.load(q + b, 16), v128.load(k + b, 16), o);
  }
  if (j < headDim) e = madd(v128.load(q + (<usize>j << 2)), v128.load(k + (<usize>j << 2)), e);
  return hsumf(f32x4.add(e, o));
}

/** dst[0..3] = (q . k_s) * scale for 4 keys, each with exactly qk1's arithmetic. */
@inline function qk4(q: usize, k0: usize, k1: usize, k2: usize, k3: usize, headDim: i32, scale: f32, dst: usize): void {
  let e0 = f32x4.splat(0), o0 = f32x4.splat(0), e1 = f32x4.splat(0), o1 = f32x4.splat(0);
  let e2 = f32x4.splat(0), o2 = f32x4.splat(0), e3 = f32x4.splat(0), o3 = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= headDim; j += 8) {
    const b = <usize>j << 2;
    const qa = v128.load(q + b), qb = v128.load(q + b, 16);
    e0 = madd(qa, v128.load(k0 + b), e0); o0 = madd(qb, v128.load(k0 + b, 16), o0);
    e1 = madd(qa, v128.load(k1 + b), e1); o1 = madd(qb, v128.load(k1 + b, 16), o1);
    e2 = madd(qa, v128.load(k2 + b), e2); o2 = madd(qb, v128.load(k2 + b, 16), o2);
    e3 = madd(qa, v128.load(k3 + b), e3); o3 = madd(qb, v128.load(k3 + b, 16), o3);
  }
  if (j < headDim) {
    const b = <usize>j << 2, qa = v128.load(q + b);
    e0 = madd(qa, v128.load(k0 + b), e0); e1 = madd(qa, v128.load(k1 + b), e1);
    e2 = madd(qa, v128.load(k2 + b), e2); e3 = madd(qa, v128.load(k3 + b), e3);
  }
  store<f32>(dst, hsumf(f32x4.add(e0, o0)) * scale); store<f32>(dst, hsumf(f32x4.add(e1, o1)) * scale, 4);
  store<f32>(dst, hsumf(f32x4.add(e2, o2)) * scale, 8); store<f32>(dst, hsumf(f32x4.add(e3, o3)) * scale, 12);
}

/** o += w · v over headDim floats (w a splat). */
@inline function pv1(o: usize, v: usize, w: v128, headDim: i32): void {
  for (let j = 0; j < headDim; j += 4) {
    const b = <usize>j << 2;
    v128.store(o + b, madd(w, v128.load(v + b), v128.load(o + b)));
  }
}

/** o += w0 · v0 + w1 · v1 + w2 · v2 + w3 · v3, one multiply-add at a time in that order (as 4 pv1 calls). */
@inline function pv4(o: usize, v0: usize, v1: usize, v2: usize, v3: usize, w: usize, headDim: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8), w3 = v128.load32_splat(w, 12);
  for (let j = 0; j < headDim; j += 4) {
    const b = <usize>j << 2;
    let a = madd(w0, v128.load(v0 + b), v128.load(o + b));
    a = madd(w1, v128.load(v1 + b), a);
    a = madd(w2, v128.load(v2 + b), a);
    v128.store(o + b, madd(w3, v128.load(v3 + b), a));
  }
}

/**
 * Causal GQA attention over the paged cache for work items [i0, i1): item = tile * (nKvHeads / kvPer) + r is
 * the rows of one tile with the query heads of KV heads [r * kvPer, (r + 1) * kvPer). tiles: (first row, rows)
 * pairs of i32; a tile's rows are consecutive positions of one sequence (they share its block list), so each
 * K/V row segment is read and widened once for every query row and head of the item, ATTN_POS positions at a
 * time (a sequence's cells stream once per layer, not once per KV head). Row t attends positions 0..positions[t];
 * rowBlocks[t] is the address of its list of block addresses; position p's K cells are at
 * list[p >> blockShift] + layerOffset + ((p & mask) * kvDim + g * headDim) * cellBytes, V cells vOffset bytes
 * after K. scratch: rows * kvPer * group * (maxLen + 1) + ATTN_POS * kvPer * headDim floats. Each (row, head)
 * sees the same operations in the same order whatever item it is in, so a sequence's output does not depend on
 * the batch.
 */
export function pagedAttention(out: usize, q: usize, rowBlocks: usize, positions: usize, tiles: usize, kvPer: i32,
                               layerOffset: i32, vOffset: i32, blockShift: i32, f16: bool, nHeads: i32, nKvHeads: i32,
                               headDim: i32, scratch: usize, i0: i32, i1: i32): void {
  const group = nHeads / nKvHeads, kvDim = nKvHeads * headDim, splits = nKvHeads / kvPer;
  const cellShift: usize = f16 ? 1 : 2, mask = (1 << blockShift) - 1;
  const scale: f32 = <f32>1 / Mathf.sqrt(<f32>headDim);
  const hdBytes = <usize>headDim << 2, rowStride = <usize>(nHeads * headDim) << 2;
  const HQ = kvPer * group, segment = kvPer * headDim; // query heads of an item; cells of a K/V row segment
  const segBytes = <usize>segment << 2;
  for (let item = i0; item < i1; item++) {
    const tile = item / splits, g0 = (item % splits) * kvPer;
    const t0 = load<i32>(tiles + (<usize>tile << 3)), R = load<i32>(tiles + (<usize>tile << 3), 4);
    const pos0 = load<i32>(positions + (<usize>t0 << 2));
    const len = pos0 + R; // positions of the tile's last row, which sees them all
    const blocks = <usize>load<u32>(rowBlocks + (<usize>t0 << 2));
    const qt = q + <usize>t0 * rowStride + <usize>(g0 * group) * hdBytes;
    const ot = out + <usize>t0 * rowStride + <usize>(g0 * group) * hdBytes;
    const heads = R * HQ; // score row i * HQ + hq: row t0 + i, query head g0 * group + hq
    const scores = scratch, sums = scratch + (<usize>(heads * len) << 2), tmp = sums + (<usize>heads << 2);
    const colOffset = <usize>layerOffset + (<usize>(g0 * headDim) << cellShift);
    // scores[i][hq][p] = q_{i,hq} . k_p * scale, for p <= pos0 + i
    for (let p = 0; p < len; p += ATTN_POS) {
      const np = min(ATTN_POS, len - p);
      const k0 = cellRow(blocks, p, 0, np, colOffset, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      const k1 = cellRow(blocks, p, 1, np, colOffset, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      const k2 = cellRow(blocks, p, 2, np, colOffset, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      const k3 = cellRow(blocks, p, 3, np, colOffset, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      for (let i = max(0, p - pos0); i < R; i++) {
        const seen = min(np, pos0 + i + 1 - p); // positions of this step row i attends
        const qi = qt + <usize>i * rowStride, si = scores + (<usize>(i * HQ * len + p) << 2);
        for (let hq = 0; hq < HQ; hq++) {
          const qh = qi + <usize>hq * hdBytes, kh = <usize>(hq / group) * hdBytes, sh = si + (<usize>(hq * len) << 2);
          if (seen == ATTN_POS) { qk4(qh, k0 + kh, k1 + kh, k2 + kh, k3 + kh, headDim, scale, sh); continue; }
          store<f32>(sh, qk1(qh, k0 + kh, headDim) * scale);
          if (seen > 1) store<f32>(sh, qk1(qh, k1 + kh, headDim) * scale, 4);
          if (seen > 2) store<f32>(sh, qk1(qh, k2 + kh, headDim) * scale, 8);
        }
      }
    }
    // softmax per (row, head) over its own positions (unnormalized; 1/sum applied at the end)
    for (let i = 0; i < R; i++) {
      for (let hq = 0; hq < HQ; hq++) {
        const r = i * HQ + hq;
        store<f32>(sums + (<usize>r << 2), <f32>1 / expShiftInPlace(scores + (<usize>(r * len) << 2), pos0 + i + 1));
        memory.fill(ot + <usize>i * rowStride + <usize>hq * hdBytes, 0, hdBytes);
      }
    }
    // out_{i,hq} = sum_p e[i][hq][p] * v_p / sum
    const vOff = colOffset + <usize>vOffset;
    for (let p = 0; p < len; p += ATTN_POS) {
      const np = min(ATTN_POS, len - p);
      const v0 = cellRow(blocks, p, 0, np, vOff, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      const v1 = cellRow(blocks, p, 1, np, vOff, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      const v2 = cellRow(blocks, p, 2, np, vOff, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      const v3 = cellRow(blocks, p, 3, np, vOff, kvDim, blockShift, mask, cellShift, f16, tmp, segment, segBytes);
      for (let i = max(0, p - pos0); i < R; i++) {
        const seen = min(np, pos0 + i + 1 - p);
        for (let hq = 0; hq < HQ; hq++) {
          const w = scores + (<usize>((i * HQ + hq) * len + p) << 2);
          const oo = ot + <usize>i * rowStride + <usize>hq * hdBytes, vh = <usize>(hq / group) * hdBytes;
          if (seen == ATTN_POS) { pv4(oo, v0 + vh, v1 + vh, v2 + vh, v3 + vh, w, headDim); continue; }
          pv1(oo, v0 + vh, v128.load32_splat(w), headDim);
          if (seen > 1) pv1(oo, v1 + vh, v128.load32_splat(w, 4), headDim);
          if (seen > 2) pv1(oo, v2 + vh, v128.load32_splat(w, 8), headDim);
        }
      }
    }
    for (let i = 0; i < R; i++) {
      for (let hq = 0; hq < HQ; hq++) {
        const inv = f32x4.splat(load<f32>(sums + (<usize>(i * HQ + hq) << 2)));
        const oo = ot + <usize>i * rowStride + <usize>hq * hdBytes;
        for (let j = 0; j < headDim; j += 4) v128.store(oo + (<usize>j << 2), f32x4.mul(v128.load(oo + (<usize>j << 2)), inv));
      }
    }
  }
}

/**
 * Address of the K (or V: offset includes vOffset) row segment of position p + s (s < np; past np: the segment
 * of p, never read), as f32: f16 cells are widened into tmp's s-th segment.
 */
@inline function cellRow(blocks: usize, p: i32, s: i32, np: i32, offset: usize, kvDim: i32, blockShift: i32, mask: i32,
                         cellShift: usize, f16: bool, tmp: usize, segment: i32, segBytes: usize): usize {
  const ps = s < np ? p + s : p;
  const a = <usize>load<u32>(blocks + (<usize>(ps >> blockShift) << 2)) + offset + (<usize>((ps & mask) * kvDim) << cellShift);
  if (!f16) return a;
  const t = tmp + <usize>s * segBytes;
  if (s < np) loadHalves(t, a, segment);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Memory bandwidth probe: stream-read [p, p + bytes) (bytes multiple of 64); returns a checksum
// so the loads cannot be optimized away.

export function streamRead(p: usize, bytes: usize): i32 {
  let a = i32x4.splat(0), b = i32x4.splat(0), c = i32x4.splat(0), d = i32x4.splat(0);
  const end = p + bytes;
  for (; p < end; p += 64) {
    a = v128.xor(a, v128.load(p));
    b = v128.xor(b, v128.load(p, 16));
    c = v128.xor(c, v128.load(p, 32));
    d = v128.xor(d, v128.load(p, 48));
  }
  return hsum(v128.xor(v128.xor(a, b), v128.xor(c, d)));
}
