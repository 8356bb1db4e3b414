/** `bitnet web`: serve the in-browser demo (the engine in a Web Worker, WASM kernels) locally. */
import type { Command } from 'commander';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL, num } from './common.js';
import { convertModel } from '../model/convert.js';
import { ensureWebBundle, startWebServer, stopWebServer } from '../serve/static.js';

export function register(program: Command): void {
  program.command('web')
    .description('serve the browser demo: the model runs in the tab (WebAssembly, Web Worker); open the printed URL')
    .option('-m, --model <path>', 'GGUF file or Hugging Face directory (converted to a temporary GGUF) offered to the page (default: the bundled models/default.gguf)')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port', num('--port', { int: true, min: 0, max: 65535 }), 8081)
    .action(async (o: { model?: string; host: string; port: number }) => {
      let model = o.model ?? (existsSync(DEFAULT_MODEL) ? DEFAULT_MODEL : undefined);
      let tmp: string | undefined;
      if (o.model && !existsSync(o.model)) throw new Error(`model not found: ${o.model}`);
      if (model && statSync(model).isDirectory()) { // the page reads GGUF: convert once, keeping the source's precision
        tmp = mkdtempSync(join(tmpdir(), 'bitnet-web-'));
        const out = join(tmp, 'model.gguf');
        convertModel(model, out, { log: (l) => process.stderr.write(`${l}\n`) });
        model = out;
      }
      process.once('exit', () => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });
      await ensureWebBundle();
      const { server, url } = await startWebServer({ host: o.host, port: o.port, model });
      process.stderr.write(`bitnet web: open ${url}  (model: ${model ?? 'none bundled — pick a .gguf file in the page'})\n`);
      const stop = () => { void stopWebServer(server, 2000).then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
