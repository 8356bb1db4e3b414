/**
 * The CLI does what it is told: repeatable --stop, prompt from stdin or --file, run --json, interactive chat
 * (history, /reset, Ctrl-C), --model as a HF directory everywhere, strict integers, convert keeping each
 * tensor's precision, quantize --ptq on convert --type f16 output, progress bar and ETA formatting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDuration, progressBar } from '../src/cli/progress.js';
import { defaultModelPath } from '../src/model/index.js';
import { CLI } from './util.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-ux-'));
const bundled = defaultModelPath();
const cli = (args: string[], input?: string) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const fails = (args: string[]) => { const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' }); assert.equal(r.status, 1, r.stdout); return r.stderr; };
const runJson = (args: string[], input?: string) => JSON.parse(cli(['run', '--json', '--temperature', '0', '-n', '12', ...args], input));
const tokens = (text: string, model = bundled) => JSON.parse(cli(['tokenize', '--model', model, text])).tokens as number[];

test('ETA and progress bar: whole seconds carried (never "2m60s"), logged lines above the bar, a clean line after stop', () => {
  assert.equal(formatDuration(179.6), '3m00s');
  assert.equal(formatDuration(119.5), '2m00s');
  assert.equal(formatDuration(59.6), '1m00s');
  assert.equal(formatDuration(45.2), '45s');
  assert.equal(formatDuration(3599.7), '1h00m');
  assert.equal(formatDuration(7384), '2h03m');
  assert.equal(formatDuration(NaN), '?');
  let out = '', t = 0;
  const stream = { isTTY: true, columns: 200, write: (s: string) => { out += s; return true; } };
  const bar = progressBar('train', { stream, now: () => t });
  bar.update(0, 100);
  t = 10_000; bar.update(10, 100, { loss: '3.21' });
  assert.match(out, /\rtrain \|█*░*\| 10\/100  loss 3\.21  ETA 1m30s\x1b\[K$/);
  bar.log('step 10: val 3.5');
  assert.ok(out.includes('\r\x1b[Kstep 10: val 3.5\n\rtrain |'), JSON.stringify(out)); // the line starts clean, the bar comes back below
  bar.stop();
  assert.ok(out.endsWith('\r\x1b[K'));
  let plain = '';
  const pipe = progressBar('x', { stream: { isTTY: false, write: (s: string) => { plain += s; return true; } } });
  pipe.update(1, 2); pipe.log('hello'); pipe.stop();
  assert.equal(plain, 'hello\n'); // no bar off a terminal
});

test('run: --stop takes one value (never the prompt), repeats, and cuts the text', () => {
  const base = runJson(['The LORD is']);
  assert.equal(base.promptTokens, tokens('The LORD is').length);
  const withStop = runJson(['--stop', 'zzz', 'The LORD is']);
  assert.equal(withStop.promptTokens, base.promptTokens); // the prompt was not eaten as a second stop string
  assert.equal(withStop.text, base.text);
  const words = base.text.trim().split(/\s+/);
  assert.ok(words.length >= 3, base.text);
  const cut = runJson(['--stop', 'zzz', '--stop', words[1], 'The LORD is']);
  assert.equal(cut.text, base.text.slice(0, base.text.indexOf(words[1])));
  assert.equal(cut.finishReason, 'stop');
});

test('run --json: text, token counts, timings, finish reason; the prompt from stdin or --file', () => {
  const r = runJson(['In the beginning']);
  assert.deepEqual(Object.keys(r).sort(), ['backend', 'completionTokens', 'finishReason', 'promptTokens', 'text', 'threads', 'timings']);
  assert.equal(r.completionTokens, 12);
  assert.equal(r.finishReason, 'length');
  for (const k of ['loadMs', 'firstTokenMs', 'decodeMs', 'totalMs', 'decodeTokensPerSecond']) assert.ok(r.timings[k] >= 0, k);
  const piped = runJson([], 'In the beginning\n');
  assert.equal(piped.text, r.text);
  assert.equal(piped.promptTokens, r.promptTokens);
  const file = join(dir, 'prompt.txt');
  writeFileSync(file, 'In the beginning');
  assert.equal(runJson(['--file', file]).text, r.text);
  assert.match(fails(['run', '--file', file, 'also this']), /either a PROMPT argument or --file/);
  assert.match(fails(['run', '--file', join(dir, 'nope.txt')]), /--file: cannot read/);
});

test('chat: history changes the reply, /reset forgets it', () => {
  // each reply is followed by one newline (replies may contain newlines themselves)
  const chat = (input: string) => cli(['chat', '--temperature', '0', '-n', '16'], input);
  const [first, again] = chat('Who made the heaven?\n/reset\nWho made the heaven?\n').split('(conversation cleared)\n');
  assert.equal(again, first);
  assert.ok(first.trim().length > 0);
  const one = chat('Who made the heaven?\n');
  assert.equal(one, first);
  const alone = chat('And what of the earth?\n');
  const after = chat('Who made the heaven?\nAnd what of the earth?\n').slice(one.length);
  assert.notEqual(after, alone); // the second turn saw the first
});

test('chat: Ctrl-C stops the reply being generated, the conversation goes on', async () => {
  execFileSync(process.execPath, [CLI, 'synth', '--shape', 'tiny', '-o', join(dir, 'tiny.gguf')]);
  const p = spawn(process.execPath, [CLI, 'chat', '--backend', 'reference', '--temperature', '0', '-n', '400', '--model', join(dir, 'tiny.gguf')]);
  let out = '';
  const exited = new Promise<number | null>((r) => p.on('exit', r));
  p.stdin.write('hello\n');
  await new Promise<void>((r) => p.stdout.on('data', (d) => { out += d; if (out.length > 0) r(); }));
  p.kill('SIGINT');
  await new Promise<void>((r) => { const t = setInterval(() => { if (out.includes('[stopped]')) { clearInterval(t); r(); } }, 10); });
  p.stdin.write('/exit\n');
  assert.equal(await exited, 0);
  assert.match(out, / \[stopped\]\n/);
});

test('--model takes a Hugging Face directory everywhere; convert keeps each tensor\'s precision; --outtype chooses', () => {
  const hf = join(dir, 'hf');
  cli(['convert', bundled, hf]);
  assert.deepEqual(tokens('In the beginning', hf), tokens('In the beginning'));
  assert.deepEqual(runJson(['--model', hf, 'And God']).text, runJson(['And God']).text);
  const info = (m: string) => JSON.parse(cli(['info', '--model', m, '--json']));
  assert.equal(info(hf).architecture, info(bundled).architecture);
  const back = join(dir, 'back.gguf');
  cli(['convert', hf, back]);
  assert.deepEqual(info(back).tensorTypes, info(bundled).tensorTypes); // the F16 embedding stays F16
  assert.equal(statSync(back).size, statSync(bundled).size);
  const wide = join(dir, 'f32.gguf');
  cli(['convert', bundled, wide, '--outtype', 'f32']);
  assert.equal(info(wide).tensorTypes.F16, undefined);
  assert.match(fails(['convert', bundled, wide, '--outtype', 'f8']), /--outtype must be one of/);
});

test('quantize --ptq takes what convert --type f16 writes (full precision storage)', () => {
  const f16 = join(dir, 'full.gguf'), q = join(dir, 'q.gguf');
  cli(['convert', bundled, f16, '--type', 'f16']);
  assert.ok(JSON.parse(cli(['info', '--model', f16, '--json'])).tensorTypes.F16 > 1);
  execFileSync(process.execPath, [CLI, 'quantize', '--ptq', f16, q], { stdio: 'pipe' });
  const logits = (m: string) => JSON.parse(cli(['logits', '--model', m, '--tokens', '1,2,3'])).logits[0] as number[];
  const a = logits(q), b = logits(bundled);
  assert.ok(a.every((x, i) => Math.abs(x - b[i]) < 1e-3)); // exactly ternary values: kept, not re-scaled
});

test('integers are parsed strictly everywhere', () => {
  assert.match(fails(['logits', '--tokens', 'a,b']), /'a' is not a token id/);
  assert.match(fails(['logits', '--tokens', '0x10']), /'0x10' is not a token id/);
  assert.match(fails(['logits', '--tokens', '1e2']), /'1e2' is not a token id/);
  assert.match(fails(['logits', '--tokens', '1,,2']), /an empty entry in '1,,2'/);
  assert.match(fails(['logits', '--tokens', '1,2,']), /an empty entry/);
  assert.match(fails(['run', '-n', '1e2']), /--max-tokens must be an integer, got '1e2'/);
  assert.match(fails(['run', '--seed', '1.5']), /--seed must be an integer/);
  assert.match(fails(['bench', '--kernels', '--threads', '0x2']), /--threads must be an integer/);
  assert.match(fails(['serve', '--port', '80.0']), /--port must be an integer/);
  assert.match(fails(['bench', '--model', bundled, '--batch', '0x4']), /'0x4' is invalid/);
  assert.match(fails(['bench', '--model', bundled, '--batch', '1,,4']), /'1,,4' is invalid/);
  const out = join(dir, 'lr-run');
  for (const lr of ['abc', '1e-3,,2', '1e-3,2e-3,3e-3', '-1']) {
    assert.match(fails(['train', '--data', bundled, '--out', out, '--lr', lr]), /--lr must be one or two positive numbers/);
  }
});

test('the command names itself as invoked: bitnet-ts in help and errors when run as bitnet-ts', () => {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(CLI, join(bin, 'bitnet-ts'));
  const run = (args: string[]) => spawnSync(process.execPath, [join(bin, 'bitnet-ts'), ...args], { encoding: 'utf8' });
  assert.match(run(['run', '--help']).stdout, /^Usage: bitnet-ts run /);
  assert.match(run(['logits', '--tokens', 'a']).stderr, /^bitnet-ts: --tokens: 'a' is not a token id/);
  assert.match(cli(['run', '--help']), /^Usage: bitnet run /);
});
