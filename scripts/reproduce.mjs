#!/usr/bin/env node
/**
 * The BitNet b1.58 paper's central claim (arXiv 2402.17764: the ternary–FP gap shrinks as models grow) as one
 * resumable sweep. docs/REPRODUCTION.md describes the design and the results; `--help` lists every option.
 *
 *   npm run build:ts
 *   node scripts/make-corpus-en.mjs /data/corpus-en                       # train.txt, val.txt, manifest.json
 *   node scripts/reproduce.mjs --train /data/corpus-en/train.txt --val /data/corpus-en/val.txt --work /data/sweep
 *   # stopped (Ctrl-C, --max-minutes, a reboot)? the same command with --resume continues where it was
 *
 * Every model of a size sees the same tokens (same seeds → same init and batches) and the same tokenizer (one BPE
 * trained on train.txt only); val.txt is held out whole: the loss reported is the mean over all its windows.
 * Phases: (1) LR sweep per precision at the two smallest sizes (seed 0), the LR with the lowest mean val loss over
 * them is used at every size; (2) main grid: size × precision × seed; (3) ablations at one size of depth ≥ 4
 * (absmax weight scale, ternary without sub-norms; FP with vs without sub-norms is in the main grid);
 * (4) post-training ternarization (PTQ) of every FP model beside its QAT twin; (5) statistics, power-law fits,
 * figures. State is written after every run and checkpoint (WORK/state.json and each run's checkpoints).
 * Exit codes: 0 done; 75 stopped by --max-minutes (run again with --resume); 130/143 interrupted (state saved).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PRESETS as TRAIN_PRESETS } from '../dist/src/train/presets.js';
import { train, validationLoss, modelConfigOf } from '../dist/src/train/trainer.js';
import { hasCheckpoint } from '../dist/src/train/checkpoint.js';
import { Params } from '../dist/src/train/model.js';
import { TrainModel } from '../dist/src/train/wasm-model.js';
import { BPETokenizer } from '../dist/src/tokenizer/bpe.js';
import { trainBPE } from '../dist/src/tokenizer/train-bpe.js';
import { fitPowerLaw } from '../dist/src/report/powerlaw.js';
import { lineChartSVG } from '../dist/src/report/chart.js';

/** Sweep presets. Sizes grow depth and width together; ffn = 8/3·dim (multiple of 8); head dim 16 (12 at dim 24). */
export const SWEEPS = {
  full: {
    vocabSize: 1024, seqLen: 128, batch: 8, tokensPerParam: 10,
    sizes: [[24, 4, 2], [32, 4, 2], [48, 5, 3], [64, 6, 4], [96, 7, 6], [128, 8, 8]], // [dim, layers, heads]
    seeds: [3, 3, 3, 3, 3, 2],
    lrGrid: [5e-4, 1e-3, 2e-3, 4e-3, 8e-3], lrSweepSizes: [0, 1],
    ablationSize: 3, ablationSeeds: 3, evalPoints: 20, evalBatches: 16,
  },
  // a smoke test of the whole pipeline in well under a minute: NOT a measurement (tiny, depth 2, < 1 token/param)
  quick: {
    vocabSize: 300, seqLen: 32, batch: 4, tokensPerParam: 0.4,
    sizes: [[8, 2, 1], [16, 2, 1], [24, 2, 2], [32, 2, 2]],
    seeds: [2, 1, 1, 1],
    lrGrid: [2e-3, 6e-3], lrSweepSizes: [0, 1],
    ablationSize: 2, ablationSeeds: 1, evalPoints: 4, evalBatches: 4,
  },
};
/** The paper's two-stage recipe (src/train/optim.ts scheduleAt): stage 2 LR = lr2Ratio·LR, weight decay 0.1 → 0. */
const SCHEDULE_DEFAULT = { warmupFraction: 0.05, lr2Ratio: 2 / 3, wd1: 0.1, wd2: 0, gradClip: 1 };
export const VARIANTS = {
  ternary: { precision: 'ternary', label: 'BitNet b1.58 (ternary)', color: '#d62728' },
  'fp-llama': { precision: 'fp', subNorm: false, label: 'FP LLaMA (no sub-norms)', color: '#1f77b4' },
  'fp-subnorm': { precision: 'fp', label: 'FP with sub-norms', color: '#17becf' },
  binary: { precision: 'binary', label: 'BitNet (binary)', color: '#2ca02c' },
};
const ABLATIONS = {
  'ternary-absmax': { precision: 'ternary', weightScale: 'absmax', label: 'ternary, absmax scale', color: '#9467bd' },
  'ternary-nosubnorm': { precision: 'ternary', subNorm: false, label: 'ternary, no sub-norms', color: '#ff7f0e' },
};
const SEED0 = 1000;

