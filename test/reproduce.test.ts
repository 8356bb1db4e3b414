import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const script = join(root, 'scripts/reproduce.mjs');

test('reproduce.mjs --quick: stops on --max-minutes, refuses a wrong restart, --resume finishes without retraining', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-repro-'));
  const lines = readFileSync(join(root, 'test/fixtures/kjv-sample.txt'), 'utf8').split('\n');
  const trainF = join(dir, 'train.txt'), valF = join(dir, 'val.txt'), otherVal = join(dir, 'val2.txt'), work = join(dir, 'w');
  writeFileSync(trainF, lines.filter((_, i) => i % 20 !== 0).join('\n'));
  writeFileSync(valF, lines.filter((_, i) => i % 20 === 0).join('\n'));
  writeFileSync(otherVal, lines.filter((_, i) => i % 20 === 1).join('\n'));
  const run = (...args: string[]) => spawnSync(process.execPath, [script, '--quick', '--train', trainF, '--work', work, ...args], { encoding: 'utf8' });

  const first = run('--val', valF, '--max-minutes', '0.03');
  assert.equal(first.status, 75, first.stderr);
  assert.match(first.stderr, /run again with --resume/);
  const partial = JSON.parse(readFileSync(join(work, 'state.json'), 'utf8'));
  assert.equal(partial.split.trainTokens + partial.split.valTokens > 0, true);

  const again = run('--val', valF);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /pass --resume/);
  const moved = run('--val', otherVal, '--resume');
  assert.equal(moved.status, 2);
  assert.match(moved.stderr, /differs from the file this sweep started with/);

  const badThreads = run('--val', valF, '--resume', '--threads', '0');
  assert.equal(badThreads.status, 2);
  assert.match(badThreads.stderr, /--threads needs a positive whole number/);

  const done = run('--val', valF, '--resume', '--threads', '1'); // runs are thread-count independent
  assert.equal(done.status, 0, done.stderr);
  const res = JSON.parse(readFileSync(join(work, 'results.json'), 'utf8'));
  assert.equal(res.complete, true);
  assert.equal(res.sizes.length, 4);
  for (const v of ['ternary', 'fp-llama', 'fp-subnorm', 'binary']) {
    assert.ok(res.lr[v].lr > 0, v);
    assert.equal(res.main[v].length, 4);
    for (const m of res.main[v]) assert.ok(m && Number.isFinite(m.mean) && m.mean > 0 && m.mean < 10, `${v} ${JSON.stringify(m)}`);
    assert.equal(res.main[v][0].n, 2); // two seeds at the smallest size
    assert.equal(res.fits[v].points, 4); // more points than the fit's three parameters
  }
  // every precision at a size saw the same number of tokens
  for (const sz of res.sizes) {
    const toks = new Set(Object.values(res.runs as Record<string, { phase: string; size: string; tokens: number }>)
      .filter((r) => r.phase === 'main' && r.size === sz.name).map((r) => r.tokens));
    assert.deepEqual([...toks], [sz.tokens], sz.name);
  }
  for (const g of res.gaps['ternary-fp-llama']) assert.ok(Number.isFinite(g.mean) && g.n >= 1);
  for (const p of res.ptq['fp-llama']) assert.ok(Number.isFinite(p.ptqTernary.mean));
  for (const a of ['ternary-absmax', 'ternary-nosubnorm', 'ternary', 'fp-llama', 'fp-subnorm']) assert.ok(Number.isFinite(res.ablations[a].mean), a);
  // no run was trained twice: the two invocations finished (or saw diverge) exactly the planned 30 runs
  const state = JSON.parse(readFileSync(join(work, 'state.json'), 'utf8'));
  const finished = state.invocations.reduce((s: number, x: { runsFinished: number }) => s + x.runsFinished, 0);
  const runs = Object.values(state.runs) as Array<{ done: boolean; diverged?: boolean; reusedFrom?: string }>;
  assert.equal(runs.filter((r) => r.done && !r.reusedFrom).length, 30);
  assert.equal(finished + runs.filter((r) => r.diverged).length, 30);
  for (const f of ['scaling.svg', 'gap.svg', 'lr-sweep.svg']) {
    const svg = readFileSync(join(work, 'figures', f), 'utf8');
    assert.match(svg, /^<svg /, f);
  }
  assert.match(readFileSync(join(work, 'figures', 'gap.svg'), 'utf8'), / h8 /); // error bars
  assert.ok(existsSync(join(work, 'summary.md')));
});
