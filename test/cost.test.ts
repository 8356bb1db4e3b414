import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { energyPerToken, linearParams, weightBytesModel } from '../src/bench/cost.js';
import { SHAPES } from '../src/model/synth.js';

test('energy model reproduces the paper\'s 71.4x; weight bytes per form', () => {
  const e = energyPerToken(SHAPES['700m'], '7nm');
  assert.ok(Math.abs(e.ratio - 0.5 / 0.007) < 1e-9);
  assert.equal(Math.round(e.ratio * 10) / 10, 71.4);
  const s = SHAPES['700m'];
  assert.equal(linearParams(s), 24 * (4 * 1536 * 1536 + 3 * 1536 * 4096));
  const fp = weightBytesModel(s, 'fp16'), t = weightBytesModel(s, 'ternary');
  assert.ok(fp / t > 5 && fp / t < 8);
});

test('bitnet cost --shapes tiny measures every form and writes the report and plots', () => {
  const out = mkdtempSync(join(tmpdir(), 'cost-'));
  const bin = new URL('../../bin/bitnet.js', import.meta.url).pathname;
  const rows = JSON.parse(execFileSync(process.execPath, [bin, 'cost', '--shapes', 'tiny', '--out', out, '--batches', '1,2', '--budget', '120', '--threads', '1', '--json'], { encoding: 'utf8' }));
  assert.equal(rows.length, 3);
  for (const r of rows) {
    assert.equal(r.measured, true, JSON.stringify(r));
    assert.ok(r.decodeMsPerToken > 0 && r.rssBytes > 0 && r.batch.length === 2);
  }
  for (const f of ['COST.md', 'cost.json', 'cost-memory.svg', 'cost-latency.svg', 'cost-throughput.svg']) assert.ok(existsSync(join(out, f)), f);
  assert.match(readFileSync(join(out, 'COST.md'), 'utf8'), /71\.4x/);
});
