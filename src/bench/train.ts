/**
 * `bitnet bench --train`: training throughput of a preset's shape on random tokens — forward, backward
 * and AdamW steps timed after warm-up — with the share of GEMM time and the model-FLOPs utilisation
 * against a square GEMM peak measured on the same threads in the same run.
 */
import { PRESETS } from '../train/presets.js';
import { modelConfigOf } from '../train/checkpoint.js';
import { TrainModel } from '../train/wasm-model.js';
import { seededRandom } from '../model/sampling.js';
import type { WasmVariant } from '../kernels/wasm-module.js';

export interface TrainBenchResult {
  config: string; threads: number; variant: WasmVariant; params: number; batch: number; seqLen: number; steps: number;
  tokensPerSec: number; msPerStep: number; gemmShare: number; gemmGflops: number; peakGemmGflops: number;
  modelFlopsPerToken: number; mfu: number;
}

/** Training FLOPs per token (forward + backward = 3× forward): 6 per weight of every matmul, 3 × 2·T·D per layer of causal attention. */
export function trainFlopsPerToken(c: { vocabSize: number; dim: number; nLayers: number; ffnDim: number; seqLen: number }): number {
  const linear = c.nLayers * (4 * c.dim * c.dim + 3 * c.dim * c.ffnDim) + c.vocabSize * c.dim; // + tied head
  const attention = c.nLayers * 2 * c.seqLen * c.dim; // forward: QKᵀ and P·V over T/2 keys on average, 2 FLOPs per MAC
  return 6 * linear + 3 * attention;
}

export async function benchTrain(opts: { config?: string; threads?: number; variant?: WasmVariant; steps?: number; warmup?: number } = {})
  : Promise<TrainBenchResult> {
  const name = opts.config ?? 'small';
  const preset = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!preset) throw new Error(`--config: unknown preset '${name}' (${Object.keys(PRESETS).join(', ')})`);
  const c = modelConfigOf(preset);
  const model = await TrainModel.create(c, preset.batch, { threads: opts.threads, variant: opts.variant });
  try {
    model.params.init(seededRandom(preset.seed));
    const n = preset.batch * preset.seqLen, rnd = seededRandom(1);
    const tokens = Int32Array.from({ length: n }, () => Math.floor(rnd() * c.vocabSize));
    const targets = Int32Array.from({ length: n }, () => Math.floor(rnd() * c.vocabSize));
    const step = () => {
      model.params.grad.fill(0);
      model.forward(tokens, targets);
      model.backward();
      model.opt.step(1e-3, 0.1, 1);
    };
    for (let i = 0; i < (opts.warmup ?? 2); i++) step();
    const peakGemmGflops = model.measureGemmPeak();
    const steps = opts.steps ?? 10;
    model.gemmStats.flops = 0; model.gemmStats.seconds = 0;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    const sec = (performance.now() - t0) / 1000;
    const tokensPerSec = (steps * n) / sec;
    const modelFlopsPerToken = trainFlopsPerToken(c);
    return {
      config: name, threads: model.threads, variant: model.variant, params: model.params.count, batch: preset.batch,
      seqLen: preset.seqLen, steps, tokensPerSec, msPerStep: (1000 * sec) / steps, gemmShare: model.gemmStats.seconds / sec,
      gemmGflops: model.gemmStats.flops / model.gemmStats.seconds / 1e9, peakGemmGflops, modelFlopsPerToken,
      mfu: (modelFlopsPerToken * tokensPerSec) / (peakGemmGflops * 1e9),
    };
  } finally { model.dispose(); }
}

export function formatTrainBench(r: TrainBenchResult): string {
  return [
    `train bench: --config ${r.config} (${r.params.toLocaleString()} parameters, batch ${r.batch} × seq ${r.seqLen}), ` +
      `wasm-${r.variant}, ${r.threads} thread${r.threads > 1 ? 's' : ''}, ${r.steps} steps`,
    `  training tokens/s  ${r.tokensPerSec.toFixed(0)}  (${r.msPerStep.toFixed(1)} ms/step)`,
    `  GEMM               ${(100 * r.gemmShare).toFixed(0)}% of step time, ${r.gemmGflops.toFixed(1)} GFLOPS ` +
      `(peak ${r.peakGemmGflops.toFixed(1)}: square 256³ GEMM, same threads)`,
    `  MFU                ${(100 * r.mfu).toFixed(0)}%  (${(r.modelFlopsPerToken / 1e6).toFixed(1)} MFLOP/token vs that peak)`,
  ].join('\n');
}
