// bench/model.ts: the benchmark arithmetic against a runner of known speed, and `bench --synthetic` /
// `bench --model` driving the one engine (Model) on weights of model/synth.ts's shape table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchModel, benchSynthetic, formatModelBench, runBench, type ModelLoader } from '../src/bench/model.js';
import { loadModel } from '../src/model/index.js';
import { SHAPES } from '../src/model/synth.js';
import { CLI } from './util.js';

const busy = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end) { /* spin */ } };

test('runBench: tok/s, roofline and best-of-runs from a runner of known speed', async () => {
  // prefill 16 tokens in 40 ms (400 tok/s), decode at 10 ms/token (100 tok/s); 1 MB per token, 1 GB/s
  const runner = { prefill: () => busy(40), decode: () => busy(10), weightBytes: 1e6 };
  const r = await runBench('known', runner, () => 1e9, { name: 'test', threads: 1 }, { promptTokens: 16, genTokens: 5, repeat: 2 });
  // a busy wait can only run long: measured speeds lie in (0.6, 1] of the nominal ones
  assert.ok(r.promptTokPerS <= 400 && r.promptTokPerS > 240, `prompt ${r.promptTokPerS}`);
  assert.ok(r.decodeTokPerS <= 100 && r.decodeTokPerS > 60, `decode ${r.decodeTokPerS}`);
  assert.equal(r.rooflineTokPerS, 1000); // 1 GB/s over 1 MB per token
  assert.ok(r.rooflineFraction <= 0.1 && r.rooflineFraction > 0.06, `roofline ${r.rooflineFraction}`);
  assert.equal(r.runs.length, 2);
  assert.equal(r.decodeTokPerS, Math.max(...r.runs.map((x) => x.decodeTokPerS)));
  assert.match(formatModelBench(r), /decode +\d+\.\d tok\/s/);
});

test('benchSynthetic: the engine loads a GGUF of the shape table\'s shape; unknown shapes fail before work', async () => {
  let loaded: { dim: number; nLayers: number; ffnDim: number; vocabSize: number } | undefined;
  const load: ModelLoader = async (path, opts) => {
    assert.match(path, /tiny\.gguf$/);
    const m = await loadModel(path, opts);
    loaded = m.config;
    return m;
  };
  const r = await benchSynthetic('tiny', { threads: 1, promptTokens: 8, genTokens: 4 }, load);
  const s = SHAPES.tiny;
  assert.deepEqual(loaded && [loaded.dim, loaded.nLayers, loaded.ffnDim, loaded.vocabSize], [s.dim, s.nLayers, s.ffnDim, s.vocabSize]);
  assert.equal(r.model, 'synthetic tiny');
  assert.ok(r.decodeTokPerS > 0 && r.weightBytes > 0);
  await assert.rejects(benchSynthetic('huge'), /unknown shape 'huge'/);
});

test('bitnet bench: --json output and a clear error without a target', () => {
  const out = execFileSync('node', [CLI, 'bench', '--synthetic', 'tiny', '--prompt', '4', '--gen', '2', '--threads', '1', '--json'], { encoding: 'utf8' });
  const r = JSON.parse(out) as { model: string; decodeTokPerS: number };
  assert.equal(r.model, 'synthetic tiny');
  assert.ok(r.decodeTokPerS > 0);
  const bad = spawnSync('node', [CLI, 'bench'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /nothing to measure/);
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/); // no stack trace
});

