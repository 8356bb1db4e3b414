/** `bitnet serve` as a process: starts, answers, and on SIGTERM finishes the in-flight request and exits 0. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeModelGGUF } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { CLI } from './util.js';


test('bitnet serve: listens on the printed port, SIGTERM drains and exits 0', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-serve-cli-'));
  const shape = { dim: 256, nLayers: 1, nHeads: 4, nKvHeads: 4, ffnDim: 512, vocabSize: 300, contextLength: 128 };
  const file = join(dir, 'm.gguf');
  writeModelGGUF(file, synthWeights(shape, 9, 4), synthTokenizer(shape.vocabSize));
  const child = spawn(process.execPath, [CLI, 'serve', '--model', file, '--port', '0', '-t', '1', '--api-key', 'k'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d) => { err += d; const m = /(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(err); if (m) resolve(m[1]); });
    child.on('exit', () => reject(new Error(`serve exited early: ${err}`)));
  });
  const post = (body: object) => fetch(`${url}/v1/completions`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const ok = await post({ prompt: 'hello', max_tokens: 4, temperature: 0 });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).object, 'text_completion');
  assert.equal((await fetch(`${url}/v1/models`)).status, 401);
  const inflight = post({ prompt: 'hello', max_tokens: 60, temperature: 1 }).then((r) => r.json());
  await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  const r = await inflight;
  assert.equal(r.object, 'text_completion', JSON.stringify(r));
  assert.equal(await exited, 0, err);
  assert.match(err, /shutting down/);
});
