/**
 * Backend factory. A backend is created asynchronously (wasm compile, worker start-up); every call
 * on it afterwards is synchronous.
 */
import type { Backend } from './backend.js';
import { ReferenceBackend } from './reference.js';
import { WasmBackend } from './wasm.js';
import { supportedVariants, type DotFormName, type WasmVariant } from './wasm-module.js';

export type BackendName = 'wasm' | 'reference';

export interface CreateBackendOptions {
  /** Worker threads including the calling one; default os.availableParallelism(). */
  threads?: number;
  /** Force a wasm ISA variant (default: relaxed SIMD when the engine has it, else SIMD128). */
  variant?: WasmVariant;
  /** Override feature detection (tests). */
  available?: WasmVariant[];
  /** Force the integer kernels' dot form (jobs.ts DotForm; default: BITNET_DOT, else a timed probe at start-up). */
  dotForm?: DotFormName;
}

/**
 * 'wasm': relaxed SIMD when the engine validates it, else SIMD128; an engine without WebAssembly
 * SIMD gets the pure-TS reference backend, with a warning (it is ~50-150x slower).
 */
export async function createBackend(name: BackendName = 'wasm', opts: CreateBackendOptions = {}): Promise<Backend> {
  if (name === 'reference') return new ReferenceBackend();
  if (name !== 'wasm') throw new Error(`unknown backend '${String(name)}' (expected wasm or reference)`);
  const available = opts.available ?? (await supportedVariants());
  if (!opts.variant && available.length === 0) {
    const warn = globalThis.process?.emitWarning ?? console.warn;
    warn('WebAssembly SIMD is not available in this JavaScript engine: using the slow pure-TypeScript kernels');
    return new ReferenceBackend();
  }
  return WasmBackend.create({ threads: opts.threads, variant: opts.variant ?? available[0], dotForm: opts.dotForm });
}

export { WasmBackend } from './wasm.js';
export type { WasmBackendOptions } from './wasm.js';
export { supportedVariants, type DotFormName, type WasmVariant };
