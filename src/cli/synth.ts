/** `bitnet synth`: write a random-weight BitNet GGUF of a named shape. */
import type { Command } from 'commander';
import { SHAPES, synthTokenizer, synthWeights } from '../model/synth.js';
import { writeModelGGUF } from '../model/gguf-model.js';
import { writeSynthGGUF } from '../model/synth-gguf.js';
import { num } from './common.js';
import { progressBar } from './progress.js';

const ARCHES = ['bitnet', 'bitnet-b1.58'] as const;

export function register(program: Command): void {
  program.command('synth').description('write a random-weight BitNet b1.58 GGUF of a given shape (tied F16 head)')
    .requiredOption('--shape <name>', `one of ${Object.keys(SHAPES).join(', ')}`)
    .option('--type <t>', 'ternary tensor type: tq2_0, tq1_0 or i2_s; or f16: the FP16 LLaMA baseline of the shape ' +
      '(arch llama, every linear f16, no sub-norms — the FP16 side of `bitnet cost`)', 'tq2_0')
    .option('--arch <a>', 'architecture: bitnet (llama.cpp: SiLU gate) or bitnet-b1.58 (bitnet.cpp 2B4T: squared ReLU)', 'bitnet')
    .option('--embedding <t>', 'token embedding type: f16 or f32', 'f16')
    .requiredOption('-o, --out <file>', 'output GGUF path')
    .option('--seed <n>', 'random seed', num('--seed', { int: true }), 1)
    .option('--logit-scale <x>', 'embedding scale (sharper logits)', num('--logit-scale', { min: 0 }), 1)
    .action((o: { shape: string; type: string; arch: string; embedding: string; out: string; seed: number; logitScale: number }) => {
      if (!['tq2_0', 'tq1_0', 'i2_s', 'f16'].includes(o.type)) throw new Error(`--type must be tq2_0, tq1_0, i2_s or f16, got '${o.type}'`);
      if (!(ARCHES as readonly string[]).includes(o.arch)) throw new Error(`--arch must be ${ARCHES.join(' or ')}, got '${o.arch}'`);
      if (!['f16', 'f32'].includes(o.embedding)) throw new Error(`--embedding must be f16 or f32, got '${o.embedding}'`);
      const bar = progressBar('write tensors', { eta: false });
      const t0 = performance.now();
      const onTensor = (d: number, t: number) => bar.update(d, t);
      if (o.type === 'f16') {
        // the FP16 side of `bitnet cost` (synthWeights' fp16 form), written as a llama GGUF that llama.cpp runs too
        if (o.embedding !== 'f16' || o.arch !== 'bitnet') throw new Error('--type f16 writes an f16 llama model: drop --embedding and --arch');
        const w = synthWeights(o.shape, o.seed, o.logitScale, 'fp16', 'f16');
        writeModelGGUF(o.out, w, synthTokenizer(w.config.vocabSize), { floatType: 'f16', name: `bitnet-ts synthetic ${o.shape} fp16`, onTensor });
      } else {
        writeSynthGGUF(o.out, o.shape, {
          arch: o.arch as (typeof ARCHES)[number], ternaryType: o.type as 'tq2_0', embedding: o.embedding as 'f16',
          seed: o.seed, logitScale: o.logitScale, onTensor,
        });
      }
      bar.stop();
      process.stderr.write(`wrote ${o.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}
