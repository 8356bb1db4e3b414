// Training kernels (AssemblyScript, SIMD128; fused multiply-add in the relaxed build). Compiled into the
// same modules as the inference kernels (index.ts), so the inference worker pool runs them over the
// trainer's shared memory. Each kernel that threads takes a [begin, end) range of its outer items (the
// split is in src/kernels/train-jobs.ts). No split changes a result: every output element is computed
// by one item in a fixed order, and reductions go through per-block partials summed in block order, so
// a run gives the same numbers on 1, 2 or 16 threads.
//
// The pure-TS oracle of every kernel is in src/train/model.ts (layers) and src/train/optim.ts (AdamW);
// test/train-kernels.test.ts compares them.

import { expv, hsumf, madd } from './vmath';
import { dotCodes, quantizeRows } from './kernels';

// ---------------------------------------------------------------------------------------------
// GEMM

/**
 * C[M×N] (+)= op(A) · op(B) for output rows [i0, i1).
 * transB: B is N×K and C = A·Bᵀ (rows of both read contiguously: dot-product form);
 * otherwise B is K×N (axpy form: a broadcast A element times a row of B).
 * transA: A is K×M (C = Aᵀ·B); otherwise A is M×K. transA with transB is not supported.
 */
export function gemm(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32,
                     transA: bool, transB: bool, accumulate: bool, i0: i32, i1: i32): void {
  if (transB) { gemmDot(c, a, b, N, K, accumulate, i0, i1); return; }
  // axpy form in blocks of kBlock along k and GEMM_JB along j, so the block of B (kBlock × GEMM_JB) stays in L2 and
  // the rows of a transposed A in L1 while every row tile uses them; C is the running sum (a store and a load do not round)
  const sI = transA ? 1 : K, sK = transA ? M : 1;
  const kBlock = transA ? GEMM_KB_TN : GEMM_KB_NN;
  for (let j0 = 0; j0 < N; j0 += GEMM_JB) {
    const w = min(GEMM_JB, N - j0);
    for (let k0 = 0; k0 < K; k0 += kBlock) {
      gemmAxpy(c + (<usize>j0 << 2), a + (<usize>k0 * <usize>sK << 2), b + ((<usize>k0 * <usize>N + <usize>j0) << 2), w, N,
               min(kBlock, K - k0), sI, sK, accumulate || k0 > 0, i0, i1);
    }
  }
}

// Rows of B per block. Transposed A reads one line per k, so its block is short (TN 256×768×1024: 18 GFLOPS
// unblocked, 35 at 128, 38 at 64, 42 at 32, 39 at 16); plain A streams its rows and wants long blocks (NN: 46 at 128, 44 at 64).
export let GEMM_KB_TN: i32 = 32;
export let GEMM_KB_NN: i32 = 256;
export let GEMM_JB: i32 = 0x40000000;

// Lane sum in the order hsum4 uses: (l0 + l2) + (l1 + l3).
@inline function hsumDot(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 2)) + (f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 3));
}

@inline function hsum4f(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 1, 4, 5), v128.shuffle<f32>(s0, s1, 2, 3, 6, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 1, 4, 5), v128.shuffle<f32>(s2, s3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 2, 4, 6), v128.shuffle<f32>(t0, t1, 1, 3, 5, 7));
}

// Scalar tail of a dot product over k in [k4, K).
@inline function dotTail(x: usize, y: usize, k4: i32, K: i32): f32 {
  let s: f32 = 0;
  for (let k = k4; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(y + (<usize>k << 2));
  return s;
}

@inline function putf(p: usize, v: f32, accumulate: bool): void {
  store<f32>(p, accumulate ? load<f32>(p) + v : v);
}

// One output of the dot form: the same arithmetic as a lane of the 2×4 tile.
@inline function dotOne(x: usize, y: usize, k4: i32, K: i32): f32 {
  let s = f32x4.splat(0);
  for (let k: usize = 0; k < (<usize>k4 << 2); k += 16) s = madd(v128.load(x + k), v128.load(y + k), s);
  return hsumDot(s) + dotTail(x, y, k4, K);
}

/** Bytes of B per column block of the dot form: the block stays in L2 while every row pair of A passes over it. */
const DOT_B_BYTES: i32 = 1 << 20;

function gemmDot(c: usize, a: usize, b: usize, N: i32, K: i32, accumulate: bool, i0: i32, i1: i32): void {
  // B in blocks of rows (columns of C) that fit in L2 (TN 256×768×1024 as dyᵀ·(xᵀ)ᵀ: 33 GFLOPS unblocked, 56 blocked)
  const jb = max(4, (DOT_B_BYTES / (K << 2)) & ~3);
  for (let j0 = 0; j0 < N; j0 += jb) {
    const w = min(jb, N - j0);
    gemmDotBlock(c + (<usize>j0 << 2), a, K, b + <usize>j0 * (<usize>K << 2), K, w, N, K, accumulate, i0, i1);
  }
}

// The dot form C[i, j] (+)= Σ_k A[i, k]·B[j, k] over C's columns [0, N) and rows [i0, i1); rows of A, B and C are
// lda, ldb and ldN floats apart (a block of a larger C, or one head's slice of q/k/v in attention).
function gemmDotBlock(c: usize, a: usize, lda: i32, b: usize, ldb: i32, N: i32, ldN: i32, K: i32, accumulate: bool,
                      i0: i32, i1: i32): void {
  const rowA = <usize>lda << 2, row = <usize>ldb << 2, k4 = K & ~3, kBytes = <usize>k4 << 2, ldc = <usize>ldN << 2;
  let i = i0;
  for (; i + 2 <= i1; i += 2) {
    const a0 = a + <usize>i * rowA, a1 = a0 + rowA;
    const c0 = c + <usize>i * ldc, c1 = c0 + ldc;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b0 = b + <usize>j * row, b1 = b0 + row, b2 = b1 + row, b3 = b2 + row;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
      for (let k: usize = 0; k < kBytes; k += 16) {
        const x0 = v128.load(a0 + k), x1 = v128.load(a1 + k);
        const y0 = v128.load(b0 + k), y1 = v128.load(b1 + k), y2 = v128.load(b2 + k), y3 = v128.load(b3 + k);
        s00 = madd(x0, y0, s00); s01 = madd(x0, y1, s01); s02 = madd(x0, y2, s02); s03 = madd(x0, y3, s03);
        s10 = madd(x1, y0, s10); s11 = madd(x1, y1, s11); s12 = madd(x1, y2, s12); s13 = madd(x1, y3, s13);
      }
      let r0 = hsum4f(s00, s01, s02, s03), r1 = hsum4f(s10, s11, s12, s13);
      if (k4 < K) {
        r0 = f32x4.add(r0, f32x4(dotTail(a0, b0, k4, K), dotTail(a0, b1, k4, K), dotTail(a0, b2, k4, K), dotTail(a0, b3, k4, K)));
        r1 = f32x4.add(r1, f32x4(dotTail(a1, b0, k4, K), dotTail(a1, b1, k4, K), dotTail(a1, b2, k4, K), dotTail(a1, b3, k4, K)));
      }
      const o = <usize>j << 2;
      v128.store(c0 + o, accumulate ? f32x4.add(v128.load(c0 + o), r0) : r0);
      v128.store(c1 + o, accumulate ? f32x4.add(v128.load(c1 + o), r1) : r1);
    }
    for (; j < N; j++) {
      const bj = b + <usize>j * row;
      putf(c0 + (<usize>j << 2), dotOne(a0, bj, k4, K), accumulate);
      putf(c1 + (<usize>j << 2), dotOne(a1, bj, k4, K), accumulate);
    }
  }
  for (; i < i1; i++) {
    const ai = a + <usize>i * rowA, ci = c + <usize>i * ldc;
    for (let j = 0; j < N; j++) putf(ci + (<usize>j << 2), dotOne(ai, b + <usize>j * row, k4, K), accumulate);
  }
}

