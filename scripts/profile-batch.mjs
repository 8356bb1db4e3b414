#!/usr/bin/env node
// Where a batched decoding step's time goes, per Backend kernel: B sessions (prompt P each), then G steps of
// Model.decodeBatch, every Backend call timed (performance.now around it; calls are synchronous), matmuls
// labelled by shape. "outside kernels" is the step's JS: batching, session bookkeeping, logits copies.
//   node scripts/profile-batch.mjs MODEL.gguf [batch=16] [threads=2] [prompt=16] [gen=16]
// Needs a build (npm run build). Same protocol as `bitnet bench --batch`.
import { WasmBackend } from '../dist/src/kernels/wasm.js';
import { loadModel } from '../dist/src/model/index.js';

const [path, batchArg = '16', threads = '2', promptArg = '16', genArg = '16'] = process.argv.slice(2);
if (!path) { console.error('usage: node scripts/profile-batch.mjs MODEL.gguf [batch=16] [threads=2] [prompt=16] [gen=16]'); process.exit(1); }
const B = Number(batchArg), P = Number(promptArg), G = Number(genArg);
const be = await WasmBackend.create({ threads: Number(threads) });
const times = new Map(); // label -> [ms, calls]
let timing = false;
const label = (op, args) => (op.endsWith('MatMul') ? `${op} ${args[0].rows}x${args[0].cols}` : op);
for (const op of ['gatherRows', 'quantizeRows', 'ternaryMatMul', 'floatMatMul', 'rmsNorm', 'rope', 'gatedActivation',
  'addInPlace', 'kvWrite', 'pagedAttention']) {
  const f = be[op].bind(be);
  be[op] = (...args) => {
    if (!timing) return f(...args);
    const t0 = performance.now();
    f(...args);
    const key = label(op, args), e = times.get(key) ?? [0, 0];
    e[0] += performance.now() - t0; e[1]++; times.set(key, e);
  };
}
const model = await loadModel(path, { backend: be });
const V = model.config.vocabSize;
const token = (i, b) => 3 + ((i * 7919 + b * 13) % Math.min(200, V - 3));
const sessions = Array.from({ length: B }, () => model.createSession({ contextLength: P + G + 1 }));
sessions.forEach((s, b) => s.evaluate(Array.from({ length: P }, (_, i) => token(i, b))));
const next = sessions.map((_, b) => token(P, b));
model.decodeBatch(sessions, next); // warm-up step
timing = true;
const t0 = performance.now();
for (let g = 1; g < G; g++) {
  model.decodeBatch(sessions, next);
  for (let b = 0; b < B; b++) next[b] = token(P + 1 + g, b);
}
const steps = G - 1, step = (performance.now() - t0) / steps;
console.log(`${path.split('/').pop()}, batch ${B}, ${be.threads} thread(s), ${be.name}, ${steps} steps at positions ${P + 1}..${P + G - 1}`);
console.log(`${'kernel'.padEnd(32)} ${'ms/step'.padStart(9)} ${'share'.padStart(6)} ${'calls/step'.padStart(11)} ${'us/call'.padStart(9)}`);
let kernels = 0;
for (const [k, [ms, calls]] of [...times].sort((a, b) => b[1][0] - a[1][0])) {
  kernels += ms;
  console.log(`${k.padEnd(32)} ${(ms / steps).toFixed(3).padStart(9)} ${(100 * ms / steps / step).toFixed(1).padStart(5)}% ` +
    `${(calls / steps).toFixed(0).padStart(11)} ${(ms * 1000 / calls).toFixed(1).padStart(9)}`);
}
console.log(`${'all kernels'.padEnd(32)} ${(kernels / steps).toFixed(3).padStart(9)}`);
console.log(`${'outside kernels'.padEnd(32)} ${(step - kernels / steps).toFixed(3).padStart(9)}`);
console.log(`${'whole step'.padEnd(32)} ${step.toFixed(3).padStart(9)}   -> ${(B * 1000 / step).toFixed(1)} tok/s aggregate`);
sessions.forEach((s) => s.dispose());
model.dispose();
