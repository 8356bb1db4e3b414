#!/usr/bin/env node
// Where a batched decoding step's time goes, per Backend kernel: B sessions (prompt P each), then G steps of
// Model.decodeBatch, every Backend call timed (performance.now around it; calls are synchronous), matmuls
// labelled by shape. "outside kernels" is the step's JS: batching, session bookkeeping, logits copies.
//   node scripts/profile-batch.mjs MODEL.gguf [batch=16] [threads=2] [prompt=16] [gen=16] [head=file|int8|int7]
// Needs a build (npm run build). Same protocol as `bitnet bench --batch`.
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';
import { timeKernels } from './kernel-timer.mjs';

const { args: { model: path, batch: B, threads, prompt: P, gen: G, head } } = parseScriptArgs({
  name: 'profile-batch.mjs',
  about: 'Where a batched decoding step\'s time goes, per Backend kernel (Model.decodeBatch; every Backend call timed).',
  args: [
    { name: 'model', label: 'MODEL.gguf', help: 'GGUF file', file: true },
    { name: 'batch', help: 'sequences decoded together', default: '16', int: [1, 4096] },
    { name: 'threads', help: 'compute threads', default: '2', int: [1, 256] },
    { name: 'prompt', help: 'prompt tokens per sequence (not timed)', default: '16', int: [1, 1 << 20] },
    { name: 'gen', help: 'decoding steps (the first is a warm-up, not timed)', default: '16', int: [2, 1 << 20] },
    { name: 'head', help: 'LM head: file, int8 or int7', default: 'file', choices: ['file', 'int8', 'int7'] },
  ],
  examples: ['node scripts/profile-batch.mjs 700m-tq2_0.gguf 16 2'],
});
checkBuild();
const { WasmBackend } = await import('../dist/src/kernels/wasm.js');
const { loadModel } = await import('../dist/src/model/index.js');
const be = await WasmBackend.create({ threads });
const timer = timeKernels(be, ['gatherRows', 'quantizeRows', 'ternaryMatMul', 'ternaryGatedMatMul', 'floatMatMul',
  'rmsNorm', 'rope', 'gatedActivation', 'addInPlace', 'kvWrite', 'pagedAttention']);
const model = await loadModel(path, { backend: be, head });
const V = model.config.vocabSize;
const token = (i, b) => 3 + ((i * 7919 + b * 13) % Math.min(200, V - 3));
const sessions = Array.from({ length: B }, () => model.createSession({ contextLength: P + G + 1 }));
sessions.forEach((s, b) => s.evaluate(Array.from({ length: P }, (_, i) => token(i, b))));
const next = sessions.map((_, b) => token(P, b));
model.decodeBatch(sessions, next, { onLogits: () => {} }); // warm-up step (views, as the server decodes)
timer.on = true;
const t0 = performance.now();
for (let g = 1; g < G; g++) {
  model.decodeBatch(sessions, next, { onLogits: () => {} });
  for (let b = 0; b < B; b++) next[b] = token(P + 1 + g, b);
}
const steps = G - 1, step = (performance.now() - t0) / steps;
console.log(`${path.split('/').pop()}, batch ${B}, ${be.threads} thread(s), ${be.name}, ${steps} steps at positions ${P + 1}..${P + G - 1}`);
console.log(`${'kernel'.padEnd(32)} ${'ms/step'.padStart(9)} ${'share'.padStart(6)} ${'calls/step'.padStart(11)} ${'us/call'.padStart(9)}`);
const { rows, kernelMs: kernels } = timer.rows();
for (const [k, ms, calls] of rows) {
  console.log(`${k.padEnd(32)} ${(ms / steps).toFixed(3).padStart(9)} ${(100 * ms / steps / step).toFixed(1).padStart(5)}% ` +
    `${(calls / steps).toFixed(0).padStart(11)} ${(ms * 1000 / calls).toFixed(1).padStart(9)}`);
}
console.log(`${'all kernels'.padEnd(32)} ${(kernels / steps).toFixed(3).padStart(9)}`);
console.log(`${'outside kernels'.padEnd(32)} ${(step - kernels / steps).toFixed(3).padStart(9)}`);
console.log(`${'whole step'.padEnd(32)} ${step.toFixed(3).padStart(9)}   -> ${(B * 1000 / step).toFixed(1)} tok/s aggregate`);
sessions.forEach((s) => s.dispose());
model.dispose();