// Axpy form: A(i, k) at a + 4 (i sI + k sK), B row k at b + 4 k N. Each output is one madd chain over k
// starting from C (accumulate) or 0, identical in the 4-row tile and the single-row path.
function gemmAxpy(c: usize, a: usize, b: usize, N: i32, ld: i32, K: i32, sI: i32, sK: i32, accumulate: bool, i0: i32, i1: i32): void {
  const ldb = <usize>ld << 2, stepA = <usize>sK << 2, rowA = <usize>sI << 2;
  const z = f32x4.splat(0);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const a0 = a + <usize>i * rowA, a1 = a0 + rowA, a2 = a1 + rowA, a3 = a2 + rowA;
    const c0 = c + <usize>i * ldb, c1 = c0 + ldb, c2 = c1 + ldb, c3 = c2 + ldb;
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      const o = <usize>j << 2;
      let x00 = accumulate ? v128.load(c0 + o) : z, x01 = accumulate ? v128.load(c0 + o, 16) : z;
      let x10 = accumulate ? v128.load(c1 + o) : z, x11 = accumulate ? v128.load(c1 + o, 16) : z;
      let x20 = accumulate ? v128.load(c2 + o) : z, x21 = accumulate ? v128.load(c2 + o, 16) : z;
      let x30 = accumulate ? v128.load(c3 + o) : z, x31 = accumulate ? v128.load(c3 + o, 16) : z;
      let pb = b + o, pa: usize = 0;
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(pb), b1 = v128.load(pb, 16);
        let s = v128.load32_splat(a0 + pa); x00 = madd(s, b0, x00); x01 = madd(s, b1, x01);
        s = v128.load32_splat(a1 + pa); x10 = madd(s, b0, x10); x11 = madd(s, b1, x11);
        s = v128.load32_splat(a2 + pa); x20 = madd(s, b0, x20); x21 = madd(s, b1, x21);
        s = v128.load32_splat(a3 + pa); x30 = madd(s, b0, x30); x31 = madd(s, b1, x31);
        pb += ldb; pa += stepA;
      }
      v128.store(c0 + o, x00); v128.store(c0 + o, x01, 16);
      v128.store(c1 + o, x10); v128.store(c1 + o, x11, 16);
      v128.store(c2 + o, x20); v128.store(c2 + o, x21, 16);
      v128.store(c3 + o, x30); v128.store(c3 + o, x31, 16);
    }
    for (; j + 4 <= N; j += 4) {
      const o = <usize>j << 2;
      let x0 = accumulate ? v128.load(c0 + o) : z, x1 = accumulate ? v128.load(c1 + o) : z;
      let x2 = accumulate ? v128.load(c2 + o) : z, x3 = accumulate ? v128.load(c3 + o) : z;
      let pb = b + o, pa: usize = 0;
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(pb);
        x0 = madd(v128.load32_splat(a0 + pa), b0, x0); x1 = madd(v128.load32_splat(a1 + pa), b0, x1);
        x2 = madd(v128.load32_splat(a2 + pa), b0, x2); x3 = madd(v128.load32_splat(a3 + pa), b0, x3);
        pb += ldb; pa += stepA;
      }
      v128.store(c0 + o, x0); v128.store(c1 + o, x1); v128.store(c2 + o, x2); v128.store(c3 + o, x3);
    }
    for (; j < N; j++) {
      axpyScalar(c0, a0, b, j, ld, K, stepA, accumulate); axpyScalar(c1, a1, b, j, ld, K, stepA, accumulate);
      axpyScalar(c2, a2, b, j, ld, K, stepA, accumulate); axpyScalar(c3, a3, b, j, ld, K, stepA, accumulate);
    }
  }
  for (; i < i1; i++) {
    const ai = a + <usize>i * rowA, ci = c + <usize>i * ldb;
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      const o = <usize>j << 2;
      let x0 = accumulate ? v128.load(ci + o) : z, x1 = accumulate ? v128.load(ci + o, 16) : z;
      let pb = b + o, pa: usize = 0;
      for (let k = 0; k < K; k++) {
        const s = v128.load32_splat(ai + pa);
        x0 = madd(s, v128.load(pb), x0); x1 = madd(s, v128.load(pb, 16), x1);
        pb += ldb; pa += stepA;
      }
      v128.store(ci + o, x0); v128.store(ci + o, x1, 16);
    }
    for (; j + 4 <= N; j += 4) {
      const o = <usize>j << 2;
      let x0 = accumulate ? v128.load(ci + o) : z;
      let pb = b + o, pa: usize = 0;
      for (let k = 0; k < K; k++) { x0 = madd(v128.load32_splat(ai + pa), v128.load(pb), x0); pb += ldb; pa += stepA; }
      v128.store(ci + o, x0);
    }
    for (; j < N; j++) axpyScalar(ci, ai, b, j, ld, K, stepA, accumulate);
  }
}

