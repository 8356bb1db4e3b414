// I2_S as each bitnet.cpp build writes it (src/ggml-bitnet-mad.cpp quantize_i2_s): x86 (ACT_PARALLEL), arm, x86-rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GGMLType, I2S_LAYOUTS, i2sLayoutProblem, i2sRelayout, quantize, type I2SLayout } from '../src/quant/ggml.js';
import { writeModelGGUF } from '../src/model/gguf-model.js';
import { defaultModelPath, loadModel } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { CLI, mulberry32 } from './util.js';

/**
 * A 4×64 weight matrix, scale 0.5, zero except A (r0,c0)=+, B (r0,c17)=−, C (r1,c31)=+, E (r2,c63)=+, D (r3,c5)=−
 * (flat e = 0, 17, 95, 191, 197). Codes: 0 → 1, + → 2, − → 0, so an untouched byte is 0b01010101 = 0x55.
 * Bytes worked out by hand from the three quantize_i2_s loops:
 *   x86  `i2_weight[i*32 + j%32] |= q << (6 - 2*(j/32))`, i = e/128, j = e%128:
 *        A byte 0 bits 7-6 → 0x95; B byte 17 bits 7-6 → 0x15; C j=95 byte 31 bits 3-2 → 0x59;
 *        E i=1 j=63 byte 63 bits 5-4 → 0x65; D i=1 j=69 byte 37 bits 3-2 → 0x51
 *   arm  `i2_weight[i*16 + j%16] |= q << (6 - 2*(j/16))`, i = e/64, j = e%64:
 *        A byte 0 → 0x95; B j=17 byte 1 bits 5-4 → 0x45; C i=1 j=31 byte 31 bits 5-4 → 0x65;
 *        E i=2 j=63 byte 47 bits 1-0 → 0x56; D i=3 j=5 byte 53 bits 7-6 → 0x15
 *   x86-rows `out[rg*n_per_row + col] = q0<<6 | q1<<4 | q2<<2 | q3` (rows 4rg..4rg+3):
 *        A byte 0 → 0x95; B byte 17 → 0x15; C byte 31 (row 1) → 0x65; E byte 63 (row 2) → 0x59; D byte 5 (row 3) → 0x54
 * then the f32 scale 0.5 (00 00 00 3f) and 28 zero bytes.
 */
const ROWS = 4, COLS = 64;
const FIXTURE_W = (() => {
  const w = new Float32Array(ROWS * COLS);
  for (const [r, c, v] of [[0, 0, 0.5], [0, 17, -0.5], [1, 31, 0.5], [2, 63, 0.5], [3, 5, -0.5]]) w[r * COLS + c] = v;
  return w;
})();
function fixture(changed: Record<number, number>): Uint8Array {
  const b = new Uint8Array(64 + 32).fill(0x55, 0, 64);
  for (const [i, v] of Object.entries(changed)) b[Number(i)] = v;
  b.set([0x00, 0x00, 0x00, 0x3f], 64);
  return b;
}
const UPSTREAM: Record<I2SLayout, Uint8Array> = {
  x86: fixture({ 0: 0x95, 17: 0x15, 31: 0x59, 63: 0x65, 37: 0x51 }),
  arm: fixture({ 0: 0x95, 1: 0x45, 31: 0x65, 47: 0x56, 53: 0x15 }),
  'x86-rows': fixture({ 0: 0x95, 17: 0x15, 31: 0x65, 63: 0x59, 5: 0x54 }),
};

test('I2_S layouts: the hand-checked bytes of each bitnet.cpp build', () => {
  const x86 = quantize(GGMLType.I2_S, FIXTURE_W, ROWS, COLS);
  assert.deepEqual(x86, UPSTREAM.x86, 'quantize(I2_S) writes the x86 layout');
  for (const l of I2S_LAYOUTS) {
    assert.deepEqual(i2sRelayout(x86, ROWS, COLS, 'x86', l), UPSTREAM[l], `x86 -> ${l}`);
    assert.deepEqual(i2sRelayout(UPSTREAM[l], ROWS, COLS, l, 'x86'), UPSTREAM.x86, `${l} -> x86`);
  }
});

test('I2_S layouts: every pair round-trips on random codes of several shapes', () => {
  const rnd = mulberry32(14);
  for (const [rows, cols] of [[4, 64], [8, 128], [12, 192], [16, 320], [4, 32]]) {
    const src = new Uint8Array(rows * cols / 4 + 32);
    for (let i = 0; i < rows * cols / 4; i++) { // codes 0..2 only, as a quantizer writes them
      src[i] = [0, 1, 2, 3].reduce((b, f) => b | (Math.floor(rnd() * 3) << (2 * f)), 0);
    }
    src.set([1, 2, 3, 4], rows * cols / 4);
    for (const a of I2S_LAYOUTS) {
      for (const b of I2S_LAYOUTS) {
        const there = i2sRelayout(src, rows, cols, a, b);
        assert.deepEqual(i2sRelayout(there, rows, cols, b, a), src, `${rows}x${cols}: ${a} -> ${b} -> ${a}`);
        // going through x86 gives the same bytes as going directly
        assert.deepEqual(i2sRelayout(i2sRelayout(src, rows, cols, a, 'x86'), rows, cols, 'x86', b), there, `${a} -> x86 -> ${b}`);
      }
    }
  }
});

