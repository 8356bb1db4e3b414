// Vector math shared by the inference kernels (kernels.ts) and the training kernels (train.ts).
// ASC_FEATURE_RELAXED_SIMD is a compile-time constant: the relaxed build fuses multiply-add.

/** a * b + c, fused in the relaxed build (one rounding), mul then add in the SIMD128 build. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** (v0 + v1) + (v2 + v3). */
@inline export function hsumf(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// e^x for 4 lanes: 2^n * p(r), r = x - n ln2 (|r| <= ln2/2), degree-6 Taylor: rel. error < 2e-7.
@inline export function expv(x: v128): v128 {
  const xc = f32x4.max(f32x4.min(x, f32x4.splat(88)), f32x4.splat(-87));
  const nf = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.4426950408889634)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(nf, f32x4.splat(0.693145751953125))), f32x4.mul(nf, f32x4.splat(1.428606765330187e-6)));
  let p = f32x4.splat(1.0 / 720.0);
  p = madd(p, r, f32x4.splat(1.0 / 120.0));
  p = madd(p, r, f32x4.splat(1.0 / 24.0));
  p = madd(p, r, f32x4.splat(1.0 / 6.0));
  p = madd(p, r, f32x4.splat(0.5));
  p = madd(p, r, f32x4.splat(1));
  p = madd(p, r, f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(nf), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

