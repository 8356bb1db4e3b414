// Per-kernel timing for the profile scripts: every call of the named Backend ops is timed (performance.now around
// it; Backend calls are synchronous) while `on` is set, matmuls labelled by their shape.
/** Wraps `ops` of the backend `be` in place; returns { on, times: Map(label -> [ms, calls]), rows() }. */
export function timeKernels(be, ops) {
  const timer = {
    on: false,
    times: new Map(),
    /** [label, ms, calls] by time spent, largest first, and the sum of every kernel's ms. */
    rows() {
      const rows = [...timer.times].map(([k, [ms, calls]]) => [k, ms, calls]).sort((a, b) => b[1] - a[1]);
      return { rows, kernelMs: rows.reduce((s, r) => s + r[1], 0) };
    },
  };
  const label = (op, args) => (op.endsWith('MatMul') ? `${op} ${args[0].rows}x${args[0].cols}` : op);
  for (const op of ops) {
    if (typeof be[op] !== 'function') continue; // an optional Backend op this backend lacks
    const f = be[op].bind(be);
    be[op] = (...args) => {
      if (!timer.on) return f(...args);
      const t0 = performance.now();
      const r = f(...args);
      const key = label(op, args), e = timer.times.get(key) ?? [0, 0];
      e[0] += performance.now() - t0; e[1]++; timer.times.set(key, e);
      return r;
    };
  }
  return timer;
}
