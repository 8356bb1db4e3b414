/** Shared CLI pieces: the --model default, backend/threads options, sampling flags, number parsing, prompt input. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultModelPath, HEAD_PRECISIONS, loadModel, type HeadPrecision, type Model } from '../model/index.js';
import { I2S_HELP } from '../model/gguf-model.js';
import { I2S_LAYOUTS, type I2SLayout } from '../quant/ggml.js';
import { progressBar } from './progress.js';

/** The bundled model, resolved relative to the package (not the working directory). */
export const DEFAULT_MODEL = defaultModelPath();

/** Decimal integers only: "12", "-3" (not "1e2", "0x10", "1.0", " 7", ""). */
const INTEGER = /^[+-]?\d+$/;

/** Strict integer parsing: the whole string is a decimal integer within the safe range, or an error naming `what`. */
export function parseInteger(what: string, v: string): number {
  const n = Number(v);
  if (!INTEGER.test(v) || !Number.isSafeInteger(n)) throw new Error(`${what} must be an integer, got '${v}'`);
  return n;
}

export function num(name: string, opts: { int?: boolean; min?: number; max?: number } = {}) {
  return (v: string): number => {
    const n = opts.int ? parseInteger(name, v) : Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`${name} must be a number, got '${v}'`);
    if (opts.min !== undefined && n < opts.min) throw new Error(`${name} must be >= ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) throw new Error(`${name} must be <= ${opts.max}, got ${n}`);
    return n;
  };
}

/** Parses a byte count: a number with an optional k, m or g suffix (powers of 1024), e.g. 512m, 2g, 1.5g. */
export function byteSize(name: string) {
  return (v: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$/i.exec(v);
    if (!m) throw new Error(`${name} must be a size like 512m or 2g, got '${v}'`);
    const bytes = Math.floor(Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()));
    if (bytes < 1) throw new Error(`${name} must be positive, got '${v}'`);
    return bytes;
  };
}

/** The value of an --i2s-layout flag, checked. */
export function i2sLayout(flag: string) {
  return (v: string): I2SLayout => {
    if (!I2S_LAYOUTS.includes(v as I2SLayout)) throw new Error(`${flag} must be one of ${I2S_LAYOUTS.join(', ')}, got '${v}'`);
    return v as I2SLayout;
  };
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <path>', 'GGUF file or Hugging Face model directory (default: the bundled models/default.gguf)')
    .option('--i2s-layout <layout>', `layout of the file's I2_S tensors: ${I2S_HELP}`, i2sLayout('--i2s-layout'), 'x86')
    .option('--backend <name>', 'wasm (SIMD, threads) or reference (pure TypeScript)', 'wasm')
    .option('-t, --threads <n>', 'compute threads (default: all cores)', num('--threads', { int: true, min: 1, max: 256 }))
    .option('--head <precision>', HEAD_HELP, headArg, 'file');
}

export const HEAD_HELP = 'LM head: file (as stored, F16/BF16/F32, exact), int8 (Q8_0 blocks of 32 built at load: ' +
  'about half the bytes per decoded token, faster decode on large vocabularies) or int7 (the same with 7-bit codes: ' +
  'a faster kernel, about twice int8\'s logit error)';

export function headArg(v: string): HeadPrecision {
  if (!(HEAD_PRECISIONS as readonly string[]).includes(v)) throw new Error(`--head must be one of ${HEAD_PRECISIONS.join(', ')}, got '${v}'`);
  return v as HeadPrecision;
}

export interface ModelCliOptions { model?: string; backend: string; threads?: number; i2sLayout?: I2SLayout; head?: HeadPrecision }

export async function openModel(o: ModelCliOptions, extra: { keepWeights?: boolean; kvMemoryBytes?: number } = {}): Promise<Model> {
  const path = o.model ?? DEFAULT_MODEL;
  if (!o.model && !existsSync(path)) throw new Error(`the bundled model ${path} is missing: pass --model PATH`);
  if (o.backend !== 'wasm' && o.backend !== 'reference') throw new Error(`--backend must be wasm or reference, got '${o.backend}'`);
  // a progress bar for the tensor reads, only if loading takes a while
  const bar = progressBar('load', { eta: false });
  const t0 = performance.now();
  const onProgress = (done: number, total: number) => { if (performance.now() - t0 > 500) bar.update(done, total); };
  try {
    return await loadModel(path, { backend: o.backend, threads: o.threads, i2sLayout: o.i2sLayout, head: o.head, onProgress, ...extra });
  } finally {
    bar.stop();
  }
}

export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option('-n, --max-tokens <n>', 'tokens to generate', num('--max-tokens', { int: true, min: 0 }), 128)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', num('--temperature', { min: 0 }), 0.8)
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', num('--top-k', { int: true, min: 0 }), 40)
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', num('--top-p', { min: 0, max: 1 }), 0.95)
    .option('--min-p <p>', 'drop tokens below p × the best probability (0 = off)', num('--min-p', { min: 0, max: 1 }), 0.05)
    .option('--repeat-penalty <r>', 'penalty on recently generated tokens (1 = off)', num('--repeat-penalty', { min: 0 }), 1.1)
    .option('--repeat-last-n <n>', 'how many recent tokens the penalty sees', num('--repeat-last-n', { int: true, min: 0 }), 64)
    .option('--seed <n>', 'random seed (reproducible sampling)', num('--seed', { int: true }))
    .option('--stop <s>', 'stop string; repeat for more (--stop a --stop b)', (v: string, acc: string[] = []) => [...acc, v]);
}

/**
 * The prompt of `run`: the argument, else --file, else stdin when it is not a terminal (`echo … | bitnet run`),
 * else `fallback`. Giving two sources is an error.
 */
export async function readPrompt(arg: string | undefined, file: string | undefined, fallback: string,
                                 stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (arg !== undefined && file !== undefined) throw new Error('give either a PROMPT argument or --file, not both');
  if (arg !== undefined) return arg;
  if (file !== undefined) {
    try {
      if (!statSync(file).isFile()) throw new Error('not a regular file');
      return readFileSync(file, 'utf8');
    } catch (e) { throw new Error(`--file: cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  }
  if (stdin.isTTY) return fallback;
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? fallback : text.replace(/\r?\n$/, ''); // `echo` adds one newline
}

export function parseTokenList(s: string, vocab: number): number[] {
  const parts = s.split(',').map((x) => x.trim());
  if (s.trim() === '') throw new Error('--tokens: give a comma-separated list of token ids, e.g. 1,2,3');
  if (parts.includes('')) throw new Error(`--tokens: an empty entry in '${s}' (give ids separated by single commas, e.g. 1,2,3)`);
  return parts.map((p) => {
    if (!/^\d+$/.test(p) || Number(p) >= vocab) throw new Error(`--tokens: '${p}' is not a token id of this model (0..${vocab - 1})`);
    return Number(p);
  });
}
