/**
 * Atomic checkpoints: the trainer is killed (SIGKILL, by BITNET_FAULT) at every write, fsync and rename of
 * a save, then resumed; its final model must be byte-identical to an uninterrupted run's. Torn and corrupt
 * files are detected on resume and the previous complete checkpoint is used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULT_POINTS, listCheckpoints, loadCheckpoint } from '../src/train/checkpoint.js';
import { train } from '../src/train/trainer.js';
import { PRESETS } from '../src/train/presets.js';
import { CLI } from './util.js';

const data = new URL('../../test/fixtures/kjv-sample.txt', import.meta.url).pathname;
// tiny preset: checkpoints at steps 10, 20 (and 22, the last); 22 steps
const trainArgs = (out: string) => [CLI, 'train', '--config', 'tiny', '--steps', '22', '--data', data, '--out', out, '--export', 'i2_s'];

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = ''; c.stderr.on('data', (d) => (err += d));
    c.on('close', (code, signal) => resolve({ code, signal, err }));
  });
}

test('killed at every point of a save (1st and 2nd save), --resume ends byte-identical to an uninterrupted run', async () => {
  const ref = mkdtempSync(join(tmpdir(), 'ckpt-ref-'));
  const r0 = await run(trainArgs(ref));
  assert.equal(r0.code, 0, r0.err);
  const want = readFileSync(join(ref, 'model-i2_s.gguf'));
  let tried = 0;
  for (const point of FAULT_POINTS) {
    for (const nth of [1, 2]) {
      const out = mkdtempSync(join(tmpdir(), `ckpt-${point.replace(':', '-')}-${nth}-`));
      const killed = await run(trainArgs(out), { BITNET_FAULT: `${point}@${nth}` });
      assert.equal(killed.signal, 'SIGKILL', `${point}@${nth} was never reached: ${killed.err}`);
      const resumed = await run([...trainArgs(out), '--resume']);
      assert.equal(resumed.code, 0, `${point}@${nth}: ${resumed.err}`);
      // the save is visible from its rename on: before it, the previous complete checkpoint (or none) is used
      const from = (FAULT_POINTS.indexOf(point) > FAULT_POINTS.indexOf('save:rename') ? nth : nth - 1) * 10;
      assert.match(resumed.err, from ? new RegExp(`resuming at step ${from}/22`) : /no complete checkpoint .*starting from step 0/,
                   `${point}@${nth}`);
      assert.ok(readFileSync(join(out, 'model-i2_s.gguf')).equals(want), `${point}@${nth}: final model differs`);
      assert.ok(listCheckpoints(out).length <= 2, 'keeps the last two');
      assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
      tried++;
    }
  }
  assert.equal(tried, 2 * FAULT_POINTS.length);
});

const cfg = { ...PRESETS.tiny, steps: 12, evalEvery: 4, checkpointEvery: 4 };

test('a corrupt or truncated newest checkpoint is detected and the previous one is resumed from', async () => {
  const a = mkdtempSync(join(tmpdir(), 'ckpt-a-'));
  const full = await train({ config: cfg, dataFile: data, outDir: a });
  for (const damage of ['flip', 'truncate'] as const) {
    const b = mkdtempSync(join(tmpdir(), `ckpt-${damage}-`));
    await train({ config: cfg, dataFile: data, outDir: b, stopAfter: 8 });
    const [newest, previous] = listCheckpoints(b);
    assert.deepEqual([newest.step, previous.step], [8, 4]);
    const path = join(b, newest.file);
    if (damage === 'flip') { const buf = readFileSync(path); buf[buf.length >> 1] ^= 1; writeFileSync(path, buf); }
    else truncateSync(path, readFileSync(path).length - 100);
    const lines: string[] = [];
    const rest = await train({ config: cfg, dataFile: data, outDir: b, resume: true, log: (s) => lines.push(s) });
    assert.match(lines.join('\n'), damage === 'flip' ? /sha256 mismatch/ : /sha256 mismatch|truncated/);
    assert.match(lines.join('\n'), /resuming at step 4\/12/);
    assert.deepEqual(rest.params.data, full.params.data);
  }
});

test('a save that fails (its temp file name taken by a directory) is an error; resume continues from the last good one', async () => {
  const a = mkdtempSync(join(tmpdir(), 'ckpt-ok-'));
  const full = await train({ config: cfg, dataFile: data, outDir: a });
  const b = mkdtempSync(join(tmpdir(), 'ckpt-fail-'));
  // the temporary name of the step-8 save (this process's pid) is a directory: the save cannot be written
  const blocker = join(b, `checkpoint-00000008.ckpt.${process.pid}.tmp`);
  await train({ config: cfg, dataFile: data, outDir: b, stopAfter: 4 });
  mkdirSync(blocker);
  await assert.rejects(train({ config: cfg, dataFile: data, outDir: b, resume: true }), /EISDIR|EPERM|illegal operation|directory/i);
  rmdirSync(blocker);
  assert.equal(loadCheckpoint(b).meta.step, 4);
  const rest = await train({ config: cfg, dataFile: data, outDir: b, resume: true });
  assert.deepEqual(rest.params.data, full.params.data);
});

test('a save that fails mid-write (disk full) names the file, leaves no partial file; resume ends identical', async () => {
  const a = mkdtempSync(join(tmpdir(), 'ckpt-full-ref-'));
  const full = await train({ config: cfg, dataFile: data, outDir: a });
  const b = mkdtempSync(join(tmpdir(), 'ckpt-full-'));
  process.env.BITNET_FAULT = 'save:write-payload@2:enospc'; // the step-8 save runs out of space after its first bytes
  try {
    await assert.rejects(train({ config: cfg, dataFile: data, outDir: b }),
      /could not write checkpoint .*checkpoint-00000008\.ckpt: ENOSPC: no space left on device.*the checkpoints before it are kept/);
  } finally { delete process.env.BITNET_FAULT; }
  assert.deepEqual(readdirSync(b).filter((f) => f.endsWith('.tmp')), [], 'the partial file is removed');
  assert.deepEqual(listCheckpoints(b).map((c) => c.step), [4]);
  const rest = await train({ config: cfg, dataFile: data, outDir: b, resume: true });
  assert.deepEqual(rest.params.data, full.params.data);
});

test('resume refuses a tokenizer.json that is not the one the checkpoint was trained with', async () => {
  const b = mkdtempSync(join(tmpdir(), 'ckpt-tok-'));
  await train({ config: cfg, dataFile: data, outDir: b, stopAfter: 4 });
  const tok = JSON.parse(readFileSync(join(b, 'tokenizer.json'), 'utf8'));
  writeFileSync(join(b, 'tokenizer.json'), JSON.stringify({ ...tok, note: 'changed' }));
  assert.throws(() => loadCheckpoint(b), /not the tokenizer this checkpoint was trained with/);
  // resuming refuses too, and leaves the checkpoint as it was (it used to skip it and train over it from step 0)
  const before = listCheckpoints(b).map((c) => readFileSync(join(b, c.file)));
  await assert.rejects(train({ config: cfg, dataFile: data, outDir: b, resume: true }), /not the tokenizer this checkpoint/);
  assert.deepEqual(listCheckpoints(b).map((c) => readFileSync(join(b, c.file))), before);
});

test('--resume reads the newest checkpoint once (the CLI hands what it read to train)', async () => {
  const out = mkdtempSync(join(tmpdir(), 'ckpt-once-'));
  assert.equal((await run([...trainArgs(out), '--steps', '10'])).code, 0);
  // count the checkpoint reads of the resumed CLI process: fs.readFileSync wrapped before the CLI loads
  const spy = join(out, '..', `ckpt-spy-${process.pid}.mjs`);
  writeFileSync(spy, "import fs from 'node:fs'; import { syncBuiltinESMExports } from 'node:module';\n" +
    'let n = 0; const read = fs.readFileSync;\n' +
    "fs.readFileSync = function (p, ...a) { if (String(p).endsWith('.ckpt')) n++; return read.call(this, p, ...a); };\n" +
    "syncBuiltinESMExports(); process.on('exit', () => process.stderr.write(`checkpoint reads: ${n}\\n`));\n");
  const r = await run([`--import=${spy}`, ...trainArgs(out), '--resume']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /resuming at step 10\/22/);
  assert.match(r.err, /checkpoint reads: 1\n/);
});

test('--out refuses a non-empty directory that is not a run directory', async () => {
  const d = mkdtempSync(join(tmpdir(), 'ckpt-foreign-'));
  writeFileSync(join(d, 'thesis.tex'), 'precious');
  await assert.rejects(train({ config: cfg, dataFile: data, outDir: d }), /not empty and not a run directory .*thesis\.tex/);
  assert.equal(readFileSync(join(d, 'thesis.tex'), 'utf8'), 'precious');
});
