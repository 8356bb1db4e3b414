/** `bitnet eval ppl` and `bitnet eval tasks`. */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addModelOptions, num, openModel, type ModelCliOptions } from './common.js';
import { perplexity } from '../eval/perplexity.js';
import { TASKS, evaluateTask, type TaskResult } from '../eval/tasks.js';
import { ModelScorer } from '../eval/scoring.js';
import { progressBar } from './progress.js';


export function readJsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try { return JSON.parse(l) as Record<string, unknown>; } catch { throw new Error(`${path}:${i + 1}: not valid JSON`); }
  });
}

export function register(program: Command): void {
  const ev = program.command('eval').description('evaluate a model: perplexity on a text, zero-shot multiple-choice tasks');
  addModelOptions(ev.command('ppl').description('token / word perplexity and bits per byte of a text (lm-eval rolling windows)'))
    .requiredOption('--data <file>', 'UTF-8 text file')
    .option('--ctx <n>', 'window size in tokens (default: min(model context, 1024))', num('--ctx', { int: true, min: 1 }))
    .option('--json', 'JSON output')
    .action(async (o: ModelCliOptions & { data: string; ctx?: number; json?: boolean }) => {
      if (!existsSync(o.data)) throw new Error(`--data: no such file '${o.data}'`);
      const text = readFileSync(o.data, 'utf8');
      const model = await openModel(o);
      const bar = progressBar('ppl');
      try {
        const t0 = performance.now();
        const r = perplexity(model, text, { ctx: o.ctx, onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        const secs = (performance.now() - t0) / 1000;
        if (o.json) { console.log(JSON.stringify({ ...r, seconds: secs })); return; }
        console.log(`tokens ${r.tokens}  words ${r.words}  bytes ${r.bytes}  windows ${r.windows} × ctx ${r.ctx}`);
        console.log(`token perplexity  ${r.tokenPerplexity.toFixed(3)}\nword perplexity   ${r.wordPerplexity.toFixed(3)}\nbits per byte     ${r.bitsPerByte.toFixed(4)}`);
        console.error(`(${secs.toFixed(1)} s, ${(r.tokens / secs).toFixed(0)} tok/s)`);
      } finally { model.dispose(); }
    });
  addModelOptions(ev.command('tasks').description('zero-shot multiple choice (acc, acc_norm) with lm-eval prompt formats'))
    .requiredOption('--tasks <list>', `comma list of ${Object.keys(TASKS).join(', ')}`)
    .requiredOption('--data <dir>', 'directory holding <task>.jsonl files (the datasets\' published JSONL layouts)')
    .option('--limit <n>', 'at most n records per task (default: all)', num('--limit', { int: true, min: 1 }))
    .option('--json', 'JSON output')
    .action(async (o: ModelCliOptions & { tasks: string; data: string; limit?: number; json?: boolean }) => {
      const names = o.tasks.split(',').map((t) => t.trim()).filter(Boolean);
      for (const t of names) {
        if (!TASKS[t]) throw new Error(`unknown task '${t}' (supported: ${Object.keys(TASKS).join(', ')})`);
        if (!existsSync(join(o.data, `${t}.jsonl`))) throw new Error(`missing ${join(o.data, `${t}.jsonl`)}`);
      }
      const model = await openModel(o);
      const prefix = model.tokenizer.bos ?? model.tokenizer.eos;
      if (prefix === undefined) throw new Error('the tokenizer has neither BOS nor EOS');
      const scorer = new ModelScorer(model);
      const results: TaskResult[] = [];
      try {
        for (const t of names) {
          const docs = readJsonl(join(o.data, `${t}.jsonl`)).slice(0, o.limit);
          const bar = progressBar(t);
          results.push(evaluateTask(t, docs, scorer, model.tokenizer, prefix, (d, n) => bar.update(d, n)));
          bar.stop();
        }
      } finally { scorer.dispose(); model.dispose(); }
      if (o.json) { console.log(JSON.stringify({ results })); return; }
      console.log('| task | n | acc | acc_norm |\n|---|---|---|---|');
      for (const r of results) console.log(`| ${r.task} | ${r.n} | ${r.acc.toFixed(4)} ± ${r.accStderr.toFixed(4)} | ${r.accNorm.toFixed(4)} ± ${r.accNormStderr.toFixed(4)} |`);
    });
}
