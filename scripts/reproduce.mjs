#!/usr/bin/env node
/**
 * The BitNet b1.58 paper (arXiv 2402.17764) at small scale: ternary vs binary vs FP (same architecture,
 * data, tokens, tokenizer, schedule, seed) at several tiny sizes, a power-law fit L(N) = a·N^b + c per
 * precision, loss curves, and post-training ternarization of the FP model vs quantization-aware training.
 *
 *   npx tsc -p tsconfig.json && nice -n 10 node scripts/reproduce.mjs CORPUS.txt [WORKDIR]
 *
 * Ablations at REPRO_ABLATION_DIM (default: the largest dim): ternary with absmax weight scale, ternary and fp
 * without sub-norms.
 * Env: REPRO_DIMS (default 16,32,48,64), REPRO_STEPS (150), REPRO_BYTES (corpus prefix used, 800000),
 *      REPRO_PRECISIONS (ternary,binary,fp), REPRO_FIGURES (docs/figures).
 * Writes WORKDIR/results.json (every number), WORKDIR/<precision>-d<dim>/ (checkpoints), SVGs in docs/figures.
 * Each run is resumable: a finished run directory is reused, not retrained.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRESETS } from '../dist/src/train/presets.js';
import { train, prepareData, loadCheckpoint, validationLoss, modelConfigOf } from '../dist/src/train/trainer.js';
import { hasCheckpoint } from '../dist/src/train/checkpoint.js';
import { Params, TrainModel } from '../dist/src/train/model.js';
import { trainBPE } from '../dist/src/tokenizer/train-bpe.js';
import { fitPowerLaw } from '../dist/src/report/powerlaw.js';
import { lineChartSVG } from '../dist/src/report/chart.js';

const [corpusIn, work = '/tmp/bitnet-repro'] = process.argv.slice(2);
if (!corpusIn || !existsSync(corpusIn)) { console.error('usage: reproduce.mjs CORPUS.txt [WORKDIR]'); process.exit(1); }
const env = (k, d) => process.env[k] ?? d;
const dims = env('REPRO_DIMS', '16,32,48,64').split(',').map(Number);
const precisions = env('REPRO_PRECISIONS', 'ternary,binary,fp').split(',');
const steps = Number(env('REPRO_STEPS', '150'));
const figures = env('REPRO_FIGURES', 'docs/figures');
mkdirSync(work, { recursive: true }); mkdirSync(figures, { recursive: true });
const atomic = (p, s) => { writeFileSync(`${p}.tmp`, s); renameSync(`${p}.tmp`, p); };
const log = (s) => process.stderr.write(`${s}\n`);

// one corpus prefix and ONE tokenizer for every run (the trainer reuses tokenizer.json found in its --out)
const corpus = join(work, 'corpus.txt');
if (!existsSync(corpus)) atomic(corpus, readFileSync(corpusIn, 'utf8').slice(0, Number(env('REPRO_BYTES', '800000'))));
const base = { ...PRESETS.tiny, vocabSize: 512, nLayers: 2, seqLen: 64, batch: 8, steps, warmup: Math.round(steps / 20),
               lr1: 3e-3, lr2: 1.5e-3, evalEvery: Math.max(1, Math.round(steps / 15)), evalBatches: 16, checkpointEvery: steps, seed: 1234 };
const tokPath = join(work, 'tokenizer.json');
if (!existsSync(tokPath)) {
  const text = readFileSync(corpus, 'utf8');
  log(`training the shared ${base.vocabSize}-token BPE…`);
  atomic(tokPath, JSON.stringify(trainBPE(text.slice(0, Math.floor(text.length * (1 - base.valFraction))), { vocabSize: base.vocabSize }).vocab));
}

const configOf = (dim, precision) => ({ ...base, dim, nHeads: Math.max(1, Math.floor(dim / 16)), ffnDim: Math.round((8 / 3) * dim / 8) * 8, precision });
/** Non-embedding parameter count (as in scaling-law papers); the tied embedding is listed separately. */
const nonEmbedding = (c) => c.nLayers * (4 * c.dim * c.dim + 3 * c.dim * c.ffnDim + 3 * c.dim + c.ffnDim) + c.dim;

const results = existsSync(join(work, 'results.json')) ? JSON.parse(readFileSync(join(work, 'results.json'), 'utf8')) : { runs: {} };
results.setup = { corpus: corpusIn, corpusBytes: readFileSync(corpus).length, base, dims, precisions };
const save = () => atomic(join(work, 'results.json'), JSON.stringify(results, null, 1));

for (const dim of dims) for (const precision of precisions) {
  const key = `${precision}-d${dim}`, out = join(work, key), c = configOf(dim, precision);
  if (results.runs[key]?.done) continue;
  mkdirSync(out, { recursive: true });
  if (!existsSync(join(out, 'tokenizer.json'))) copyFileSync(tokPath, join(out, 'tokenizer.json'));
  const resume = hasCheckpoint(out);
  const t0 = performance.now();
  log(`== ${key}: ${nonEmbedding(c).toLocaleString()} non-embedding parameters, ${steps} steps × ${c.batch}×${c.seqLen} tokens`);
  const r = await train({ config: c, dataFile: corpus, outDir: out, resume, log });
  results.runs[key] = { precision, dim, nonEmbeddingParams: nonEmbedding(c), params: r.params.count, valLoss: r.finalValLoss,
                        valPerplexity: Math.exp(r.finalValLoss), tokens: r.meta.tokensSeen, seconds: (performance.now() - t0) / 1000,
                        curve: r.meta.log.filter((row) => row.valLoss !== undefined).map((row) => [row.step, row.valLoss]), done: true };
  save();
}

