/** `bitnet train`: BitLinear quantization-aware training from scratch, and export. */
import type { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { progressBar } from './progress.js';
import { PRESETS, warmupSteps, type TrainConfig } from '../train/presets.js';
import { loadCheckpoint, loadTokenizerFile, train } from '../train/trainer.js';
import { exportCheckpoint, exportCheckpointHF } from '../train/export.js';
import { checkRunDirectory, hasCheckpoint, loadLatestCheckpoint } from '../train/checkpoint.js';
import { exportProblem, validateTrainConfig } from '../train/config-schema.js';
import { num } from './common.js';
import type { Params } from '../train/model.js';
import { defaultTrainThreads } from '../train/wasm-model.js';
import { LOSS_SVG_FILE, lossLogSVG, readLossLog } from '../train/svg.js';
import type { Tokenizer } from '../tokenizer/types.js';

const EXPORT_TYPES = ['tq2_0', 'i2_s', 'tq1_0', 'hf'] as const;

function parseExports(spec: string): Array<typeof EXPORT_TYPES[number]> {
  if (spec === 'none') return [];
  return spec.split(',').map((t) => {
    if (!(EXPORT_TYPES as readonly string[]).includes(t)) throw new Error(`--export: unknown type '${t}' (${EXPORT_TYPES.join(', ')}, or none)`);
    return t as typeof EXPORT_TYPES[number];
  });
}

/** GGUF files model-<type>.gguf and/or a Hugging Face directory hf/ in the run's directory. */
function exportAll(params: Params, tokenizer: Tokenizer, outDir: string, types: ReturnType<typeof parseExports>, note = ''): void {
  for (const t of types) {
    const path = t === 'hf' ? join(outDir, 'hf') : join(outDir, `model-${t}.gguf`);
    if (t === 'hf') exportCheckpointHF(params, tokenizer, path);
    else exportCheckpoint(params, tokenizer, path, t);
    process.stderr.write(`exported ${path}${note}\n`);
  }
}

function resolveConfig(spec: string): TrainConfig {
  if (Object.hasOwn(PRESETS, spec)) return { ...PRESETS[spec] }; // own names only: not 'constructor'
  if (!existsSync(spec)) throw new Error(`--config: '${spec}' is neither a preset (${Object.keys(PRESETS).join(', ')}) nor a file`);
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(spec, 'utf8')); } catch (e) { throw new Error(`${spec}: not valid JSON (${(e as Error).message})`); }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${spec}: a training config must be a JSON object`);
  const { preset = 'small', ...rest } = raw as Record<string, unknown>;
  const base = typeof preset === 'string' && Object.hasOwn(PRESETS, preset) ? PRESETS[preset] : undefined;
  if (!base) throw new Error(`${spec}: unknown preset ${JSON.stringify(preset)} (${Object.keys(PRESETS).join(', ')})`);
  // a fixed warmup in the file replaces the preset's fraction
  const fixedWarmup = rest.warmup !== undefined && rest.warmupFraction === undefined ? { warmupFraction: undefined } : {};
  return { ...base, ...fixedWarmup, ...rest } as TrainConfig;
}

/** `--lr a` or `--lr a,b`: one or two positive numbers (the stage-2 rate defaults to the first). */
function lrPair(v: string): number[] {
  const parts = v.split(',');
  if (parts.length > 2 || parts.some((p) => p.trim() === '' || !(Number(p) > 0) || !Number.isFinite(Number(p)))) {
    throw new Error(`--lr must be one or two positive numbers separated by a comma (e.g. 3e-3,1.5e-3), got '${v}'`);
  }
  return parts.map(Number);
}

/** Help text for an option whose default comes from the preset: each preset's value. */
const presetDefault = (key: keyof TrainConfig, show: (c: TrainConfig) => string = (c) => String(c[key])) =>
  `default: the preset's — ${Object.entries(PRESETS).map(([name, c]) => `${name} ${show(c)}`).join(', ')}`;

