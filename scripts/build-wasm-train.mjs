// Compiles the training GEMM (src/kernels/assembly/train.ts) to build/train.wasm (SIMD128, own memory).
import { mkdirSync, renameSync } from 'node:fs';
import { main } from 'assemblyscript/asc';
mkdirSync('build', { recursive: true });
const out = 'build/train.wasm';
const { error, stderr } = await main(['src/kernels/assembly/train.ts', '-o', `${out}.tmp`, '--runtime', 'stub', '--noAssert',
  '-O3', '--converge', '--enable', 'simd', '--initialMemory', '16', '--exportRuntime', '--use', 'abort=']);
if (error) { console.error(stderr.toString()); console.error(`build-wasm-train: failed: ${error.message}`); process.exit(1); }
renameSync(`${out}.tmp`, out);
console.log(`build-wasm-train: ${out}`);
