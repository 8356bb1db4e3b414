/** `bitnet synth`: write a random-weight `bitnet` GGUF of a paper shape. */
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { SHAPES, synthTokenizer, synthWeights } from '../model/synth.js';
import { writeModelGGUF } from '../model/gguf-model.js';
import { num } from './common.js';

export function register(program: Command): void {
  program.command('synth').description('write a random-weight BitNet b1.58 GGUF (llama.cpp `bitnet` layout) of a given shape')
    .requiredOption('--shape <name>', `one of ${Object.keys(SHAPES).join(', ')}`)
    .option('--type <t>', 'ternary tensor type: tq2_0, tq1_0 or i2_s', 'tq2_0')
    .option('--embedding <t>', 'token embedding type: f16 or f32', 'f16')
    .requiredOption('-o, --out <file>', 'output GGUF path')
    .option('--seed <n>', 'random seed', num('--seed', { int: true }), 1)
    .option('--logit-scale <x>', 'embedding scale (sharper logits)', num('--logit-scale', { min: 0 }), 1)
    .action((o: { shape: string; type: string; embedding: string; out: string; seed: number; logitScale: number }) => {
      if (!['tq2_0', 'tq1_0', 'i2_s'].includes(o.type)) throw new Error(`--type must be tq2_0, tq1_0 or i2_s, got '${o.type}'`);
      if (!['f16', 'f32'].includes(o.embedding)) throw new Error(`--embedding must be f16 or f32, got '${o.embedding}'`);
      const w = synthWeights(o.shape, o.seed, o.logitScale);
      const tok = synthTokenizer(w.config.vocabSize);
      const bar = process.stderr.isTTY ? new SingleBar({ format: 'write |{bar}| {value}/{total} tensors' }) : null;
      let started = false;
      writeModelGGUF(o.out, w, tok, {
        ternaryType: o.type as 'tq2_0', floatType: o.embedding as 'f16', name: `bitnet-ts synthetic ${o.shape}`,
        onTensor: (d, t) => { if (bar) { if (!started) { bar.start(t, 0); started = true; } bar.update(d); } },
      });
      bar?.stop();
      process.stderr.write(`wrote ${o.out}\n`);
    });
}
