// Compiles the AssemblyScript kernels (src/kernels/assembly/index.ts: kernels.ts + train.ts) into two modules:
//   build/kernels-simd128.wasm  SIMD128 only (every current engine)
//   build/kernels-relaxed.wasm  SIMD128 + relaxed SIMD (chosen at start-up when the engine validates it)
// Both import one shared memory (env.memory), so all worker threads see the same weights.
import { mkdirSync, renameSync, existsSync } from 'node:fs';
import { main } from 'assemblyscript/asc';
import { parseScriptArgs } from './args.mjs';

parseScriptArgs({
  name: 'build-wasm.mjs',
  about: 'Compiles the AssemblyScript kernels into build/kernels-simd128.wasm and build/kernels-relaxed.wasm; ' +
    'npm run build runs it.',
});

const source = 'src/kernels/assembly/index.ts';
const variants = [
  { out: 'build/kernels-simd128.wasm', features: ['simd', 'threads', 'bulk-memory'] },
  { out: 'build/kernels-relaxed.wasm', features: ['simd', 'relaxed-simd', 'threads', 'bulk-memory'] },
];
const common = [
  '--runtime', 'stub', '--noAssert', '-O3', '--converge',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
  '--use', 'abort=',
];

mkdirSync('build', { recursive: true });
if (!existsSync(source)) {
  console.error(`build-wasm: ${source} is missing`);
  process.exit(1);
}
for (const v of variants) {
  const tmp = `${v.out}.tmp`;
  const args = [source, '-o', tmp, ...common, ...v.features.flatMap((f) => ['--enable', f])];
  const { error, stderr } = await main(args);
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${v.out} failed: ${error.message}`);
    process.exit(1);
  }
  renameSync(tmp, v.out); // atomic: a reader never sees half a module
  console.log(`build-wasm: ${v.out}`);
}
