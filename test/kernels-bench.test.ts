// bench/: the synthetic forward pass and the model-bench arithmetic, on the tiny shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { benchModel, benchSynthetic, formatModelBench, type ModelLoader } from '../src/bench/model.js';
import { ggufWeights, randomWeights, SyntheticModel } from '../src/bench/synthetic.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GGUFValueType, writeGGUF, type GGUFTensorToWrite, type GGUFValue } from '../src/formats/gguf.js';
import { GGMLType } from '../src/quant/ggml.js';
import { ternaryToGGML } from '../src/quant/ternary.js';
import type { TernaryMatrix } from '../src/quant/matrix.js';
import { ReferenceBackend } from '../src/kernels/reference.js';
import { WasmBackend } from '../src/kernels/wasm.js';

test('synthetic forward pass: wasm logits match the reference backend', async () => {
  const wasm = await WasmBackend.create({ threads: 2 });
  try {
    const a = new SyntheticModel(wasm, randomWeights('tiny'), 8, 4);
    const b = new SyntheticModel(new ReferenceBackend(), randomWeights('tiny'), 8, 4);
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

test('kernel-level forward on a bitnet GGUF: weights read back exactly, wasm matches reference', async () => {
  const src = randomWeights('tiny');
  const { dim, nLayers, ffnDim, vocab, nHeads, nKvHeads } = src.shape;
  const u32 = (value: number) => ({ type: GGUFValueType.UINT32, value });
  const f32 = (value: number) => ({ type: GGUFValueType.FLOAT32, value });
  const meta: Array<[string, GGUFValue]> = [
    ['general.architecture', { type: GGUFValueType.STRING, value: 'bitnet' }],
    ['bitnet.embedding_length', u32(dim)], ['bitnet.block_count', u32(nLayers)], ['bitnet.feed_forward_length', u32(ffnDim)],
    ['bitnet.attention.head_count', u32(nHeads)], ['bitnet.attention.head_count_kv', u32(nKvHeads)],
    ['bitnet.attention.layer_norm_rms_epsilon', f32(1e-5)], ['bitnet.rope.freq_base', f32(10000)],
  ];
  const f32bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const head = src.head();
  const tensors: GGUFTensorToWrite[] = [
    { name: 'token_embd.weight', type: GGMLType.F16, dims: [dim, vocab], data: new Uint8Array(head.data.buffer) },
    { name: 'output_norm.weight', type: GGMLType.F32, dims: [dim], data: f32bytes(src.norm(-1, 'outputNorm')) },
  ];
  const originals: TernaryMatrix[] = [];
  const linears = [['wq', 'attn_q'], ['wk', 'attn_k'], ['wv', 'attn_v'], ['wo', 'attn_output'], ['wGate', 'ffn_gate'], ['wUp', 'ffn_up'], ['wDown', 'ffn_down']] as const;
  const norms = [['attnNorm', 'attn_norm'], ['attnSubNorm', 'attn_sub_norm'], ['ffnNorm', 'ffn_norm'], ['ffnSubNorm', 'ffn_sub_norm']] as const;
  for (let l = 0; l < nLayers; l++) {
    for (const [which, name] of linears) {
      const m = src.ternary(l, which);
      m.scales.fill(0.03 + 0.01 * l); // TQ2_0 keeps an f16 scale: pick exactly representable-ish values
      originals.push(m);
      tensors.push({ name: `blk.${l}.${name}.weight`, type: GGMLType.TQ2_0, dims: [m.cols, m.rows], data: ternaryToGGML(GGMLType.TQ2_0, m) });
    }
    for (const [which, name] of norms) {
      const v = src.norm(l, which).map((x, i) => x + 0.01 * (i % 7));
      tensors.push({ name: `blk.${l}.${name}.weight`, type: GGMLType.F32, dims: [v.length], data: f32bytes(v) });
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-bench-'));
  const path = join(dir, 'tiny.gguf');
  writeGGUF(path, meta, tensors);
  const file = ggufWeights(path);
  const wasm = await WasmBackend.create({ threads: 2 });
  try {
    assert.deepEqual(file.shape, src.shape);
    const back = file.ternary(0, 'wq');
    assert.deepEqual(Array.from(back.codes), Array.from(originals[0].codes));
    const a = new SyntheticModel(wasm, file, 8, 4);
    const b = new SyntheticModel(new ReferenceBackend(), file, 8, 4);
    for (const [start, n] of [[0, 4], [4, 1]]) {
      // Float parts differ by an ulp or so, which can move x·s across a rounding boundary (58.49999 vs
      // 58.50000 here): one int8 code flips and the logits move by ~0.3% of their range and RMS. So: max
      // and RMS error below 1e-2 of the logits' range and RMS (no flip: ~3e-7; a wrong kernel: ~1).
      const la = a.forward(start, n), lb = b.forward(start, n);
      let scale = 0, err = 0, se = 0, ss = 0;
      for (let i = 0; i < lb.length; i++) {
        const e = Math.abs(la[i] - lb[i]);
        scale = Math.max(scale, Math.abs(lb[i])); err = Math.max(err, e); se += e * e; ss += lb[i] * lb[i];
      }
      assert.ok(scale > 0 && Number.isFinite(scale));
      assert.ok(err < 1e-2 * scale, `max |err| ${err} vs scale ${scale}`);
      assert.ok(Math.sqrt(se) < 1e-2 * Math.sqrt(ss), `RMS err ${Math.sqrt(se / lb.length)} vs ${Math.sqrt(ss / lb.length)}`);
    }
  } finally {
    wasm.dispose();
    file.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('benchModel drives an engine: one session reset per run, bytes per token from the model', async () => {
  const evaluated: number[][] = [];
  let sessions = 0, resets = 0, disposed = false;
  const load: ModelLoader = async (_path, opts) => {
    assert.match(opts.backend.name, /^wasm-/);
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
  assert.ok(disposed);
});

test('bitnet bench --model runs the engine on a synthesized GGUF', () => {
  const cli = new URL('../../bin/bitnet.js', import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-bench-model-'));
  try {
    const path = join(dir, 'tiny.gguf');
    const synth = spawnSync('node', [cli, 'synth', '--shape', 'tiny', '--type', 'tq2_0', '-o', path], { encoding: 'utf8' });
    assert.equal(synth.status, 0, synth.stderr);
    const out = execFileSync('node', [cli, 'bench', '--model', path, '--prompt', '8', '--gen', '4', '--threads', '2', '--json'], { encoding: 'utf8' });
    const r = JSON.parse(out) as { model: string; decodeTokPerS: number; weightBytes: number; threads: number };
    assert.equal(r.model, 'tiny.gguf');
    assert.equal(r.threads, 2);
    assert.ok(r.decodeTokPerS > 0 && r.weightBytes > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