/** The sweep's figures (file name, SVG) from its results.json: `--replot` redraws them with the current chart code. */
export function sweepFigures(results) {
  const sizeName = (i) => results.sizes[i].name;
  const scaling = [];
  for (const [variant, v] of Object.entries(VARIANTS)) {
    const ms = results.main[variant].filter(Boolean);
    if (!ms.length) continue;
    scaling.push({ name: v.label, color: v.color, points: ms.map((m) => [m.N, m.mean]), yErr: ms.map((m) => m.sd) });
    const f = results.fits[variant];
    if (f) {
      const lo = ms[0].N, hi = ms.at(-1).N;
      scaling.push({ name: `${variant} fit`, color: v.color, dashed: true, noMarkers: true,
                     points: Array.from({ length: 40 }, (_, j) => lo * (hi / lo) ** (j / 39)).map((n) => [n, f.a * n ** f.b + f.c]) });
    }
  }
  const gapSeries = [['ternary-fp-llama', 'ternary − FP LLaMA', '#d62728'], ['ternary-fp-subnorm', 'ternary − FP sub-norm', '#ff7f0e'],
                     ['binary-fp-llama', 'binary − FP LLaMA', '#2ca02c']]
    .map(([k, name, color]) => ({ k, name, color, g: results.gaps[k].filter(Boolean) })).filter((s) => s.g.length)
    .map(({ name, color, g }) => ({ name, color, points: g.map((x) => [x.N, x.mean]), yErr: g.map((x) => x.sd) }));
  if (gapSeries.length) {
    const xs = gapSeries.flatMap((s) => s.points.map((p) => p[0]));
    gapSeries.push({ name: 'no gap', color: '#888', dashed: true, noMarkers: true, points: [[Math.min(...xs), 0], [Math.max(...xs), 0]] });
  }
  const lrSeries = [];
  for (const [variant, v] of Object.entries(VARIANTS)) for (const i of results.sweep.lrSweepSizes) {
    const pts = results.sweep.lrGrid.map((lr) => [lr, results.runs[`lr/${variant}/${sizeName(i)}/lr${lr}`]])
      .filter(([, r]) => r?.done && !r.diverged).map(([lr, r]) => [lr, r.valLoss]);
    if (pts.length) lrSeries.push({ name: `${variant} ${sizeName(i)}`, color: v.color, dashed: i !== results.sweep.lrSweepSizes[0], points: pts });
  }
  return [
    ['scaling.svg', lineChartSVG(scaling, { title: 'held-out loss vs N (mean ± sd over seeds; dashed: L = a·N^b + c)',
      xLabel: 'non-embedding parameters N', yLabel: 'val loss (nats/token)', logX: true })],
    ['gap.svg', lineChartSVG(gapSeries, { title: 'loss gap vs N, paired by seed (mean ± sd)', xLabel: 'non-embedding parameters N',
      yLabel: 'val loss difference (nats/token)', logX: true })],
    ['lr-sweep.svg', lineChartSVG(lrSeries, { title: 'LR sweep at the two smallest sizes (seed 0)', xLabel: 'peak learning rate',
      yLabel: 'val loss (nats/token)', logX: true })],
  ];
}

/**
 * The figures of the earlier script (e7b8838, the "earlier runs" of docs/REPRODUCTION.md) from its results.json
 * (`setup.dims`, runs keyed `<precision>-d<dim>` with validation curves, `fits`): scaling.svg and loss-d<dim>.svg.
 */
