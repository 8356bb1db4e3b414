/** `bitnet web`: serve the in-browser demo (the engine in a Web Worker, WASM kernels) locally. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { DEFAULT_MODEL, num } from './common.js';
import { ensureWebBundle, startWebServer } from '../serve/static.js';

export function register(program: Command): void {
  program.command('web')
    .description('serve the browser demo: the model runs in the tab (WebAssembly, Web Worker); open the printed URL')
    .option('-m, --model <path>', 'GGUF file offered to the page as the bundled model (default: models/default.gguf)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port', num('--port', { int: true, min: 0, max: 65535 }), 8081)
    .action(async (o: { model?: string; host: string; port: number }) => {
      const model = o.model ?? (existsSync(DEFAULT_MODEL) ? DEFAULT_MODEL : undefined);
      await ensureWebBundle();
      const { server, url } = await startWebServer({ host: o.host, port: o.port, model });
      process.stderr.write(`bitnet web: open ${url}  (model: ${model ?? 'none bundled — pick a .gguf file in the page'})\n`);
      const stop = () => server.close(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
