/**
 * The one schema of a training config (presets, `--config file.json`, CLI flags): every key's type and
 * range, relations between keys, and a memory estimate, checked before any work (the tokenizer is trained
 * after this). A hand-written table rather than a schema library: the config is a flat record of numbers
 * and a few enums, which a table states in one screen with messages that name the key and the bound;
 * a library (zod, ~60 kB) would add a runtime dependency for no check this cannot express.
 */
import { totalmem } from 'node:os';
import type { TrainConfig } from './presets.js';

type Field =
  | { kind: 'int'; min: number; max: number; optional?: true }
  | { kind: 'number'; min: number; max: number; exclusiveMin?: true; optional?: true }
  | { kind: 'enum'; values: readonly string[]; optional?: true }
  | { kind: 'bool'; optional?: true };

const int = (min: number, max: number): Field => ({ kind: 'int', min, max });
const pos = (max: number): Field => ({ kind: 'number', min: 0, max, exclusiveMin: true });

/** Every key of TrainConfig, with its type and range. */
export const TRAIN_CONFIG_SCHEMA: Record<keyof TrainConfig, Field> = {
  vocabSize: int(257, 1 << 20), dim: int(2, 1 << 16), nLayers: int(1, 1024), nHeads: int(1, 1024), ffnDim: int(1, 1 << 18),
  seqLen: int(2, 1 << 16), batch: int(1, 1 << 16), steps: int(1, 1e9), warmup: int(0, 1e9),
  warmupFraction: { kind: 'number', min: 0, max: 1, optional: true },
  lr1: pos(10), lr2: pos(10), wd1: { kind: 'number', min: 0, max: 10 }, wd2: { kind: 'number', min: 0, max: 10 },
  gradClip: pos(1e6), evalEvery: int(1, 1e9), evalBatches: int(1, 1e6), checkpointEvery: int(1, 1e9),
  seed: int(-(2 ** 31), 2 ** 32 - 1), precision: { kind: 'enum', values: ['ternary', 'binary', 'fp'] },
  normEps: pos(1), ropeTheta: pos(1e9), valFraction: { kind: 'number', min: 0, max: 0.5, exclusiveMin: true },
  weightScale: { kind: 'enum', values: ['absmean', 'absmax'], optional: true }, subNorm: { kind: 'bool', optional: true },
};

/** Bytes a run needs: params, grads, Adam m and v (f32 each), and the activations one step keeps. */
export function estimateTrainBytes(c: TrainConfig): number {
  const params = c.vocabSize * c.dim + c.nLayers * (4 * c.dim * c.dim + 3 * c.dim * c.ffnDim + 3 * c.dim + c.ffnDim) + c.dim;
  const tokens = c.batch * c.seqLen;
  // per layer: residual, norms, q/k/v/o, quantized copies, FFN gate/up/act (order of magnitude of model.ts)
  const perLayer = tokens * (14 * c.dim + 4 * c.ffnDim) + c.batch * c.nHeads * c.seqLen * c.seqLen * 2;
  const activations = c.nLayers * perLayer + 2 * tokens * c.vocabSize;
  return 4 * (4 * params + activations);
}

/**
 * The config as a checked TrainConfig, or an error naming every key that is wrong. `source` names where
 * it came from (a preset, a file) in the message.
 */
export function validateTrainConfig(raw: unknown, source: string, memoryBytes = totalmem()): TrainConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: a training config must be a JSON object`);
  const r = raw as Record<string, unknown>;
  const errors: string[] = [];
  for (const k of Object.keys(r)) if (!(k in TRAIN_CONFIG_SCHEMA)) errors.push(`unknown key '${k}'`);
  for (const [k, f] of Object.entries(TRAIN_CONFIG_SCHEMA) as Array<[keyof TrainConfig, Field]>) {
    const v = r[k];
    if (v === undefined) { if (!f.optional) errors.push(`'${k}' is missing`); continue; }
    if (f.kind === 'enum') { if (!f.values.includes(v as string)) errors.push(`'${k}' must be one of ${f.values.join(', ')}, got ${JSON.stringify(v)}`); continue; }
    if (f.kind === 'bool') { if (typeof v !== 'boolean') errors.push(`'${k}' must be true or false, got ${JSON.stringify(v)}`); continue; }
    const isNum = typeof v === 'number' && Number.isFinite(v);
    const intOk = f.kind !== 'int' || Number.isInteger(v);
    const low = f.kind === 'number' && f.exclusiveMin ? (v as number) > f.min : (v as number) >= f.min;
    if (!isNum || !intOk || !low || (v as number) > f.max) {
      const what = f.kind === 'int' ? 'an integer' : 'a number';
      const lowText = f.kind === 'number' && f.exclusiveMin ? `> ${f.min}` : `>= ${f.min}`;
      errors.push(`'${k}' must be ${what} ${lowText} and <= ${f.max}, got ${JSON.stringify(v)}`);
    }
  }
  if (errors.length) throw new Error(`${source}: ${errors.join('; ')}`);
  const c = r as unknown as TrainConfig;
  if (c.dim % c.nHeads !== 0 || (c.dim / c.nHeads) % 2 !== 0) errors.push(`dim ${c.dim} must split into ${c.nHeads} heads of an even size`);
  if (errors.length) throw new Error(`${source}: ${errors.join('; ')}`);
  const need = estimateTrainBytes(c);
  if (need > 0.8 * memoryBytes) {
    throw new Error(`${source}: this model needs about ${(need / 2 ** 30).toFixed(1)} GiB to train (parameters, gradients, Adam state, ` +
                    `activations), more than this machine can give (${(memoryBytes / 2 ** 30).toFixed(1)} GiB)`);
  }
  return c;
}

/** Export types whose layout cannot hold this config's matrices (row lengths, one scale per tensor), with why. */
export function exportProblem(c: TrainConfig, type: 'tq2_0' | 'tq1_0' | 'i2_s' | 'hf'): string | undefined {
  if (c.subNorm === false || c.weightScale === 'absmax') return 'ablation runs (no sub-norms / absmax scale) have no export layout';
  if (type === 'hf') return c.precision === 'fp' ? 'fp runs have sub-norms that LlamaForCausalLM lacks' : undefined;
  if (c.precision === 'fp') return undefined; // float linears: the ternary type is not used
  if (type === 'i2_s') {
    const bad = [c.dim * c.dim, c.dim * c.ffnDim].find((n) => n % 128 !== 0);
    return bad === undefined ? undefined : `I2_S packs 128 weights per block: a ${bad}-weight matrix does not fit`;
  }
  const bad = [c.dim, c.ffnDim].find((n) => n % 256 !== 0);
  return bad === undefined ? undefined : `${type.toUpperCase()} needs rows of a multiple of 256 weights: this model has rows of ${bad}`;
}
