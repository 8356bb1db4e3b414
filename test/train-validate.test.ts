/** Training input is checked before any work: one schema for configs and CLI numbers, export types, --out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS } from '../src/train/presets.js';
import { exportProblem, validateTrainConfig } from '../src/train/config-schema.js';

const bin = new URL('../../bin/bitnet.js', import.meta.url).pathname;
const data = new URL('../../test/fixtures/kjv-sample.txt', import.meta.url).pathname;

function run(args: string[]): Promise<{ code: number | null; err: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, 'train', ...args]);
    let err = ''; c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, err, ms: performance.now() - t0 }));
  });
}

test('config schema: types, integer ranges, unknown keys, relations, memory estimate', () => {
  const ok = validateTrainConfig({ ...PRESETS.tiny }, 'tiny');
  assert.equal(ok.dim, 32);
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ nLayers: 1e6 }, /'nLayers' must be an integer >= 1 and <= 1024/],
    [{ dim: 1e9 }, /'dim' must be/],
    [{ vocabSize: 1e8 }, /'vocabSize'/],
    [{ dim: '32' }, /'dim' must be an integer .* got "32"/],
    [{ nHeads: 0 }, /'nHeads'/],
    [{ dim: null }, /'dim'/],
    [{ precision: 'int4' }, /'precision' must be one of ternary, binary, fp/],
    [{ steps: 0 }, /'steps'/], [{ steps: 1.5 }, /'steps'/], [{ batch: -1 }, /'batch'/], [{ lr1: NaN }, /'lr1'/],
    [{ dimm: 64 }, /unknown key 'dimm'/],
    [{ dim: 30, nHeads: 4 }, /split into 4 heads/],
    [{ dim: 8192, nLayers: 64, ffnDim: 32768, vocabSize: 128000 }, /GiB to train/],
  ];
  for (const [patch, msg] of bad) assert.throws(() => validateTrainConfig({ ...PRESETS.tiny, ...patch }, 'x'), msg, JSON.stringify(patch));
  assert.throws(() => validateTrainConfig([1, 2, 3], 'x'), /must be a JSON object/);
  assert.throws(() => validateTrainConfig(null, 'x'), /must be a JSON object/);
  assert.equal(exportProblem(PRESETS.tiny, 'i2_s'), undefined);
  assert.match(exportProblem(PRESETS.tiny, 'tq2_0')!, /multiple of 256/);
  assert.equal(exportProblem(PRESETS.small, 'tq2_0'), undefined);
});

test('bitnet train: bad configs and numbers fail fast, before the tokenizer is trained, leaving nothing behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'train-validate-'));
  const cfg = (name: string, body: string) => { const p = join(dir, name); writeFileSync(p, body); return p; };
  const cases: Array<[string[], RegExp]> = [
    [['--config', cfg('a.json', '{"preset":"tiny","nLayers":1000000}')], /'nLayers' must be/],
    [['--config', cfg('b.json', '[1,2,3]')], /must be a JSON object/],
    [['--config', cfg('c.json', 'null')], /must be a JSON object/],
    [['--config', cfg('d.json', '{"preset":"tiny","precision":"int4"}')], /'precision' must be one of/],
    [['--config', cfg('e.json', '{"preset":"tiny","dim":"32"}')], /'dim' must be an integer/],
    [['--config', cfg('f.json', '{"preset":"tiny","oops":1}')], /unknown key 'oops'/],
    [['--config', cfg('g.json', '{"preset":"tiny",')], /not valid JSON/],
    [['--config', 'tiny', '--steps', '0'], /--steps must be >= 1/],
    [['--config', 'tiny', '--steps', '-5'], /--steps must be >= 1/],
    [['--config', 'tiny', '--steps', '1.5'], /--steps must be an integer/],
    [['--config', 'tiny', '--batch', '0'], /--batch must be >= 1/],
    [['--config', 'tiny', '--batch', '-1'], /--batch must be >= 1/],
    [['--config', 'tiny', '--lr', 'x'], /--lr must be one or two positive numbers/],
    [['--config', 'tiny', '--export', 'tq2_0'], /--export tq2_0: TQ2_0 needs rows of a multiple of 256/],
  ];
  for (const [args, msg] of cases) {
    const out = join(dir, `out-${readdirSync(dir).length}`);
    const r = await run(['--data', data, '--out', out, ...args]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg, args.join(' '));
    assert.doesNotMatch(r.err, /training a .*BPE/, 'refused before the tokenizer is trained');
    assert.ok(!existsSync(join(out, 'tokenizer.json')), 'nothing written');
  }
});

test('bitnet train --config tiny exports I2_S by default (TQ2_0 cannot hold its rows); --out refuses a foreign directory', async () => {
  const out = mkdtempSync(join(tmpdir(), 'train-tiny-'));
  const r = await run(['--data', data, '--out', out, '--config', 'tiny', '--steps', '3']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /exported .*model-i2_s\.gguf/);
  const foreign = mkdtempSync(join(tmpdir(), 'train-foreign-'));
  writeFileSync(join(foreign, 'notes.txt'), 'mine');
  const f = await run(['--data', data, '--out', foreign, '--config', 'tiny', '--steps', '3']);
  assert.equal(f.code, 1);
  assert.match(f.err, /not empty and not a run directory \(it holds notes\.txt\)/);
  assert.deepEqual(readdirSync(foreign), ['notes.txt']);
});
