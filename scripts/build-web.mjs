#!/usr/bin/env node
/**
 * Bundles the browser demo with esbuild into web/dist/:
 *   main.js           the page
 *   engine-worker.js  the engine (model loading, generation) in a Web Worker
 *   worker.js         a kernel thread (src/kernels/worker.ts), spawned by the engine as ./worker.js
 * The kernels fetch build/kernels-*.wasm relative to their own URL (../../../build/ from the bundle,
 * which resolves to /build/ on the server: `bitnet web` serves it there).
 * Node-only modules (node:fs, node:worker_threads, …) are only used behind `isNode` checks or by
 * file-path APIs the browser never calls; here they resolve to stubs that throw if ever called.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { rmSync, renameSync } from 'node:fs';
import { parseScriptArgs } from './args.mjs';

const { values: o } = parseScriptArgs({
  name: 'build-web.mjs',
  about: 'Bundles the browser demo with esbuild into web/dist/ (main.js, engine-worker.js, worker.js); npm run build runs it.',
  options: { minify: { help: 'minify the bundles' } },
});
const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}web/dist`;

// every name the engine imports from node: modules; a new one fails the build with a clear message
const NODE_NAMES = ['statSync', 'openSync', 'closeSync', 'writeSync', 'renameSync', 'unlinkSync', 'fstatSync', 'readSync',
  'readFileSync', 'readFile', 'fileURLToPath', 'existsSync', 'mkdirSync', 'rmSync', 'writeFileSync', 'join',
  'Worker', 'parentPort', 'workerData', 'availableParallelism', 'setFlagsFromString'];

const nodeStub = {
  name: 'node-stub',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
      contents: `const no = (name) => () => { throw new Error(name + ' (${a.path}) is not available in the browser'); };\n` +
        NODE_NAMES.map((n) => `export const ${n} = no('${n}');`).join('\n') + '\nexport default {};\n',
      loader: 'js',
    }));
  },
};

const tmp = `${out}.tmp`;
rmSync(tmp, { recursive: true, force: true });
await build({
  entryPoints: { main: `${root}web/main.ts`, 'engine-worker': `${root}web/engine-worker.ts`, worker: `${root}src/kernels/worker.ts` },
  outdir: tmp, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', splitting: false,
  sourcemap: true, minify: o.minify === true, logLevel: 'warning', plugins: [nodeStub],
});
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out); // whole directory swapped at once: a running `bitnet web` never serves a half-written bundle
console.log(`built ${out}`);
