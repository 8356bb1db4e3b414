/**
 * Kernel micro-benchmarks: each Backend kernel on 700M-model shapes (hidden 1536, FFN 4096),
 * the WASM backend against the pure-TS reference, reported as time per call, GOPS and GB/s.
 */
import type { Backend } from '../kernels/backend.js';
import type { TernaryMatrix } from '../quant/matrix.js';
import { ReferenceBackend } from '../kernels/reference.js';
import { WasmBackend } from '../kernels/wasm.js';
import type { WasmVariant } from '../kernels/wasm-module.js';

export interface KernelBenchRow {
  kernel: string;
  shape: string;
  /** Arithmetic operations per call (a multiply-add counts 2). */
  ops: number;
  /** Bytes of weights streamed per call (0 when not a weight kernel). */
  weightBytes: number;
  wasmMs: number;
  refMs: number;
  wasmGops: number;
  refGops: number;
  wasmGBps: number;
  speedup: number;
}

export interface KernelBenchResult {
  backend: string;
  threads: number;
  /** The integer kernels' dot form (kernels/jobs.ts DotForm). */
  dotForm: 'add' | 'pair';
  rows: KernelBenchRow[];
}

/** Best time of repeated calls, in ms; repeats until `minMs` has been spent (at least `minRuns`). */
export function timeBest(fn: () => void, minMs = 150, minRuns = 3): number {
  fn(); // warm-up (tier-up, page faults)
  let best = Infinity, spent = 0, runs = 0;
  while (runs < minRuns || spent < minMs) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    best = Math.min(best, dt);
    spent += dt;
    runs++;
  }
  return best;
}

let seed = 1;
function rand(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
}

function randomTernary(rows: number, cols: number, blockSize: number): TernaryMatrix {
  const codes = new Uint8Array((rows * cols) / 4);
  for (let i = 0; i < codes.length; i++) {
    const b = Math.floor(rand() * 256);
    codes[i] = b & ~((b & (b >> 1) & 0x55) << 1); // a 2-bit field of 3 becomes 1: codes stay in 0..2
  }
  const scales = new Float32Array((rows * cols) / blockSize).map(() => 0.5 + rand());
  return { rows, cols, codes, blockSize, scales };
}

interface Case {
  kernel: string;
  shape: string;
  ops: number;
  weightBytes: number;
  /** Builds the call for one backend (allocating its buffers from it). */
  setup(be: Backend): () => void;
  /** The reference is slow: time it at this fraction of the work and scale up (1 = full). */
  refFraction?: number;
  refSetup?(be: Backend): () => void;
}

function fill(a: Float32Array, scale = 1): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

function ternaryCase(name: string, rows: number, cols: number, n: number, blockSize: number): Case {
  const m = randomTernary(rows, cols, blockSize);
  const build = (be: Backend, r: number) => {
    const sub: TernaryMatrix = r === rows ? m : {
      rows: r, cols, blockSize, codes: m.codes.subarray(0, (r * cols) / 4), scales: m.scales.subarray(0, (r * cols) / blockSize),
    };
    const w = be.prepareTernary(sub);
    const x = fill(be.allocF32(n * cols));
    const xq = be.allocI8(n * cols), inv = be.allocF32(n), out = be.allocF32(n * r);
    be.quantizeRows(x, n, cols, xq, inv);
    return () => be.ternaryMatMul(w, xq, inv, n, out);
  };
  const refRows = Math.max(4, Math.floor(rows / 64));
  return {
    kernel: name, shape: `${rows}x${cols} n=${n}${blockSize < cols ? ` block ${blockSize}` : ''}`,
    ops: 2 * rows * cols * n, weightBytes: (rows * cols) / 4,
    setup: (be) => build(be, rows), refFraction: refRows / rows, refSetup: (be) => build(be, refRows),
  };
}

function floatCase(rows: number, cols: number, n: number, dtype: 'f32' | 'f16'): Case {
  const w32 = fill(new Float32Array(rows * cols));
  const data = dtype === 'f32' ? w32 : Uint16Array.from(w32, (v) => (v < 0 ? 0xb000 : 0x3000) | Math.floor(Math.abs(v) * 1023));
  const build = (be: Backend, r: number) => {
    const w = be.prepareFloat({ rows: r, cols, dtype, data: data.subarray(0, r * cols) });
    const x = fill(be.allocF32(n * cols)), out = be.allocF32(n * r);
    return () => be.floatMatMul(w, x, n, out);
  };
  const refRows = Math.max(4, Math.floor(rows / 64));
  return {
    kernel: `${dtype} matmul`, shape: `${rows}x${cols} n=${n}`, ops: 2 * rows * cols * n, weightBytes: data.byteLength,
    setup: (be) => build(be, rows), refFraction: refRows / rows, refSetup: (be) => build(be, refRows),
  };
}

