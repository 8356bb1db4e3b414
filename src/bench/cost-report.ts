/** Orchestrates `bitnet cost`: one child process per measured case, analytical rows for the rest, the report. */
import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { freemem, totalmem, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHAPES, type SynthForm } from '../model/synth.js';
import { ENERGY_PJ, FORMS, energyPerToken, linearParams, weightBytesModel, type CaseResult } from './cost.js';
import { lineChartSVG, type Series } from '../report/chart.js';
import { renderFp16Reference, type Fp16Reference } from './cost-reference.js';

export interface CostOptions {
  shapes: string[]; threads?: number; outDir: string; budgetSec: number; memBudgetBytes: number;
  batches: number[]; prompt: number; gen: number; onProgress?: (msg: string) => void;
  /** Another engine's FP16 on the same file (scripts/bench-fp16-reference.mjs): the ratios against the faster one. */
  fp16Reference?: Fp16Reference;
}

export interface AnalyticalRow { shape: string; form: SynthForm; measured: false; weightBytes: number; reason: string; decodeMsPerToken?: number }
export type CostRow = CaseResult | AnalyticalRow;

/** BitNet b1.58 paper, Table 2 (GPU, FastTransformer + Ladder kernels): memory GB and latency ms. */
const PAPER: Record<string, { llamaGB?: number; llamaMs?: number; bitnetGB: number; bitnetMs: number }> = {
  '700m': { llamaGB: 2.08, llamaMs: 1.18, bitnetGB: 0.80, bitnetMs: 0.96 },
  '1.3b': { llamaGB: 3.34, llamaMs: 1.62, bitnetGB: 1.14, bitnetMs: 0.97 },
  '3b': { llamaGB: 7.89, llamaMs: 5.07, bitnetGB: 2.22, bitnetMs: 1.87 },
  '3.9b': { llamaGB: 7.89, llamaMs: 5.07, bitnetGB: 2.38, bitnetMs: 2.11 },
};

const WASM_LIMIT = 4 * 2 ** 30 - 256 * 2 ** 20; // wasm32 address space, less room for buffers

function runChild(shape: string, form: SynthForm, o: CostOptions, deadline: number): Promise<CaseResult> {
  const bin = fileURLToPath(new URL('../../../bin/bitnet.js', import.meta.url));
  const args = [bin, 'cost', '--case', `${shape}:${form}`, '--batches', o.batches.join(','), '--prompt', String(o.prompt), '--gen', String(o.gen),
    '--mem-budget', String(o.memBudgetBytes / 2 ** 30), '--deadline', String(deadline)];
  if (o.threads) args.push('--threads', String(o.threads));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as CaseResult) : reject(new Error(`${shape} ${form}: ${err.trim().split('\n').pop()}`))));
  });
}

export async function runCost(o: CostOptions): Promise<{ rows: CostRow[]; report: string }> {
  const start = Date.now();
  const rows: CostRow[] = [];
  for (const shape of o.shapes) {
    if (!SHAPES[shape]) throw new Error(`unknown shape '${shape}' (expected ${Object.keys(SHAPES).join(', ')})`);
    for (const { form } of FORMS) {
      const bytes = weightBytesModel(SHAPES[shape], form);
      const left = o.budgetSec * 1000 - (Date.now() - start);
      const s = SHAPES[shape];
      const reason = form === 'ternary-blocks' && (s.dim % 256 || s.ffnDim % 256) ? `TQ2_0 needs rows of a multiple of 256 weights (dim ${s.dim}, FFN ${s.ffnDim})`
        : bytes > WASM_LIMIT ? 'weights exceed the 4 GiB wasm32 address space'
        : bytes * 1.6 > o.memBudgetBytes ? 'weights exceed the memory budget'
        : left < 20_000 ? 'time budget spent' : '';
      if (reason) { rows.push({ shape, form, measured: false, weightBytes: bytes, reason }); o.onProgress?.(`${shape} ${form}: analytical (${reason})`); continue; }
      o.onProgress?.(`${shape} ${form}: measuring…`);
      try {
        rows.push(await runChild(shape, form, o, start + o.budgetSec * 1000));
      } catch (e) {
        rows.push({ shape, form, measured: false, weightBytes: bytes, reason: `run failed: ${(e as Error).message}` });
      }
    }
  }
  // analytical latency for unmeasured rows: bytes over the bandwidth the measured rows of that form achieved
  for (const r of rows) {
    if (r.measured) continue;
    const ref = rows.filter((x): x is CaseResult => x.measured && x.form === r.form).sort((a, b) => b.weightBytes - a.weightBytes)[0];
    if (ref) r.decodeMsPerToken = (r.weightBytes / ref.weightBytes) * ref.decodeMsPerToken;
  }
  const report = renderReport(rows, o);
  mkdirSync(o.outDir, { recursive: true });
  const write = (name: string, data: string) => { const p = join(o.outDir, name); writeFileSync(`${p}.tmp`, data); renameSync(`${p}.tmp`, p); };
  write('COST.md', report);
  write('cost.json', JSON.stringify({ rows, machine: machine(), options: { ...o, onProgress: undefined, fp16Reference: undefined } }, null, 1));
  for (const [name, svg] of costCharts(rows, o.shapes)) write(name, svg);
  return { rows, report };
}

