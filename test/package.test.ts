/**
 * The package as users get it: `npm pack` of this repository, installed offline into a fresh project
 * (the dependencies come from the npm cache `npm ci` filled), then the `bitnet-ts` CLI, the README's
 * library snippet and `bitnet-ts web` run from that project, outside the clone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// npm run by `npm test` passes its own config down; the child npm gets a clean one (but the same cache)
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') || k === 'npm_config_cache'));

test('npm pack → npm install --offline elsewhere: CLI, library snippet, web bundle and bundled model all work', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'bitnet-pack-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  // the build (npm test runs it) has produced dist/, build/*.wasm and web/dist/: pack without re-running it
  const packed = JSON.parse(execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: repo, env, encoding: 'utf8' }));
  const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
  for (const f of ['bin/bitnet.js', 'dist/src/index.js', 'dist/src/cli/main.js', 'build/kernels-simd128.wasm', 'build/kernels-relaxed.wasm',
    'models/default.gguf', 'web/index.html', 'web/dist/engine-worker.js', 'web/dist/main.js', 'web/dist/worker.js', 'README.md']) {
    assert.ok(files.includes(f), `the tarball lacks ${f}`);
  }
  assert.deepEqual(files.filter((f) => /(^|\/)test\//.test(f) || /\.test\.js$/.test(f)), [], 'test files in the tarball');
  assert.deepEqual(files.filter((f) => /^src\/|\.ts$/.test(f) && !f.endsWith('.d.ts')), [], 'TypeScript sources in the tarball');

  const app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  try {
    execFileSync(npm, ['install', '--offline', '--no-audit', '--no-fund', join(work, packed[0].filename)], { cwd: app, env, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    assert.fail(`npm install --offline failed (are the dependencies in the npm cache? run npm ci once): ${(e as { stderr?: string }).stderr}`);
  }
  const bin = join(app, 'node_modules', '.bin', 'bitnet-ts');
  assert.equal(readFileSync(join(app, 'node_modules', 'bitnet-ts', 'package.json'), 'utf8').includes('"bitnet-ts": "bin/bitnet.js"'), true);

  // the CLI, from the other project, with the bundled model found from the package; it names itself bitnet-ts there
  assert.match(execFileSync(bin, ['run', '--help'], { cwd: app, encoding: 'utf8' }), /^Usage: bitnet-ts run /);
  const run = JSON.parse(execFileSync(bin, ['run', '--json', '-n', '6', '--temperature', '0', 'And God said'], { cwd: app, encoding: 'utf8' }));
  const here = JSON.parse(execFileSync(process.execPath, [join(repo, 'bin', 'bitnet.js'), 'run', '--json', '-n', '6', '--temperature', '0', 'And God said'], { encoding: 'utf8' }));
  assert.equal(run.text, here.text);
  assert.equal(run.completionTokens, 6);

  // the README's library snippet (section "Use it in your project")
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const snippet = /## Use it in your project[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(snippet, 'README has a "Use it in your project" section with a ```js snippet');
  writeFileSync(join(app, 'snippet.mjs'), snippet);
  const out = execFileSync(process.execPath, ['snippet.mjs'], { cwd: app, encoding: 'utf8' });
  assert.ok(out.length > 0 && out.includes('And God said'), out);

  // web: the shipped bundle, the kernels and the bundled model are served
  const web = spawn(bin, ['web', '--port', '0'], { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => web.kill());
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    web.stderr.on('data', (d) => { err += d; const m = /open (http:\/\/\S+)/.exec(err); if (m) resolve(m[1]); });
    web.on('exit', (c) => reject(new Error(`bitnet-ts web exited ${c}: ${err}`)));
  });
  for (const [path, type] of [['', 'text/html'], ['dist/engine-worker.js', 'text/javascript'], ['build/kernels-simd128.wasm', 'application/wasm'],
    ['model.gguf', 'application/octet-stream']]) {
    const r = await fetch(url + path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type') ?? '', new RegExp(type), path);
    await r.arrayBuffer();
  }
});