test('I2_S layouts: shapes a layout cannot hold are named', () => {
  assert.equal(i2sLayoutProblem('x86-rows', 8, 64), undefined);
  assert.match(i2sLayoutProblem('x86-rows', 6, 64) ?? '', /4 rows per byte: 6 rows/);
  assert.match(i2sLayoutProblem('x86', 1, 64) ?? '', /128-weight blocks: 64 weights/);
  assert.equal(i2sLayoutProblem('arm', 1, 64), undefined);
  assert.match(i2sLayoutProblem('mips' as I2SLayout, 4, 64) ?? '', /unknown I2_S layout 'mips'/);
  assert.throws(() => i2sRelayout(new Uint8Array(12 * 64 / 4 + 32), 6, 64, 'x86', 'x86-rows'), /4 rows per byte/);
});

const SHAPE = { dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 192, vocabSize: 300, contextLength: 32 };
const PROMPT = [1, 7, 99, 150, 3];

test('I2_S layouts: a model written in each layout loads with it (in memory and streamed) to the x86 logits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-i2s-'));
  try {
    const w = synthWeights(SHAPE, 5, 4), tok = synthTokenizer(SHAPE.vocabSize);
    const logits = async (path: string, i2sLayout: I2SLayout, backend: 'reference' | 'wasm') => {
      const m = await loadModel(path, { backend, threads: 2, i2sLayout });
      try { return m.createSession().evaluate(PROMPT).slice(); } finally { m.dispose(); }
    };
    const paths = Object.fromEntries(I2S_LAYOUTS.map((l) => {
      const p = join(dir, `${l}.gguf`);
      writeModelGGUF(p, w, tok, { ternaryType: 'i2_s', i2sLayout: l });
      return [l, p];
    })) as Record<I2SLayout, string>;
    for (const backend of ['reference', 'wasm'] as const) { // wasm reads the tensors streamed (prepareGGML)
      const want = await logits(paths.x86, 'x86', backend);
      for (const l of I2S_LAYOUTS) {
        assert.deepEqual(await logits(paths[l], l, backend), want, `${backend}: ${l} file read as ${l}`);
        if (l !== 'x86') assert.notDeepEqual(await logits(paths[l], 'x86', backend), want, `${backend}: ${l} file read as x86 differs`);
      }
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('I2_S layouts: convert writes and reads them; info --check flags the wrong pick (bundled model)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-i2s-cli-'));
  try {
    const arm = join(dir, 'arm.gguf'), back = join(dir, 'x86.gguf'), direct = join(dir, 'direct.gguf');
    execFileSync(process.execPath, [CLI, 'convert', defaultModelPath(), arm, '--type', 'i2_s', '--out-i2s-layout', 'arm'], { stdio: 'pipe' });
    const info = (...args: string[]) => spawnSync(process.execPath, [CLI, 'info', '-m', arm, '--check', '--threads', '2', ...args], { encoding: 'utf8' });
    const wrong = info();
    assert.equal(wrong.status, 1, wrong.stderr);
    assert.match(wrong.stdout, /IMPLAUSIBLE.*try another --i2s-layout/);
    const right = info('--i2s-layout', 'arm');
    assert.equal(right.status, 0, right.stderr);
    assert.match(right.stdout, /I2_S layout {4}arm/);
    assert.match(right.stdout, /check .*: plausible/);
    // arm -> x86 by convert equals the bundled model written as x86 directly
    execFileSync(process.execPath, [CLI, 'convert', arm, back, '--type', 'i2_s', '--i2s-layout', 'arm'], { stdio: 'pipe' });
    execFileSync(process.execPath, [CLI, 'convert', defaultModelPath(), direct, '--type', 'i2_s'], { stdio: 'pipe' });
    const a = spawnSync(process.execPath, [CLI, 'logits', '-m', back, '--tokens', '1,2,3'], { encoding: 'utf8' });
    const b = spawnSync(process.execPath, [CLI, 'logits', '-m', direct, '--tokens', '1,2,3'], { encoding: 'utf8' });
    assert.equal(a.status, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    const bad = spawnSync(process.execPath, [CLI, 'info', '-m', arm, '--i2s-layout', 'risc'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--i2s-layout must be one of x86, arm, x86-rows, got 'risc'/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
