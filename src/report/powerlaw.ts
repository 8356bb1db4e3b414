/**
 * Least-squares fit of a saturating power law L(N) = a·N^b + c (scaling-law curves). For a fixed c the
 * model is linear in log space (log(L - c) = log a + b·log N); c is found by a golden-section search over
 * [0, min L), each candidate scored by its squared error in L itself.
 */
export interface PowerLawFit { a: number; b: number; c: number; rmse: number }

function fitGivenC(pts: Array<[number, number]>, c: number): PowerLawFit {
  const xs = pts.map(([n]) => Math.log(n)), ys = pts.map(([, l]) => Math.log(l - c));
  const mx = xs.reduce((s, v) => s + v, 0) / xs.length, my = ys.reduce((s, v) => s + v, 0) / ys.length;
  let sxy = 0, sxx = 0;
  xs.forEach((x, i) => { sxy += (x - mx) * (ys[i] - my); sxx += (x - mx) ** 2; });
  const b = sxx > 0 ? sxy / sxx : 0, a = Math.exp(my - b * mx);
  const sse = pts.reduce((s, [n, l]) => s + (a * n ** b + c - l) ** 2, 0);
  return { a, b, c, rmse: Math.sqrt(sse / pts.length) };
}

export function fitPowerLaw(points: Array<[number, number]>): PowerLawFit {
  if (points.length < 3) throw new Error(`a power law a·N^b + c needs at least 3 points, got ${points.length}`);
  if (points.some(([n, l]) => !(n > 0) || !Number.isFinite(l))) throw new Error('power-law points need N > 0 and finite L');
  const minL = Math.min(...points.map(([, l]) => l));
  // the SSE over c is not guaranteed unimodal: scan a grid, then refine around the best cell by golden section
  const hi = minL * (1 - 1e-9);
  const grid = 200;
  let best = 0, bestErr = Infinity;
  for (let i = 0; i < grid; i++) {
    const c = (hi * i) / grid, e = fitGivenC(points, c).rmse;
    if (e < bestErr) { bestErr = e; best = i; }
  }
  let lo = (hi * Math.max(0, best - 1)) / grid, up = (hi * Math.min(grid, best + 1)) / grid;
  const g = (Math.sqrt(5) - 1) / 2;
  for (let it = 0; it < 100; it++) {
    const c1 = up - g * (up - lo), c2 = lo + g * (up - lo);
    if (fitGivenC(points, c1).rmse < fitGivenC(points, c2).rmse) up = c2; else lo = c1;
  }
  const refined = fitGivenC(points, (lo + up) / 2);
  return refined.rmse <= bestErr ? refined : fitGivenC(points, (hi * best) / grid);
}
