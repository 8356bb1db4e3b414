// bench/: the synthetic forward pass and the model-bench arithmetic, on the tiny shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { benchSynthetic, formatModelBench } from '../src/bench/model.js';
import { SHAPES, SyntheticModel } from '../src/bench/synthetic.js';
import { ReferenceBackend } from '../src/kernels/reference.js';
import { WasmBackend } from '../src/kernels/wasm.js';

test('synthetic forward pass: wasm logits match the reference backend', async () => {
  const wasm = await WasmBackend.create({ threads: 2 });
  try {
    const a = new SyntheticModel(wasm, SHAPES.tiny, 8, 4);
    const b = new SyntheticModel(new ReferenceBackend(), SHAPES.tiny, 8, 4);
    for (const [start, n] of [[0, 4], [4, 1], [5, 1]]) {
      const la = a.forward(start, n), lb = b.forward(start, n);
      let scale = 0, err = 0;
      for (let i = 0; i < lb.length; i++) { scale = Math.max(scale, Math.abs(lb[i])); err = Math.max(err, Math.abs(la[i] - lb[i])); }
      assert.ok(scale > 0);
      // float paths differ in summation order; an int8 rounding flip would show as a far larger error
      assert.ok(err < 1e-4 * scale, `max |err| ${err} vs scale ${scale}`);
    }
  } finally {
    wasm.dispose();
  }
});

test('benchSynthetic reports consistent numbers', async () => {
  const r = await benchSynthetic('tiny', { threads: 1, promptTokens: 8, genTokens: 4 });
  assert.equal(r.threads, 1);
  assert.ok(r.promptTokPerS > 0 && r.decodeTokPerS > 0 && r.bandwidthGBps > 0);
  assert.ok(Math.abs(r.decodeMsPerToken * r.decodeTokPerS - 1000) < 1e-6);
  assert.ok(Math.abs(r.achievedGBps / r.bandwidthGBps - r.rooflineFraction) < 1e-9);
  assert.match(formatModelBench(r), /decode .* tok\/s/);
  await assert.rejects(benchSynthetic('huge'), /unknown shape 'huge'/);
});

test('bitnet bench: --json output and a clear error without a target', () => {
  const cli = new URL('../../bin/bitnet.js', import.meta.url).pathname;
  const out = execFileSync('node', [cli, 'bench', '--synthetic', 'tiny', '--prompt', '4', '--gen', '2', '--threads', '1', '--json'], { encoding: 'utf8' });
  const r = JSON.parse(out) as { model: string; decodeTokPerS: number };
  assert.equal(r.model, 'synthetic tiny');
  assert.ok(r.decodeTokPerS > 0);
  const bad = spawnSync('node', [cli, 'bench'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /nothing to measure/);
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/); // no stack trace
});
