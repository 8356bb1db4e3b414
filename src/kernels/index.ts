/**
 * Backend factory. A backend is created asynchronously (wasm compile, worker start-up); every call
 * on it afterwards is synchronous.
 */
import type { Backend } from './backend.js';
import { ReferenceBackend } from './reference.js';
import { WasmBackend } from './wasm.js';
import type { WasmVariant } from './wasm-module.js';

export type BackendName = 'wasm' | 'reference';

export interface CreateBackendOptions {
  /** Worker threads including the calling one; default os.availableParallelism(). */
  threads?: number;
  /** Force a wasm ISA variant (default: relaxed SIMD when the engine has it, else SIMD128). */
  variant?: WasmVariant;
}

export async function createBackend(name: BackendName = 'wasm', opts: CreateBackendOptions = {}): Promise<Backend> {
  if (name === 'reference') return new ReferenceBackend();
  if (name === 'wasm') return WasmBackend.create({ threads: opts.threads, variant: opts.variant });
  throw new Error(`unknown backend '${String(name)}' (expected wasm or reference)`);
}

export { WasmBackend } from './wasm.js';
export type { WasmBackendOptions } from './wasm.js';
export { supportedVariants, type WasmVariant } from './wasm-module.js';