@inline function axpyScalar(ci: usize, ai: usize, b: usize, j: i32, ld: i32, K: i32, stepA: usize, accumulate: bool): void {
  const p = ci + (<usize>j << 2);
  let s: f32 = accumulate ? load<f32>(p) : 0;
  let pb = b + (<usize>j << 2), pa: usize = 0;
  const ldb = <usize>ld << 2;
  for (let k = 0; k < K; k++) { s += load<f32>(ai + pa) * load<f32>(pb); pb += ldb; pa += stepA; }
  store<f32>(p, s);
}

// ---------------------------------------------------------------------------------------------
// Transpose: packs the operands of the backward GEMMs so that they run in the dot form (gemmDot, ~10% faster
// than the axpy form at these shapes, and 20% on TN)

/** Columns of src (rows of dst) per item of transpose: one cache line of each src row. */
export const TRANSPOSE_COLS: i32 = 16;

/** dst (cols × rows) = srcᵀ, src (rows × cols), for the dst rows (src columns) [j0, j1); 4×4 blocks through shuffles. */
export function transpose(dst: usize, src: usize, rows: i32, cols: i32, j0: i32, j1: i32): void {
  const ls = <usize>cols << 2, ld = <usize>rows << 2, r4 = rows & ~3;
  // eight columns of src at a time down all its rows: eight dst rows written as streams (sixteen at a power-of-two
  // stride collide in L1 and took twice as long as four; eight: TRANSPOSE_GROUP)
  let j = j0;
  for (; j + 8 <= j1; j += 8) {
    const sj = src + (<usize>j << 2), dj = dst + <usize>j * ld;
    for (let r = 0; r < r4; r += 4) {
      const s0 = sj + <usize>r * ls, d0 = dj + (<usize>r << 2);
      transpose4(s0, ls, d0, ld);
      transpose4(s0 + 16, ls, d0 + 4 * ld, ld);
    }
    for (let r = r4; r < rows; r++) {
      for (let q = 0; q < 8; q++) store<f32>(dj + <usize>q * ld + (<usize>r << 2), load<f32>(sj + <usize>r * ls + (<usize>q << 2)));
    }
  }
  for (; j < j1; j++) {
    for (let r = 0; r < rows; r++) store<f32>(dst + <usize>j * ld + (<usize>r << 2), load<f32>(src + <usize>r * ls + (<usize>j << 2)));
  }
}

