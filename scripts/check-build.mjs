// Refuses to measure a stale build: every src/**/*.ts must be older than its dist/src/**/*.js, and the kernel
// sources older than build/kernels-*.wasm. (A stale dist/ once made a baseline table measure old code.)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mtime = (p) => statSync(p, { throwIfNoEntry: false })?.mtimeMs;
function* tsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield p;
  }
}

/** Throws when dist/ or build/ is older than the sources it is built from (run `npm run build`). */
export function checkBuild() {
  const stale = [];
  const wasm = Math.min(...['kernels-relaxed', 'kernels-simd128'].map((n) => mtime(join(root, 'build', `${n}.wasm`)) ?? 0));
  for (const src of tsFiles(join(root, 'src'))) {
    const rel = relative(join(root, 'src'), src);
    if (rel.startsWith('kernels/assembly/')) { if (mtime(src) > wasm) stale.push(rel); continue; }
    const out = mtime(join(root, 'dist', 'src', rel.replace(/\.ts$/, '.js')));
    if (out === undefined || mtime(src) > out) stale.push(rel);
  }
  if (stale.length) throw new Error(`the build is older than ${stale.length} source file(s) (${stale.slice(0, 3).join(', ')}…): run npm run build`);
}
