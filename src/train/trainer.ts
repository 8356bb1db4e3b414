/**
 * The training loop: data, batches, evaluation, checkpoints (atomic, resumable to the same curve),
 * a loss-curve SVG, progress with loss / tokens/s / ETA, and save-on-Ctrl-C.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { seededRandom } from '../model/sampling.js';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { Params } from './model.js';
import { TrainModel } from './wasm-model.js';
import { AdamW, scheduleAt } from './optim.js';
import type { TrainConfig } from './presets.js';
import { BPETokenizer, type BPEVocab } from '../tokenizer/bpe.js';
import { trainBPE } from '../tokenizer/train-bpe.js';
import { LOSS_LOG_FILE, LOSS_SVG_FILE, lossLogSVG, type LossLog } from './svg.js';
import {
  checkRunDirectory, hasCheckpoint, loadLatestCheckpoint, modelConfigOf, saveCheckpoint as saveCheckpointFile,
  TOKENIZER_FILE, writeFileDurable, type CheckpointMeta, type LogRow,
} from './checkpoint.js';
import { validateTrainConfig } from './config-schema.js';

export { loadCheckpoint, modelConfigOf, type CheckpointMeta, type LogRow } from './checkpoint.js';

/** Deterministic PRNG keyed by (seed, step): resume draws exactly the batches an uninterrupted run would. */
const rng = seededRandom;

export class Dataset {
  readonly train: Int32Array;
  readonly val: Int32Array;
  constructor(tokens: Int32Array, valFraction: number) {
    const nVal = Math.max(Math.floor(tokens.length * valFraction), 1);
    this.train = tokens.subarray(0, tokens.length - nVal);
    this.val = tokens.subarray(tokens.length - nVal);
  }
  /** B random windows of T+1 tokens from the training split. */
  batch(rand: () => number, B: number, T: number, tokens: Int32Array, targets: Int32Array): void {
    for (let b = 0; b < B; b++) {
      const o = Math.floor(rand() * (this.train.length - T - 1));
      for (let t = 0; t < T; t++) { tokens[b * T + t] = this.train[o + t]; targets[b * T + t] = this.train[o + t + 1]; }
    }
  }
}

