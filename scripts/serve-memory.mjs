#!/usr/bin/env node
// Resident memory of C concurrent sequences in the shared paged KV cache: load MODEL, create C sessions (context
// CTX each), fill every session's cache to each length in POSITIONS, then decode STEPS batched steps of all C
// together (attention over every cached position). The cells are written straight into the cache (random K/V
// through Backend.kvWrite, the same kernel a prefill uses) so that long contexts need no prefill compute; the
// memory is the same as after a real prompt. Reports VmRSS after each phase, the cache's bytes and the decode rate.
//   node scripts/serve-memory.mjs [--kv-memory BYTES] MODEL.gguf [chats=8] [positions=1024,2048] [threads=2] [head=file] [ctx=4096]
// Needs a build (npm run build).
import { readFileSync } from 'node:fs';
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';

const { args: { model: path, chats: C, positions: posArg, threads, head, ctx }, values: { 'kv-memory': kvMemory } } = parseScriptArgs({
  name: 'serve-memory.mjs',
  about: 'Resident memory and decode rate of C sequences in the shared KV cache, each filled to the given lengths.',
  options: { 'kv-memory': { value: 'BYTES', default: String(2 ** 31), help: 'KV cache budget in bytes', int: [1, 2 ** 32] } },
  args: [
    { name: 'model', label: 'MODEL.gguf', help: 'GGUF file', file: true },
    { name: 'chats', help: 'sequences', default: '8', int: [1, 4096] },
    { name: 'positions', help: 'cached positions per sequence, comma-separated, increasing', default: '1024,2048' },
    { name: 'threads', help: 'compute threads', default: '2', int: [1, 256] },
    { name: 'head', help: 'LM head: file, int8 or int7', default: 'file', choices: ['file', 'int8', 'int7'] },
    { name: 'ctx', help: 'context length of each session', default: '4096', int: [1, 1 << 20] },
  ],
  examples: ['node scripts/serve-memory.mjs 2b4t-tq2_0.gguf 8 1024,2048', 'node scripts/serve-memory.mjs --kv-memory 3500000000 700m-tq2_0.gguf 32 512'],
});
checkBuild();
const { WasmBackend } = await import('../dist/src/kernels/wasm.js');
const { loadModel } = await import('../dist/src/model/index.js');
const lengths = posArg.split(',').map(Number), STEPS = 8;
if (lengths.some((l, i) => !Number.isInteger(l) || l < 1 || l > ctx - STEPS || (i && l <= lengths[i - 1]))) {
  process.stderr.write(`serve-memory.mjs: positions must be increasing integers in 1..${ctx - STEPS} (8 decode steps follow), got '${posArg}'\n`);
  process.exit(2);
}
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const be = await WasmBackend.create({ threads });
const model = await loadModel(path, { backend: be, head, kvMemoryBytes: kvMemory });
const c = model.config, kvDim = c.nKvHeads * c.headDim;
console.log(`${path.split('/').pop()}: ${C} sessions of context ${ctx}, head ${head}, ${be.threads} threads; loaded: resident ${mib(rss())}`);
const sessions = Array.from({ length: C }, () => model.createSession({ contextLength: ctx }));
console.log(`${C} sessions created (no tokens): resident ${mib(rss())}, KV cache ${mib(model.kvCache.stats.usedBytes)}`);
let seed = 1;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
const ROWS = 64, k = be.allocF32(ROWS * kvDim), v = be.allocF32(ROWS * kvDim);
for (let i = 0; i < k.length; i++) { k[i] = rand(); v[i] = rand(); }
for (const L of lengths) {
  for (const s of sessions) {
    for (let p = s.position; p < L; p += ROWS) {
      const n = Math.min(ROWS, L - p);
      s.kv.reserve(p, p + n);
      const rows = { tables: new Array(n).fill(s.kv.table), positions: Int32Array.from({ length: n }, (_, i) => p + i) };
      for (let l = 0; l < c.nLayers; l++) be.kvWrite(model.kvCache, l, k, v, n, rows);
      for (let i = 0; i < n; i++) s.tokens.push(3);
    }
  }
  const filled = rss();
  const t0 = performance.now();
  for (let step = 0; step < STEPS; step++) model.decodeBatch(sessions, sessions.map(() => 3), { onLogits: () => {} });
  const ms = (performance.now() - t0) / STEPS;
  console.log(`${L} positions each: KV cache ${mib(model.kvCache.stats.usedBytes)}, resident ${mib(filled)} filled, ` +
    `${mib(rss())} after ${STEPS} decode steps; ${(C * 1000 / ms).toFixed(1)} tok/s aggregate (${ms.toFixed(0)} ms/step)`);
}
sessions.forEach((s) => s.dispose());
model.dispose();