// One 4×4 block: four rows of src (ls bytes apart) to four rows of dst (ld bytes apart).
@inline function transpose4(s0: usize, ls: usize, d0: usize, ld: usize): void {
  const a0 = v128.load(s0), a1 = v128.load(s0 + ls), a2 = v128.load(s0 + 2 * ls), a3 = v128.load(s0 + 3 * ls);
  const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
  v128.store(d0, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(d0 + ld, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(d0 + 2 * ld, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(d0 + 3 * ld, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

// ---------------------------------------------------------------------------------------------
// BitLinear forward on integers: ternary weights × int8 activations, as the inference kernels compute it

/** Columns summed in i16 lanes before they widen to i32: 32 dots of |lane| ≤ 2·2·128 stay below 2^15. */
const INT_FLUSH: i32 = 512;
/** Tokens per block: their int8 rows stay in L1 while every group of 4 weight rows passes over them. */
const INT_TOKENS: i32 = 16;

/**
 * C[M×N] (+)= f32(Σ_k codes[j, k]·xq[i, k] − xsum[i]) · scale · inv[i] for token rows [i0, i1): the BitLinear
 * Qa(x)·Qw(W)ᵀ with codes = w + 1 in 0..2 (u8, N×K), xq int8 (M×K) with xsum[i] = Σ_k xq[i, k] and 1/s = inv[i].
 * The dot is exact (integers); the float part is one rounding per multiply, (f32(dot) · scale) · inv[i], then
 * + C when accumulating: the arithmetic of ternaryForwardRef (src/train/model.ts), bit for bit.
 */
export function ternaryGemm(c: usize, xq: usize, xsum: usize, inv: usize, codes: usize, M: i32, N: i32, K: i32,
                            scale: f32, accumulate: bool, i0: i32, i1: i32): void {
  const k16 = K & ~15, ldc = <usize>N << 2, row = <usize>K;
  for (let tb = i0; tb < i1; tb += INT_TOKENS) {
    const tEnd = min(i1, tb + INT_TOKENS);
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const w0 = codes + <usize>j * row, w1 = w0 + row, w2 = w1 + row, w3 = w2 + row;
      let t = tb;
      for (; t + 2 <= tEnd; t += 2) {
        const x0 = xq + <usize>t * row, x1 = x0 + row;
        let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s02 = i32x4.splat(0), s03 = i32x4.splat(0);
        let s10 = i32x4.splat(0), s11 = i32x4.splat(0), s12 = i32x4.splat(0), s13 = i32x4.splat(0);
        for (let k0 = 0; k0 < k16; k0 += INT_FLUSH) {
          const kEnd = <usize>min(k16, k0 + INT_FLUSH);
          let h00 = i16x8.splat(0), h01 = i16x8.splat(0), h02 = i16x8.splat(0), h03 = i16x8.splat(0);
          let h10 = i16x8.splat(0), h11 = i16x8.splat(0), h12 = i16x8.splat(0), h13 = i16x8.splat(0);
          for (let k = <usize>k0; k < kEnd; k += 16) {
            const a0 = v128.load(x0 + k), a1 = v128.load(x1 + k);
            let w = v128.load(w0 + k); h00 = i16x8.add(h00, dotCodes(a0, w)); h10 = i16x8.add(h10, dotCodes(a1, w));
            w = v128.load(w1 + k); h01 = i16x8.add(h01, dotCodes(a0, w)); h11 = i16x8.add(h11, dotCodes(a1, w));
            w = v128.load(w2 + k); h02 = i16x8.add(h02, dotCodes(a0, w)); h12 = i16x8.add(h12, dotCodes(a1, w));
            w = v128.load(w3 + k); h03 = i16x8.add(h03, dotCodes(a0, w)); h13 = i16x8.add(h13, dotCodes(a1, w));
          }
          s00 = i32x4.add(s00, i32x4.extadd_pairwise_i16x8_s(h00)); s01 = i32x4.add(s01, i32x4.extadd_pairwise_i16x8_s(h01));
          s02 = i32x4.add(s02, i32x4.extadd_pairwise_i16x8_s(h02)); s03 = i32x4.add(s03, i32x4.extadd_pairwise_i16x8_s(h03));
          s10 = i32x4.add(s10, i32x4.extadd_pairwise_i16x8_s(h10)); s11 = i32x4.add(s11, i32x4.extadd_pairwise_i16x8_s(h11));
          s12 = i32x4.add(s12, i32x4.extadd_pairwise_i16x8_s(h12)); s13 = i32x4.add(s13, i32x4.extadd_pairwise_i16x8_s(h13));
        }
        let d0 = hsum4i(s00, s01, s02, s03), d1 = hsum4i(s10, s11, s12, s13);
        if (k16 < K) {
          d0 = i32x4.add(d0, i32x4(intTail(x0, w0, k16, K), intTail(x0, w1, k16, K), intTail(x0, w2, k16, K), intTail(x0, w3, k16, K)));
          d1 = i32x4.add(d1, i32x4(intTail(x1, w0, k16, K), intTail(x1, w1, k16, K), intTail(x1, w2, k16, K), intTail(x1, w3, k16, K)));
        }
        storeInt4(c + <usize>t * ldc + (<usize>j << 2), d0, t, xsum, inv, scale, accumulate);
        storeInt4(c + <usize>(t + 1) * ldc + (<usize>j << 2), d1, t + 1, xsum, inv, scale, accumulate);
      }
      for (; t < tEnd; t++) {
        const x0 = xq + <usize>t * row;
        const d = i32x4(intDot(x0, w0, k16, K), intDot(x0, w1, k16, K), intDot(x0, w2, k16, K), intDot(x0, w3, k16, K));
        storeInt4(c + <usize>t * ldc + (<usize>j << 2), d, t, xsum, inv, scale, accumulate);
      }
    }
    for (; j < N; j++) {
      const wj = codes + <usize>j * row;
      for (let t = tb; t < tEnd; t++) {
        const p = c + <usize>t * ldc + (<usize>j << 2);
        const v = intScale(intDot(xq + <usize>t * row, wj, k16, K) - load<i32>(xsum + (<usize>t << 2)), scale, load<f32>(inv + (<usize>t << 2)));
        store<f32>(p, accumulate ? load<f32>(p) + v : v);
      }
    }
  }
}

/** [hsum(s0), hsum(s1), hsum(s2), hsum(s3)] of i32 lanes (integer: any order gives the same sums). */
@inline function hsum4i(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const v = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 4, 1, 5), v128.shuffle<i32>(s0, s1, 2, 6, 3, 7));
  const w = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 4, 1, 5), v128.shuffle<i32>(s2, s3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(v, w, 0, 1, 4, 5), v128.shuffle<i32>(v, w, 2, 3, 6, 7));
}

@inline function intTail(x: usize, w: usize, k16: i32, K: i32): i32 {
  let s = 0;
  for (let k = k16; k < K; k++) s += <i32>load<i8>(x + <usize>k) * <i32>load<u8>(w + <usize>k);
  return s;
}

/** Σ_k codes·xq over one row pair (exact), the single-row path of ternaryGemm. */
@inline function intDot(x: usize, w: usize, k16: i32, K: i32): i32 {
  let acc = i32x4.splat(0);
  for (let k0 = 0; k0 < k16; k0 += INT_FLUSH) {
    const kEnd = <usize>min(k16, k0 + INT_FLUSH);
    let h = i16x8.splat(0);
    for (let k = <usize>k0; k < kEnd; k += 16) h = i16x8.add(h, dotCodes(v128.load(x + k), v128.load(w + k)));
    acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(h));
  }
  return hsumi(acc) + intTail(x, w, k16, K);
}

@inline function intScale(d: i32, scale: f32, inv: f32): f32 {
  return (<f32>d * scale) * inv;
}

