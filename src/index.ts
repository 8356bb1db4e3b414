/** Public library API of bitnet-ts. */
export type { Backend, TernaryMatrix, FloatMatrix } from './kernels/backend.js';
export { ReferenceBackend } from './kernels/reference.js';
export { createBackend, WasmBackend, supportedVariants, type BackendName, type WasmVariant } from './kernels/index.js';
