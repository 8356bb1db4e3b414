/** `bitnet run`: stream generated text. */
import type { Command } from 'commander';
import { addModelOptions, addSamplingOptions, openModel, type ModelCliOptions } from './common.js';

interface RunOptions extends ModelCliOptions {
  maxTokens: number; temperature: number; topK: number; topP: number; minP: number; repeatPenalty: number;
  repeatLastN: number; seed?: number; stop?: string[]; bos?: boolean;
}

export function register(program: Command): void {
  const cmd = program.command('run')
    .description('generate text from a prompt, streamed to stdout (speed on stderr)')
    .argument('[prompt]', 'the prompt', 'And God said,')
    .option('--no-bos', 'do not add the BOS token even if the model asks for it');
  addSamplingOptions(addModelOptions(cmd)).action(async (prompt: string, o: RunOptions) => {
    const t0 = performance.now();
    const model = await openModel(o);
    const tLoad = performance.now();
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    try {
      process.stdout.write(prompt);
      const it = model.generate(prompt, {
        maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP,
        repeatPenalty: o.repeatPenalty, repeatLastN: o.repeatLastN, seed: o.seed, stop: o.stop,
        addBos: o.bos === false ? false : undefined, signal: ac.signal,
      });
      let first = 0;
      let r = await it.next();
      while (!r.done) {
        if (!first) first = performance.now();
        process.stdout.write(r.value.text);
        r = await it.next();
      }
      const end = performance.now();
      const res = r.value;
      process.stdout.write('\n');
      const decodeTps = res.completionTokens > 1 ? ((res.completionTokens - 1) / (end - first)) * 1000 : 0;
      process.stderr.write(`\n[${model.info.backend} ×${model.info.threads}] load ${((tLoad - t0) / 1000).toFixed(2)} s | prompt ${res.promptTokens} tok, ` +
        `first token ${((first - tLoad) / 1000).toFixed(2)} s | ${res.completionTokens} tokens at ${decodeTps.toFixed(1)} tok/s | finish: ${res.finishReason}\n`);
    } finally {
      model.dispose();
    }
  });
}