/** C[t, j..j+3] (+)= (f32(d − xsum[t]) · scale) · inv[t]. */
@inline function storeInt4(p: usize, d: v128, t: i32, xsum: usize, inv: usize, scale: f32, accumulate: bool): void {
  const e = i32x4.sub(d, i32x4.splat(load<i32>(xsum + (<usize>t << 2))));
  const v = f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(e), f32x4.splat(scale)), f32x4.splat(load<f32>(inv + (<usize>t << 2))));
  v128.store(p, accumulate ? f32x4.add(v128.load(p), v) : v);
}

// ---------------------------------------------------------------------------------------------
// Small vector helpers over f32 rows (n floats; scalar tails)

@inline function dotRow(x: usize, y: usize, n: i32): f32 {
  let s = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) s = madd(v128.load(x + (<usize>i << 2)), v128.load(y + (<usize>i << 2)), s);
  let r = hsumf(s);
  for (; i < n; i++) r += load<f32>(x + (<usize>i << 2)) * load<f32>(y + (<usize>i << 2));
  return r;
}

/** y += a * x */
@inline function axpyRow(y: usize, a: f32, x: usize, n: i32): void {
  const av = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, madd(av, v128.load(x + o), v128.load(y + o)));
  }
  for (; i < n; i++) { const o = <usize>i << 2; store<f32>(y + o, load<f32>(y + o) + a * load<f32>(x + o)); }
}

@inline function zeroRow(y: usize, n: i32): void {
  memory.fill(y, 0, <usize>n << 2);
}

// ---------------------------------------------------------------------------------------------
// RMSNorm: out = x * rstd * w, rstd = 1 / sqrt(mean(x²) + eps), per row of d

export function rmsnormForward(out: usize, rstd: usize, x: usize, w: usize, d: i32, eps: f32, t0: i32, t1: i32): void {
  for (let t = t0; t < t1; t++) {
    const xt = x + (<usize>(t * d) << 2), ot = out + (<usize>(t * d) << 2);
    const r: f32 = <f32>1 / Mathf.sqrt(dotRow(xt, xt, d) / <f32>d + eps);
    store<f32>(rstd + (<usize>t << 2), r);
    const rv = f32x4.splat(r);
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const o = <usize>j << 2;
      v128.store(ot + o, f32x4.mul(f32x4.mul(v128.load(xt + o), rv), v128.load(w + o)));
    }
    for (; j < d; j++) { const o = <usize>j << 2; store<f32>(ot + o, load<f32>(xt + o) * r * load<f32>(w + o)); }
  }
}

/** Rows per block of the weight-gradient partials (rmsnormBackward). */
export const NORM_BLOCK: i32 = 16;

/**
 * dx += dout·w·r − x·(Σ dout·w·x)·r³/d for rows of blocks [b0, b1) (NORM_BLOCK rows each, n rows in all);
 * dwParts[b, :] = Σ_{rows of block b} dout·x·r (summed into dw by sumParts, in block order).
 */
export function rmsnormBackward(dx: usize, dwParts: usize, dout: usize, x: usize, w: usize, rstd: usize,
                                n: i32, d: i32, b0: i32, b1: i32): void {
  for (let b = b0; b < b1; b++) {
    const part = dwParts + (<usize>(b * d) << 2);
    zeroRow(part, d);
    const tEnd = min(n, (b + 1) * NORM_BLOCK);
    for (let t = b * NORM_BLOCK; t < tEnd; t++) {
      const o = <usize>(t * d) << 2;
      const gt = dout + o, xt = x + o, dxt = dx + o;
      const r = load<f32>(rstd + (<usize>t << 2));
      let acc = f32x4.splat(0);
      let j = 0;
      for (; j + 4 <= d; j += 4) {
        const q = <usize>j << 2;
        acc = madd(f32x4.mul(v128.load(gt + q), v128.load(w + q)), v128.load(xt + q), acc);
      }
      let dot = hsumf(acc);
      for (; j < d; j++) { const q = <usize>j << 2; dot += load<f32>(gt + q) * load<f32>(w + q) * load<f32>(xt + q); }
      const k: f32 = (dot * r * r * r) / <f32>d;
      const rv = f32x4.splat(r), kv = f32x4.splat(k);
      j = 0;
      for (; j + 4 <= d; j += 4) {
        const q = <usize>j << 2;
        const g = v128.load(gt + q), xv = v128.load(xt + q);
        v128.store(dxt + q, f32x4.add(v128.load(dxt + q), f32x4.sub(f32x4.mul(f32x4.mul(g, v128.load(w + q)), rv), f32x4.mul(xv, kv))));
        v128.store(part + q, madd(f32x4.mul(g, xv), rv, v128.load(part + q)));
      }
      for (; j < d; j++) {
        const q = <usize>j << 2;
        const g = load<f32>(gt + q), xv = load<f32>(xt + q);
        store<f32>(dxt + q, load<f32>(dxt + q) + (g * load<f32>(w + q) * r - xv * k));
        store<f32>(part + q, load<f32>(part + q) + g * xv * r);
      }
    }
  }
}

/** dst[j] += Σ_p parts[p, j] (p in order) for j in [j0, j1). */
export function sumParts(dst: usize, parts: usize, nParts: i32, d: i32, j0: i32, j1: i32): void {
  for (let j = j0; j < j1; j++) {
    let s: f32 = 0;
    for (let p = 0; p < nParts; p++) s += load<f32>(parts + (<usize>(p * d + j) << 2));
    store<f32>(dst + (<usize>j << 2), load<f32>(dst + (<usize>j << 2)) + s);
  }
}

// ---------------------------------------------------------------------------------------------
// Rotary embedding (NEOX pairs i, i + hd/2); cos/sin tables [T][hd/2]; sign −1 applies the inverse