/** The export list: as given, or the default (TQ2_0, or I2_S where TQ2_0's 256-wide rows do not fit); checked against the shape. */
function exportsFor(spec: string | undefined, c: TrainConfig): ReturnType<typeof parseExports> {
  const types = spec !== undefined ? parseExports(spec) : [exportProblem(c, 'tq2_0') ? 'i2_s' as const : 'tq2_0' as const];
  for (const t of types) {
    const why = exportProblem(c, t);
    if (why) throw new Error(`--export ${t}: ${why} (choose another type with --export, or --export none)`);
  }
  return types;
}

export function register(program: Command): void {
  program.command('train')
    .description('train a BitNet b1.58 model from scratch on a plain-text corpus (quantization-aware), then export GGUF')
    .option('--data <file>', 'plain-text training corpus (UTF-8); required unless --export-only')
    .requiredOption('--out <dir>', 'run directory: checkpoint, tokenizer.json, log.json + loss.svg, model-<type>.gguf, hf/')
    .option('--config <preset|file.json>', `preset (${Object.keys(PRESETS).join(', ')}) or a JSON file overriding one`, 'small')
    .option('--precision <p>', `ternary (BitNet b1.58) | binary (original BitNet) | fp (LLaMA baseline) (${presetDefault('precision')})`)
    .option('--steps <n>', `total optimizer steps; with --resume a new total, the LR schedule re-laid over it (${presetDefault('steps')})`,
            num('--steps', { int: true, min: 1 }))
    .option('--warmup <n>', `linear warmup steps (default: a fraction of --steps — ${Object.entries(PRESETS)
      .map(([name, c]) => `${name} ${c.warmupFraction !== undefined ? `${+(100 * c.warmupFraction).toFixed(1)}%` : c.warmup}`).join(', ')})`,
            num('--warmup', { int: true, min: 0 }))
    .option('--batch <n>', `sequences per step (new runs; a resumed run keeps its own) (${presetDefault('batch')})`, num('--batch', { int: true, min: 1 }))
    .option('--lr <lr1,lr2>', `two-stage learning rates, e.g. 3e-3,1.5e-3 (${presetDefault('lr1', (c) => `${c.lr1},${c.lr2}`)})`, lrPair)
    .option('--seed <n>', `random seed (${presetDefault('seed')})`, num('--seed', { int: true }))
    .option('--threads <n>', `kernel threads for forward and backward (default: ${defaultTrainThreads()}, all cores)`,
            num('--threads', { int: true, min: 1 }))
    .option('--resume', 'continue from the checkpoint in --out')
    .option('--export-only', 'do not train: export the checkpoint in --out as it is (e.g. after an interrupted run)')
    .option('--replot', 'do not train: redraw --out\'s loss.svg from its log.json with the current chart code')
    .option('--export <types>', 'what to export at the end: comma list of tq2_0, i2_s, tq1_0 (GGUF) and hf (transformers BitNetForCausalLM: ' +
            'packed weights + weight_scale, config.json, tokenizer.json), ' +
            'or none (default: tq2_0, or i2_s when the rows are not multiples of 256)')
    .action(async (o: { data?: string; out: string; config: string; precision?: string; steps?: number; batch?: number; lr?: number[]; seed?: number; resume?: boolean; export?: string; exportOnly?: boolean; replot?: boolean; threads?: number; warmup?: number }) => {
      if (o.replot) {
        writeFileSync(join(o.out, LOSS_SVG_FILE), lossLogSVG(readLossLog(o.out)));
        process.stderr.write(`wrote ${join(o.out, LOSS_SVG_FILE)}\n`);
        return;
      }
      if (o.exportOnly) {
        if (!hasCheckpoint(o.out)) throw new Error(`--export-only: no checkpoint in ${o.out}`);
        const { params, meta } = loadCheckpoint(o.out);
        exportAll(params, loadTokenizerFile(join(o.out, 'tokenizer.json')), o.out, exportsFor(o.export, meta.config), ` (step ${meta.step}/${meta.config.steps})`);
        return;
      }
      const config = resolveConfig(o.config);
      if (o.precision) {
        if (!['ternary', 'binary', 'fp'].includes(o.precision)) throw new Error(`--precision must be ternary, binary or fp, got '${o.precision}'`);
        config.precision = o.precision as TrainConfig['precision'];
      }
      if (o.steps !== undefined) config.steps = o.steps;
      if (o.warmup !== undefined) { config.warmup = o.warmup; config.warmupFraction = undefined; }
      config.warmup = warmupSteps(config);
      if (o.batch !== undefined) config.batch = o.batch;
      if (o.seed !== undefined) config.seed = o.seed;
      if (o.lr) { const [a, b] = o.lr; config.lr1 = a; config.lr2 = b ?? a; }
      // everything below is checked before any work (the tokenizer is trained after this)
      // read once: its config decides what the export can hold, and train() resumes from the same one
      const latest = o.resume ? loadLatestCheckpoint(o.out) : undefined;
      const resumed = latest?.ckpt?.meta.config;
      validateTrainConfig(config, `--config ${o.config}`);
      const exports = exportsFor(o.export, resumed ?? config);
      if (!o.resume) checkRunDirectory(o.out);
      if (!o.data) throw new Error('--data <file> is required to train');
      if (o.resume && (o.batch !== undefined || o.lr || o.seed !== undefined || o.precision || o.warmup !== undefined)) {
        throw new Error('--resume continues the run as it was: only --steps may change (not --batch, --lr, --seed, --precision, --warmup)');
      }
      if (!existsSync(o.data)) throw new Error(`--data: no such file '${o.data}'`);
      const threads = o.threads ?? defaultTrainThreads();
      const controller = new AbortController();
      let signal: NodeJS.Signals | undefined;
      const onSig = (s: NodeJS.Signals) => { signal = s; process.stderr.write(`\n${s}: saving a checkpoint…\n`); controller.abort(); };
      process.once('SIGINT', onSig); process.once('SIGTERM', onSig);
      const tty = process.stderr.isTTY;
      const bar = progressBar('train');
      const res = await train({
        config, dataFile: o.data, outDir: o.out, resume: o.resume, resumeSteps: o.resume ? o.steps : undefined, resumeFrom: latest,
        signal: controller.signal, threads,
        log: (s) => bar.log(s),
        progress: (p) => {
          const payload = { loss: p.loss.toFixed(3), val: p.valLoss?.toFixed(3) ?? '-', tps: Math.round(p.tokensPerSec) };
          if (tty) bar.update(p.step, p.steps, { loss: payload.loss, val: payload.val, 'tok/s': payload.tps });
          else if (p.step % 10 === 0 || p.step === p.steps) {
            process.stderr.write(`step ${p.step}/${p.steps} loss ${payload.loss} val ${payload.val} ${payload.tps} tok/s eta ${Math.round(p.etaSec)}s\n`);
          }
        },
      });
      bar.stop();
      process.removeListener('SIGINT', onSig); process.removeListener('SIGTERM', onSig);
      const done = res.meta.step >= res.meta.config.steps;
      const interrupted = signal !== undefined && !done;
      console.log(JSON.stringify({ step: res.meta.step, steps: res.meta.config.steps, valLoss: res.finalValLoss, tokensSeen: res.meta.tokensSeen, seconds: Math.round(res.meta.elapsedSec), out: o.out,
        tokensPerSec: Math.round(res.perf.tokensPerSec), gemmGflops: +res.perf.gemmGflops.toFixed(2), peakGemmGflops: +res.perf.peakGemmGflops.toFixed(2),
        threads, ...(interrupted ? { interrupted: true } : {}) }));
      if (done) exportAll(res.params, res.tokenizer, o.out, exports);
      if (interrupted) process.exitCode = signal === 'SIGINT' ? 130 : 143; // 128 + the signal's number, as a shell reports it
    });
}
