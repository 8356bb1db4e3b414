// Compiles the AssemblyScript kernels (src/kernels/assembly/*.ts) to build/*.wasm.
// Filled in by the kernels work; until then there is nothing to compile.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
mkdirSync('build', { recursive: true });
const dir = 'src/kernels/assembly';
const entries = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ts')) : [];
if (entries.length === 0) console.log('build-wasm: no AssemblyScript kernels yet');