export function earlierFigures(results) {
  const { dims, precisions } = results.setup;
  const colors = { ternary: '#d62728', binary: '#2ca02c', fp: '#1f77b4' };
  const ablations = [['ternary-absmax', '#9467bd'], ['ternary-nosubnorm', '#ff7f0e'], ['fp-nosubnorm', '#17becf']];
  const series = [];
  for (const p of precisions) {
    const pts = dims.map((d) => results.runs[`${p}-d${d}`]).filter(Boolean).map((r) => [r.nonEmbeddingParams, r.valLoss]);
    series.push({ name: p, color: colors[p], points: pts });
    const f = results.fits[p];
    if (f) {
      const lo = Math.min(...pts.map((q) => q[0])), hi = Math.max(...pts.map((q) => q[0]));
      series.push({ name: `${p} fit`, color: colors[p], dashed: true, noMarkers: true,
                    points: Array.from({ length: 40 }, (_, i) => lo * (hi / lo) ** (i / 39)).map((n) => [n, f.a * n ** f.b + f.c]) });
    }
  }
  const out = [['scaling.svg', lineChartSVG(series, { title: 'validation loss vs non-embedding parameters (fit L = a·N^b + c)',
    xLabel: 'non-embedding parameters N', yLabel: 'validation loss (nats/token)', logX: true })]];
  for (const d of dims) {
    const s = precisions.map((p) => results.runs[`${p}-d${d}`]).filter(Boolean)
      .map((r) => ({ name: r.precision, color: colors[r.precision], points: r.curve, noMarkers: true }));
    for (const [name, color] of ablations) {
      const r = results.runs[`${name}-d${d}`];
      if (r) s.push({ name, color, points: r.curve, noMarkers: true, dashed: true });
    }
    out.push([`loss-d${d}.svg`, lineChartSVG(s, { title: `validation loss, dim ${d} (${results.runs[`ternary-d${d}`]?.nonEmbeddingParams ?? '?'} non-embedding params)`,
      xLabel: 'step', yLabel: 'validation loss (nats/token)' })]);
  }
  return out;
}

function writeFigures(dir, figs) {
  mkdirSync(dir, { recursive: true });
  for (const [name, svg] of figs) { const p = join(dir, name); writeFileSync(`${p}.tmp`, svg); renameSync(`${p}.tmp`, p); }
}

const HELP = `usage: reproduce.mjs --train FILE --val FILE --work DIR [options]
       reproduce.mjs --replot RESULTS.json [--figures DIR]

  --train FILE        training text (scripts/make-corpus-en.mjs writes train.txt)
  --val FILE          held-out text, never trained on (val.txt)
  --work DIR          state, run directories, results.json, figures/ (created)
  --quick             the quick preset (a pipeline smoke test, not a measurement); default: the full sweep
  --resume            continue the sweep in DIR, or start it there (refuses a different preset or other corpus files)
  --max-minutes M     stop (checkpointed, exit 75) once M minutes have passed; default: no limit
  --figures DIR       where the SVGs go (default: WORK/figures)
  --results FILE      a copy of results.json (default: none)
  --plan              print the runs (steps, tokens) and, after --measure, the estimated CPU time; train nothing
  --measure STEPS     time STEPS training steps of ternary and fp-llama at every size (WORK/timing.json)
  --threads N         kernel threads per training run (as bitnet train --threads); default: all cores
  --replot FILE       train nothing: redraw the figures of a results.json (this script's, or the earlier script's
                      with setup.dims) with the current chart code, into --figures (default: the file's folder)
  -h, --help          this text`;

// ---- options ----------------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f) => { const i = argv.indexOf(f); if (i < 0) return undefined; const v = argv[i + 1]; if (v === undefined || v.startsWith('--')) fail(`${f} needs a value`); return v; };
function fail(msg) { console.error(`reproduce: ${msg}`); process.exit(2); }
if (flag('-h') || flag('--help')) { console.log(HELP); process.exit(0); }
if (flag('--replot')) {
  const file = opt('--replot');
  const extra = argv.filter((a, i) => !['--replot', '--figures'].includes(a) && !['--replot', '--figures'].includes(argv[i - 1]));
  if (extra.length) fail(`--replot takes only --figures, not ${extra.join(' ')}`);
  if (!existsSync(file)) fail(`${file}: no such file`);
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  writeFigures(opt('--figures') ?? dirname(file), saved.setup?.dims ? earlierFigures(saved) : sweepFigures(saved));
  process.exit(0);
}
const KNOWN = new Set(['--train', '--val', '--work', '--quick', '--resume', '--max-minutes', '--figures', '--results', '--plan', '--measure', '--threads']);
for (let i = 0; i < argv.length; i++) {
  if (!KNOWN.has(argv[i])) fail(`unknown argument '${argv[i]}'\n${HELP}`);
  if (['--train', '--val', '--work', '--max-minutes', '--figures', '--results', '--measure', '--threads'].includes(argv[i])) i++;
}
const trainFile = opt('--train'), valFile = opt('--val'), work = opt('--work');
if (!trainFile || !valFile || !work) fail(`--train, --val and --work are required\n${HELP}`);
for (const f of [trainFile, valFile]) if (!existsSync(f)) fail(`${f}: no such file`);
const presetName = flag('--quick') ? 'quick' : 'full';
const maxMinutes = opt('--max-minutes') === undefined ? Infinity : Number(opt('--max-minutes'));
if (!(maxMinutes > 0)) fail('--max-minutes must be a positive number');
const measureSteps = opt('--measure') === undefined ? 0 : Number(opt('--measure'));
if (flag('--measure') && !(Number.isInteger(measureSteps) && measureSteps > 0)) fail('--measure needs a positive whole number of steps');
const threads = opt('--threads') === undefined ? undefined : Number(opt('--threads'));
if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) fail('--threads needs a positive whole number');
const figures = opt('--figures') ?? join(work, 'figures');
const log = (s) => process.stderr.write(`${s}\n`);
const atomic = (p, s) => { writeFileSync(`${p}.tmp`, s); renameSync(`${p}.tmp`, p); };
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// ---- state ------------------------------------------------------------------------------------------------------
mkdirSync(work, { recursive: true });
const statePath = join(work, 'state.json');
const trainText = readFileSync(trainFile, 'utf8'), valText = readFileSync(valFile, 'utf8');
const inputs = { train: { path: resolve(trainFile), bytes: Buffer.byteLength(trainText), sha256: sha256(trainText) },
                 val: { path: resolve(valFile), bytes: Buffer.byteLength(valText), sha256: sha256(valText) } };