export function ropeRows(x: usize, cos: usize, sin: usize, T: i32, H: i32, hd: i32, sign: f32, t0: i32, t1: i32): void {
  const half = hd >> 1;
  for (let t = t0; t < t1; t++) {
    const tab = <usize>((t % T) * half) << 2;
    for (let h = 0; h < H; h++) {
      const xa = x + (<usize>((t * H + h) * hd) << 2), xb = xa + (<usize>half << 2);
      let i = 0;
      for (; i + 4 <= half; i += 4) {
        const o = <usize>i << 2;
        const c = v128.load(cos + tab + o), s = f32x4.mul(v128.load(sin + tab + o), f32x4.splat(sign));
        const a = v128.load(xa + o), b = v128.load(xb + o);
        v128.store(xa + o, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
        v128.store(xb + o, f32x4.add(f32x4.mul(a, s), f32x4.mul(b, c)));
      }
      for (; i < half; i++) {
        const o = <usize>i << 2;
        const c = load<f32>(cos + tab + o), s = sign * load<f32>(sin + tab + o);
        const a = load<f32>(xa + o), b = load<f32>(xb + o);
        store<f32>(xa + o, a * c - b * s);
        store<f32>(xb + o, a * s + b * c);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Causal multi-head attention over (batch, head) items p = b·H + h in [p0, p1).
// q, k, v, out: [B·T][H·hd]; probs: [B][H][T][T] (saved for backward; zero above the diagonal).

// e^(x) for row[0..n) in place, returning the sum (vector exp, scalar tail).
@inline function expRowSum(row: usize, n: i32, max: f32): f32 {
  const mv = f32x4.splat(max);
  let acc = f32x4.splat(0);
  let s = 0;
  for (; s + 4 <= n; s += 4) {
    const e = expv(f32x4.sub(v128.load(row + (<usize>s << 2)), mv));
    v128.store(row + (<usize>s << 2), e);
    acc = f32x4.add(acc, e);
  }
  let sum = hsumf(acc);
  for (; s < n; s++) {
    const e = Mathf.exp(load<f32>(row + (<usize>s << 2)) - max);
    store<f32>(row + (<usize>s << 2), e);
    sum += e;
  }
  return sum;
}

// Per item, the products are register-tiled GEMMs over the head's slices (rows D floats apart), causal:
// the dot form (gemmDotBlock) for Q·Kᵀ and dO·Vᵀ on row pairs up to the diagonal's column quad, the axpy form
// (gemmAxpy) for P·V, dS·K (k ≤ t) and Pᵀ·dO, dSᵀ·Q (k ≥ s) on 4-row tiles.

/** Causal Q·Kᵀ-style products of one head: c[t, s] = x_t · y_s for s ≤ t (and up to the end of t's column quad). */
function causalDot(c: usize, x: usize, y: usize, T: i32, D: i32, hd: i32): void {
  for (let t = 0; t < T; t += 2) {
    const n = min(T, (t + 2 + 3) & ~3);
    gemmDotBlock(c, x, D, y, D, n, T, hd, false, t, min(T, t + 2));
  }
}

/** out_t = Σ_{s ≤ t} p[t, s]·v_s for one head (p: T×T, zero above the diagonal; v, out: rows D floats apart). */
function causalAxpy(out: usize, p: usize, v: usize, T: i32, D: i32, hd: i32): void {
  for (let t = 0; t < T; t += 4) gemmAxpy(out, p, v, hd, D, min(T, t + 4), T, 1, false, t, min(T, t + 4));
}

/** out_s = Σ_{t ≥ s} p[t, s]·x_t for one head (pᵀ·x: p is T×T, zero above the diagonal). */
function causalAxpyT(out: usize, p: usize, x: usize, T: i32, D: i32, hd: i32): void {
  for (let s = 0; s < T; s += 4) {
    gemmAxpy(out, p + (<usize>(s * T) << 2), x + (<usize>(s * D) << 2), hd, D, T - s, 1, T, false, s, min(T, s + 4));
  }
}

export function attentionForward(out: usize, probs: usize, q: usize, k: usize, v: usize,
                                 T: i32, H: i32, hd: i32, scale: f32, p0: i32, p1: i32): void {
  const D = H * hd;
  for (let p = p0; p < p1; p++) {
    const b = p / H, h = p % H;
    const head = <usize>((b * T) * D + h * hd) << 2, pp = probs + (<usize>(p * T * T) << 2);
    causalDot(pp, q + head, k + head, T, D, hd);
    for (let t = 0; t < T; t++) {
      const row = pp + (<usize>(t * T) << 2);
      const sv = f32x4.splat(scale);
      let mv = f32x4.splat(-Infinity);
      let s = 0;
      for (; s + 4 <= t + 1; s += 4) {
        const sc = f32x4.mul(v128.load(row + (<usize>s << 2)), sv);
        v128.store(row + (<usize>s << 2), sc);
        mv = f32x4.max(mv, sc);
      }
      let mx = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
      for (; s <= t; s++) {
        const sc = load<f32>(row + (<usize>s << 2)) * scale;
        store<f32>(row + (<usize>s << 2), sc);
        mx = max(mx, sc);
      }
      const inv: f32 = <f32>1 / expRowSum(row, t + 1, mx);
      const iv = f32x4.splat(inv);
      s = 0;
      for (; s + 4 <= t + 1; s += 4) v128.store(row + (<usize>s << 2), f32x4.mul(v128.load(row + (<usize>s << 2)), iv));
      for (; s <= t; s++) store<f32>(row + (<usize>s << 2), load<f32>(row + (<usize>s << 2)) * inv);
      zeroRow(row + (<usize>(t + 1) << 2), T - t - 1);
    }
    causalAxpy(out + head, pp, v + head, T, D, hd);
  }
}

/** Writes (not accumulates) dq, dk, dv of the items' heads; dp: [B·H][T][T] scratch (dP, then dS). */
export function attentionBackward(dq: usize, dk: usize, dv: usize, dout: usize, probs: usize, q: usize, k: usize, v: usize,
                                  dp: usize, T: i32, H: i32, hd: i32, scale: f32, p0: i32, p1: i32): void {
  const D = H * hd;
  for (let p = p0; p < p1; p++) {
    const b = p / H, h = p % H;
    const head = <usize>((b * T) * D + h * hd) << 2, pp = probs + (<usize>(p * T * T) << 2), ds = dp + (<usize>(p * T * T) << 2);
    causalDot(ds, dout + head, v + head, T, D, hd); // dP = dO·Vᵀ
    // dS = P ∘ (dP − Σ_s P·dP) · scale, zero above the diagonal
    for (let t = 0; t < T; t++) {
      const prow = pp + (<usize>(t * T) << 2), drow = ds + (<usize>(t * T) << 2);
      const dot = dotRow(drow, prow, t + 1), dotv = f32x4.splat(dot), sv = f32x4.splat(scale);
      let s = 0;
      for (; s + 4 <= t + 1; s += 4) {
        const o = <usize>s << 2;
        v128.store(drow + o, f32x4.mul(f32x4.mul(v128.load(prow + o), f32x4.sub(v128.load(drow + o), dotv)), sv));
      }
      for (; s <= t; s++) {
        const o = <usize>s << 2;
        store<f32>(drow + o, load<f32>(prow + o) * (load<f32>(drow + o) - dot) * scale);
      }
      zeroRow(drow + (<usize>(t + 1) << 2), T - t - 1);
    }
    causalAxpyT(dv + head, pp, dout + head, T, D, hd); // dV = Pᵀ·dO
    causalAxpy(dq + head, ds, k + head, T, D, hd);     // dQ = dS·K
    causalAxpyT(dk + head, ds, q + head, T, D, hd);    // dK = dSᵀ·Q
  }
}

// ---------------------------------------------------------------------------------------------
// SiLU gate: h = silu(g) · u; backward du = dh·silu(g), dg = dh·u·σ(g)·(1 + g·(1 − σ(g)))

@inline function sigmoidv(g: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), expv(f32x4.neg(g))));
}

export function swigluForward(h: usize, g: usize, u: usize, lo: i32, hi: i32): void {
  let i = lo;
  for (; i + 4 <= hi; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    v128.store(h + o, f32x4.mul(f32x4.mul(gv, sigmoidv(gv)), v128.load(u + o)));
  }
  for (; i < hi; i++) {
    const o = <usize>i << 2;
    const gv = load<f32>(g + o);
    store<f32>(h + o, gv / (<f32>1 + Mathf.exp(-gv)) * load<f32>(u + o));
  }
}

export function swigluBackward(dg: usize, du: usize, dh: usize, g: usize, u: usize, lo: i32, hi: i32): void {
  const one = f32x4.splat(1);
  let i = lo;
  for (; i + 4 <= hi; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o), d = v128.load(dh + o), s = sigmoidv(gv);
    v128.store(du + o, f32x4.mul(f32x4.mul(d, gv), s));
    v128.store(dg + o, f32x4.mul(f32x4.mul(f32x4.mul(d, v128.load(u + o)), s), f32x4.add(one, f32x4.mul(gv, f32x4.sub(one, s)))));
  }
  for (; i < hi; i++) {
    const o = <usize>i << 2;
    const gv = load<f32>(g + o), d = load<f32>(dh + o), s: f32 = <f32>1 / (<f32>1 + Mathf.exp(-gv));
    store<f32>(du + o, d * gv * s);
    store<f32>(dg + o, d * load<f32>(u + o) * s * (<f32>1 + gv * (<f32>1 - s)));
  }
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy over rows [t0, t1) of logits [n][V]: losses[t] = logsumexp − logit[target];
// logits become the gradient of the mean loss, (softmax − onehot) · invN.

export function crossEntropy(logits: usize, targets: usize, losses: usize, V: i32, invN: f32, t0: i32, t1: i32): void {
  for (let t = t0; t < t1; t++) {
    const row = logits + (<usize>(t * V) << 2);
    let mv = f32x4.splat(-Infinity);
    let j = 0;
    for (; j + 4 <= V; j += 4) mv = f32x4.max(mv, v128.load(row + (<usize>j << 2)));
    let mx = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; j < V; j++) mx = max(mx, load<f32>(row + (<usize>j << 2)));
    const target = load<i32>(targets + (<usize>t << 2));
    const lt = load<f32>(row + (<usize>target << 2));
    const sum = expRowSum(row, V, mx);
    store<f32>(losses + (<usize>t << 2), <f32>(Math.log(<f64>sum) + <f64>mx - <f64>lt));
    const k: f32 = invN / sum, kv = f32x4.splat(k);
    j = 0;
    for (; j + 4 <= V; j += 4) v128.store(row + (<usize>j << 2), f32x4.mul(v128.load(row + (<usize>j << 2)), kv));
    for (; j < V; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) * k);
    store<f32>(row + (<usize>target << 2), load<f32>(row + (<usize>target << 2)) - invN);
  }
}

