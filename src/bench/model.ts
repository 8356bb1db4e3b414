/**
 * Prompt and decode speed against the memory-bandwidth roofline measured in the same run.
 * Decoding streams every weight once per token, so the bound is weightBytes / bandwidth;
 * bandwidth is a streaming read, in wasm with the same threads, of as many bytes as the weights.
 */
import { WasmBackend } from '../kernels/wasm.js';
import type { Backend } from '../kernels/backend.js';
import { loadModel, type HeadPrecision } from '../model/index.js';
import type { WasmVariant } from '../kernels/wasm-module.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shapeOf } from '../model/synth.js';
import { writeSynthGGUF } from '../model/synth-gguf.js';

/** What the benchmark drives: a model with a KV cache it can reset. */
export interface BenchRunner {
  /** Start over (empty KV cache) and evaluate `n` prompt tokens as one batch. */
  prefill(n: number): void | Promise<void>;
  /** Evaluate one more token at position `pos`. */
  decode(pos: number): void | Promise<void>;
  /** Bytes of weights one decoded token reads. */
  readonly weightBytes: number;
}

export interface ModelBenchResult {
  model: string;
  backend: string;
  threads: number;
  /** The integer kernels' dot form (kernels/jobs.ts DotForm): 'add' (relaxed dot-add, VNNI) or 'pair'. */
  dotForm?: 'add' | 'pair';
  promptTokens: number;
  genTokens: number;
  promptTokPerS: number;
  decodeTokPerS: number;
  decodeMsPerToken: number;
  weightBytes: number;
  /** LM head precision the run used ('file', 'int8' or 'int7'); absent for runners that do not say. */
  head?: HeadPrecision;
  /** weightBytes × decode tok/s */
  achievedGBps: number;
  /** Streaming read with the same threads, best of 5. */
  bandwidthGBps: number;
  /** Decode speed as a fraction of the bandwidth roofline (= achievedGBps / bandwidthGBps). */
  rooflineFraction: number;
  rooflineTokPerS: number;
  runs: Array<{ promptTokPerS: number; decodeTokPerS: number }>;
  /** Seconds from nothing to a model ready to evaluate (backend start, file read, repacking). */
  loadSeconds: number;
  /** The process's peak resident set size at the end of the run (bytes). */
  peakRssBytes: number;
}

/** Peak resident set size of this process so far, in bytes (0 where the runtime cannot tell). */
export function peakRssBytes(): number {
  return typeof process !== 'undefined' && process.resourceUsage ? process.resourceUsage().maxRSS * 1024 : 0;
}

export interface BenchOptions {
  threads?: number;
  promptTokens?: number;
  genTokens?: number;
  repeat?: number;
  variant?: WasmVariant;
  /** LM head precision (LoadOptions.head; default 'file'). */
  head?: HeadPrecision;
  onProgress?: (done: number, total: number) => void;
}

/** Time prompt processing and decoding (best of `repeat` runs), then measure bandwidth. */
export async function runBench(name: string, runner: BenchRunner, bandwidth: (bytes: number) => number,
                               backend: { name: string; threads: number; dotForm?: 'add' | 'pair' }, opts: BenchOptions,
                               loadSeconds = 0): Promise<ModelBenchResult> {
  const P = opts.promptTokens ?? 128, G = opts.genTokens ?? 64, R = opts.repeat ?? 1;
  const runs: ModelBenchResult['runs'] = [];
  const total = R * (1 + G);
  for (let r = 0; r < R; r++) {
    let t0 = performance.now();
    await runner.prefill(P);
    const promptS = (performance.now() - t0) / 1000;
    opts.onProgress?.(r * (1 + G) + 1, total);
    t0 = performance.now();
    for (let i = 0; i < G; i++) {
      await runner.decode(P + i);
      if ((i & 7) === 7) opts.onProgress?.(r * (1 + G) + 2 + i, total);
    }
    const decodeS = (performance.now() - t0) / 1000;
    runs.push({ promptTokPerS: P / promptS, decodeTokPerS: G / decodeS });
  }
  opts.onProgress?.(total, total);
  const bytesPerSecond = bandwidth(runner.weightBytes);
  const promptTokPerS = Math.max(...runs.map((x) => x.promptTokPerS));
  const decodeTokPerS = Math.max(...runs.map((x) => x.decodeTokPerS));
  const achieved = runner.weightBytes * decodeTokPerS;
  return {
    model: name, backend: backend.name, threads: backend.threads, ...(backend.dotForm ? { dotForm: backend.dotForm } : {}),
    promptTokens: P, genTokens: G,
    promptTokPerS, decodeTokPerS, decodeMsPerToken: 1000 / decodeTokPerS, weightBytes: runner.weightBytes,
    achievedGBps: achieved / 1e9, bandwidthGBps: bytesPerSecond / 1e9,
    rooflineFraction: achieved / bytesPerSecond, rooflineTokPerS: bytesPerSecond / runner.weightBytes, runs,
    loadSeconds, peakRssBytes: peakRssBytes(),
  };
}