let state;
if (existsSync(statePath)) {
  state = JSON.parse(readFileSync(statePath, 'utf8'));
  const started = Object.keys(state.runs).length > 0;
  if (started && !flag('--resume') && !flag('--plan') && !flag('--measure')) fail(`${work} already holds a sweep: pass --resume to continue it, or choose another --work`);
  if (state.preset !== presetName) fail(`${work} holds the '${state.preset}' sweep: ${presetName === 'quick' ? 'add' : 'drop'} --quick`);
  for (const k of ['train', 'val']) if (state.inputs[k].sha256 !== inputs[k].sha256) fail(`--${k} ${inputs[k].path} differs from the file this sweep started with (${state.inputs[k].path})`);
} else {
  if (flag('--resume')) log(`--resume: no sweep in ${work} yet: starting it`);
  state = { version: 1, preset: presetName, sweep: SWEEPS[presetName], schedule: SCHEDULE_DEFAULT, inputs, created: new Date().toISOString(), lr: {}, runs: {}, invocations: [] };
}
// a sweep keeps the design it started with, even if this file's presets change while it runs (days)
const S = state.sweep, SCHEDULE = state.schedule;
if (JSON.stringify(S) !== JSON.stringify(SWEEPS[presetName])) log(`note: ${work} runs the '${presetName}' design it started with, which differs from this script's`);
const saveState = () => atomic(statePath, JSON.stringify(state, null, 1));

// ---- corpus and tokenizer: one BPE from train.txt; corpus = train ++ "\n\n" ++ val, split exactly at the boundary ----
const corpus = join(work, 'corpus.txt'), tokPath = join(work, 'tokenizer.json');
const trainPart = trainText.endsWith('\n\n') ? trainText : `${trainText.replace(/\n*$/, '')}\n\n`;
if (!existsSync(corpus)) atomic(corpus, trainPart + valText);
if (!existsSync(tokPath)) {
  log(`training the shared ${S.vocabSize}-token BPE on ${(trainText.length / 1e6).toFixed(2)} MB of train text…`);
  atomic(tokPath, JSON.stringify(trainBPE(trainText, { vocabSize: S.vocabSize }).vocab));
}
const tokenizer = new BPETokenizer(JSON.parse(readFileSync(tokPath, 'utf8')));
const valIds = Int32Array.from(tokenizer.encode(valText, { addBos: false }));
if (!state.split) {
  const all = tokenizer.encode(trainPart + valText, { addBos: false });
  const nTrain = all.length - valIds.length;
  for (let i = 0; i < valIds.length; i++) {
    if (all[nTrain + i] !== valIds[i]) throw new Error('train/val boundary: the corpus does not tokenize as train ++ val (report this)');
  }
  const valFraction = (valIds.length + 0.5) / all.length;
  if (all.length - Math.floor(all.length * valFraction) !== nTrain) throw new Error('valFraction does not land on the boundary');
  state.split = { trainTokens: nTrain, valTokens: valIds.length, valFraction };
  saveState();
}

