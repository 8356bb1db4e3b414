/** `bitnet cost`: memory, latency, throughput and energy — ternary vs FP16 at the paper's shapes. */
import type { Command } from 'commander';
import { freemem } from 'node:os';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { num } from './common.js';
import { costCharts, runCost } from '../bench/cost-report.js';
import { runCase } from '../bench/cost.js';
import type { SynthForm } from '../model/synth.js';

const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

export function register(program: Command): void {
  program.command('cost').description('measure ternary vs FP16 cost (memory, latency, throughput vs batch, energy model) and write a report')
    .option('--shapes <list>', 'paper shapes: 700m,1.3b,3b,3.9b (tiny for a quick check)', '700m,1.3b,3b,3.9b')
    .option('-t, --threads <n>', 'threads (default: all cores)', num('--threads', { int: true, min: 1 }))
    .option('--out <dir>', 'report directory (COST.md, cost.json, SVG plots)', 'cost-report')
    .option('--budget <seconds>', 'time budget: cases not started in time are modelled, not measured', num('--budget', { min: 10 }), 900)
    .option('--mem-budget <GiB>', 'memory budget for weights + KV caches (default: 60% of free memory)', num('--mem-budget', { min: 0.1 }))
    .option('--batches <list>', 'batch sizes to sweep', '1,2,4,8,16,32,64')
    .option('--prompt <n>', 'prompt tokens for prompt throughput', num('--prompt', { int: true, min: 1 }), 64)
    .option('--gen <n>', 'decoded tokens for latency', num('--gen', { int: true, min: 1 }), 16)
    .option('--fp16-reference <file>', 'JSON of another engine\'s FP16 on the same file (scripts/bench-fp16-reference.mjs): ' +
      'adds the ratios against the faster FP16')
    .option('--json', 'print the rows as JSON')
    .option('--replot <dir>', 'measure nothing: redraw the SVG plots of DIR/cost.json (an earlier report) with the current chart code')
    .option('--case <shape:form>', '(internal) run one case in this process and print JSON')
    .option('--deadline <ms>', '(internal) wall-clock deadline for the batch sweep', num('--deadline'))
    .action(async (o: { shapes: string; threads?: number; out: string; budget: number; memBudget?: number; batches: string; prompt: number; gen: number; json?: boolean; case?: string; deadline?: number; fp16Reference?: string; replot?: string }) => {
      if (o.replot) {
        const saved = JSON.parse(readFileSync(join(o.replot, 'cost.json'), 'utf8')) as { rows: Parameters<typeof costCharts>[0]; options: { shapes: string[] } };
        for (const [name, svg] of costCharts(saved.rows, saved.options.shapes)) {
          const p = join(o.replot, name);
          writeFileSync(`${p}.tmp`, svg); renameSync(`${p}.tmp`, p);
          process.stderr.write(`wrote ${p}\n`);
        }
        return;
      }
      const fp16Reference = o.fp16Reference ? JSON.parse(readFileSync(o.fp16Reference, 'utf8')) : undefined;
      if (fp16Reference && !fp16Reference.shapes) throw new Error(`--fp16-reference ${o.fp16Reference}: no "shapes" (write it with scripts/bench-fp16-reference.mjs)`);
      const batches = list(o.batches).map(num('--batches', { int: true, min: 1 }));
      const memBudgetBytes = (o.memBudget ?? (0.6 * freemem()) / 2 ** 30) * 2 ** 30;
      if (o.case) {
        const [shape, form] = o.case.split(':');
        const r = await runCase(shape, form as SynthForm, { threads: o.threads, batches, memBudgetBytes, prompt: o.prompt, gen: o.gen, deadline: o.deadline ?? Infinity });
        process.stdout.write(JSON.stringify(r));
        return;
      }
      const { rows, report } = await runCost({
        shapes: list(o.shapes), threads: o.threads, outDir: o.out, budgetSec: o.budget, memBudgetBytes, batches, prompt: o.prompt, gen: o.gen,
        onProgress: (m) => process.stderr.write(`${m}\n`), fp16Reference,
      });
      if (o.json) console.log(JSON.stringify(rows));
      else console.log(report);
      process.stderr.write(`report written to ${o.out}/COST.md\n`);
    });
}