/**
 * `bitnet bench --synthetic SHAPE|FILE.gguf`: the engine on random weights of a named shape (model/synth.ts's
 * table), written as a GGUF to a temporary directory and loaded like any file; a FILE.gguf is `--model FILE`.
 * TQ2_0 where every row length is a multiple of 256, else I2_S.
 */
export async function benchSynthetic(shapeOrFile: string, opts: BenchOptions = {}, load: ModelLoader = loadModel): Promise<ModelBenchResult> {
  if (shapeOrFile.endsWith('.gguf')) return benchModel(shapeOrFile, opts, load);
  const s = shapeOf(shapeOrFile);
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-bench-'));
  try {
    const path = join(dir, `${shapeOrFile}.gguf`);
    writeSynthGGUF(path, shapeOrFile, { ternaryType: s.dim % 256 === 0 && s.ffnDim % 256 === 0 ? 'tq2_0' : 'i2_s' });
    return { ...await benchModel(path, opts, load), model: `synthetic ${shapeOrFile}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The part of the engine (src/model) that `bench --model` drives; injectable for tests. */
export interface EngineSession { evaluate(tokens: number[]): unknown; reset(): void; dispose?(): void }
export interface EngineModel {
  readonly config: { vocabSize: number };
  /** info.weightBytes: bytes of prepared weights, i.e. what one decoded token streams. */
  readonly info: { weightBytes: number; head?: HeadPrecision };
  createSession(opts: { contextLength: number }): EngineSession;
  dispose(): void;
}
export type ModelLoader = (path: string, opts: { backend: Backend; head?: HeadPrecision }) => Promise<EngineModel>;

/**
 * `bitnet bench --model FILE`: the engine's prompt and decode speed. The backend is created here
 * and handed to the engine, so the bandwidth probe reads the very memory the weights live in.
 */
export async function benchModel(path: string, opts: BenchOptions = {}, load: ModelLoader = loadModel): Promise<ModelBenchResult> {
  const P = opts.promptTokens ?? 128, G = opts.genTokens ?? 64;
  const t0 = performance.now();
  const be = await WasmBackend.create({ threads: opts.threads, variant: opts.variant });
  let model: EngineModel | undefined;
  try {
    model = await load(path, { backend: be, head: opts.head });
    const loadSeconds = (performance.now() - t0) / 1000;
    const { vocabSize } = model.config;
    const token = (i: number) => 1 + ((i * 7919) % (vocabSize - 1)); // arbitrary valid ids
    const session = model.createSession({ contextLength: P + G });
    const runner: BenchRunner = {
      prefill: (n) => { session.reset(); session.evaluate(Array.from({ length: n }, (_, i) => token(i))); },
      decode: (pos) => { session.evaluate([token(pos)]); },
      weightBytes: model.info.weightBytes,
    };
    const name = path.split('/').pop() ?? path;
    const r = await runBench(name, runner, (bytes) => be.measureBandwidth(bytes).bytesPerSecond, be, opts, loadSeconds);
    session.dispose?.();
    return model.info.head ? { ...r, head: model.info.head } : r;
  } finally {
    if (model) model.dispose(); else be.dispose(); // the model owns the backend once loaded
  }
}

export function formatModelBench(r: ModelBenchResult): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return [
    `model        ${r.model}`,
    `backend      ${r.backend}, ${r.threads} thread(s)${r.dotForm ? `, dot form ${r.dotForm}` : ''}`,
    `prompt       ${r.promptTokPerS.toFixed(1)} tok/s (${r.promptTokens} tokens)`,
    `decode       ${r.decodeTokPerS.toFixed(1)} tok/s, ${r.decodeMsPerToken.toFixed(2)} ms/token (${r.genTokens} tokens)`,
    `weights      ${mb(r.weightBytes)} read per token${r.head ? ` (LM head: ${r.head})` : ''}`,
    `achieved     ${r.achievedGBps.toFixed(2)} GB/s`,
    `bandwidth    ${r.bandwidthGBps.toFixed(2)} GB/s (stream read, same threads)`,
    `roofline     ${(r.rooflineFraction * 100).toFixed(1)}% (bound ${r.rooflineTokPerS.toFixed(1)} tok/s)`,
    `load         ${r.loadSeconds.toFixed(2)} s, peak RSS ${mb(r.peakRssBytes)}`,
    ...(r.runs.length > 1 ? [`runs         ${r.runs.map((x) => `${x.promptTokPerS.toFixed(1)}/${x.decodeTokPerS.toFixed(1)}`).join(', ')} (prompt/decode tok/s)`] : []),
  ].join('\n');
}