// ---- the plan ---------------------------------------------------------------------------------------------------
const ffnOf = (dim) => Math.round(((8 / 3) * dim) / 8) * 8;
const countOf = (c) => new Params(modelConfigOf(c)).count;
function configOf(sizeIndex, variant, lr, seed) {
  const [dim, nLayers, nHeads] = S.sizes[sizeIndex];
  const v = VARIANTS[variant] ?? ABLATIONS[variant];
  const base = { ...TRAIN_PRESETS.tiny, vocabSize: S.vocabSize, dim, nLayers, nHeads, ffnDim: ffnOf(dim), seqLen: S.seqLen, batch: S.batch,
                 normEps: 1e-5, ropeTheta: 10000, valFraction: state.split.valFraction, precision: 'ternary', seed };
  // one token budget per size (the ternary graph's parameters, embedding included), so every precision sees the same tokens
  const total = countOf(base);
  const steps = Math.ceil((S.tokensPerParam * total) / (S.batch * S.seqLen));
  const evalEvery = Math.max(1, Math.floor(steps / S.evalPoints));
  const c = { ...base, precision: v.precision, steps, warmup: Math.max(1, Math.round(steps * SCHEDULE.warmupFraction)),
              lr1: lr, lr2: lr * SCHEDULE.lr2Ratio, wd1: SCHEDULE.wd1, wd2: SCHEDULE.wd2, gradClip: SCHEDULE.gradClip,
              evalEvery, evalBatches: S.evalBatches, checkpointEvery: evalEvery };
  if (v.subNorm === false) c.subNorm = false;
  if (v.weightScale) c.weightScale = v.weightScale;
  return c;
}
/** Non-embedding parameters N of a size (scaling-law convention; the ternary graph with sub-norms). */
const nOf = (i) => countOf(configOf(i, 'ternary', 1e-3, SEED0)) - S.vocabSize * S.sizes[i][0];
const sizeName = (i) => `d${S.sizes[i][0]}L${S.sizes[i][1]}`;
const lrKey = (variant, i, lr) => `lr/${variant}/${sizeName(i)}/lr${lr}`;
const mainKey = (variant, i, k) => `main/${variant}/${sizeName(i)}/seed${k}`;
const ablKey = (name, k) => `ablation/${name}/${sizeName(S.ablationSize)}/seed${k}`;

function chooseLR(variant) {
  if (state.lr[variant]) return state.lr[variant].lr;
  const scores = S.lrGrid.map((lr) => {
    const rs = S.lrSweepSizes.map((i) => state.runs[lrKey(variant, i, lr)]);
    if (rs.some((r) => !r?.done)) return undefined;
    return { lr, meanValLoss: rs.reduce((s, r) => s + (r.diverged ? Infinity : r.valLoss), 0) / rs.length };
  });
  if (scores.some((s) => s === undefined)) return undefined;
  const best = scores.reduce((a, b) => (b.meanValLoss < a.meanValLoss ? b : a));
  if (!Number.isFinite(best.meanValLoss)) throw new Error(`${variant}: every learning rate of the sweep diverged`);
  state.lr[variant] = { lr: best.lr, scores };
  saveState();
  log(`LR for ${variant}: ${best.lr} (mean val loss ${best.meanValLoss.toFixed(4)} over ${S.lrSweepSizes.map(sizeName).join(', ')})`);
  return best.lr;
}

// ---- running one model ------------------------------------------------------------------------------------------
const started = Date.now(), deadline = started + maxMinutes * 60_000;
const controller = new AbortController();
let stopReason;
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(sig, () => { if (stopReason) process.exit(code); stopReason = { sig, code }; controller.abort(); log(`${sig}: checkpointing…`); });
}
const invocation = { start: new Date().toISOString(), preset: presetName, runsFinished: 0, trainSeconds: 0 };
state.invocations.push(invocation);
let deadlineTimer;
if (Number.isFinite(maxMinutes)) {
  deadlineTimer = setTimeout(() => { stopReason ??= { sig: 'deadline', code: 75 }; controller.abort(); }, maxMinutes * 60_000);
  deadlineTimer.unref();
}
const curveOf = (meta) => meta.log.filter((row) => row.valLoss !== undefined).map((row) => [row.step, row.valLoss]);

