/**
 * `bitnet bench`: measure the kernels (--kernels), a model's prompt/decode speed against a
 * memory-bandwidth bound measured in the same run (--model), or its batched decoding (--model --batch).
 */
import { Command, InvalidArgumentError } from 'commander';
import { HEAD_HELP, headArg, num } from './common.js';
import type { HeadPrecision } from '../model/index.js';
import { progressBar } from './progress.js';
import { benchKernels, formatKernelBench } from '../bench/kernels.js';
import { benchModel, benchSynthetic, formatModelBench } from '../bench/model.js';
import type { WasmVariant } from '../kernels/wasm-module.js';
import type { KVDtype } from '../kernels/backend.js';
import { benchBatch, formatBatchBench } from '../bench/batch.js';
import { SHAPES } from '../model/synth.js';
import { runServerBench, formatServerBench } from '../bench/server-load.js';
import { formatSoak, runSoak } from '../bench/soak.js';
import { benchTrain, formatTrainBench } from '../bench/train.js';

const positiveInt = (name: string) => num(`--${name}`, { int: true, min: 1 });

function batchList(v: string): number[] {
  const sizes = v.split(',').map((x) => (/^\s*\d+\s*$/.test(x) ? Number(x) : NaN));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new InvalidArgumentError('must be positive integers separated by commas, e.g. 1,4,16,32');
  return sizes;
}

function kvTypeArg(v: string): KVDtype {
  if (v !== 'f16' && v !== 'f32') throw new InvalidArgumentError('must be f16 or f32');
  return v;
}

function variantArg(v: string): WasmVariant {
  if (v !== 'relaxed' && v !== 'simd128') throw new InvalidArgumentError('must be relaxed or simd128');
  return v;
}

/** A progress bar on stderr when it is a terminal; silent otherwise. */
function progress(label: string) {
  const bar = progressBar(label);
  return { update: (d: number, t: number) => bar.update(d, t), stop: () => bar.stop() };
}

interface BenchOptions {
  model?: string; synthetic?: string; kernels?: boolean; threads?: number; prompt?: number; gen?: number; json?: boolean;
  batch?: number[]; kvType: KVDtype; head: HeadPrecision;
  variant?: WasmVariant; repeat: number; train?: boolean; config: string; steps: number;
  server?: string; concurrency: number; requests?: number; maxTokens: number; apiKey?: string; soak?: number;
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('measure speed: kernels vs the pure-TS reference (--kernels), a model\'s prompt and decode tok/s against memory bandwidth (--model), or training (--train)')
    .option('-m, --model <path>', 'GGUF file or Hugging Face model directory to benchmark')
    .option('--synthetic <shape|file>', `the engine on random weights of a shape (${Object.keys(SHAPES).join(', ')}; written to a temporary GGUF)`)
    .option('--kernels', 'benchmark each kernel against its pure-TS reference')
    .option('--train', 'training speed of a preset\'s shape (random tokens): tokens/s, GEMM share, MFU')
    .option('--config <preset>', 'with --train: the training preset', 'small')
    .option('--steps <n>', 'with --train: timed steps (after 2 warm-up steps)', positiveInt('steps'), 10)
    .option('-t, --threads <n>', 'threads (default: all cores)', positiveInt('threads'))
    .option('--prompt <n>', 'prompt tokens to process (default: 128; with --batch, 16 per sequence)', positiveInt('prompt'))
    .option('--gen <n>', 'tokens to decode (default: 64; with --batch, 16 per sequence)', positiveInt('gen'))
    .option('--batch <sizes>', 'with --model: aggregate decode tok/s, per-sequence latency and KV bytes at each batch size, e.g. 1,4,16,32', batchList)
    .option('--kv-type <t>', 'with --batch: KV cache cells, f16 or f32', kvTypeArg, 'f16')
    .option('--head <precision>', `with --model/--synthetic: ${HEAD_HELP}`, headArg, 'file')
    .option('--repeat <n>', 'repeat the model run, report the best', positiveInt('repeat'), 1)
    .option('--variant <isa>', 'force a WASM variant: relaxed or simd128 (default: relaxed where the runtime has it)', variantArg)
    .option('--json', 'print results as JSON')
    .option('--server <url>', 'load-test a running OpenAI-compatible server (bitnet serve): streaming chat requests')
    .option('--concurrency <n>', 'with --server: clients in flight', positiveInt('concurrency'), 32)
    .option('--requests <n>', 'with --server: total requests (default 2 × concurrency)', positiveInt('requests'))
    .option('--max-tokens <n>', 'with --server: max_tokens per request', positiveInt('max-tokens'), 64)
    .option('--api-key <key>', 'with --server: bearer token')
    .option('--soak <seconds>', 'with --server: soak test for this long (hang-ups and bad requests mixed in; RSS sampled from /health)',
            positiveInt('soak'))
    .action(async (opts: BenchOptions) => {
      if (!opts.model && !opts.kernels && !opts.synthetic && !opts.server && !opts.train) {
        throw new Error('nothing to measure: give --model <path>, --synthetic <shape>, --kernels, --train or --server <url>');
      }
      /** One measurement: a progress bar while it runs (when labelled), then its result, as JSON with --json. */
      const report = async <R>(label: string | undefined, run: (onProgress?: (d: number, t: number) => void) => Promise<R>,
                               format: (r: R) => string): Promise<R> => {
        const bar = label ? progress(label) : undefined;
        const r = await run(bar?.update).finally(() => bar?.stop());
        console.log(opts.json ? JSON.stringify(r, null, 2) : format(r));
        return r;
      };
      if (opts.train) {
        await report(undefined, () => benchTrain({ config: opts.config, threads: opts.threads, variant: opts.variant, steps: opts.steps }),
          formatTrainBench);
      }
      const server = { server: opts.server!, concurrency: opts.concurrency, maxTokens: opts.maxTokens, apiKey: opts.apiKey };
      if (opts.server && opts.soak) {
        const r = await report(undefined, () => runSoak({ ...server, seconds: opts.soak!,
          onSample: (s) => process.stderr.write(`  ${s.t}s: ${s.requests} requests, RSS ${s.rssMB ?? '?'} MB\n`) }), formatSoak);
        if (r.unexpected) process.exitCode = 1;
      } else if (opts.server) {
        const r = await report('requests', (onProgress) => runServerBench({ ...server, requests: opts.requests, onProgress }),
          formatServerBench);
        if (r.failed) process.exitCode = 1;
      }
      if (opts.kernels) {
        await report('kernels', (onProgress) => benchKernels({ threads: opts.threads, variant: opts.variant, onProgress }),
          formatKernelBench);
      }
      // the engine runs: a model file (one sequence, or --batch sizes) and random weights of a shape
      const engine = {
        threads: opts.threads, promptTokens: opts.prompt, genTokens: opts.gen, repeat: opts.repeat, variant: opts.variant,
        head: opts.head,
      };
      const model = opts.model;
      if (model && opts.batch) {
        await report('batch', (onProgress) => benchBatch(model, { ...engine, batches: opts.batch!, kvType: opts.kvType, onProgress }),
          formatBatchBench);
      } else if (model) {
        await report('bench', (onProgress) => benchModel(model, { ...engine, onProgress }), formatModelBench);
      }
      const shape = opts.synthetic;
      if (shape) await report('bench', (onProgress) => benchSynthetic(shape, { ...engine, onProgress }), formatModelBench);
    });
}
