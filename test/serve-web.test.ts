/** `bitnet web`'s static server: cross-origin isolation headers, content types, the model route, no escaping the served folders. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWebServer, stopWebServer } from '../src/serve/static.js';

test('static server for the browser demo', async () => {
  const root = mkdtempSync(join(tmpdir(), 'bitnet-webroot-'));
  for (const d of ['web/dist', 'build']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'web/index.html'), '<!doctype html>hi');
  writeFileSync(join(root, 'web/dist/main.js'), 'export {}');
  writeFileSync(join(root, 'build/kernels-relaxed.wasm'), new Uint8Array([0, 97, 115, 109]));
  writeFileSync(join(root, 'secret.txt'), 'no');
  const model = join(root, 'm.gguf');
  writeFileSync(model, new Uint8Array(1000));
  await assert.rejects(startWebServer({ root, port: 0, model: join(root, 'missing.gguf') }), /model not found/);

  for (const withModel of [false, true]) {
    const { server, url } = await startWebServer({ root, port: 0, model: withModel ? model : undefined });
    try {
      const get = (p: string) => fetch(new URL(p, url));
      const index = await get('/');
      assert.equal(index.status, 200);
      assert.equal(index.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.equal(index.headers.get('cross-origin-embedder-policy'), 'require-corp');
      assert.match(index.headers.get('content-type')!, /text\/html/);
      assert.equal(await index.text(), '<!doctype html>hi');
      assert.match((await get('/dist/main.js')).headers.get('content-type')!, /javascript/);
      const wasm = await get('/build/kernels-relaxed.wasm');
      assert.equal(wasm.headers.get('content-type'), 'application/wasm');
      assert.equal((await wasm.arrayBuffer()).byteLength, 4);
      const m = await get('/model.gguf');
      assert.equal(m.status, withModel ? 200 : 404);
      if (withModel) assert.equal(m.headers.get('content-length'), '1000');
      await m.arrayBuffer();
      for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/dist/%2e%2e/%2e%2e/secret.txt']) {
        const r = await get(p);
        assert.ok(r.status === 403 || r.status === 404, `${p} -> ${r.status}`);
        assert.notEqual(await r.text(), 'no');
      }
      assert.equal((await get('/nothing.js')).status, 404);
      assert.equal((await fetch(url, { method: 'POST' })).status, 405);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }
});

test('static server: no symlink escape, nosniff, aborted downloads release their descriptors, stalled clients end at shutdown', { timeout: 20_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'bitnet-webroot2-'));
  for (const d of ['web/dist', 'build']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'web/index.html'), 'hi');
  writeFileSync(join(root, 'secret.txt'), 'no');
  symlinkSync(join(root, 'secret.txt'), join(root, 'web/link.txt'));
  symlinkSync(root, join(root, 'web/up'));
  const model = join(root, 'm.gguf');
  writeFileSync(model, new Uint8Array(32 << 20));
  const { server, url } = await startWebServer({ root, port: 0, model });
  const port = Number(new URL(url).port);
  try {
    for (const p of ['/link.txt', '/up/secret.txt']) {
      const r = await fetch(new URL(p, url));
      assert.ok(r.status === 403 || r.status === 404, `${p} -> ${r.status}`);
      assert.notEqual(await r.text(), 'no');
    }
    assert.equal((await fetch(url)).headers.get('x-content-type-options'), 'nosniff');
    // aborted downloads: read the first bytes, hang up; the file descriptors must not pile up
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/model.gguf' }, (res) => res.once('data', () => { req.destroy(); resolve(); }));
        req.on('error', () => resolve());
        req.end();
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(fds() - before < 5, `${fds() - before} descriptors left open by 20 aborted downloads`);
    // a client that stops reading: shutdown still ends, at the deadline
    const stalled = new Socket();
    await new Promise<void>((r) => stalled.connect(port, '127.0.0.1', () => r()));
    stalled.write('GET /model.gguf HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    stalled.pause();
    stalled.on('error', () => {});
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await stopWebServer(server, 300);
    assert.ok(performance.now() - t0 < 2000, `shutdown took ${performance.now() - t0} ms`);
    stalled.destroy();
  } finally {
    server.closeAllConnections();
  }
});