/** Trains (or resumes) one run; returns false when the sweep has to stop (deadline or signal). */
async function runOne(key, c, extra) {
  if (state.runs[key]?.done) return true;
  if (controller.signal.aborted || Date.now() >= deadline) return false;
  const out = join(work, 'runs', ...key.split('/'));
  mkdirSync(out, { recursive: true });
  if (!existsSync(join(out, 'tokenizer.json'))) copyFileSync(tokPath, join(out, 'tokenizer.json'));
  const resume = hasCheckpoint(out);
  log(`== ${key}: ${c.steps} steps × ${c.batch}×${c.seqLen} tokens, lr ${c.lr1}${resume ? ' (resuming)' : ''}`);
  const t0 = performance.now();
  let r;
  try {
    r = await train({ config: c, dataFile: corpus, outDir: out, resume, signal: controller.signal, threads, log: () => {} });
  } catch (e) {
    if (!/loss became/.test(String(e?.message))) throw e;
    // a diverged run is a result of the LR sweep, not a failure of the sweep
    state.runs[key] = { ...extra, config: c, diverged: true, error: e.message, valLoss: null, done: true };
    saveState();
    log(`   diverged: ${e.message}`);
    return true;
  }
  const seconds = (performance.now() - t0) / 1000;
  invocation.trainSeconds += seconds;
  const run = state.runs[key] = { ...extra, config: c, step: r.meta.step, steps: c.steps, done: false };
  if (r.meta.step < c.steps) { run.partialSeconds = r.meta.elapsedSec; saveState(); return false; }
  /** Validation loss of these weights at a precision, on the fast model. */
  const valLossOf = async (cfg) => {
    const model = await TrainModel.create(modelConfigOf(cfg), c.batch, { threads });
    try { model.params.data.set(r.params.data); return validationLoss(model, valIds, c.batch, c.seqLen, Infinity); }
    finally { model.dispose(); }
  };
  const valLoss = await valLossOf(c);
  Object.assign(run, {
    params: r.params.count, nonEmbeddingParams: r.params.count - c.vocabSize * c.dim, tokens: r.meta.tokensSeen,
    valLoss, valPerplexity: Math.exp(valLoss), valTokens: Math.floor((valIds.length - 1) / c.seqLen / c.batch) * c.batch * c.seqLen,
    seconds: r.meta.elapsedSec, tokensPerSec: r.perf.tokensPerSec, curve: curveOf(r.meta), done: true,
  });
  if (c.precision === 'fp') {
    // post-training ternarization: these FP weights through the ternary absmean + int8 forward, no retraining
    const tc = { ...c, precision: 'ternary' };
    run.ptqTernaryValLoss = await valLossOf(tc);
  }
  invocation.runsFinished++;
  saveState();
  log(`   val loss ${valLoss.toFixed(4)} (ppl ${run.valPerplexity.toFixed(2)})${run.ptqTernaryValLoss ? `, PTQ ternary ${run.ptqTernaryValLoss.toFixed(4)}` : ''}; ` +
      `${seconds.toFixed(0)} s, ${run.tokensPerSec.toFixed(0)} tok/s`);
  return true;
}

