// The engine against an independent, deliberately naive float64 forward pass written from the method
// (one token at a time, dense weights), for each architecture and for float types read from GGUF.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, writeModelGGUF } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import type { Matrix, ModelConfig, ModelWeights } from '../src/model/types.js';
import type { FloatMatrix } from '../src/quant/matrix.js';
import { f16ToF32, f32ToF16 } from '../src/quant/half.js';

const dir = mkdtempSync(join(tmpdir(), 'bitnet-arch-'));
const shape = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 300, contextLength: 64 };
const tokens = [1, 40, 41, 270, 99, 99, 5, 120];

function dense(m: Matrix | FloatMatrix): { rows: number; cols: number; w: Float64Array; ternary: boolean } {
  if ('kind' in m && m.kind === 'ternary') {
    const t = m.m, w = new Float64Array(t.rows * t.cols), nb = t.cols / t.blockSize;
    for (let i = 0; i < w.length; i++) {
      const r = Math.floor(i / t.cols), j = i % t.cols;
      w[i] = (((t.codes[i >> 2] >> (2 * (i & 3))) & 3) - 1) * t.scales[r * nb + Math.floor(j / t.blockSize)];
    }
    return { rows: t.rows, cols: t.cols, w, ternary: true };
  }
  const f = 'kind' in m ? m.m : m;
  const w = Float64Array.from(f.data as ArrayLike<number>, (v) => (f.dtype === 'f16' ? f16ToF32(v) : v));
  return { rows: f.rows, cols: f.cols, w, ternary: false };
}

/** y = W x; BitLinear layers first quantize x to int8 with one absmax scale (the method's per-token quantization). */
function linear(d: ReturnType<typeof dense>, x: Float64Array): Float64Array {
  let xin = x, inv = 1;
  if (d.ternary) {
    const s = 127 / Math.max(x.reduce((a, v) => Math.max(a, Math.abs(v)), 0), 1e-5);
    xin = x.map((v) => Math.max(-128, Math.min(127, Math.sign(v) * Math.round(Math.abs(v * s)))));
    inv = 1 / s;
  }
  const y = new Float64Array(d.rows);
  for (let r = 0; r < d.rows; r++) { let acc = 0; for (let j = 0; j < d.cols; j++) acc += d.w[r * d.cols + j] * xin[j]; y[r] = acc * inv; }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]);
}

/** Rotary embedding of one head vector: NEOX pairs (i, i + d/2), "normal" GGML pairs (2i, 2i + 1). */
function rope(v: Float64Array, pos: number, c: ModelConfig): void {
  const d = c.headDim;
  for (let h = 0; h < v.length / d; h++) {
    for (let i = 0; i < d / 2; i++) {
      const a = pos * Math.pow(c.ropeTheta, (-2 * i) / d), cos = Math.cos(a), sin = Math.sin(a);
      const [p, q] = c.ropeNeox ? [h * d + i, h * d + i + d / 2] : [h * d + 2 * i, h * d + 2 * i + 1];
      const x0 = v[p], x1 = v[q];
      v[p] = x0 * cos - x1 * sin; v[q] = x0 * sin + x1 * cos;
    }
  }
}

function naiveLogits(w: ModelWeights, toks: number[]): Float64Array[] {
  const c = w.config, hd = c.headDim, group = c.nHeads / c.nKvHeads;
  const emb = dense(w.tokenEmbedding), head = dense(w.output ?? w.tokenEmbedding);
  const L = w.layers.map((l) => ({ ...l, q: dense(l.wq), k: dense(l.wk), v: dense(l.wv), o: dense(l.wo), g: dense(l.wGate), u: dense(l.wUp), d: dense(l.wDown) }));
  const K: Float64Array[][] = L.map(() => []), V: Float64Array[][] = L.map(() => []);
  const out: Float64Array[] = [];
  toks.forEach((t, pos) => {
    let x: Float64Array = emb.w.slice(t * c.dim, (t + 1) * c.dim);
    L.forEach((l, li) => {
      let xb: Float64Array = rmsNorm(x, l.attnNorm, c.normEps);
      const q = linear(l.q, xb), k = linear(l.k, xb), v = linear(l.v, xb);
      rope(q, pos, c); rope(k, pos, c);
      K[li].push(k); V[li].push(v);
      let att: Float64Array = new Float64Array(c.nHeads * hd);
      for (let h = 0; h < c.nHeads; h++) {
        const kh = Math.floor(h / group);
        const s = K[li].map((kk) => { let a = 0; for (let i = 0; i < hd; i++) a += q[h * hd + i] * kk[kh * hd + i]; return a / Math.sqrt(hd); });
        const m = Math.max(...s), e = s.map((v2) => Math.exp(v2 - m)), z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < hd; i++) att[h * hd + i] = V[li].reduce((a, vv, j) => a + (e[j] / z) * vv[kh * hd + i], 0);
      }
      if (l.attnSubNorm) att = rmsNorm(att, l.attnSubNorm, c.normEps);
      x = x.map((v2, i) => v2 + linear(l.o, att)[i]);
      xb = rmsNorm(x, l.ffnNorm, c.normEps);
      const g = linear(l.g, xb), u = linear(l.u, xb);
      let hgate: Float64Array = g.map((gv, i) => (c.activation === 'silu' ? gv / (1 + Math.exp(-gv)) : Math.max(gv, 0) ** 2) * u[i]);
      if (l.ffnSubNorm) hgate = rmsNorm(hgate, l.ffnSubNorm, c.normEps);
      const down = linear(l.d, hgate);
      x = x.map((v2, i) => v2 + down[i]);
    });
    out.push(linear(head, rmsNorm(x, w.outputNorm, c.normEps)));
  });
  return out;
}