/** The report's plots (file name, SVG) from its rows: `bitnet cost --replot DIR` redraws them from DIR/cost.json. */
export function costCharts(rows: CostRow[], shapes: string[]): Array<[string, string]> {
  const sizes = shapes.map((s) => [s, linearParams(SHAPES[s]) / 1e9] as const);
  const COLORS: Record<SynthForm, string> = { ternary: '#1f77b4', 'ternary-blocks': '#2ca02c', fp16: '#d62728' };
  const chart = (title: string, xLabel: string, yLabel: string, series: Series[], logX = false) => lineChartSVG(series, { title, xLabel, yLabel, logX, yFromZero: true });
  const by = (form: SynthForm, f: (r: CostRow) => number | undefined): Series => ({ name: form, color: COLORS[form],
    points: sizes.flatMap(([s, n]) => { const r = rows.find((x) => x.shape === s && x.form === form); const v = r && f(r); return v === undefined ? [] : [[n, v] as [number, number]]; }) });
  const tp = rows.filter((r): r is CaseResult => r.measured && r.shape === shapes[0]);
  return [
    ['cost-memory.svg', chart('Weight memory vs model size', 'linear parameters (billions)', 'weight memory (GB)', FORMS.map(({ form }) => by(form, (r) => r.weightBytes / 1e9)))],
    ['cost-latency.svg', chart('Decode latency vs model size (measured, or modelled where marked)', 'linear parameters (billions)', 'ms / token', FORMS.map(({ form }) => by(form, (r) => r.decodeMsPerToken)))],
    ['cost-throughput.svg', chart(`Throughput vs batch size (${shapes[0]})`, 'batch size', 'tokens / s', tp.map((r) => ({ name: r.form, color: COLORS[r.form], points: r.batch.map((b) => [b.batch, b.tokPerS] as [number, number]) })), true)],
  ];
}

