/** `bitnet run`: stream generated text (or print one JSON object with --json). */
import type { Command } from 'commander';
import { addModelOptions, addSamplingOptions, openModel, readPrompt, type ModelCliOptions } from './common.js';

export interface RunOptions extends ModelCliOptions {
  maxTokens: number; temperature: number; topK: number; topP: number; minP: number; repeatPenalty: number;
  repeatLastN: number; seed?: number; stop?: string[]; bos?: boolean; file?: string; json?: boolean;
}

const DEFAULT_PROMPT = 'And God said,';

export function register(program: Command): void {
  const cmd = program.command('run')
    .description('generate text from a prompt, streamed to stdout (speed on stderr)')
    .argument('[prompt]', `the prompt (default: --file, else stdin when it is not a terminal, else "${DEFAULT_PROMPT}")`)
    .option('--file <f>', 'read the prompt from a file')
    .option('--json', 'print one JSON object: text, token counts, timings, finish reason (nothing streamed)')
    .option('--no-bos', 'do not add the BOS token even if the model asks for it');
  addSamplingOptions(addModelOptions(cmd)).action(async (arg: string | undefined, o: RunOptions) => {
    const prompt = await readPrompt(arg, o.file, DEFAULT_PROMPT);
    const t0 = performance.now();
    const model = await openModel(o);
    const tLoad = performance.now();
    const ac = new AbortController();
    const onSig = () => ac.abort();
    process.once('SIGINT', onSig);
    try {
      if (!o.json) process.stdout.write(prompt);
      const it = model.generate(prompt, {
        maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP,
        repeatPenalty: o.repeatPenalty, repeatLastN: o.repeatLastN, seed: o.seed, stop: o.stop,
        addBos: o.bos === false ? false : undefined, signal: ac.signal,
      });
      let first = 0;
      let r = await it.next();
      while (!r.done) {
        if (!first) first = performance.now();
        if (!o.json) process.stdout.write(r.value.text);
        r = await it.next();
      }
      const end = performance.now();
      if (!first) first = end;
      const res = r.value;
      const decodeTps = res.completionTokens > 1 ? ((res.completionTokens - 1) / (end - first)) * 1000 : 0;
      if (o.json) {
        const ms = (x: number) => Math.round(x * 10) / 10;
        process.stdout.write(JSON.stringify({
          text: res.text, finishReason: res.finishReason, promptTokens: res.promptTokens, completionTokens: res.completionTokens,
          timings: { loadMs: ms(tLoad - t0), firstTokenMs: ms(first - tLoad), decodeMs: ms(end - first), totalMs: ms(end - t0),
            decodeTokensPerSecond: ms(decodeTps) },
          backend: model.info.backend, threads: model.info.threads,
        }) + '\n');
        return;
      }
      process.stdout.write('\n');
      process.stderr.write(`\n[${model.info.backend} ×${model.info.threads}] load ${((tLoad - t0) / 1000).toFixed(2)} s | prompt ${res.promptTokens} tok, ` +
        `first token ${((first - tLoad) / 1000).toFixed(2)} s | ${res.completionTokens} tokens at ${decodeTps.toFixed(1)} tok/s | finish: ${res.finishReason}\n`);
    } finally {
      process.removeListener('SIGINT', onSig);
      model.dispose();
    }
  });
}