function cases(): Case[] {
  const dim = 1536, ffn = 4096, heads = 16, headDim = 96, ctx = 256;
  return [
    {
      kernel: 'quantize int8', shape: `1x${dim}`, ops: 3 * dim, weightBytes: 0,
      setup: (be) => {
        const x = fill(be.allocF32(dim)), xq = be.allocI8(dim), inv = be.allocF32(1);
        return () => be.quantizeRows(x, 1, dim, xq, inv);
      },
    },
    ternaryCase('ternary gemv', dim, dim, 1, dim),
    ternaryCase('ternary gemv', ffn, dim, 1, dim),
    ternaryCase('ternary gemv', dim, ffn, 1, ffn),
    ternaryCase('ternary gemv', ffn, dim, 1, 256),
    ternaryCase('ternary gemm', ffn, dim, 16, dim),
    floatCase(ffn, dim, 1, 'f16'),
    floatCase(ffn, dim, 1, 'f32'),
    {
      kernel: 'rmsnorm', shape: `1x${dim}`, ops: 4 * dim, weightBytes: 0,
      setup: (be) => {
        const x = fill(be.allocF32(dim)), w = fill(be.allocF32(dim)), out = be.allocF32(dim);
        return () => be.rmsNorm(out, x, w, 1, dim, 1e-5);
      },
    },
    {
      kernel: 'rope', shape: `${heads}x${headDim}`, ops: 6 * dim, weightBytes: 0,
      setup: (be) => {
        const x = fill(be.allocF32(dim)), pos = Int32Array.of(100);
        return () => be.rope(x, 1, heads, headDim, pos, 10000, true);
      },
    },
    {
      kernel: 'attention', shape: `${heads}h x${headDim} ctx ${ctx}`, ops: 4 * heads * headDim * ctx, weightBytes: 0,
      setup: (be) => {
        const kv = ctx * dim;
        const k = fill(be.allocF32(kv)), v = fill(be.allocF32(kv)), q = fill(be.allocF32(dim)), out = be.allocF32(dim);
        const shape = { nHeads: heads, nKvHeads: heads, headDim };
        return () => be.attention(out, q, 1, ctx - 1, k, v, shape);
      },
    },
    {
      kernel: 'silu gate', shape: `${ffn}`, ops: 4 * ffn, weightBytes: 0,
      setup: (be) => {
        const g = fill(be.allocF32(ffn)), u = fill(be.allocF32(ffn));
        return () => { be.gatedActivation(g, u, ffn, 'silu'); g.set(u); };
      },
    },
    {
      kernel: 'add', shape: `${dim}`, ops: dim, weightBytes: 0,
      setup: (be) => {
        const a = fill(be.allocF32(dim)), b = fill(be.allocF32(dim));
        return () => be.addInPlace(a, b, dim);
      },
    },
  ];
}

export async function benchKernels(opts: { threads?: number; variant?: WasmVariant; onProgress?: (done: number, total: number) => void } = {}): Promise<KernelBenchResult> {
  const wasm = await WasmBackend.create({ threads: opts.threads, variant: opts.variant });
  const reference = new ReferenceBackend();
  const rows: KernelBenchRow[] = [];
  try {
    const all = cases();
    for (const [i, c] of all.entries()) {
      const wasmMs = timeBest(c.setup(wasm));
      const frac = c.refFraction ?? 1;
      const refMs = timeBest((c.refSetup ?? c.setup)(reference), 100, 1) / frac;
      rows.push({
        kernel: c.kernel, shape: c.shape, ops: c.ops, weightBytes: c.weightBytes, wasmMs, refMs,
        wasmGops: c.ops / wasmMs / 1e6, refGops: c.ops / refMs / 1e6,
        wasmGBps: c.weightBytes / wasmMs / 1e6, speedup: refMs / wasmMs,
      });
      opts.onProgress?.(i + 1, all.length);
    }
  } finally {
    wasm.dispose();
  }
  return { backend: wasm.name, threads: wasm.threads, dotForm: wasm.dotForm, rows };
}

export function formatKernelBench(r: KernelBenchResult): string {
  const head = ['kernel', 'shape', 'wasm ms', 'wasm GOPS', 'GB/s', 'ref ms', 'ref GOPS', 'speedup'];
  const body = r.rows.map((x) => [
    x.kernel, x.shape, x.wasmMs.toFixed(4), x.wasmGops.toFixed(2), x.weightBytes ? x.wasmGBps.toFixed(2) : '',
    x.refMs.toFixed(3), x.refGops.toFixed(3), `${x.speedup.toFixed(1)}x`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [`backend ${r.backend}, ${r.threads} thread(s), dot form ${r.dotForm}`, line(head), ...body.map(line)].join('\n');
}
