#!/usr/bin/env node
// Where a decoded token's time goes, per Backend kernel: the engine (loadModel + Session) on a GGUF, every
// Backend call timed (performance.now around it; calls are synchronous), matmuls labelled by shape.
//   node scripts/profile-decode.mjs MODEL.gguf [threads=2] [prompt=64] [gen=32] [head=file|int8|int7]
// Needs a build (npm run build). Prints ms/token per kernel for the decode phase and the whole token.
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';
import { timeKernels } from './kernel-timer.mjs';

const { args: { model: path, threads, prompt: P, gen: G, head } } = parseScriptArgs({
  name: 'profile-decode.mjs',
  about: 'Where a decoded token\'s time goes, per Backend kernel (the engine on a GGUF; every Backend call timed).',
  args: [
    { name: 'model', label: 'MODEL.gguf', help: 'GGUF file', file: true },
    { name: 'threads', help: 'compute threads', default: '2', int: [1, 256] },
    { name: 'prompt', help: 'prompt tokens evaluated first (not timed)', default: '64', int: [1, 1 << 20] },
    { name: 'gen', help: 'decoded tokens timed', default: '32', int: [1, 1 << 20] },
    { name: 'head', help: 'LM head: file, int8 or int7', default: 'file', choices: ['file', 'int8', 'int7'] },
  ],
  examples: ['node scripts/profile-decode.mjs 2b4t-tq2_0.gguf 2 64 32 int8'],
});
checkBuild();
const { WasmBackend } = await import('../dist/src/kernels/wasm.js');
const { loadModel } = await import('../dist/src/model/index.js');
const be = await WasmBackend.create({ threads });
const timer = timeKernels(be, ['quantizeRows', 'ternaryMatMul', 'ternaryGatedMatMul', 'floatMatMul', 'rmsNorm', 'rope',
  'attention', 'gatedActivation', 'addInPlace', 'kvWrite', 'pagedAttention']);
const model = await loadModel(path, { backend: be, head });
const token = (i) => 1 + ((i * 7919) % (model.config.vocabSize - 1));
const session = model.createSession({ contextLength: P + G });
session.evaluate(Array.from({ length: P }, (_, i) => token(i)));
timer.on = true;
const t0 = performance.now();
for (let i = 0; i < G; i++) session.evaluate([token(P + i)]);
const total = (performance.now() - t0) / G;
console.log(`${path.split('/').pop()}, ${be.threads} thread(s), ${be.name}, decode at positions ${P}..${P + G - 1}`);
console.log(`${'kernel'.padEnd(32)} ${'ms/token'.padStart(9)} ${'calls/token'.padStart(12)} ${'us/call'.padStart(9)}`);
const { rows, kernelMs: kernels } = timer.rows();
for (const [k, ms, calls] of rows) {
  console.log(`${k.padEnd(32)} ${(ms / G).toFixed(3).padStart(9)} ${(calls / G).toFixed(0).padStart(12)} ` +
    `${(ms * 1000 / calls).toFixed(1).padStart(9)}`);
}
console.log(`${'all kernels'.padEnd(32)} ${(kernels / G).toFixed(3).padStart(9)}`);
console.log(`${'whole token (engine)'.padEnd(32)} ${total.toFixed(3).padStart(9)}   -> ${(1000 / total).toFixed(1)} tok/s`);
session.dispose?.();
model.dispose();
