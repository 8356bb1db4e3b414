/**
 * `bitnet` command line. Each command lives in its own module under src/cli/ and exports
 * `register(program)`; this file only assembles them.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command();
program
  .name(basename(process.argv[1] ?? 'bitnet').replace(/\.js$/, '') === 'bitnet-ts' ? 'bitnet-ts' : 'bitnet') // as invoked
  .description('Train, run, serve, evaluate and measure 1.58-bit (ternary) BitNet LLMs')
  .version(pkg.version)
  .showHelpAfterError();

// Command modules register themselves here (one line each).
const modules: Array<Promise<{ register(p: Command): void }>> = [
  import('./run.js'),
  import('./chat.js'),
  import('./info.js'),
  import('./logits.js'),
  import('./tokenize.js'),
  import('./synth.js'),
  import('./train.js'),
  import('./eval.js'),
  import('./serve.js'),
  import('./web.js'),
  import('./cost.js'),
  import('./bench.js'),
  import('./convert.js'),
  import('./quantize.js'),
];
for (const m of await Promise.all(modules)) m.register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`${program.name()}: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.BITNET_DEBUG && err instanceof Error) console.error(err.stack);
  process.exit(1);
}