/** Worst |engine - naive| over all positions, relative to the naive logits' spread. */
async function relativeError(path: string, want: Float64Array[]): Promise<{ rel: number; top1: number }> {
  // f32 cells: the naive pass keeps K/V exact (f16 cells are tested against f32 in kv-cache.test.ts)
  const m = await loadModel(path, { backend: 'reference', kvType: 'f32' });
  const got: Float32Array[] = [];
  m.createSession().evaluate(tokens, { onLogits: (_, l) => got.push(l.slice()) });
  m.dispose();
  let worst = 0, top1 = 0;
  want.forEach((row, i) => {
    const spread = Math.max(...row) - Math.min(...row);
    let maxd = 0, a = 0, b = 0;
    row.forEach((v, j) => { maxd = Math.max(maxd, Math.abs(v - got[i][j])); if (v > row[a]) a = j; if (got[i][j] > got[i][b]) b = j; });
    worst = Math.max(worst, maxd / spread);
    if (a === b) top1++;
  });
  return { rel: worst, top1: top1 / want.length };
}

test('llama (float, GQA, normal rope, untied head) matches the naive forward pass for f32, f16, bf16 and q8_0 files', async () => {
  const w = synthWeights(shape, 21, 4, 'fp16');
  const head = synthWeights(shape, 22, 4, 'fp16').tokenEmbedding;
  w.output = head;
  assert.equal(w.config.arch, 'llama');
  const tok = synthTokenizer(shape.vocabSize);
  const want = naiveLogits(w, tokens);
  // f16 weights are exact in f32/f16 files; bf16 and q8_0 round them (compare to the rounded weights via tolerance)
  for (const [type, tol] of [['f32', 1e-4], ['f16', 1e-4], ['bf16', 1e-2], ['q8_0', 3e-2]] as const) {
    const path = join(dir, `llama-${type}.gguf`);
    writeModelGGUF(path, w, tok, { floatType: type });
    const m = await loadModel(path, { backend: 'reference' });
    assert.equal(m.config.ropeNeox, false);
    assert.equal(m.info.tensorTypes[type.toUpperCase()], 2 + 7 * shape.nLayers + (type === 'f32' ? 2 * shape.nLayers + 1 : 0)); // norms are f32
    m.dispose();
    const { rel, top1 } = await relativeError(path, want);
    assert.ok(rel < tol, `${type}: max |Δlogit| / spread = ${rel}`);
    if (type === 'f32' || type === 'f16') assert.equal(top1, 1);
  }
});

