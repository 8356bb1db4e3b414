/**
 * `bitnet bench --model M --batch 1,4,16,32`: aggregate decode throughput with B sequences decoded
 * together (Model.decodeBatch: one weight pass per step feeds every sequence; attention over the shared
 * paged KV cache), the latency each sequence sees per token, and the KV cache bytes the batch holds.
 * Same protocol as /work/shared/tools/llamacpp.mjs `batch`: B prompts of P tokens, then G steps.
 */
import { loadModel, type HeadPrecision, type Model } from '../model/index.js';
import type { KVDtype } from '../kernels/backend.js';
import type { WasmVariant } from '../kernels/wasm-module.js';
import { WasmBackend } from '../kernels/wasm.js';

export interface BatchBenchOptions {
  batches: number[];
  threads?: number;
  promptTokens?: number;  // per sequence (default 16)
  genTokens?: number;     // decoded per sequence (default 16)
  repeat?: number;        // best of
  variant?: WasmVariant;
  kvType?: KVDtype;
  head?: HeadPrecision;
  kvMemoryBytes?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BatchBenchRow {
  batch: number;
  /** Tokens decoded per second, all sequences together. */
  decodeTokPerS: number;
  /** Wall time of one step: the latency between two tokens of one sequence. */
  msPerToken: number;
  /** KV cache bytes the batch's sequences hold after the run (blocks taken), and per sequence. */
  kvBytes: number;
  kvBytesPerSequence: number;
}

export interface BatchBenchResult {
  model: string; backend: string; threads: number; kvType: KVDtype; kvBlockSize: number;
  /** The integer kernels' dot form (kernels/jobs.ts DotForm): 'add' (relaxed dot-add, VNNI) or 'pair'. */
  dotForm: 'add' | 'pair';
  promptTokens: number; genTokens: number; weightBytes: number;
  rows: BatchBenchRow[];
}

/** One batch size: prefill B prompts, time G decoding steps (best of `repeat`), report and release. */
export function timeBatch(model: Model, B: number, P: number, G: number, repeat: number): BatchBenchRow {
  const V = model.config.vocabSize;
  const token = (i: number, b: number) => 3 + ((i * 7919 + b * 13) % Math.min(200, V - 3));
  let best = Infinity, kvBytes = 0;
  for (let r = 0; r < repeat; r++) {
    const sessions = Array.from({ length: B }, () => model.createSession({ contextLength: P + G + 1 }));
    try {
      sessions.forEach((s, b) => s.evaluate(Array.from({ length: P }, (_, i) => token(i, b))));
      const next = sessions.map((_, b) => token(P, b));
      const t0 = performance.now();
      for (let g = 0; g < G; g++) {
        model.decodeBatch(sessions, next, { onLogits: () => {} }); // as the server decodes: no copies
        for (let b = 0; b < B; b++) next[b] = token(P + 1 + g, b);
      }
      best = Math.min(best, performance.now() - t0);
      kvBytes = model.kvCache.stats.usedBytes;
    } finally {
      sessions.forEach((s) => s.dispose());
    }
  }
  const msPerToken = best / G;
  return { batch: B, decodeTokPerS: (B * 1000) / msPerToken, msPerToken, kvBytes, kvBytesPerSequence: kvBytes / B };
}

export async function benchBatch(path: string, opts: BatchBenchOptions): Promise<BatchBenchResult> {
  const P = opts.promptTokens ?? 16, G = opts.genTokens ?? 16, R = opts.repeat ?? 1;
  for (const b of opts.batches) if (!Number.isInteger(b) || b < 1) throw new Error(`batch sizes must be positive integers, got ${b}`);
  const backend = await WasmBackend.create({ threads: opts.threads, variant: opts.variant });
  let model: Model | undefined;
  try {
    model = await loadModel(path, { backend, kvType: opts.kvType, kvMemoryBytes: opts.kvMemoryBytes, head: opts.head });
    const rows: BatchBenchRow[] = [];
    for (const [i, b] of opts.batches.entries()) {
      rows.push(timeBatch(model, b, P, G, R));
      opts.onProgress?.(i + 1, opts.batches.length);
    }
    const kv = model.kvCache;
    return {
      model: path.split('/').pop() ?? path, backend: model.info.backend, threads: model.info.threads,
      dotForm: backend.dotForm, kvType: kv.dtype,
      kvBlockSize: kv.blockSize, promptTokens: P, genTokens: G, weightBytes: model.info.weightBytes, rows,
    };
  } finally {
    model?.dispose();
    backend.dispose();
  }
}

export function formatBatchBench(r: BatchBenchResult): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return [
    `model        ${r.model} (${mib(r.weightBytes)} of weights)`,
    `backend      ${r.backend}, ${r.threads} thread(s), dot form ${r.dotForm}; ` +
      `KV cache ${r.kvType}, blocks of ${r.kvBlockSize} positions`,
    `protocol     ${r.promptTokens} prompt tokens per sequence, then ${r.genTokens} decoding steps of the whole batch`,
    `batch   decode tok/s   ms/token (each sequence)   KV cache (per sequence)`,
    ...r.rows.map((x) => `${String(x.batch).padStart(5)}   ${x.decodeTokPerS.toFixed(1).padStart(12)}   ` +
      `${x.msPerToken.toFixed(1).padStart(24)}   ${mib(x.kvBytes)} (${mib(x.kvBytesPerSequence)})`),
  ].join('\n');
}
