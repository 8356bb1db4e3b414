#!/usr/bin/env node
// The LM head kernels alone: floatMatMul on a synthetic F16 matrix (default the 2B4T head, 128256 × 2560) as the
// F16 head (`f16`: halfRows on the matrix in place) and the int8 head (`q8`: prepareQ8, q8Rows), n = 1 and 4.
//   node scripts/bench-head.mjs [rows=128256] [cols=2560] [threads=2] [iterations=20] [heads=f16,q8] [variant=best]
// variant: best | relaxed | simd128. Needs a build (npm run build).
// Prints one JSON object: median ms and GB/s per head and n, the stream read of the same memory, a checksum.
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';

const { args: { rows, cols, threads, iterations: iters, heads: which, variant } } = parseScriptArgs({
  name: 'bench-head.mjs',
  about: 'The LM head kernels alone on a synthetic F16 matrix: the F16 head (f16) and the int8 head (q8), n = 1 and 4.',
  args: [
    { name: 'rows', help: 'matrix rows (vocabulary)', default: '128256', int: [1, 1 << 24] },
    { name: 'cols', help: 'matrix columns (hidden size; a multiple of 32 for q8)', default: '2560', int: [32, 1 << 16] },
    { name: 'threads', help: 'compute threads', default: '2', int: [1, 256] },
    { name: 'iterations', help: 'timed calls per head and n (the median is printed)', default: '20', int: [1, 10000] },
    { name: 'heads', help: 'f16, q8 or f16,q8', default: 'f16,q8', choices: ['f16', 'q8'] },
    { name: 'variant', help: 'WASM build (best: the best the engine validates)', default: 'best', choices: ['best', 'relaxed', 'simd128'] },
  ],
  examples: ['node scripts/bench-head.mjs 128256 2560 2 20 f16,q8'],
});
checkBuild();
const { WasmBackend } = await import('../dist/src/kernels/wasm.js');
const be = await WasmBackend.create({ threads, variant: variant === 'best' ? undefined : variant });
const data = new Uint16Array(rows * cols); // random normal halves of magnitude 2^-7 .. 2^-6, random signs
let s = 12345;
for (let i = 0; i < data.length; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = (0x2000 + ((s >>> 8) & 0x1fff)) | ((s & 1) << 15); }
const m = { rows, cols, dtype: 'f16', data };
const x = be.allocF32(4 * cols), out = be.allocF32(4 * rows);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i) * 2;
const res = { variant: be.name, threads: be.threads, rows, cols };
for (const head of which.split(',')) {
  const t0 = performance.now();
  const p = head === 'q8' ? be.prepareQ8(m) : be.prepareFloat(m);
  res[`${head} prepare s`] = +((performance.now() - t0) / 1000).toFixed(2);
  res[`${head} MB`] = +(p.bytes / 1e6).toFixed(0);
  if (!res.streamGBs) res.streamGBs = +(be.measureBandwidth(256 << 20, 5).bytesPerSecond / 1e9).toFixed(1);
  for (const n of [1, 4]) {
    const xs = x.subarray(0, n * cols), os = out.subarray(0, n * rows);
    be.floatMatMul(p, xs, n, os);
    const times = [];
    for (let i = 0; i < iters; i++) { const a = performance.now(); be.floatMatMul(p, xs, n, os); times.push(performance.now() - a); }
    times.sort((a, b) => a - b);
    const med = times[times.length >> 1];
    res[`${head} n=${n} ms`] = +med.toFixed(2);
    res[`${head} n=${n} GB/s`] = +(p.bytes / med / 1e6).toFixed(1);
  }
  let sum = 0;
  for (let i = 0; i < rows; i += 997) sum += out[i];
  res[`${head} checksum`] = sum;
}
console.log(JSON.stringify(res));
be.dispose();
