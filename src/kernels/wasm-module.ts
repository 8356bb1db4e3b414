/**
 * Loading the kernel WebAssembly: pick the ISA variant the engine supports, read the bytes
 * (fs in Node, fetch in the browser) and compile once; workers receive the compiled module.
 */
import type { KernelExports } from './jobs.js';

export type WasmVariant = 'relaxed' | 'simd128';

/** Tiny module: () -> v128 computing i16x8.relaxed_dot_i8x16_i7x16_s of two constants. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
  0x03, 0x02, 0x01, 0x00,                   // one function of type 0
  0x0a, 0x2b, 0x01, 0x29, 0x00,             // code: one body of 41 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(1), // v128.const
  0xfd, 0x0c, ...new Array<number>(16).fill(2), // v128.const
  0xfd, 0x92, 0x02,                         // i16x8.relaxed_dot_i8x16_i7x16_s (0x112)
  0x0b,
]);

/** Same shape with i8x16.add (0x6e) instead: plain SIMD128. */
const SIMD_PROBE = new Uint8Array([
  ...RELAXED_PROBE.slice(0, 19), 0x0a, 0x2a, 0x01, 0x28, 0x00,
  0xfd, 0x0c, ...new Array<number>(16).fill(1),
  0xfd, 0x0c, ...new Array<number>(16).fill(2),
  0xfd, 0x6e, 0x0b,
]);

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
let flagsSet = false;

/** Node 20 ships relaxed SIMD behind a flag; setting it before any compile enables it for the process. */
async function enableRelaxedSimd(): Promise<void> {
  if (!isNode || flagsSet) return;
  flagsSet = true;
  if (WebAssembly.validate(RELAXED_PROBE)) return;
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** The variants this engine can run, best first. */
export async function supportedVariants(): Promise<WasmVariant[]> {
  await enableRelaxedSimd();
  const out: WasmVariant[] = [];
  if (WebAssembly.validate(RELAXED_PROBE)) out.push('relaxed');
  if (WebAssembly.validate(SIMD_PROBE)) out.push('simd128');
  return out;
}

const cache = new Map<WasmVariant, Promise<WebAssembly.Module>>();

export function wasmUrl(variant: WasmVariant): URL {
  // dist/src/kernels/wasm-module.js -> build/ at the package root
  return new URL(`../../../build/kernels-${variant}.wasm`, import.meta.url);
}

async function readBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(url);
    } catch {
      throw new Error(`kernel module ${url.pathname} not found: run \`npm run build:wasm\``);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`kernel module ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

export function compileVariant(variant: WasmVariant): Promise<WebAssembly.Module> {
  let p = cache.get(variant);
  if (!p) {
    p = (async () => {
      await enableRelaxedSimd();
      return WebAssembly.compile((await readBytes(wasmUrl(variant))) as Uint8Array<ArrayBuffer>);
    })();
    cache.set(variant, p);
  }
  return p;
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
