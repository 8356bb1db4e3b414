/** `bitnet-ts/serve`: the OpenAI-compatible HTTP server, and the load generator that measures one. */
export { BitnetServer, type ServeOptions } from './serve/server.js';
export { runServerBench, formatServerBench, type ServerBenchOptions, type ServerBenchResult } from './bench/server-load.js';
