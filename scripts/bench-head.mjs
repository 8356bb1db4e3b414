#!/usr/bin/env node
// The LM head kernels alone: floatMatMul on a synthetic F16 matrix (default the 2B4T head, 128256 × 2560) as the
// F16 head (`f16`: halfRows on the matrix in place), the int8 head (`q8`: prepareQ8, q8Rows) and the int7 head
// (`q7`: its dot + extadd form; `q7add`: its dot_add form, fast only where V8 lowers it to VNNI and refused where the
// engine computes it wrong, Node 20), n tokens per call.
//   node scripts/bench-head.mjs [rows=128256] [cols=2560] [threads=2] [iterations=20] [heads=f16,q8] [variant=best] [ns=1,4]
// variant: best | relaxed | simd128. Needs a build (npm run build).
// Prints one JSON object: median ms and GB/s per head and n, the stream read of the same memory, a checksum.
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';

const { args: { rows, cols, threads, iterations: iters, heads: which, variant, ns } } = parseScriptArgs({
  name: 'bench-head.mjs',
  about: 'The LM head kernels alone on a synthetic F16 matrix: the F16 head (f16), the int8 head (q8), the int7 head ' +
    '(q7; q7add: its dot_add form), n tokens per call.',
  args: [
    { name: 'rows', help: 'matrix rows (vocabulary)', default: '128256', int: [1, 1 << 24] },
    { name: 'cols', help: 'matrix columns (hidden size; a multiple of 32 for q8)', default: '2560', int: [32, 1 << 16] },
    { name: 'threads', help: 'compute threads', default: '2', int: [1, 256] },
    { name: 'iterations', help: 'timed calls per head and n (the median is printed)', default: '20', int: [1, 10000] },
    { name: 'heads', help: 'comma-separated heads to time', default: 'f16,q8', choices: ['f16', 'q8', 'q7', 'q7add'] },
    { name: 'variant', help: 'WASM build (best: the best the engine validates)', default: 'best', choices: ['best', 'relaxed', 'simd128'] },
    { name: 'ns', help: 'comma-separated tokens per call (1..16)', default: '1,4' },
  ],
  examples: ['node scripts/bench-head.mjs 128256 2560 2 20 q8,q7 best 1,4,16'],
});
const tokens = ns.split(',').map(Number);
if (!tokens.every((n) => Number.isInteger(n) && n >= 1 && n <= 16)) {
  console.error(`bench-head.mjs: ns must be integers in 1..16, got '${ns}'`);
  process.exit(2);
}
checkBuild();
const { WasmBackend } = await import('../dist/src/kernels/wasm.js');
const opts = { threads, variant: variant === 'best' ? undefined : variant };
const be = await WasmBackend.create({ ...opts, dotForm: 'pair' });
const beAdd = which.split(',').includes('q7add') ? await WasmBackend.create({ ...opts, dotForm: 'add' }) : undefined;
const data = new Uint16Array(rows * cols); // random normal halves of magnitude 2^-7 .. 2^-6, random signs
let s = 12345;
for (let i = 0; i < data.length; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = (0x2000 + ((s >>> 8) & 0x1fff)) | ((s & 1) << 15); }
const m = { rows, cols, dtype: 'f16', data };
const res = { variant: be.name, threads: be.threads, rows, cols };
for (const head of which.split(',')) {
  const b = head === 'q7add' ? beAdd : be;
  const x = b.allocF32(16 * cols), out = b.allocF32(16 * rows);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i) * 2;
  const t0 = performance.now();
  const p = head === 'f16' ? b.prepareFloat(m) : b.prepareQ8(m, head === 'q8' ? 'int8' : 'int7');
  res[`${head} prepare s`] = +((performance.now() - t0) / 1000).toFixed(2);
  res[`${head} MB`] = +(p.bytes / 1e6).toFixed(0);
  if (!res.streamGBs) res.streamGBs = +(be.measureBandwidth(256 << 20, 5).bytesPerSecond / 1e9).toFixed(1);
  for (const n of tokens) {
    const xs = x.subarray(0, n * cols), os = out.subarray(0, n * rows);
    b.floatMatMul(p, xs, n, os);
    const times = [];
    for (let i = 0; i < iters; i++) { const a = performance.now(); b.floatMatMul(p, xs, n, os); times.push(performance.now() - a); }
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
beAdd?.dispose();