/** Mean loss over consecutive non-overlapping windows of the validation split (deterministic). */
export function validationLoss(model: { forward(tokens: Int32Array, targets: Int32Array): number }, data: Int32Array, B: number, T: number, maxBatches: number): number {
  const tokens = new Int32Array(B * T), targets = new Int32Array(B * T);
  const windows = Math.floor((data.length - 1) / T);
  const nb = Math.min(maxBatches, Math.floor(windows / B));
  if (nb < 1) throw new Error(`validation split too small: ${data.length} tokens for ${B}×${T} windows`);
  let sum = 0;
  for (let i = 0; i < nb; i++) {
    for (let b = 0; b < B; b++) {
      const o = (i * B + b) * T;
      for (let t = 0; t < T; t++) { tokens[b * T + t] = data[o + t]; targets[b * T + t] = data[o + t + 1]; }
    }
    sum += model.forward(tokens, targets);
  }
  return sum / nb;
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

export interface TrainRunOptions {
  config: TrainConfig;
  dataFile: string;
  outDir: string;
  resume?: boolean;
  resumeSteps?: number;          // on resume: a new total step count (the schedule is re-laid over it)
  /** On resume: what loadLatestCheckpoint(outDir) gave, when the caller has read it already (read once). */
  resumeFrom?: ReturnType<typeof loadLatestCheckpoint>;
  stopAfter?: number;            // stop (checkpointed) after this many steps of this run — tests of resume
  log?: (line: string) => void;
  progress?: (p: { step: number; steps: number; loss: number; valLoss?: number; tokensPerSec: number; etaSec: number }) => void;
  signal?: AbortSignal;
  threads?: number;              // kernel threads (default: all cores)
}

/** Throughput of this run's training steps (evaluation excluded), against a GEMM peak measured at its start. */
export interface TrainPerf { tokensPerSec: number; gemmGflops: number; peakGemmGflops: number; gemmShare: number }

export interface TrainResult { params: Params; tokenizer: BPETokenizer; meta: CheckpointMeta; finalValLoss: number; perf: TrainPerf }

export function loadTokenizerFile(path: string): BPETokenizer {
  return new BPETokenizer(JSON.parse(readFileSync(path, 'utf8')) as BPEVocab);
}

/** Tokenizes the corpus with the run's tokenizer (trained on the training text the first time). */
export function prepareData(dataFile: string, outDir: string, c: TrainConfig, log: (s: string) => void): { tokenizer: BPETokenizer; data: Dataset } {
  const text = readFileSync(dataFile, 'utf8');
  if (text.length < 1000) throw new Error(`${dataFile}: corpus too small (${text.length} characters)`);
  const tokPath = join(outDir, TOKENIZER_FILE);
  let tokenizer: BPETokenizer;
  if (existsSync(tokPath)) tokenizer = loadTokenizerFile(tokPath);
  else {
    log(`training a ${c.vocabSize}-token byte-level BPE on ${(text.length / 1e6).toFixed(2)} MB…`);
    // the tokenizer sees only the training part of the text (the tail is validation)
    tokenizer = trainBPE(text.slice(0, Math.floor(text.length * (1 - c.valFraction))), { vocabSize: c.vocabSize });
    writeFileDurable(tokPath, JSON.stringify(tokenizer.vocab));
  }
  if (tokenizer.vocabSize !== c.vocabSize) throw new Error(`tokenizer has ${tokenizer.vocabSize} tokens, config says ${c.vocabSize}`);
  const ids = Int32Array.from(tokenizer.encode(text, { addBos: false }));
  return { tokenizer, data: new Dataset(ids, c.valFraction) };
}

/** One atomic checkpoint (src/train/checkpoint.ts), then the loss log and its curve beside it (they outlive checkpoints). */
export function saveCheckpoint(outDir: string, params: Params, opt: AdamW, meta: CheckpointMeta): void {
  saveCheckpointFile(outDir, params, opt, meta);
  const lossLog: LossLog = { config: meta.config, log: meta.log };
  writeAtomic(join(outDir, LOSS_LOG_FILE), JSON.stringify(lossLog) + '\n');
  writeAtomic(join(outDir, LOSS_SVG_FILE), lossLogSVG(lossLog));
}

const fileSha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** --resume on another corpus is refused: the tail that was validation would become training data (or the reverse). */
function checkSameData(meta: CheckpointMeta, dataFile: string): void {
  const same = meta.dataSha256 !== undefined ? fileSha256(dataFile) === meta.dataSha256 : resolve(dataFile) === resolve(meta.dataFile);
  if (!same) {
    throw new Error(`--resume: --data ${dataFile} is not the corpus this run trained on (${meta.dataFile}); ` +
      'its validation split would move into the training data: resume with the same file, or start a new --out');
  }
}

/** Lets pending events (SIGINT) run between steps: the loop itself never blocks Ctrl-C for longer than one step. */
const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function train(o: TrainRunOptions): Promise<TrainResult> {
  const log = o.log ?? (() => {});
  mkdirSync(o.outDir, { recursive: true });
  let params: Params, opt: AdamW, meta: CheckpointMeta;
  const latest = o.resume ? (o.resumeFrom ?? loadLatestCheckpoint(o.outDir)) : undefined;
  for (const why of latest?.skipped ?? []) log(`skipping a torn or corrupt checkpoint: ${why}`);
  if (latest?.ckpt) {
    ({ params, opt, meta } = latest.ckpt);
    if (o.resumeSteps !== undefined && o.resumeSteps !== meta.config.steps) {
      if (o.resumeSteps < meta.step) throw new Error(`--steps ${o.resumeSteps}: the checkpoint is already at step ${meta.step}`);
      log(`total steps ${meta.config.steps} -> ${o.resumeSteps}`);
      meta.config = { ...meta.config, steps: o.resumeSteps };
    }
    checkSameData(meta, o.dataFile);
    log(`resuming at step ${meta.step}/${meta.config.steps} (${latest.ckpt.file})`);
  } else {
    if (o.resume) {
      // killed before its first checkpoint was complete: the run starts over, as it would have gone
      if (!existsSync(join(o.outDir, TOKENIZER_FILE)) && !latest?.skipped.length) throw new Error(`--resume: no checkpoint in ${o.outDir}`);
      log(`--resume: no complete checkpoint in ${o.outDir}: starting from step 0`);
    } else {
      if (hasCheckpoint(o.outDir)) throw new Error(`${o.outDir} already holds a checkpoint: pass --resume, or choose another --out`);
      checkRunDirectory(o.outDir);
      validateTrainConfig(o.config, 'config');
    }
    params = new Params(modelConfigOf(o.config));
    params.init(rng(o.config.seed));
    opt = new AdamW(params);
    meta = { config: o.config, step: 0, adamT: 0, log: [], elapsedSec: 0, tokensSeen: 0, dataFile: o.dataFile, dataSha256: fileSha256(o.dataFile) };
  }
  const c = meta.config;
  const { tokenizer, data } = prepareData(o.dataFile, o.outDir, c, log);
  // the whole training state moves into the kernels' memory once; nothing is allocated per step
  const model = await TrainModel.create(modelConfigOf(c), c.batch, { threads: o.threads });
  model.params.data.set(params.data);
  model.opt.m.set(opt.m); model.opt.v.set(opt.v); model.opt.t = opt.t;
  params = model.params; opt = model.opt;
  const kernels = `wasm-${model.variant}, ${model.threads} thread${model.threads > 1 ? 's' : ''}`;
  log(`model: ${params.count.toLocaleString()} parameters (${c.precision}); data: ${data.train.length.toLocaleString()} train / ${data.val.length.toLocaleString()} val tokens; kernels: ${kernels}, ${(model.stateBytes / 2 ** 20).toFixed(0)} MiB of state`);
  const tokens = new Int32Array(c.batch * c.seqLen), targets = new Int32Array(c.batch * c.seqLen);
  const gemmStats = model.gemmStats;
  const peakGemmGflops = model.measureGemmPeak();
  let stepSec = 0, stepTokens = 0, stepGemmFlops = 0, stepGemmSec = 0;
  const startStep = meta.step;
  const t0 = performance.now() / 1000 - meta.elapsedSec;
  let stepsThisRun = 0;
  let lastVal: number | undefined;
  while (meta.step < c.steps) {
    await yieldToEvents();
    if (o.signal?.aborted) { saveCheckpoint(o.outDir, params, opt, meta); break; }
    const ts = performance.now();
    gemmStats.flops = 0; gemmStats.seconds = 0;
    const { lr, wd } = scheduleAt(c, meta.step);
    data.batch(rng(c.seed * 1_000_003 + meta.step), c.batch, c.seqLen, tokens, targets);
    params.grad.fill(0);
    const loss = model.forward(tokens, targets);
    if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${meta.step}: lower the learning rate`);
    model.backward();
    opt.step(lr, wd, c.gradClip);
    meta.step++; stepsThisRun++;
    meta.tokensSeen += tokens.length;
    meta.adamT = opt.t;
    const dt = (performance.now() - ts) / 1000;
    const tps = tokens.length / dt;
    stepSec += dt; stepTokens += tokens.length; stepGemmFlops += gemmStats.flops; stepGemmSec += gemmStats.seconds;
    const row: LogRow = { step: meta.step, loss, lr, tokensPerSec: tps };
    const last = meta.step === c.steps;
    if (meta.step % c.evalEvery === 0 || last) row.valLoss = lastVal = validationLoss(model, data.val, c.batch, c.seqLen, c.evalBatches);
    meta.log.push(row);
    meta.elapsedSec = performance.now() / 1000 - t0;
    const eta = ((meta.elapsedSec - 0) / Math.max(1, meta.step - 0)) * (c.steps - meta.step) * (meta.step > startStep ? 1 : 0);
    o.progress?.({ step: meta.step, steps: c.steps, loss, valLoss: lastVal, tokensPerSec: tps, etaSec: eta });
    const stop = o.signal?.aborted || (o.stopAfter !== undefined && stepsThisRun >= o.stopAfter);
    if (meta.step % c.checkpointEvery === 0 || last || stop) saveCheckpoint(o.outDir, params, opt, meta);
    if (stop) break;
  }
  const finalValLoss = lastVal ?? validationLoss(model, data.val, c.batch, c.seqLen, c.evalBatches);
  const perf: TrainPerf = {
    tokensPerSec: stepTokens / Math.max(stepSec, 1e-9), gemmGflops: stepGemmFlops / Math.max(stepGemmSec, 1e-9) / 1e9,
    peakGemmGflops, gemmShare: stepGemmSec / Math.max(stepSec, 1e-9),
  };
  if (stepsThisRun > 0) {
    log(`perf: ${perf.tokensPerSec.toFixed(0)} training tokens/s; GEMM ${perf.gemmGflops.toFixed(2)} GFLOPS achieved vs ${peakGemmGflops.toFixed(2)} peak ` +
        `(${kernels}, 256³, measured at start) = ${((100 * perf.gemmGflops) / peakGemmGflops).toFixed(0)}%; GEMM is ${(100 * perf.gemmShare).toFixed(0)}% of step time`);
  }
  model.dispose();
  return { params, tokenizer, meta, finalValLoss, perf };
}
