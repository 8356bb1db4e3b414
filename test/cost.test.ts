import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { energyPerToken, linearParams, weightBytesModel } from '../src/bench/cost.js';
import { SHAPES, synthWeights } from '../src/model/synth.js';
import { CLI } from './util.js';

test('energy model: ops counted from the model\'s real linear weights; 71.4x is the paper\'s constants ratio', () => {
  // linearParams must count every weight a decoding step multiplies: compare with the weights synth builds
  const w = synthWeights('tiny');
  let counted = 0;
  for (const L of w.layers) for (const k of ['wq', 'wk', 'wv', 'wo', 'wGate', 'wUp', 'wDown'] as const) counted += L[k].m.rows * L[k].m.cols;
  assert.equal(linearParams(SHAPES.tiny), counted);
  // FP16: one multiply + one add per weight; ternary: one int8 add (BitNet b1.58 §3, 7 nm numbers)
  const e = energyPerToken(SHAPES.tiny, '7nm');
  assert.ok(Math.abs(e.fp16mJ - counted * (0.34 + 0.16) * 1e-9) < 1e-15);
  assert.ok(Math.abs(e.ternarymJ - counted * 0.007 * 1e-9) < 1e-15);
  // the ratio does not depend on the model: it is (0.34 + 0.16) / 0.007, the paper's 71.4x
  assert.equal(Math.round(energyPerToken(SHAPES['700m'], '7nm').ratio * 10) / 10, 71.4);
  // weight bytes: ternary 2 bits per weight (+ f16 head), FP16 16 bits
  const s = SHAPES['700m'], fp = weightBytesModel(s, 'fp16'), t = weightBytesModel(s, 'ternary');
  const head = s.vocabSize * s.dim * 2;
  assert.equal(fp - head, 8 * (t - head));
});

test('bitnet cost --shapes tiny measures every form and writes the report and plots', () => {
  const out = mkdtempSync(join(tmpdir(), 'cost-'));
  const rows = JSON.parse(execFileSync(process.execPath, [CLI, 'cost', '--shapes', 'tiny', '--out', out, '--batches', '1,2', '--budget', '120', '--threads', '1', '--json'], { encoding: 'utf8' }));
  assert.equal(rows.length, 3);
  for (const r of rows) {
    assert.equal(r.measured, true, JSON.stringify(r));
    assert.ok(r.decodeMsPerToken > 0 && r.rssBytes > 0 && r.batch.length === 2);
  }
  for (const f of ['COST.md', 'cost.json', 'cost-memory.svg', 'cost-latency.svg', 'cost-throughput.svg']) assert.ok(existsSync(join(out, f)), f);
  assert.match(readFileSync(join(out, 'COST.md'), 'utf8'), /71\.4x/);
});

test('FP16 reference: ternary is compared with the faster FP16 engine, per metric', async () => {
  const { renderFp16Reference } = await import('../src/bench/cost-reference.js');
  const r = (p: number, d: number) => ({ promptTokPerS: p, decodeTokPerS: d });
  const md = renderFp16Reference({
    measured: 'T', machine: 'M', threads: 2, prompt: 64, gen: 32, command: 'cmd', uptime: 'load 0', reference: 'llama.cpp (x)',
    shapes: { '700m': { f16File: 'f', ternaryFile: 't', runs: {
      'ours-ternary': [r(120, 30), r(130, 36), r(125, 33)],   // medians 125, 33
      'ours-fp16': [r(25, 10), r(27, 11), r(26, 12)],         // 26, 11
      'ref-fp16': [r(110, 13), r(100, 12), r(104, 14)],       // 104, 13
      'ref-ternary': [r(160, 28), r(150, 26), r(156, 27)] } } },
  }).join('\n');
  // decode: faster FP16 is llama.cpp's 13 tok/s → 33/13; prompt: llama.cpp's 104 → 125/104
  assert.match(md, /\| 700m \| decode speed \| 3\.00x \| 2\.54x \| \*\*2\.54x\*\* \(llama\.cpp\) \| 2\.08x \|/);
  assert.match(md, /\| 700m \| prompt speed \| 4\.81x \| 1\.20x \| \*\*1\.20x\*\* \(llama\.cpp\) \| 1\.50x \|/);
  assert.match(md, /\| 700m \| bitnet-ts \| fp16 \| 26\.0 \| 11\.00 \| 90\.9 \|/);
});
