/** `bitnet serve`: the OpenAI-compatible HTTP server. */
import { Option, type Command } from 'commander';
import { DEFAULT_KV_MEMORY } from '../model/kv-cache.js';
import { addModelOptions, byteSize, num, openModel, type ModelCliOptions } from './common.js';
import { BitnetServer } from '../serve/server.js';
import { checkApiKey } from '../serve/guard.js';

export function register(program: Command): void {
  addModelOptions(program.command('serve').description('serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions)'))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port', num('--port', { int: true, min: 0, max: 65535 }), 8080)
    .option('--api-key <key>', 'require Authorization: Bearer <key> (default: BITNET_API_KEY if set; empty is an error)')
    .option('--allowed-hosts <names...>', "Host names requests may address besides IP literals, localhost and --host ('*' = any)")
    .option('--parallel <n>', 'sequences decoded together (continuous batching)', num('--parallel', { int: true, min: 1, max: 64 }), 8)
    .addOption(new Option('--kv-memory <size>', 'KV cache budget shared by all sequences, e.g. 512m, 2g (blocks are taken as sequences grow)')
      .argParser(byteSize('--kv-memory')).default(DEFAULT_KV_MEMORY, '1g'))
    .option('--queue <n>', 'requests that may wait before 429', num('--queue', { int: true, min: 0 }), 64)
    .option('--max-tokens-limit <n>', 'largest max_tokens a request may ask', num('--max-tokens-limit', { int: true, min: 1 }), 1024)
    .option('--name <id>', "model id reported by /v1/models (requests may name it or 'default')", 'bitnet')
    .option('--cors <origin...>', "let browser pages from these origins call the API ('*' = any; default: none)")
    .action(async (o: ModelCliOptions & { host: string; port: number; apiKey?: string; parallel: number; queue: number; maxTokensLimit: number;
      name: string; cors?: string[]; kvMemory: number; allowedHosts?: string[] }) => {
      const apiKey = o.apiKey ?? process.env.BITNET_API_KEY;
      checkApiKey(apiKey, o.apiKey !== undefined ? '--api-key' : 'BITNET_API_KEY');
      const model = await openModel(o, { kvMemoryBytes: o.kvMemory });
      const server = new BitnetServer(model, {
        host: o.host, allowedHosts: o.allowedHosts, port: o.port, apiKey, parallel: o.parallel, maxQueue: o.queue,
        maxTokensLimit: o.maxTokensLimit, modelName: o.name, cors: o.cors,
      });
      const { host, port } = await server.listen();
      process.stderr.write(`bitnet serve: http://${host}:${port}/v1 (model ${o.model ?? 'bundled'}, ${model.info.backend} ×${model.info.threads}, parallel ${o.parallel}, ` +
        `KV cache ${(model.kvCache.memoryBytes / 2 ** 20).toFixed(0)} MiB ${model.kvCache.dtype})\n`);
      const stop = async () => {
        process.stderr.write('shutting down: finishing in-flight requests…\n');
        await server.close();
        model.dispose();
        process.exit(0);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