test('bitnet-b1.58 (squared ReLU, GQA, NEOX rope, sub-norms, I2_S) and bitnet (SiLU, TQ2_0) match the naive BitLinear forward pass', async () => {
  for (const [arch, type] of [['bitnet-b1.58', 'i2_s'], ['bitnet', 'tq2_0']] as const) {
    const w = synthWeights(shape, 31, 4);
    w.config = { ...w.config, arch, activation: arch === 'bitnet' ? 'silu' : 'relu2', ropeTheta: arch === 'bitnet' ? 10000 : 500000 };
    if (type === 'tq2_0') { // TQ2_0 stores the scale as f16: give the oracle the same weights
      for (const L of w.layers) for (const k of ['wq', 'wk', 'wv', 'wo', 'wGate', 'wUp', 'wDown'] as const) {
        const m = L[k]; if (m.kind === 'ternary') m.m.scales.forEach((v, i, a) => { a[i] = f16ToF32(f32ToF16(v)); });
      }
    }
    const path = join(dir, `${arch}.gguf`);
    writeModelGGUF(path, w, synthTokenizer(shape.vocabSize), { ternaryType: type, floatType: 'f32' });
    const m = await loadModel(path, { backend: 'reference' });
    assert.equal(m.config.activation, w.config.activation);
    assert.equal(m.config.ropeTheta, w.config.ropeTheta);
    assert.equal(m.config.nKvHeads, 2);
    m.dispose();
    // same int8 activations on both sides (seen: ~1e-7); a wrong rope pairing or norm gives > 10%
    const { rel, top1 } = await relativeError(path, naiveLogits(w, tokens));
    assert.ok(rel < 1e-3, `${arch}: max |Δlogit| / spread = ${rel}`);
    assert.equal(top1, 1);
  }
});

test('BitNet files with ternary-valued float linears load as BitLinears; llama.cpp-style .scale tensors are applied', async () => {
  const { parseGGUFBytes, serializeGGUF } = await import('../src/formats/gguf.js');
  const { readFileSync } = await import('node:fs');
  const { GGMLType } = await import('../src/quant/ggml.js');
  const { modelFromWeights } = await import('../src/model/index.js');
  const { ternaryToF32 } = await import('../src/quant/ternary.js');
  const tok = synthTokenizer(shape.vocabSize);
  const w = synthWeights(shape, 41, 4);
  const logitsOf = async (m: Awaited<ReturnType<typeof loadModel>>) => { const l = m.createSession().evaluate(tokens).slice(); m.dispose(); return l; };
  const ref = await logitsOf(await modelFromWeights(w, tok, { backend: 'reference' }));
  // the same weights as F32 values (±scale, 0), the way llama.cpp's converter writes F16/F32 BitNet files
  const asFloat: ModelWeights = { ...w, layers: w.layers.map((L) => {
    const d = (m: Matrix): Matrix => (m.kind === 'ternary' ? { kind: 'float', m: { rows: m.m.rows, cols: m.m.cols, dtype: 'f32', data: ternaryToF32(m.m) } } : m);
    return { ...L, wq: d(L.wq), wk: d(L.wk), wv: d(L.wv), wo: d(L.wo), wGate: d(L.wGate), wUp: d(L.wUp), wDown: d(L.wDown) };
  }) };
  const fpath = join(dir, 'bitnet-float.gguf');
  writeModelGGUF(fpath, asFloat, tok, { floatType: 'f32' });
  const mf = await loadModel(fpath, { backend: 'reference' });
  assert.equal(mf.info.tensorTypes.F32, 2 + 11 * shape.nLayers);
  assert.ok(mf.info.ternaryParameters > 0, 'float ±s matrices become ternary');
  const lf = await logitsOf(mf);
  assert.ok(lf.every((v, i) => Math.abs(v - ref[i]) < 1e-4));
  // add blk.0.attn_q.scale = 2 to a ternary file: same as doubling that matrix's scales
  const tpath = join(dir, 'bitnet-t.gguf');
  writeModelGGUF(tpath, w, tok, { ternaryType: 'i2_s', floatType: 'f32' });
  const f = parseGGUFBytes(new Uint8Array(readFileSync(tpath)));
  const tensors = f.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: f.readTensor(t).slice() }));
  tensors.push({ name: 'blk.0.attn_q.scale', type: GGMLType.F32, dims: [1], data: new Uint8Array(Float32Array.of(2).buffer) });
  const spath = join(dir, 'bitnet-scaled.gguf');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(spath, serializeGGUF(f.metadata, tensors));
  const w2 = synthWeights(shape, 41, 4);
  const q = w2.layers[0].wq;
  if (q.kind === 'ternary') q.m.scales.forEach((v, i, a) => { a[i] = 2 * v; });
  const want = await logitsOf(await modelFromWeights(w2, tok, { backend: 'reference' }));
  const got = await logitsOf(await loadModel(spath, { backend: 'reference' }));
  assert.ok(got.every((v, i) => Math.abs(v - want[i]) < 1e-4));
  assert.ok(want.some((v, i) => Math.abs(v - ref[i]) > 1e-2), 'the scale matters');
});