function machine(): string {
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB (free at start ${(freemem() / 2 ** 30).toFixed(1)} GiB), Node ${process.version}`;
}

function renderReport(rows: CostRow[], o: CostOptions): string {
  const gb = (b: number) => (b / 1e9).toFixed(3);
  const get = (shape: string, form: SynthForm) => rows.find((r) => r.shape === shape && r.form === form);
  const lines: string[] = [];
  lines.push('# Cost: BitNet b1.58 (ternary) vs LLaMA FP16, measured in bitnet-ts', '');
  lines.push(`Machine: ${machine()}; threads: ${o.threads ?? 'all cores'}; prompt ${o.prompt} tokens, ${o.gen} decoded; batches ${o.batches.join(', ')}.`);
  lines.push(`Command: \`bitnet cost --shapes ${o.shapes.join(',')}${o.threads ? ` --threads ${o.threads}` : ''} --budget ${o.budgetSec}\``, '');
  lines.push('Random weights of each shape, run by our engine (WASM backend). "measured" rows ran in their own process;');
  lines.push('rows marked *model* were not run (reason given) and their latency is scaled from the largest measured model');
  lines.push('of the same form by weight bytes — a model, not a measurement. The paper\'s figures are GPU measurements.', '');
  lines.push('## Memory and latency', '');
  lines.push('| shape | form | weight memory (GB) | resident (GB) | decode ms/token | prompt tok/s | how | paper memory (GB) | paper latency (ms) |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const p = PAPER[r.shape];
    const paperMem = p ? (r.form === 'fp16' ? p.llamaGB : p.bitnetGB) : undefined;
    const paperMs = p ? (r.form === 'fp16' ? p.llamaMs : p.bitnetMs) : undefined;
    lines.push(`| ${r.shape} | ${r.form} | ${gb(r.weightBytes)} | ${r.measured ? gb(r.rssBytes) : '-'} | ${r.decodeMsPerToken?.toFixed(1) ?? '-'}${r.measured ? '' : ' *model*'} | ${r.measured ? r.promptTokPerS.toFixed(1) : '-'} | ${r.measured ? 'measured' : `*model*: ${r.reason}`} | ${paperMem ?? '-'} | ${paperMs ?? '-'} |`);
  }
  lines.push('', '## Ratios FP16 / ternary (per-tensor internal layout)', '');
  lines.push('| shape | weight memory | resident memory | decode latency | paper memory | paper latency |', '|---|---|---|---|---|---|');
  for (const s of o.shapes) {
    const f = get(s, 'fp16'), t = get(s, 'ternary');
    if (!f || !t) continue;
    const p = PAPER[s];
    const both = f.measured && t.measured;
    lines.push(`| ${s} | ${(f.weightBytes / t.weightBytes).toFixed(2)}x | ${both ? ((f as CaseResult).rssBytes / (t as CaseResult).rssBytes).toFixed(2) + 'x' : '-'} | ` +
      `${f.decodeMsPerToken && t.decodeMsPerToken ? (f.decodeMsPerToken / t.decodeMsPerToken).toFixed(2) + 'x' + (both ? '' : ' *model*') : '-'} | ${p?.llamaGB ? (p.llamaGB / p.bitnetGB).toFixed(2) + 'x' : '-'} | ${p?.llamaMs ? (p.llamaMs / p.bitnetMs).toFixed(2) + 'x' : '-'} |`);
  }
  if (o.fp16Reference) lines.push('', 'These ratios use our engine\'s FP16 path. Against the faster of ours and llama.cpp\'s F16 on the same file: ' +
    'see "The FP16 baseline checked against llama.cpp" below.');
  lines.push('', '## Throughput against batch size', '');
  lines.push('One decoding step feeds every sequence of the batch through one pass over the weights (`Model.decodeBatch`);');
  lines.push('all sequences share one paged KV cache (f16 cells) sized to what the memory budget');
  lines.push(`(${(o.memBudgetBytes / 2 ** 30).toFixed(1)} GiB, capped by the 4 GiB wasm32 space) leaves after the weights. Batches stop where the cache is full or time runs out.`, '');
  lines.push('| shape | form | ' + o.batches.map((b) => `b=${b} tok/s`).join(' | ') + ' | largest batch run |');
  lines.push('|---|---|' + o.batches.map(() => '---').join('|') + '|---|');
  for (const r of rows) if (r.measured) lines.push(`| ${r.shape} | ${r.form} | ${o.batches.map((b) => r.batch.find((x) => x.batch === b)?.tokPerS.toFixed(1) ?? '-').join(' | ')} | ${r.batch[r.batch.length - 1]?.batch ?? '-'} |`);
  lines.push('', 'Largest batch of full-context sequences the same memory budget holds (KV budget / bytes per sequence):', '');
  lines.push('| shape | form | KV budget | KV per position | context | max batch |');
  lines.push('|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.measured) lines.push(`| ${r.shape} | ${r.form} | ${(r.kvBudgetBytes / 2 ** 30).toFixed(2)} GiB | ${(r.kvBytesPerPosition / 1024).toFixed(0)} KiB | ${r.maxBatch.context} | ${r.maxBatch.batch} |`);
  }
  lines.push('', 'Paper (70B, GPU): BitNet b1.58 allowed an 11x larger batch and 8.9x higher throughput than LLaMA 70B. At these small shapes on a CPU');
  lines.push('the limit is compute, not memory, so the batch ratio does not appear until the FP16 weights crowd out the KV caches.', '');
  lines.push('## Arithmetic energy (a model, not a measurement)', '');
  lines.push('Per-op energy from the paper: ' + Object.entries(ENERGY_PJ).map(([n, e]) => `${n}: FP16 add ${e.fp16Add} pJ, mul ${e.fp16Mul} pJ; INT8 add ${e.int8Add} pJ, mul ${e.int8Mul} pJ`).join('; ') + '.');
  lines.push('A FP16 matmul does one multiply and one add per weight; with ternary weights the multiply disappears and the add is INT8.');
  lines.push('So the matmul energy ratio is (mul + add) / int8 add = (0.34 + 0.16) / 0.007 = **71.4x** at 7 nm — where the paper\'s figure comes from.', '');
  lines.push('| shape | linear params | FP16 mJ/token (7nm) | ternary mJ/token (7nm) | ratio 7nm | ratio 45nm |', '|---|---|---|---|---|---|');
  for (const s of o.shapes) {
    const e7 = energyPerToken(SHAPES[s], '7nm'), e45 = energyPerToken(SHAPES[s], '45nm');
    lines.push(`| ${s} | ${(linearParams(SHAPES[s]) / 1e6).toFixed(0)}M | ${e7.fp16mJ.toFixed(3)} | ${e7.ternarymJ.toFixed(4)} | ${e7.ratio.toFixed(1)}x | ${e45.ratio.toFixed(1)}x |`);
  }
  lines.push('', 'End to end, a CPU spends most of its energy moving weights, not on arithmetic: weight bytes per token (the memory table) are the better proxy here.', '');
  lines.push('## The price of on-the-fly activation quantization', '');
  lines.push('Each ternary layer quantizes its input to int8 per token (absmax). Time of those quantizations per decoded token (4 per layer), measured in isolation, as a share of the decode latency:', '');
  lines.push('| shape | form | quantization ms/token | decode ms/token | share |', '|---|---|---|---|---|');
  for (const r of rows) if (r.measured && r.form !== 'fp16') lines.push(`| ${r.shape} | ${r.form} | ${r.actQuantMsPerToken.toFixed(3)} | ${r.decodeMsPerToken.toFixed(1)} | ${(100 * r.actQuantShare).toFixed(2)}% |`);
  if (o.fp16Reference) lines.push('', ...renderFp16Reference(o.fp16Reference));
  lines.push('', 'Plots beside this file: ![memory](cost-memory.svg) ![latency](cost-latency.svg) ![throughput](cost-throughput.svg)', '');
  return lines.join('\n');
}
