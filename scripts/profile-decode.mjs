#!/usr/bin/env node
// Where a decoded token's time goes, per Backend kernel: the engine (loadModel + Session) on a GGUF, every
// Backend call timed (performance.now around it; calls are synchronous), matmuls labelled by shape.
//   node scripts/profile-decode.mjs MODEL.gguf [threads=2] [prompt=64] [gen=32] [head=file|int8]
// Needs a build (npm run build). Prints ms/token per kernel for the decode phase and the whole token.
import { checkBuild } from './check-build.mjs';
import { WasmBackend } from '../dist/src/kernels/wasm.js';
import { loadModel } from '../dist/src/model/index.js';

const [path, threads = '2', promptArg = '64', genArg = '32', head = 'file'] = process.argv.slice(2);
if (!path) { console.error('usage: node scripts/profile-decode.mjs MODEL.gguf [threads=2] [prompt=64] [gen=32] [head=file|int8]'); process.exit(1); }
checkBuild();
const P = Number(promptArg), G = Number(genArg);
const be = await WasmBackend.create({ threads: Number(threads) });
const times = new Map(); // label -> [ms, calls]
let timing = false;
const label = (op, args) => (op.endsWith('MatMul') ? `${op} ${args[0].rows}x${args[0].cols}` : op);
for (const op of ['quantizeRows', 'ternaryMatMul', 'floatMatMul', 'rmsNorm', 'rope', 'attention', 'gatedActivation',
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
const model = await loadModel(path, { backend: be, head });
const token = (i) => 1 + ((i * 7919) % (model.config.vocabSize - 1));
const session = model.createSession({ contextLength: P + G });
session.evaluate(Array.from({ length: P }, (_, i) => token(i)));
timing = true;
const t0 = performance.now();
for (let i = 0; i < G; i++) session.evaluate([token(P + i)]);
const total = (performance.now() - t0) / G;
console.log(`${path.split('/').pop()}, ${be.threads} thread(s), ${be.name}, decode at positions ${P}..${P + G - 1}`);
console.log(`${'kernel'.padEnd(32)} ${'ms/token'.padStart(9)} ${'calls/token'.padStart(12)} ${'us/call'.padStart(9)}`);
let kernels = 0;
for (const [k, [ms, calls]] of [...times].sort((a, b) => b[1][0] - a[1][0])) {
  kernels += ms;
  console.log(`${k.padEnd(32)} ${(ms / G).toFixed(3).padStart(9)} ${(calls / G).toFixed(0).padStart(12)} ` +
    `${(ms * 1000 / calls).toFixed(1).padStart(9)}`);
}
console.log(`${'all kernels'.padEnd(32)} ${(kernels / G).toFixed(3).padStart(9)}`);
console.log(`${'whole token (engine)'.padEnd(32)} ${total.toFixed(3).padStart(9)}   -> ${(1000 / total).toFixed(1)} tok/s`);
session.dispose?.();
model.dispose();
