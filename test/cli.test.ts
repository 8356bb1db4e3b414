import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './util.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-cli-'));
const model = join(dir, 'tiny.gguf');
const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('synth --type f16 writes the FP16 LLaMA baseline (every linear f16, no sub-norms) that runs', () => {
  const fp = join(dir, 'tiny-f16.gguf');
  cli('synth', '--shape', 'tiny', '--type', 'f16', '-o', fp);
  const info = JSON.parse(cli('info', '--model', fp, '--json'));
  assert.equal(info.architecture, 'llama');
  assert.equal(info.tensorTypes.TQ2_0, undefined);
  assert.ok(info.tensorTypes.F16 >= 15, JSON.stringify(info.tensorTypes)); // 14 linears + embedding
  const one = JSON.parse(cli('logits', '--model', fp, '--tokens', '1,2,3', '--json'));
  assert.ok(one.logits[0].every(Number.isFinite));
});

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
  // sampling with a seed reproduces; a stop string cuts the text before it
  const args = ['run', '--model', model, 'hello', '-n', '12', '--temperature', '1.5', '--top-k', '0', '--repeat-penalty', '1.3', '--seed', '9'];
  const s1 = cli(...args), s2 = cli(...args);
  assert.equal(s1, s2);
  const gen = s1.slice('hello'.length).trimEnd();
  if (gen.length >= 4) {
    const stop = gen.slice(2, 4);
    const cut = cli(...args, '--stop', stop);
    assert.equal(cut.trimEnd(), 'hello' + gen.slice(0, gen.indexOf(stop)));
  }
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  assert.match(r.stderr, /tok\/s/);
});

test('bad input gives a clear error and exit code 1', () => {
  const r = spawnSync(process.execPath, [CLI, 'logits', '--model', model, '--tokens', '1,99999'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a token id/);
  const r2 = spawnSync(process.execPath, [CLI, 'info', '--model', join(dir, 'nope.gguf')], { encoding: 'utf8' });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /model not found/);
  const r3 = spawnSync(process.execPath, [CLI, 'info', '--model', CLI], { encoding: 'utf8' });
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /not a GGUF file/);
  assert.doesNotMatch(r3.stderr, /\n\s+at /); // no stack trace
  for (const [args, msg] of [[['synth', '--shape', '5b', '-o', join(dir, 'x.gguf')], /unknown shape/],
    [['synth', '--shape', 'constructor', '-o', join(dir, 'x.gguf')], /unknown shape 'constructor'/], [['run', '--model', model, '--top-p', '2'], /--top-p must be <= 1/],
    [['tokenize', '--model', model], /nothing to tokenize/]] as const) {
    const e = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    assert.equal(e.status, 1, args.join(' '));
    assert.match(e.stderr, msg);
  }
});
