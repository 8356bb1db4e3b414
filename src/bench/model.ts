/**
 * Prompt and decode speed against the memory-bandwidth roofline measured in the same run.
 * Decoding streams every weight once per token, so the bound is weightBytes / bandwidth;
 * bandwidth is a streaming read, in wasm with the same threads, of as many bytes as the weights.
 */
import { WasmBackend } from '../kernels/wasm.js';
import type { WasmVariant } from '../kernels/wasm-module.js';
import { SHAPES, SyntheticModel } from './synthetic.js';

/** What the benchmark drives: a model with a KV cache it can reset. */
export interface BenchRunner {
  /** Evaluate `n` prompt tokens from position 0 (one batch). */
  prefill(n: number): void;
  /** Evaluate one more token at position `pos`. */
  decode(pos: number): void;
  /** Bytes of weights one decoded token reads. */
  readonly weightBytes: number;
}

export interface ModelBenchResult {
  model: string;
  backend: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  promptTokPerS: number;
  decodeTokPerS: number;
  decodeMsPerToken: number;
  weightBytes: number;
  /** weightBytes × decode tok/s */
  achievedGBps: number;
  /** Streaming read with the same threads, best of 5. */
  bandwidthGBps: number;
  /** Decode speed as a fraction of the bandwidth roofline (= achievedGBps / bandwidthGBps). */
  rooflineFraction: number;
  rooflineTokPerS: number;
  runs: Array<{ promptTokPerS: number; decodeTokPerS: number }>;
}

export interface BenchOptions {
  threads?: number;
  promptTokens?: number;
  genTokens?: number;
  repeat?: number;
  variant?: WasmVariant;
  onProgress?: (done: number, total: number) => void;
}

/** Time prompt processing and decoding (best of `repeat` runs), then measure bandwidth. */
export function runBench(name: string, runner: BenchRunner, be: WasmBackend, opts: BenchOptions): ModelBenchResult {
  const P = opts.promptTokens ?? 128, G = opts.genTokens ?? 64, R = opts.repeat ?? 1;
  const runs: ModelBenchResult['runs'] = [];
  const total = R * (1 + G);
  for (let r = 0; r < R; r++) {
    let t0 = performance.now();
    runner.prefill(P);
    const promptS = (performance.now() - t0) / 1000;
    opts.onProgress?.(r * (1 + G) + 1, total);
    t0 = performance.now();
    for (let i = 0; i < G; i++) {
      runner.decode(P + i);
      if ((i & 7) === 7) opts.onProgress?.(r * (1 + G) + 2 + i, total);
    }
    const decodeS = (performance.now() - t0) / 1000;
    runs.push({ promptTokPerS: P / promptS, decodeTokPerS: G / decodeS });
  }
  opts.onProgress?.(total, total);
  const bw = be.measureBandwidth(runner.weightBytes);
  const promptTokPerS = Math.max(...runs.map((x) => x.promptTokPerS));
  const decodeTokPerS = Math.max(...runs.map((x) => x.decodeTokPerS));
  const achieved = runner.weightBytes * decodeTokPerS;
  return {
    model: name, backend: be.name, threads: be.threads, promptTokens: P, genTokens: G,
    promptTokPerS, decodeTokPerS, decodeMsPerToken: 1000 / decodeTokPerS, weightBytes: runner.weightBytes,
    achievedGBps: achieved / 1e9, bandwidthGBps: bw.bytesPerSecond / 1e9,
    rooflineFraction: achieved / bw.bytesPerSecond, rooflineTokPerS: bw.bytesPerSecond / runner.weightBytes, runs,
  };
}

/** `bitnet bench --synthetic SHAPE`: the kernel-level forward pass on random weights. */
export async function benchSynthetic(shapeName: string, opts: BenchOptions = {}): Promise<ModelBenchResult> {
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`unknown shape '${shapeName}' (expected one of: ${Object.keys(SHAPES).join(', ')})`);
  const P = opts.promptTokens ?? 128, G = opts.genTokens ?? 64;
  const be = await WasmBackend.create({ threads: opts.threads, variant: opts.variant });
  try {
    const model = new SyntheticModel(be, shape, P + G, P);
    const runner: BenchRunner = {
      prefill: (n) => { model.forward(0, n); },
      decode: (pos) => { model.forward(pos, 1); },
      weightBytes: model.weightBytes,
    };
    return runBench(`synthetic ${shapeName}`, runner, be, opts);
  } finally {
    be.dispose();
  }
}

export function formatModelBench(r: ModelBenchResult): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return [
    `model        ${r.model}`,
    `backend      ${r.backend}, ${r.threads} thread(s)`,
    `prompt       ${r.promptTokPerS.toFixed(1)} tok/s (${r.promptTokens} tokens)`,
    `decode       ${r.decodeTokPerS.toFixed(1)} tok/s, ${r.decodeMsPerToken.toFixed(2)} ms/token (${r.genTokens} tokens)`,
    `weights      ${mb(r.weightBytes)} read per token`,
    `achieved     ${r.achievedGBps.toFixed(2)} GB/s`,
    `bandwidth    ${r.bandwidthGBps.toFixed(2)} GB/s (stream read, same threads)`,
    `roofline     ${(r.rooflineFraction * 100).toFixed(1)}% (bound ${r.rooflineTokPerS.toFixed(1)} tok/s)`,
    ...(r.runs.length > 1 ? [`runs         ${r.runs.map((x) => `${x.promptTokPerS.toFixed(1)}/${x.decodeTokPerS.toFixed(1)}`).join(', ')} (prompt/decode tok/s)`] : []),
  ].join('\n');
}
