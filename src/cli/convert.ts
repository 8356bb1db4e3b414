/** `bitnet convert IN OUT`: Hugging Face directory <-> GGUF, and GGUF ternary type changes. */
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { CONVERT_TYPES, convertModel, type ConvertType } from '../model/convert.js';

export function progressBar(label: string) {
  if (!process.stderr.isTTY) return { update: (_d: number, _t: number) => {}, stop: () => {} };
  const bar = new SingleBar({ format: `${label} |{bar}| {value}/{total}` });
  let started = false;
  return {
    update: (d: number, t: number) => { if (!started) { bar.start(t, 0); started = true; } bar.setTotal(t); bar.update(d); },
    stop: () => { if (started) bar.stop(); },
  };
}

export function register(program: Command): void {
  program.command('convert').description('convert a model: Hugging Face directory -> GGUF, GGUF -> Hugging Face directory, GGUF -> GGUF of another type')
    .argument('<in>', 'GGUF file or Hugging Face model directory (config.json, *.safetensors, tokenizer.json)')
    .argument('<out>', 'output: a path ending in .gguf writes GGUF, anything else a Hugging Face directory')
    .option('--type <t>', `GGUF ternary tensor type: ${CONVERT_TYPES.join(', ')} (f16 = full-precision linears)`, 'tq2_0')
    .addHelpText('after', '\nExamples:\n  bitnet convert ./bitnet-b1.58-2B-4T model.gguf --type i2_s\n  bitnet convert model.gguf ./model-hf\n  bitnet convert model.gguf model-tq1.gguf --type tq1_0')
    .action((input: string, output: string, o: { type: string }) => {
      if (!CONVERT_TYPES.includes(o.type as ConvertType)) throw new Error(`--type must be one of ${CONVERT_TYPES.join(', ')}, got '${o.type}'`);
      const isGGUF = output.toLowerCase().endsWith('.gguf');
      const bar = progressBar('convert');
      try {
        convertModel(input, output, {
          type: isGGUF || o.type === 'f16' ? (o.type as ConvertType) : undefined,
          onProgress: bar.update, log: (l) => process.stderr.write(`${l}\n`),
        });
      } finally {
        bar.stop();
      }
    });
}
