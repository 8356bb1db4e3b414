/** `bitnet quantize --ptq IN OUT`: post-training absmean ternarization, with perplexity before and after. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { modelFromWeights, readModelSource } from '../model/index.js';
import { hasFloatLinears, ptqTernarize } from '../model/convert.js';
import { UNTIED_HEAD_HELP, writeModelGGUF } from '../model/gguf-model.js';
import { writeHFDirectory } from '../model/hf-model.js';
import { perplexity } from '../eval/perplexity.js';
import type { ModelWeights } from '../model/types.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { num } from './common.js';
import { progressBar } from './progress.js';

async function ppl(w: ModelWeights, tok: Tokenizer, text: string, ctx: number | undefined, backend: string, threads?: number): Promise<number> {
  const model = await modelFromWeights(w, tok, { backend: backend as 'wasm', threads });
  try {
    return perplexity(model, text, { ctx }).tokenPerplexity;
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  program.command('quantize').description('post-training quantization: ternarize a full-precision model with BitNet absmean')
    .argument('<in>', 'full-precision GGUF file or Hugging Face directory (F32/F16/BF16 linears, e.g. from `convert --type f16`)')
    .argument('<out>', 'output: .gguf path, or a Hugging Face directory')
    .requiredOption('--ptq', 'absmean ternarization of every linear layer (one scale per tensor)')
    .option('--type <t>', 'GGUF ternary type: tq2_0, tq1_0 or i2_s', 'tq2_0')
    .option('--untied-head', UNTIED_HEAD_HELP)
    .option('--data <file>', 'UTF-8 text: report token perplexity before and after')
    .option('--ctx <n>', 'perplexity window in tokens (default: min(model context, 1024), as eval ppl)', num('--ctx', { int: true, min: 1 }))
    .option('--backend <name>', 'wasm or reference (for the perplexity runs)', 'wasm')
    .option('-t, --threads <n>', 'compute threads (default: all cores)', num('--threads', { int: true, min: 1, max: 256 }))
    .action(async (input: string, output: string, o: { type: string; untiedHead?: boolean; data?: string; ctx?: number; backend: string; threads?: number }) => {
      if (!['tq2_0', 'tq1_0', 'i2_s'].includes(o.type)) throw new Error(`--type must be tq2_0, tq1_0 or i2_s, got '${o.type}'`);
      if (o.backend !== 'wasm' && o.backend !== 'reference') throw new Error(`--backend must be wasm or reference, got '${o.backend}'`);
      let text: string | undefined;
      if (o.data) { try { text = readFileSync(o.data, 'utf8'); } catch { throw new Error(`cannot read --data file ${o.data}`); } }
      const bar = progressBar('read');
      const src = readModelSource(input, (d, t) => bar.update(d, t));
      bar.stop();
      // full precision = F32/F16/BF16 storage. Linears whose stored values are exactly ternary (a ternary model
      // written with `convert --type f16`) load as ternary and are kept: re-ternarizing would change their scale.
      if (!hasFloatLinears(src.weights)) {
        process.stderr.write(`${input}: every linear layer already holds exactly ternary values; they are written as they are\n`);
      }
      const q = ptqTernarize(src.weights);
      if (output.toLowerCase().endsWith('.gguf')) writeModelGGUF(output, q, src.tokenizer, {
        ternaryType: o.type as 'tq2_0', floatType: 'f16', name: `PTQ of ${input}`, untiedHead: o.untiedHead,
      });
      else writeHFDirectory(output, q, src.tokenizer);
      process.stderr.write(`wrote ${output}\n`);
      if (text !== undefined) {
        const before = await ppl(src.weights, src.tokenizer, text, o.ctx, o.backend, o.threads);
        const after = await ppl(q, src.tokenizer, text, o.ctx, o.backend, o.threads);
        process.stdout.write(`token perplexity: full precision ${before.toPrecision(6)}, ternary (PTQ) ${after.toPrecision(6)} (x${(after / before).toPrecision(4)})\n`);
      }
    });
}
