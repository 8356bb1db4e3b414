#!/usr/bin/env node
// The decode GEMV (ternaryMatMul at n = 1) alone: compute vs memory. Runs the kernel over
//   l2      one 640×2560 matrix (410 KB packed: stays in L2), 500 times
//   stream  the 210 matrices of a 2B4T token (30 × q, k, v, o, gate, up, down; 524 MB), once per round
// and prints the best round's time and GB/s of prepared weights (codes + scales).
//   node scripts/bench-gemv.mjs [--threads 1,2] [--variant relaxed|simd128] [--scales row,256] [--sets l2,stream]
//                               [--rounds 5]
// scales: row = one scale per row (per-tensor models), 256 = one per 256 columns (TQ2_0 blocks with their own d).
// Needs a build (npm run build).
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';

const { values: opts } = parseScriptArgs({
  name: 'bench-gemv.mjs',
  about: 'The decode GEMV (ternaryMatMul, n = 1) alone: an L2-resident matrix vs the streamed matrices of a 2B4T token.',
  options: {
    threads: { value: 'LIST', default: '1,2', help: 'thread counts, comma-separated' },
    variant: { value: 'V', default: 'relaxed', help: 'WASM build: relaxed or simd128', choices: ['relaxed', 'simd128'] },
    scales: { value: 'LIST', default: 'row,256', help: 'row (one scale per row) and/or 256 (one per 256 columns)',
      choices: ['row', '256'] },
    sets: { value: 'LIST', default: 'l2,stream', help: 'l2 (640x2560, 500 calls) and/or stream (210 matrices, 524 MB)',
      choices: ['l2', 'stream'] },
    rounds: { value: 'N', default: '5', help: 'timed rounds (best is printed; one more warms up)', int: [1, 100] },
  },
  examples: ['node scripts/bench-gemv.mjs --threads 2 --scales 256 --sets stream --rounds 3'],
});
const threadList = opts.threads.split(',').map(Number);
if (threadList.some((t) => !Number.isInteger(t) || t < 1 || t > 256)) {
  process.stderr.write(`bench-gemv.mjs: --threads must be integers in 1..256, got '${opts.threads}'\n`);
  process.exit(2);
}
checkBuild();
const { WasmBackend } = await import('../dist/src/kernels/wasm.js');
const rounds = opts.rounds, variant = opts.variant;
let seed = 1;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const validBytes = []; // bytes whose 4 fields are codes 0..2
for (let b = 0; b < 256; b++) if ([0, 2, 4, 6].every((s) => ((b >> s) & 3) !== 3)) validBytes.push(b);

function matrix(rows, cols, blockSize) {
  const codes = new Uint8Array((rows * cols) / 4);
  for (let i = 0; i < codes.length; i += 65536) crypto.getRandomValues(codes.subarray(i, i + 65536));
  for (let i = 0; i < codes.length; i++) codes[i] = validBytes[codes[i] % validBytes.length];
  const nb = cols / blockSize, scales = new Float32Array(rows * nb);
  for (let i = 0; i < scales.length; i++) scales[i] = nb === 1 ? 1 : 0.5 + rand();
  return { rows, cols, codes, blockSize, scales };
}

const D = 2560, KV = 640, F = 6912, LAYERS = 30;
const layerShapes = [[D, D], [KV, D], [KV, D], [D, D], [F, D], [F, D], [D, F]];
for (const threads of threadList) {
  const be = await WasmBackend.create({ threads, variant });
  for (const sc of opts.scales.split(',')) {
    const prep = (rows, cols) => be.prepareTernary(matrix(rows, cols, sc === 'row' ? cols : 256));
    const make = {
      l2: () => ({ mats: [prep(KV, D)], repeat: 500 }),
      stream: () => ({ mats: Array.from({ length: LAYERS }, () => layerShapes.map(([r, c]) => prep(r, c))).flat(), repeat: 1 }),
    };
    const xq = be.allocI8(F), inv = be.allocF32(1), out = be.allocF32(F);
    for (let i = 0; i < F; i++) xq[i] = Math.floor(rand() * 256) - 128;
    inv[0] = 1;
    for (const name of opts.sets.split(',')) {
      const { mats, repeat } = make[name]();
      const bytes = mats.reduce((s, m) => s + m.bytes, 0) * repeat;
      let best = Infinity;
      for (let r = 0; r <= rounds; r++) { // round 0 warms up
        const t0 = performance.now();
        for (let i = 0; i < repeat; i++) for (const m of mats) be.ternaryMatMul(m, xq, inv, 1, out);
        if (r > 0) best = Math.min(best, performance.now() - t0);
      }
      const calls = mats.length * repeat;
      console.log(`${be.name} threads=${threads} scales=${sc.padEnd(3)} ${name.padEnd(6)} ${(bytes / 1e6).toFixed(1).padStart(7)} MB ` +
        `${best.toFixed(2).padStart(8)} ms ${(bytes / best / 1e6).toFixed(1).padStart(6)} GB/s ` +
        `${((best * 1000) / calls).toFixed(1).padStart(7)} us/call`);
    }
  }
  be.dispose();
}
