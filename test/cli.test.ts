import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = new URL('../../bin/bitnet.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'bitnet-cli-'));
const model = join(dir, 'tiny.gguf');
const cli = (...args: string[]) => execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('synth, info --json, logits --json, tokenize --json, run', () => {
  cli('synth', '--shape', 'tiny', '--type', 'tq1_0', '-o', model);
  const info = JSON.parse(cli('info', '--model', model, '--json'));
  assert.equal(info.architecture, 'bitnet');
  assert.equal(info.tensorTypes.TQ1_0, 14);
  const one = JSON.parse(cli('logits', '--model', model, '--tokens', '1,2,3', '--json'));
  assert.deepEqual(one.tokens, [1, 2, 3]);
  assert.equal(one.logits.length, 1);
  assert.equal(one.logits[0].length, 512);
  const all = JSON.parse(cli('logits', '--model', model, '--tokens', '1,2,3', '--all', '--json'));
  assert.equal(all.logits.length, 3);
  assert.deepEqual(all.logits[2], one.logits[0]);
  const tk = JSON.parse(cli('tokenize', '--model', model, 'hello there', '--json'));
  assert.equal(tk.tokens[0], 1); // BOS
  const nob = JSON.parse(cli('tokenize', '--model', model, '--no-bos', 'hello there', '--json'));
  assert.deepEqual(nob.tokens, tk.tokens.slice(1));
  const out = cli('run', '--model', model, 'hello', '--max-tokens', '5', '--temperature', '0');
  assert.ok(out.startsWith('hello'));
});

test('bad input gives a clear error and exit code 1', () => {
  const r = spawnSync(process.execPath, [bin, 'logits', '--model', model, '--tokens', '1,99999'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a token id/);
  const r2 = spawnSync(process.execPath, [bin, 'info', '--model', join(dir, 'nope.gguf')], { encoding: 'utf8' });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /model not found/);
  const r3 = spawnSync(process.execPath, [bin, 'info', '--model', bin], { encoding: 'utf8' });
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /not a GGUF file/);
  assert.doesNotMatch(r3.stderr, /\n\s+at /); // no stack trace
});
