/**
 * The cost report (`bitnet cost`): BitNet b1.58 (ternary) against LLaMA FP16 at the paper's shapes,
 * run in our own engine on random weights — weight memory, resident memory, decode latency, prompt
 * throughput, throughput against batch size — plus the paper's arithmetic-energy model.
 * Each measured case runs in its own child process so resident memory is its own.
 */
import { modelFromWeights } from '../model/index.js';
import { SHAPES, synthTokenizer, synthWeights, type ShapeSpec, type SynthForm } from '../model/synth.js';
import { timeBest } from './kernels.js';
import { timeBatch } from './batch.js';
import { LAYER_SCHEMA, layerDims } from '../model/schema.js';

export const FORMS: Array<{ form: SynthForm; label: string }> = [
  { form: 'ternary', label: 'ternary (internal, per-tensor scale)' },
  { form: 'ternary-blocks', label: 'ternary (TQ2_0 blocks of 256)' },
  { form: 'fp16', label: 'LLaMA FP16' },
];

/** Linear-layer weights per token (what a decoding step multiplies), excluding embeddings and head. */
export function linearParams(s: ShapeSpec): number {
  const dims = layerDims({ dim: s.dim, ffnDim: s.ffnDim, nHeads: s.nHeads, nKvHeads: s.nKvHeads ?? s.nHeads, headDim: s.dim / s.nHeads });
  const perLayer = LAYER_SCHEMA.filter((t) => t.kind === 'linear').reduce((n, t) => { const [r, c] = t.shape(dims); return n + r * c; }, 0);
  return s.nLayers * perLayer;
}

/** Bytes of weights a token streams: linears + LM head (f16; tied to the embedding). */
export function weightBytesModel(s: ShapeSpec, form: SynthForm): number {
  const lin = linearParams(s);
  const head = s.vocabSize * s.dim * 2;
  if (form === 'fp16') return lin * 2 + head;
  return lin / 4 + (form === 'ternary-blocks' ? (lin / 256) * 4 : 0) + head;
}

/** Arithmetic energy per op in pJ (BitNet b1.58 paper, after Horowitz 2014 / Zhang et al. 2022). */
export const ENERGY_PJ = {
  '7nm': { fp16Add: 0.16, fp16Mul: 0.34, int8Add: 0.007, int8Mul: 0.07 },
  '45nm': { fp16Add: 0.4, fp16Mul: 1.1, int8Add: 0.03, int8Mul: 0.2 },
};

/** Matmul arithmetic energy per token: FP16 does a multiply and an add per weight; ternary only INT8 adds. */
export function energyPerToken(s: ShapeSpec, node: keyof typeof ENERGY_PJ): { fp16mJ: number; ternarymJ: number; ratio: number } {
  const e = ENERGY_PJ[node], n = linearParams(s);
  const fp16 = n * (e.fp16Mul + e.fp16Add), ternary = n * e.int8Add;
  return { fp16mJ: fp16 * 1e-9, ternarymJ: ternary * 1e-9, ratio: fp16 / ternary };
}

export interface CaseResult {
  shape: string; form: SynthForm; measured: true;
  weightBytes: number; rssBytes: number; loadSeconds: number;
  decodeMsPerToken: number; promptTokPerS: number;
  batch: Array<{ batch: number; tokPerS: number; msPerStep: number; kvBytes: number }>;
  /** The shared KV cache: what the memory budget leaves after the weights, bytes per position (f16 cells). */
  kvBudgetBytes: number; kvBytesPerPosition: number;
  /** Sequences at the shape's full context that budget holds (the paper's max batch under a memory budget). */
  maxBatch: { context: number; batch: number };
  actQuantMsPerToken: number; actQuantShare: number;
}

/** Runs one (shape, form) case in this process. */
export async function runCase(shapeName: string, form: SynthForm, o: { threads?: number; batches: number[]; memBudgetBytes: number; prompt: number; gen: number; deadline: number }): Promise<CaseResult> {
  const s = SHAPES[shapeName];
  const t0 = performance.now();
  const w = synthWeights(s, 1, 1, form, 'f16');
  // one KV cache shared by every sequence: whatever the memory budget (and the 4 GiB wasm32 space, less
  // 256 MiB of scratch) leaves after the weights, at least 64 MiB
  const weights = weightBytesModel(s, form);
  const kvBudgetBytes = Math.max(64 * 2 ** 20, Math.min(o.memBudgetBytes, 2 ** 32 - 2 ** 28) - weights);
  const model = await modelFromWeights(w, synthTokenizer(s.vocabSize), { backend: 'wasm', threads: o.threads, kvMemoryBytes: kvBudgetBytes });
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    const V = s.vocabSize;
    const toks = (n: number, k = 0) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + k * 104729) % (V - 3)));
    // prompt throughput
    const ses = model.createSession({ contextLength: o.prompt + o.gen + 1 });
    const tp = performance.now(); ses.evaluate(toks(o.prompt)); const promptSec = (performance.now() - tp) / 1000;
    // decode latency
    const td = performance.now();
    for (let i = 0; i < o.gen; i++) ses.evaluate([toks(1, i)[0]]);
    const decodeMs = (performance.now() - td) / o.gen;
    ses.dispose();
    // throughput against batch size (sequences of 4 prompt tokens + 4 steps in the shared cache), while the
    // KV budget and time allow
    const kv = model.kvCache, batch: CaseResult['batch'] = [];
    for (const b of o.batches) {
      if (b * kv.blocksFor(8) > kv.capacityBlocks || performance.now() > o.deadline) break;
      const r = timeBatch(model, b, 4, 4, 1);
      batch.push({ batch: b, tokPerS: r.decodeTokPerS, msPerStep: r.msPerToken, kvBytes: r.kvBytes });
    }
    const context = s.contextLength ?? 2048;
    // the price of on-the-fly activation quantization: 4 quantizations per layer per token
    let actMs = 0;
    if (form !== 'fp16') {
      const be = model.backend;
      const x = be.allocF32(Math.max(s.dim, s.ffnDim)), xq = be.allocI8(Math.max(s.dim, s.ffnDim)), inv = be.allocF32(1);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i);
      const tD = timeBest(() => be.quantizeRows(x, 1, s.dim, xq, inv), 50, 3);
      const tF = timeBest(() => be.quantizeRows(x, 1, s.ffnDim, xq, inv), 50, 3);
      actMs = s.nLayers * (3 * tD + tF);
    }
    return {
      shape: shapeName, form, measured: true, weightBytes: model.info.weightBytes, rssBytes: process.memoryUsage().rss, loadSeconds,
      kvBudgetBytes, kvBytesPerPosition: kv.bytesPerPosition, maxBatch: { context, batch: Math.floor(kv.capacityBlocks / kv.blocksFor(context)) },
      decodeMsPerToken: decodeMs, promptTokPerS: o.prompt / promptSec, batch, actQuantMsPerToken: actMs, actQuantShare: actMs / decodeMs,
    };
  } finally { model.dispose(); }
}
