/** `bitnet convert IN OUT`: Hugging Face directory <-> GGUF, and GGUF ternary type changes. */
import type { Command } from 'commander';
import { CONVERT_TYPES, OUT_TYPES, convertModel, type ConvertType, type OutType } from '../model/convert.js';
import { progressBar } from './progress.js';
import { i2sLayout } from './common.js';
import { I2S_HELP, UNTIED_HEAD_HELP } from '../model/gguf-model.js';
import type { I2SLayout } from '../quant/ggml.js';

export function register(program: Command): void {
  program.command('convert').description('convert a model: Hugging Face directory -> GGUF, GGUF -> Hugging Face directory, GGUF -> GGUF of another type')
    .argument('<in>', 'GGUF file or Hugging Face model directory (config.json, *.safetensors, tokenizer.json)')
    .argument('<out>', 'output: a path ending in .gguf writes GGUF, anything else a Hugging Face directory')
    .option('--type <t>', `GGUF ternary tensor type: ${CONVERT_TYPES.join(', ')} (f16 = the linears stored as full-precision F16 floats)`, 'tq2_0')
    .option('--outtype <t>', `float tensors (embeddings, head, full-precision linears): ${OUT_TYPES.join(', ')}; source = each keeps its own precision`, 'source')
    .option('--hf-layout <l>', 'Hugging Face output of a bitnet model: custom (1bitLLM BitnetForCausalLM, latent f32 weights) or ' +
      'transformers (native BitNetForCausalLM: packed 2-bit weights + weight_scale, loads in transformers without custom code)', 'custom')
    .option('--i2s-layout <layout>', `layout of I2_S tensors in IN: ${I2S_HELP}`, i2sLayout('--i2s-layout'), 'x86')
    .option('--out-i2s-layout <layout>', 'layout of I2_S tensors written (--type i2_s): x86, arm or x86-rows',
      i2sLayout('--out-i2s-layout'), 'x86')
    .option('--untied-head', UNTIED_HEAD_HELP)
    .addHelpText('after', '\nExamples:\n  bitnet convert ./bitnet-b1.58-2B-4T model.gguf --type i2_s\n  bitnet convert model.gguf ./model-hf\n  bitnet convert model.gguf model-tq1.gguf --type tq1_0')
    .action((input: string, output: string,
             o: { type: string; outtype: string; hfLayout: string; i2sLayout: I2SLayout; outI2sLayout: I2SLayout; untiedHead?: boolean }, cmd: { getOptionValueSource(k: string): string | undefined }) => {
      if (!CONVERT_TYPES.includes(o.type as ConvertType)) throw new Error(`--type must be one of ${CONVERT_TYPES.join(', ')}, got '${o.type}'`);
      if (!OUT_TYPES.includes(o.outtype as OutType)) throw new Error(`--outtype must be one of ${OUT_TYPES.join(', ')}, got '${o.outtype}'`);
      if (o.hfLayout !== 'custom' && o.hfLayout !== 'transformers') throw new Error(`--hf-layout must be custom or transformers, got '${o.hfLayout}'`);
      const outtype = cmd.getOptionValueSource('outtype') === 'default' ? undefined : (o.outtype as OutType);
      const isGGUF = output.toLowerCase().endsWith('.gguf');
      const bar = progressBar('convert');
      try {
        convertModel(input, output, {
          type: isGGUF || o.type === 'f16' ? (o.type as ConvertType) : undefined, outtype, hfLayout: o.hfLayout,
          i2sLayout: o.i2sLayout, outI2sLayout: o.outI2sLayout, untiedHead: o.untiedHead,
          onProgress: (d, t) => bar.update(d, t), log: (l) => process.stderr.write(`${l}\n`),
        });
      } finally {
        bar.stop();
      }
    });
}