// ---------------------------------------------------------------------------------------------
// Quantizers (forward of BitLinear). Activations use the engine's quantizeRows, so training and
// inference share one rounding; weights: absmean ternary.

/**
 * out[t, :] = Qa(x[t, :]) as f32 (xq[t, :] · invScales[t]), via the engine's int8 quantizer, rows [t0, t1);
 * xsum[t] = Σ xq[t, :] (the "− Σ x" term of the integer BitLinear, ternaryGemm).
 */
export function fakeQuantRows(out: usize, x: usize, dim: i32, xq: usize, invScales: usize, xsum: usize, t0: i32, t1: i32): void {
  for (let t = t0; t < t1; t++) {
    // one row at a time, so the dequantization below reads it from L1
    quantizeRows(x + (<usize>(t * dim) << 2), 1, dim, xq + <usize>(t * dim), invScales + (<usize>t << 2));
    const inv = load<f32>(invScales + (<usize>t << 2)), iv = f32x4.splat(inv);
    const qt = xq + <usize>(t * dim), ot = out + (<usize>(t * dim) << 2);
    let sv = i32x4.splat(0);
    let j = 0;
    for (; j + 4 <= dim; j += 4) {
      const w = i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(qt + <usize>j)));
      sv = i32x4.add(sv, w);
      v128.store(ot + (<usize>j << 2), f32x4.mul(f32x4.convert_i32x4_s(w), iv));
    }
    let sum = hsumi(sv);
    for (; j < dim; j++) {
      const q = load<i8>(qt + <usize>j);
      sum += <i32>q;
      store<f32>(ot + (<usize>j << 2), <f32>q * inv);
    }
    store<i32>(xsum + (<usize>t << 2), sum);
  }
}