// ablations at one size: ternary with absmax weight scale (max|W| instead of mean|W|), ternary without sub-norms
const ablationDim = Number(env('REPRO_ABLATION_DIM', String(dims[dims.length - 1])));
const ablations = { 'ternary-absmax': { precision: 'ternary', weightScale: 'absmax' }, 'ternary-nosubnorm': { precision: 'ternary', subNorm: false },
                    'fp-nosubnorm': { precision: 'fp', subNorm: false } };
for (const [name, extra] of Object.entries(ablations)) {
  const key = `${name}-d${ablationDim}`, out = join(work, key), c = { ...configOf(ablationDim, extra.precision), ...extra };
  if (results.runs[key]?.done) continue;
  mkdirSync(out, { recursive: true });
  if (!existsSync(join(out, 'tokenizer.json'))) copyFileSync(tokPath, join(out, 'tokenizer.json'));
  const t0 = performance.now();
  log(`== ${key}`);
  const r = await train({ config: c, dataFile: corpus, outDir: out, resume: hasCheckpoint(out), log });
  results.runs[key] = { precision: extra.precision, ablation: name, dim: ablationDim, nonEmbeddingParams: nonEmbedding(c), valLoss: r.finalValLoss,
                        valPerplexity: Math.exp(r.finalValLoss), tokens: r.meta.tokensSeen, seconds: (performance.now() - t0) / 1000,
                        curve: r.meta.log.filter((row) => row.valLoss !== undefined).map((row) => [row.step, row.valLoss]), done: true };
  save();
}

// post-training ternarization: the FP checkpoint's weights through the ternary (absmean) + int8 forward, no retraining
for (const dim of dims) {
  const key = `fp-d${dim}`;
  if (!results.runs[key] || results.runs[key].ptqTernaryValLoss !== undefined) continue;
  const { params, meta } = loadCheckpoint(join(work, key));
  const c = { ...meta.config, precision: 'ternary' };
  const p2 = new Params(modelConfigOf(c)); p2.data.set(params.data);
  const { data } = prepareData(corpus, join(work, key), c, log);
  results.runs[key].ptqTernaryValLoss = validationLoss(new TrainModel(p2, c.batch), data.val, c.batch, c.seqLen, c.evalBatches);
  save();
}

// power-law fits and figures
const colors = { ternary: '#d62728', binary: '#2ca02c', fp: '#1f77b4' };
results.fits = {};
const series = [];
for (const p of precisions) {
  const pts = dims.map((d) => results.runs[`${p}-d${d}`]).filter(Boolean).map((r) => [r.nonEmbeddingParams, r.valLoss]);
  if (pts.length >= 3) results.fits[p] = fitPowerLaw(pts);
  series.push({ name: p, color: colors[p], points: pts, dashed: false });
  const f = results.fits[p];
  if (f) {
    const lo = Math.min(...pts.map((q) => q[0])), hi = Math.max(...pts.map((q) => q[0]));
    const curve = Array.from({ length: 40 }, (_, i) => lo * (hi / lo) ** (i / 39)).map((n) => [n, f.a * n ** f.b + f.c]);
    series.push({ name: `${p} fit`, color: colors[p], points: curve, dashed: true, noMarkers: true });
  }
}
atomic(join(figures, 'scaling.svg'), lineChartSVG(series, { title: 'validation loss vs non-embedding parameters (fit L = a·N^b + c)', xLabel: 'non-embedding parameters N', yLabel: 'validation loss (nats/token)', logX: true }));
for (const d of dims) {
  const s = precisions.map((p) => results.runs[`${p}-d${d}`]).filter(Boolean)
    .map((r) => ({ name: r.precision, color: colors[r.precision], points: r.curve, noMarkers: true }));
  if (d === ablationDim) for (const [name, color] of [['ternary-absmax', '#9467bd'], ['ternary-nosubnorm', '#ff7f0e'], ['fp-nosubnorm', '#17becf']]) {
    const r = results.runs[`${name}-d${d}`];
    if (r) s.push({ name, color, points: r.curve, noMarkers: true, dashed: true });
  }
  atomic(join(figures, `loss-d${d}.svg`), lineChartSVG(s, { title: `validation loss, dim ${d} (${results.runs[`ternary-d${d}`]?.nonEmbeddingParams ?? '?'} non-embedding params)`, xLabel: 'step', yLabel: 'validation loss (nats/token)' }));
}
save();
const row = (d) => {
  const r = (p) => results.runs[`${p}-d${d}`];
  return `| ${d} | ${r('ternary')?.nonEmbeddingParams} | ${precisions.map((p) => `${r(p)?.valLoss.toFixed(4)} (${r(p)?.valPerplexity.toFixed(2)})`).join(' | ')} | ${r('fp')?.ptqTernaryValLoss?.toFixed(4) ?? '-'} |`;
};
console.log(`| dim | N | ${precisions.map((p) => `${p} loss (ppl)`).join(' | ')} | fp → PTQ ternary loss |`);
console.log(`|---|---|${precisions.map(() => '---|').join('')}---|`);
for (const d of dims) console.log(row(d));
for (const name of Object.keys(ablations)) {
  const r = results.runs[`${name}-d${ablationDim}`];
  if (r) console.log(`ablation ${name} (dim ${ablationDim}): val loss ${r.valLoss.toFixed(4)} (ppl ${r.valPerplexity.toFixed(2)})`);
}
for (const [p, f] of Object.entries(results.fits)) console.log(`fit ${p}: L(N) = ${f.a.toPrecision(4)}·N^${f.b.toPrecision(4)} + ${f.c.toPrecision(4)} (rmse ${f.rmse.toExponential(2)})`);
