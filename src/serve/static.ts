/**
 * The browser demo's server (`bitnet web`): web/index.html, the esbuild bundle in web/dist/, the kernel
 * WebAssembly in build/, and the model as /model.gguf. Every response carries the cross-origin isolation
 * headers (COOP/COEP) that SharedArrayBuffer — shared WebAssembly memory for the kernel threads — needs.
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The package root (this file is dist/src/serve/static.js). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
  '.wasm': 'application/wasm', '.gguf': 'application/octet-stream', '.css': 'text/css', '.json': 'application/json',
};

const ISOLATION = {
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

export interface WebServerOptions { host?: string; port?: number; model?: string; root?: string }

/** URL prefix → directory it is served from (inside the package). */
function mounts(root: string): Array<[string, string]> {
  return [['/dist/', join(root, 'web', 'dist')], ['/build/', join(root, 'build')], ['/', join(root, 'web')]];
}

/** Makes sure the bundle exists: builds it with esbuild (a devDependency) when it is missing. */
export async function ensureWebBundle(root = PACKAGE_ROOT): Promise<void> {
  if (existsSync(join(root, 'web', 'dist', 'engine-worker.js'))) return;
  try {
    await import(pathToFileURL(join(root, 'scripts', 'build-web.mjs')).href);
  } catch (e) {
    throw new Error(`the browser bundle web/dist/ is missing and could not be built (${(e as Error).message.split('\n')[0]}): run \`npm run build:web\``);
  }
}

export async function startWebServer(opts: WebServerOptions = {}): Promise<{ server: Server; url: string }> {
  const root = opts.root ?? PACKAGE_ROOT;
  const model = opts.model;
  if (model && !(existsSync(model) && statSync(model).isFile())) throw new Error(`model not found: ${model}`);
  const table = mounts(root);
  const realDirs = new Map(table.map(([, d]) => [d, existsSync(d) ? realpathSync(d) : d]));
  const server = createServer((req, res) => {
    const send = (status: number, text: string) => { res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...ISOLATION }); res.end(text); };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET only');
    let path: string;
    try { path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname); } catch { return send(400, 'bad path'); }
    let file: string | undefined;
    if (path === '/model.gguf') {
      if (!model) return send(404, 'no model: start with `bitnet web --model FILE.gguf`, or pick a file in the page');
      file = model;
    } else {
      if (path === '/') path = '/index.html';
      const [prefix, dir] = table.find(([p]) => path.startsWith(p))!;
      const candidate = normalize(join(dir, path.slice(prefix.length)));
      if (!candidate.startsWith(dir + sep)) return send(403, 'outside the served folders');
      // the check that matters is on the real path: a symlink inside a served folder must not lead out of it
      try { file = realpathSync(candidate); } catch { return send(404, `not found: ${path}`); }
      if (!file.startsWith(realDirs.get(dir) + sep)) return send(403, 'outside the served folders');
    }
    let size: number;
    try { const st = statSync(file); if (!st.isFile()) return send(404, 'not found'); size = st.size; } catch { return send(404, `not found: ${path}`); }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-cache', ...ISOLATION });
    if (req.method === 'HEAD') return res.end();
    // pipeline destroys the file stream (and its descriptor) when the client goes away mid-download
    pipeline(createReadStream(file), res, () => {});
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 8081, opts.host ?? '127.0.0.1', () => resolve()); });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : opts.port ?? 8081;
  return { server, url: `http://${opts.host ?? '127.0.0.1'}:${port}/` };
}

/**
 * Stops a web server: no new connections, idle keep-alive ones closed now, and every connection still
 * open after `deadlineMs` (a client that stopped reading a download) destroyed.
 */
export async function stopWebServer(server: Server, deadlineMs = 2000): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const force = setTimeout(() => server.closeAllConnections(), deadlineMs);
  await closed;
  clearTimeout(force);
}