test('benchModel drives an engine: one session reset per run, bytes per token from the model', async () => {
  const evaluated: number[][] = [];
  let sessions = 0, resets = 0, disposed = false;
  const load: ModelLoader = async (_path, opts) => {
    assert.match(opts.backend.name, /^wasm-/);
    await new Promise((resolve) => setTimeout(resolve, 60)); // a slow load shows in loadSeconds
    return {
      config: { vocabSize: 100 },
      info: { weightBytes: 12345 },
      createSession: ({ contextLength }) => {
        assert.equal(contextLength, 5 + 3);
        sessions++;
        return {
          evaluate: (tokens: number[]) => { for (const t of tokens) assert.ok(t > 0 && t < 100); evaluated.push(tokens); },
          reset: () => { resets++; },
        };
      },
      dispose: () => { disposed = true; opts.backend.dispose(); },
    };
  };
  const r = await benchModel('dir/fake.gguf', { threads: 1, promptTokens: 5, genTokens: 3, repeat: 2 }, load);
  assert.equal(sessions, 1);
  assert.equal(resets, 2);
  assert.deepEqual(evaluated.map((t) => t.length), [5, 1, 1, 1, 5, 1, 1, 1]);
  assert.equal(r.weightBytes, 12345);
  assert.equal(r.runs.length, 2);
  assert.equal(r.model, 'fake.gguf');
  assert.ok(r.loadSeconds >= 0.055 && r.loadSeconds < 30, `loadSeconds ${r.loadSeconds}`);
  assert.ok(r.peakRssBytes >= process.memoryUsage().rss * 0.5, `peakRssBytes ${r.peakRssBytes}`);
  assert.ok(disposed);
});

test('bench --model on `bitnet synth`\'s file and bench --synthetic measure the same model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-bench-model-'));
  try {
    const path = join(dir, 'tiny.gguf');
    const synth = spawnSync('node', [CLI, 'synth', '--shape', 'tiny', '--type', 'tq2_0', '-o', path], { encoding: 'utf8' });
    assert.equal(synth.status, 0, synth.stderr);
    const run = (args: string[]) => JSON.parse(execFileSync('node', [CLI, 'bench', ...args, '--prompt', '8', '--gen', '4', '--threads', '2', '--json'],
      { encoding: 'utf8' })) as { model: string; decodeTokPerS: number; weightBytes: number; threads: number; loadSeconds: number; peakRssBytes: number;
          dotForm: string };
    const file = run(['--model', path]), shape = run(['--synthetic', 'tiny']);
    assert.equal(file.model, 'tiny.gguf');
    assert.equal(file.threads, 2);
    assert.match(file.dotForm, /^(add|pair)$/); // the probe's choice
    assert.ok(file.decodeTokPerS > 0 && file.weightBytes > 0);
    assert.ok(file.loadSeconds > 0 && file.peakRssBytes > file.weightBytes);
    assert.equal(shape.weightBytes, file.weightBytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench --model --batch: a row per batch size, KV bytes = blocks the batch holds, JSON shape', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-batch-'));
  try {
    const cli = new URL('../../bin/bitnet.js', import.meta.url).pathname;
    const file = join(dir, 'tiny.gguf');
    execFileSync('node', [cli, 'synth', '--shape', 'tiny', '-o', file], { stdio: 'ignore' });
    const out = execFileSync('node', [cli, 'bench', '--model', file, '--batch', '1,3', '--prompt', '5', '--gen', '4', '--threads', '1', '--json'],
      { encoding: 'utf8', env: { ...process.env, BITNET_DOT: 'pair' } });
    const r = JSON.parse(out);
    assert.equal(r.dotForm, 'pair'); // BITNET_DOT, reported
    assert.deepEqual(r.rows.map((x: { batch: number }) => x.batch), [1, 3]);
    assert.equal(r.kvType, 'f16');
    const s = SHAPES.tiny, bytesPerPosition = 2 * s.nLayers * s.dim * 2; // K and V, every layer, f16 (no GQA)
    for (const row of r.rows) {
      assert.ok(row.decodeTokPerS > 0 && row.msPerToken > 0);
      // 5 + 4 = 9 positions: one block of 16 per sequence
      assert.equal(row.kvBytesPerSequence, r.kvBlockSize * bytesPerPosition);
      assert.equal(row.kvBytes, row.batch * row.kvBytesPerSequence);
    }
    assert.throws(() => execFileSync('node', [cli, 'bench', '--model', file, '--batch', '1,x'], { stdio: 'pipe' }), /positive integers/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
