import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { CLI } from './util.js';

const data = new URL('../../test/fixtures/kjv-sample.txt', import.meta.url).pathname;

test('bitnet train: SIGINT saves a checkpoint mid-run, --resume finishes it and exports', async () => {
  const out = mkdtempSync(join(tmpdir(), 'train-cli-'));
  const args = [CLI, 'train', '--config', 'tiny', '--steps', '100000', '--data', data, '--out', out];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (/step 20\//.test(stderr) && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130, stderr); // 128 + SIGINT
  assert.match(stderr, /SIGINT: saving a checkpoint/);
  const saved = loadCheckpoint(out).meta;
  assert.ok(saved.step >= 20 && saved.step < 100000, `saved at step ${saved.step}`);
  const summary = JSON.parse(stdout) as { step: number; interrupted?: boolean };
  assert.equal(summary.step, saved.step);
  assert.equal(summary.interrupted, true);
  assert.equal(saved.config.warmup, Math.round(100000 / 6), 'warmup is the preset\'s fraction of --steps');

  const res = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [...args.slice(0, 5), String(saved.step + 5), ...args.slice(6), '--resume', '--export', 'i2_s,hf']);
    let err = ''; c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, err }));
  });
  assert.equal(res.code, 0, res.err);
  assert.match(res.err, /exported .*model-i2_s\.gguf/);
  assert.ok(existsSync(join(out, 'hf', 'config.json')) && existsSync(join(out, 'hf', 'model.safetensors')), res.err);
});

test('bitnet train: bad input is a one-line error and exit code 1', async () => {
  const run = (extra: string[]) => new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [CLI, 'train', '--out', mkdtempSync(join(tmpdir(), 'train-bad-')), ...extra]);
    let err = ''; c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, err }));
  });
  for (const [extra, msg] of [
    [['--data', '/nonexistent.txt'], /no such file/],
    [['--data', data, '--config', 'huge'], /neither a preset/],
    [['--data', data, '--config', 'constructor'], /'constructor' is neither a preset/],
    [['--data', data, '--precision', 'int4'], /--precision must be/],
    [['--data', data, '--resume', '--batch', '3'], /only --steps may change/],
    [['--data', data, '--resume', '--warmup', '3'], /only --steps may change/],
    [['--data', data, '--threads', '0'], /--threads must be/],
    [['--export-only'], /no checkpoint/],
  ] as const) {
    const r = await run([...extra]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, msg);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});

test('bitnet train: SIGTERM saves and exits 143; --resume with another --data is refused; --warmup; help shows defaults', async () => {
  const out = mkdtempSync(join(tmpdir(), 'train-term-'));
  const run = (extra: string[], killAt?: RegExp) => new Promise<{ code: number | null; err: string; stdout: string }>((resolve) => {
    const c = spawn(process.execPath, [CLI, 'train', '--config', 'tiny', '--out', out, '--export', 'none', ...extra]);
    let err = '', stdout = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => { err += d; if (killAt && killAt.test(err) && !c.killed) c.kill('SIGTERM'); });
    c.on('close', (code) => resolve({ code, err, stdout }));
  });
  const a = await run(['--data', data, '--steps', '100000', '--warmup', '7'], /step 10\//);
  assert.equal(a.code, 143, a.err);
  assert.equal((JSON.parse(a.stdout) as { interrupted?: boolean }).interrupted, true);
  assert.equal(loadCheckpoint(out).meta.config.warmup, 7);
  const other = join(mkdtempSync(join(tmpdir(), 'train-data-')), 'other.txt');
  writeFileSync(other, readFileSync(data, 'utf8').slice(1000));
  const b = await run(['--data', other, '--resume']);
  assert.equal(b.code, 1, b.err);
  assert.match(b.err, /not the corpus this run trained on/);
  const help = await new Promise<string>((resolve) => {
    const c = spawn(process.execPath, [CLI, 'train', '--help']);
    let o = ''; c.stdout.on('data', (d) => (o += d)); c.on('close', () => resolve(o));
  });
  for (const re of [/--steps.*small\s+2400/s, /--warmup.*small\s+4\.2%/s, /--threads.*default:\s+\d+/s, /--lr.*small\s+0\.003,0\.0015/s]) assert.match(help, re);
});
