/**
 * f32 GEMM for the trainer: C[M×N] = A[M×K] · B[N×K]ᵀ (optionally C += …).
 * Fast path: build/train.wasm (AssemblyScript SIMD128, single thread); reference: gemmNTRef.
 * Every training matmul is expressed in this one form (forward X·Wᵀ, backward dY·W = dY·(Wᵀ)ᵀ,
 * dW = dYᵀ·X = (dYᵀ)·(Xᵀ)ᵀ), so one well-tested kernel serves them all.
 */
import { readFileSync } from 'node:fs';

export function gemmNTRef(c: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, accumulate = false): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[j * K + k];
      c[i * N + j] = accumulate ? c[i * N + j] + s : s;
    }
  }
}

interface TrainExports { memory: WebAssembly.Memory; gemmNT(c: number, a: number, b: number, M: number, N: number, K: number, acc: number): void }
let wasm: TrainExports | null | undefined;
const BASE = 1 << 16; // past the module's static data

function loadWasm(): TrainExports | null {
  if (wasm !== undefined) return wasm;
  try {
    const bytes = readFileSync(new URL('../../../build/train.wasm', import.meta.url));
    wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { abort() { throw new Error('wasm abort'); } } }).exports as unknown as TrainExports;
  } catch {
    wasm = null; // no SIMD or not built: the reference path is used
  }
  return wasm;
}

export function trainGemmBackend(): 'wasm-simd128' | 'reference' {
  return loadWasm() ? 'wasm-simd128' : 'reference';
}

/** Work done by gemmNT since the last reset: the trainer reports achieved GFLOPS from it. */
export const gemmStats = { flops: 0, seconds: 0, reset(): void { this.flops = 0; this.seconds = 0; } };

/** Peak f32 GEMM throughput of this path on this machine now: a square GEMM repeated for ~`seconds`. */
export function measureGemmPeak(size = 256, seconds = 0.3): number {
  const a = new Float32Array(size * size).fill(0.5), b = new Float32Array(size * size).fill(0.25), c = new Float32Array(size * size);
  const saved = { flops: gemmStats.flops, seconds: gemmStats.seconds };
  let best = 0;
  const end = performance.now() + seconds * 1000;
  do {
    const t = performance.now();
    gemmNT(c, a, b, size, size, size);
    best = Math.max(best, (2 * size ** 3) / ((performance.now() - t) / 1000) / 1e9);
  } while (performance.now() < end);
  gemmStats.flops = saved.flops; gemmStats.seconds = saved.seconds;
  return best;
}

export function gemmNT(c: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, accumulate = false): void {
  const t0 = performance.now();
  gemmNTUntimed(c, a, b, M, N, K, accumulate);
  gemmStats.seconds += (performance.now() - t0) / 1000;
  gemmStats.flops += 2 * M * N * K;
}

function gemmNTUntimed(c: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, accumulate: boolean): void {
  const w = K % 4 === 0 ? loadWasm() : null;
  if (!w) return gemmNTRef(c, a, b, M, N, K, accumulate);
  const aBytes = M * K * 4, bBytes = N * K * 4, cBytes = M * N * 4;
  const need = BASE + aBytes + bBytes + cBytes;
  const have = w.memory.buffer.byteLength;
  if (need > have) w.memory.grow(Math.ceil((need - have) / 65536));
  const pa = BASE, pb = pa + aBytes, pc = pb + bBytes;
  const mem = new Float32Array(w.memory.buffer);
  mem.set(a.subarray(0, M * K), pa >> 2);
  mem.set(b.subarray(0, N * K), pb >> 2);
  if (accumulate) mem.set(c.subarray(0, M * N), pc >> 2);
  w.gemmNT(pc, pa, pb, M, N, K, accumulate ? 1 : 0);
  c.set(mem.subarray(pc >> 2, (pc >> 2) + M * N));
}

/** out[j*rows + i] = m[i*cols + j] */
export function transpose(m: Float32Array, rows: number, cols: number, out = new Float32Array(rows * cols)): Float32Array {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = m[i * cols + j];
  return out;
}