@inline function hsumi(v: v128): i32 {
  return (i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1)) + (i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3));
}

/** Floats per block of the partial sums below. */
export const SUM_BLOCK: i32 = 4096;

/** parts[b] = Σ |x| (square = false) or Σ x² (square = true) over block b of x[0, n), b in [b0, b1). */
export function partialSums(x: usize, n: i32, parts: usize, square: bool, b0: i32, b1: i32): void {
  for (let b = b0; b < b1; b++) {
    const lo = b * SUM_BLOCK, hi = min(n, lo + SUM_BLOCK);
    let acc = f32x4.splat(0);
    let i = lo;
    for (; i + 4 <= hi; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      acc = square ? madd(v, v, acc) : f32x4.add(acc, f32x4.abs(v));
    }
    let s = <f64>hsumf(acc);
    for (; i < hi; i++) { const v = load<f32>(x + (<usize>i << 2)); s += square ? <f64>(v * v) : <f64>abs(v); }
    store<f64>(parts + (<usize>b << 3), s);
  }
}

/**
 * out[i] = q · scale, q = clamp(round(w[i] / scale), −1, 1) (round half to even, as torch.round), for i in [lo, hi);
 * codes[i] = q + 1 (u8, the integer forward's weights: ternaryGemm) unless codes is 0.
 */
export function ternaryWeights(out: usize, codes: usize, w: usize, scale: f32, lo: i32, hi: i32): void {
  const sv = f32x4.splat(scale), one = f32x4.splat(1), mone = f32x4.splat(-1);
  let i = lo;
  for (; i + 4 <= hi; i += 4) {
    const o = <usize>i << 2;
    const q = f32x4.max(mone, f32x4.min(one, f32x4.nearest(f32x4.div(v128.load(w + o), sv))));
    v128.store(out + o, f32x4.mul(q, sv));
    if (codes) {
      const c = i32x4.add(i32x4.trunc_sat_f32x4_s(q), i32x4.splat(1));
      v128.store32_lane(codes + <usize>i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(c, c), i16x8.splat(0)), 0);
    }
  }
  for (; i < hi; i++) {
    const o = <usize>i << 2;
    const q = max(<f32>-1, min(<f32>1, nearest(load<f32>(w + o) / scale)));
    store<f32>(out + o, q * scale);
    if (codes) store<u8>(codes + <usize>i, <u8>(<i32>q + 1));
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW over [lo, hi): g' = g·clip; m = β1 m + (1−β1) g'; v = β2 v + (1−β2) g'²;
// p −= lr · ((m / c1) / (sqrt(v / c2) + eps) + wd · p)

export function adamw(p: usize, g: usize, m: usize, v: usize, lr: f32, wd: f32, clip: f32, b1: f32, b2: f32,
                      c1: f32, c2: f32, eps: f32, lo: i32, hi: i32): void {
  const lrv = f32x4.splat(lr), wdv = f32x4.splat(wd), cl = f32x4.splat(clip), b1v = f32x4.splat(b1), b2v = f32x4.splat(b2);
  const nb1 = f32x4.splat(<f32>1 - b1), nb2 = f32x4.splat(<f32>1 - b2), c1v = f32x4.splat(c1), c2v = f32x4.splat(c2);
  const ev = f32x4.splat(eps);
  let i = lo;
  for (; i + 4 <= hi; i += 4) {
    const o = <usize>i << 2;
    const gi = f32x4.mul(v128.load(g + o), cl);
    const mi = f32x4.add(f32x4.mul(b1v, v128.load(m + o)), f32x4.mul(nb1, gi));
    const vi = f32x4.add(f32x4.mul(b2v, v128.load(v + o)), f32x4.mul(f32x4.mul(nb2, gi), gi));
    v128.store(m + o, mi); v128.store(v + o, vi);
    const pi = v128.load(p + o);
    const upd = f32x4.add(f32x4.div(f32x4.div(mi, c1v), f32x4.add(f32x4.sqrt(f32x4.div(vi, c2v)), ev)), f32x4.mul(wdv, pi));
    v128.store(p + o, f32x4.sub(pi, f32x4.mul(lrv, upd)));
  }
  for (; i < hi; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o) * clip;
    const mi = b1 * load<f32>(m + o) + (<f32>1 - b1) * gi;
    const vi = b2 * load<f32>(v + o) + (<f32>1 - b2) * gi * gi;
    store<f32>(m + o, mi); store<f32>(v + o, vi);
    const pi = load<f32>(p + o);
    store<f32>(p + o, pi - lr * ((mi / c1) / (Mathf.sqrt(vi / c2) + eps) + wd * pi));
  }
}
