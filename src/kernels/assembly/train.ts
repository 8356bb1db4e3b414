// f32 GEMM for training (AssemblyScript, SIMD128): C[M×N] = A[M×K] · B[N×K]ᵀ (+ C if accumulate).
// Both operands are read along contiguous rows, so every output is a dot product of two rows;
// a 2×4 register tile reuses each loaded vector 2–4 times. K must be a multiple of 4.

export function gemmNT(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, accumulate: bool): void {
  const rowA = <usize>K << 2;
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    const a0 = a + <usize>i * rowA, a1 = a0 + rowA;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const b0 = b + <usize>j * rowA, b1 = b0 + rowA, b2 = b1 + rowA, b3 = b2 + rowA;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
      for (let k: usize = 0; k < rowA; k += 16) {
        const x0 = v128.load(a0 + k), x1 = v128.load(a1 + k);
        const y0 = v128.load(b0 + k), y1 = v128.load(b1 + k), y2 = v128.load(b2 + k), y3 = v128.load(b3 + k);
        s00 = f32x4.add(s00, f32x4.mul(x0, y0)); s01 = f32x4.add(s01, f32x4.mul(x0, y1));
        s02 = f32x4.add(s02, f32x4.mul(x0, y2)); s03 = f32x4.add(s03, f32x4.mul(x0, y3));
        s10 = f32x4.add(s10, f32x4.mul(x1, y0)); s11 = f32x4.add(s11, f32x4.mul(x1, y1));
        s12 = f32x4.add(s12, f32x4.mul(x1, y2)); s13 = f32x4.add(s13, f32x4.mul(x1, y3));
      }
      const c0 = c + (<usize>i * <usize>N + <usize>j) * 4, c1 = c0 + (<usize>N << 2);
      store4(c0, hsum4(s00, s01, s02, s03), accumulate);
      store4(c1, hsum4(s10, s11, s12, s13), accumulate);
    }
    for (; j < N; j++) {
      const bj = b + <usize>j * rowA;
      put(c + (<usize>i * <usize>N + <usize>j) * 4, dot(a0, bj, rowA), accumulate);
      put(c + (<usize>(i + 1) * <usize>N + <usize>j) * 4, dot(a1, bj, rowA), accumulate);
    }
  }
  for (; i < M; i++) {
    const ai = a + <usize>i * rowA;
    for (let j = 0; j < N; j++) put(c + (<usize>i * <usize>N + <usize>j) * 4, dot(ai, b + <usize>j * rowA, rowA), accumulate);
  }
}

// Horizontal sums of four vectors into one vector [Σs0, Σs1, Σs2, Σs3].
@inline function hsum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 1, 4, 5), v128.shuffle<f32>(s0, s1, 2, 3, 6, 7));
  const t1 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 1, 4, 5), v128.shuffle<f32>(s2, s3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 2, 4, 6), v128.shuffle<f32>(t0, t1, 1, 3, 5, 7));
}

@inline function store4(p: usize, v: v128, accumulate: bool): void {
  v128.store(p, accumulate ? f32x4.add(v128.load(p), v) : v);
}

@inline function put(p: usize, v: f32, accumulate: bool): void {
  store<f32>(p, accumulate ? load<f32>(p) + v : v);
}

@inline function dot(x: usize, y: usize, bytes: usize): f32 {
  let s = f32x4.splat(0);
  for (let k: usize = 0; k < bytes; k += 16) s = f32x4.add(s, f32x4.mul(v128.load(x + k), v128.load(y + k)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