// ---- --measure / --plan -----------------------------------------------------------------------------------------
const timingPath = join(work, 'timing.json');
if (measureSteps) {
  const timing = { steps: measureSteps, measured: new Date().toISOString(), sizes: {} };
  for (let i = 0; i < S.sizes.length; i++) {
    for (const variant of ['ternary', 'fp-llama']) {
      const c = { ...configOf(i, variant, 1e-3, SEED0), steps: measureSteps, evalEvery: measureSteps, checkpointEvery: measureSteps, evalBatches: 1 };
      const out = join(work, 'measure', `${variant}-${sizeName(i)}`);
      rmSync(out, { recursive: true, force: true }); mkdirSync(out, { recursive: true });
      copyFileSync(tokPath, join(out, 'tokenizer.json'));
      const r = await train({ config: c, dataFile: corpus, outDir: out, threads, log: () => {} });
      (timing.sizes[sizeName(i)] ??= {})[variant] = r.perf.tokensPerSec;
      log(`${sizeName(i)} ${variant}: ${r.perf.tokensPerSec.toFixed(0)} training tokens/s over ${measureSteps} steps`);
    }
  }
  rmSync(join(work, 'measure'), { recursive: true, force: true });
  atomic(timingPath, JSON.stringify(timing, null, 1));
}
function plan() {
  const runs = [];
  for (const variant of Object.keys(VARIANTS)) for (const i of S.lrSweepSizes) for (const lr of S.lrGrid) runs.push({ key: lrKey(variant, i, lr), i, variant, lr: true });
  for (let i = 0; i < S.sizes.length; i++) {
    for (let k = 0; k < S.seeds[i]; k++) for (const variant of Object.keys(VARIANTS)) {
      if (!(k === 0 && S.lrSweepSizes.includes(i))) runs.push({ key: mainKey(variant, i, k), i, variant }); // seed 0 there: the sweep's run
    }
    if (i === S.ablationSize) for (let k = 0; k < S.ablationSeeds; k++) for (const name of Object.keys(ABLATIONS)) runs.push({ key: ablKey(name, k), i, variant: name });
  }
  return runs;
}
if (flag('--plan') || measureSteps) {
  const timing = existsSync(timingPath) ? JSON.parse(readFileSync(timingPath, 'utf8')) : undefined;
  let cpuSec = 0, tokens = 0;
  console.log('| size | N (non-emb.) | params | steps | tokens | tokens/param | runs | ternary tok/s | fp tok/s | est. hours per run (ternary) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const runs = plan();
  for (let i = 0; i < S.sizes.length; i++) {
    const c = configOf(i, 'ternary', 1e-3, SEED0), total = countOf(c), tok = c.steps * c.batch * c.seqLen;
    const n = runs.filter((r) => r.i === i).length;
    const t = timing?.sizes[sizeName(i)];
    for (const r of runs.filter((q) => q.i === i)) {
      tokens += tok;
      if (t) cpuSec += tok / (VARIANTS[r.variant]?.precision === 'fp' ? t['fp-llama'] : t.ternary);
    }
    console.log(`| ${sizeName(i)} | ${nOf(i)} | ${total} | ${c.steps} | ${tok} | ${(tok / total).toFixed(1)} | ${n} | ${t ? t.ternary.toFixed(0) : '-'} | ` +
                `${t ? t['fp-llama'].toFixed(0) : '-'} | ${t ? (tok / t.ternary / 3600).toFixed(2) : '-'} |`);
  }
  console.log(`\n${runs.length} runs, ${(tokens / 1e6).toFixed(1)} M training tokens` +
              (timing ? `, ≈ ${(cpuSec / 3600).toFixed(1)} hours of training at the measured rates (evaluation not included)` : '; --measure STEPS for a time estimate'));
  process.exit(0);
}

// ---- the sweep --------------------------------------------------------------------------------------------------
saveState();
async function sweep() {
  for (const variant of Object.keys(VARIANTS)) {
    for (const i of S.lrSweepSizes) for (const lr of S.lrGrid) {
      if (!(await runOne(lrKey(variant, i, lr), configOf(i, variant, lr, SEED0), { phase: 'lr', variant, size: sizeName(i), sizeIndex: i, seed: SEED0, lr }))) return false;
    }
  }
  const lrs = Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, chooseLR(v)]));
  for (let i = 0; i < S.sizes.length; i++) {
    for (let k = 0; k < S.seeds[i]; k++) for (const variant of Object.keys(VARIANTS)) {
      const key = mainKey(variant, i, k), extra = { phase: 'main', variant, size: sizeName(i), sizeIndex: i, seed: SEED0 + k, lr: lrs[variant] };
      const swept = k === 0 && S.lrSweepSizes.includes(i) ? state.runs[lrKey(variant, i, lrs[variant])] : undefined;
      if (swept && !state.runs[key]) { state.runs[key] = { ...swept, ...extra, reusedFrom: lrKey(variant, i, lrs[variant]) }; saveState(); }
      if (!(await runOne(key, configOf(i, variant, lrs[variant], SEED0 + k), extra))) return false;
    }
    if (i === S.ablationSize) {
      for (let k = 0; k < S.ablationSeeds; k++) for (const name of Object.keys(ABLATIONS)) {
        const lr = lrs[ABLATIONS[name].precision === 'fp' ? 'fp-subnorm' : 'ternary'];
        const extra = { phase: 'ablation', variant: name, size: sizeName(i), sizeIndex: i, seed: SEED0 + k, lr };
        if (!(await runOne(ablKey(name, k), configOf(i, name, lr, SEED0 + k), extra))) return false;
      }
    }
  }
  return true;
}
const complete = await sweep();
clearTimeout(deadlineTimer);
invocation.end = new Date().toISOString();

// ---- statistics, fits, figures ------------------------------------------------------------------------------------
const stats = (xs) => {
  const n = xs.length, mean = xs.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
};
const doneRuns = (pred) => Object.values(state.runs).filter((r) => r.done && !r.diverged && pred(r));
const results = {
  description: 'BitNet b1.58 scaling reproduction (scripts/reproduce.mjs); losses are nats/token on the whole held-out val.txt',
  preset: presetName, complete, sweep: S, schedule: SCHEDULE, inputs: state.inputs, split: state.split, lr: state.lr,
  sizes: S.sizes.map((s, i) => ({ name: sizeName(i), dim: s[0], nLayers: s[1], nHeads: s[2], ffnDim: ffnOf(s[0]), nonEmbeddingParams: nOf(i),
                                  params: countOf(configOf(i, 'ternary', 1e-3, SEED0)), tokens: configOf(i, 'ternary', 1e-3, SEED0).steps * S.batch * S.seqLen })),
  main: {}, gaps: {}, ptq: {}, ablations: {}, fits: {},
  runs: state.runs,
};
for (const variant of Object.keys(VARIANTS)) {
  results.main[variant] = results.sizes.map((sz) => {
    const rs = doneRuns((r) => r.phase === 'main' && r.variant === variant && r.size === sz.name);
    return rs.length ? { size: sz.name, N: sz.nonEmbeddingParams, seeds: rs.map((r) => r.seed), valLoss: rs.map((r) => r.valLoss), ...stats(rs.map((r) => r.valLoss)) } : null;
  });
}
// gaps paired by seed (same init seed and batches): precision − baseline
for (const [name, [a, b]] of Object.entries({ 'ternary-fp-llama': ['ternary', 'fp-llama'], 'ternary-fp-subnorm': ['ternary', 'fp-subnorm'], 'binary-fp-llama': ['binary', 'fp-llama'] })) {
  results.gaps[name] = results.sizes.map((sz) => {
    const d = [];
    for (const ra of doneRuns((r) => r.phase === 'main' && r.variant === a && r.size === sz.name)) {
      const rb = doneRuns((r) => r.phase === 'main' && r.variant === b && r.size === sz.name && r.seed === ra.seed)[0];
      if (rb) d.push(ra.valLoss - rb.valLoss);
    }
    return d.length ? { size: sz.name, N: sz.nonEmbeddingParams, gaps: d, ...stats(d) } : null;
  });
}
for (const variant of ['fp-llama', 'fp-subnorm']) {
  results.ptq[variant] = results.sizes.map((sz) => {
    const rs = doneRuns((r) => r.phase === 'main' && r.variant === variant && r.size === sz.name && r.ptqTernaryValLoss !== undefined);
    return rs.length ? { size: sz.name, N: sz.nonEmbeddingParams, fp: stats(rs.map((r) => r.valLoss)), ptqTernary: stats(rs.map((r) => r.ptqTernaryValLoss)) } : null;
  });
}
for (const name of [...Object.keys(ABLATIONS), 'ternary', 'fp-llama', 'fp-subnorm']) {
  const rs = doneRuns((r) => r.size === sizeName(S.ablationSize) && r.variant === name && (r.phase === 'ablation' || r.phase === 'main'));
  if (rs.length) results.ablations[name] = { size: sizeName(S.ablationSize), ...stats(rs.map((r) => r.valLoss)) };
}
for (const variant of Object.keys(VARIANTS)) {
  const pts = results.main[variant].filter(Boolean).map((m) => [m.N, m.mean]);
  // a·N^b + c has 3 parameters: fit only with more points than that
  if (pts.length > 3) results.fits[variant] = { ...fitPowerLaw(pts), points: pts.length };
}
writeFigures(figures, sweepFigures(results));
atomic(join(work, 'results.json'), JSON.stringify(results, null, 1) + '\n');
if (opt('--results')) atomic(opt('--results'), JSON.stringify(results, null, 1) + '\n');

// ---- summary ----------------------------------------------------------------------------------------------------
const ms = (m) => (m ? `${m.mean.toFixed(4)} ± ${m.sd.toFixed(4)} (${m.n})` : '-');
const lines = [`| size | N | ${Object.keys(VARIANTS).join(' | ')} | ternary − fp-llama | ternary − fp-subnorm |`, `|---|---|${Object.keys(VARIANTS).map(() => '---|').join('')}---|---|`];
results.sizes.forEach((sz, i) => lines.push(`| ${sz.name} | ${sz.nonEmbeddingParams} | ${Object.keys(VARIANTS).map((v) => ms(results.main[v][i])).join(' | ')} | ` +
  `${ms(results.gaps['ternary-fp-llama'][i])} | ${ms(results.gaps['ternary-fp-subnorm'][i])} |`));
lines.push('', `LR chosen: ${Object.entries(state.lr).map(([v, x]) => `${v} ${x.lr}`).join(', ') || '(sweep not finished)'}`);
for (const [v, f] of Object.entries(results.fits)) lines.push(`fit ${v}: L(N) = ${f.a.toPrecision(4)}·N^${f.b.toPrecision(4)} + ${f.c.toPrecision(4)} (${f.points} points, rmse ${f.rmse.toExponential(2)})`);
for (const [v, a] of Object.entries(results.ablations)) lines.push(`ablation ${a.size} ${v}: ${ms(a)}`);
atomic(join(work, 'summary.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
const left = plan().filter((r) => !state.runs[r.key]?.done).length;
log(complete ? 'sweep complete' : `sweep not complete: ${left} runs left — run again with --resume`);
saveState();
process.exit(complete ? 0 : stopReason?.code ?? 75);
