/**
 * Hugging Face directories in the three upstream layouts, built here from synthetic weights with an
 * independent packer (transformers pack_weights semantics), loaded, converted both ways, and compared
 * by logits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { loadModel, modelFromWeights, readModelSource } from '../src/model/index.js';
import { convertModel } from '../src/model/convert.js';
import { writeSafetensors, f32ToSafetensors, openSafetensors, type SafetensorsTensorToWrite } from '../src/formats/safetensors.js';
import { loadHFDirectory, permuteQKRows } from '../src/model/hf-model.js';
import { HFError } from '../src/formats/hf-checkpoint.js';
import { loadHFTokenizer, tokenizerToHF } from '../src/tokenizer/hf.js';
import { absmeanTernarize, floatToF32, getCode } from '../src/quant/ternary.js';
import type { ModelWeights, Matrix, LayerWeights } from '../src/model/types.js';
import type { TernaryMatrix } from '../src/quant/matrix.js';
import type { Tokenizer } from '../src/tokenizer/types.js';
import { tokenizerFromGGUF, tokenizerFromHF, type GGUFMetadataEntry } from '../src/tokenizer/index.js';

const SHAPE = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 256, vocabSize: 320, contextLength: 64 };
const PROMPT = [1, 40, 77, 120, 5, 300, 12, 9];
const LINEARS: Array<[keyof LayerWeights, string]> = [
  ['wq', 'self_attn.q_proj'], ['wk', 'self_attn.k_proj'], ['wv', 'self_attn.v_proj'], ['wo', 'self_attn.o_proj'],
  ['wGate', 'mlp.gate_proj'], ['wUp', 'mlp.up_proj'], ['wDown', 'mlp.down_proj'],
];

async function logitsOf(w: ModelWeights, tok: Tokenizer): Promise<Float32Array[]> {
  const model = await modelFromWeights(w, tok, { backend: 'reference' });
  const out: Float32Array[] = [];
  model.createSession().evaluate(PROMPT, { onLogits: (_i, l) => out.push(l.slice()) });
  model.dispose();
  return out;
}

function assertClose(a: Float32Array[], b: Float32Array[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) worst = Math.max(worst, Math.abs(a[i][j] - b[i][j]));
  assert.ok(worst <= tol, `${what}: max |Δlogit| ${worst} > ${tol}`);
}

function tmp(): string { return mkdtempSync(join(tmpdir(), 'hf-')); }

function writeDir(dir: string, config: object, tensors: SafetensorsTensorToWrite[], tok: Tokenizer): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const { tokenizerJson, tokenizerConfig } = tokenizerToHF(tok);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
}

const baseConfig = (extra: object) => ({
  hidden_size: SHAPE.dim, intermediate_size: SHAPE.ffnDim, num_hidden_layers: SHAPE.nLayers, num_attention_heads: SHAPE.nHeads,
  num_key_value_heads: SHAPE.nKvHeads, vocab_size: SHAPE.vocabSize, max_position_embeddings: SHAPE.contextLength, rms_norm_eps: 1e-5, ...extra,
});

const f32 = (name: string, shape: number[], v: Float32Array, dtype: 'F32' | 'BF16' | 'F16' = 'F32'): SafetensorsTensorToWrite => ({ name, dtype, shape, data: f32ToSafetensors(dtype, v) });

/** transformers pack_weights, written from its description: rows [i*P, (i+1)*P) go to bits 2i. */
function packLikeTransformers(m: TernaryMatrix): Uint8Array {
  const P = m.rows / 4, out = new Uint8Array(P * m.cols);
  for (let i = 0; i < 4; i++) for (let p = 0; p < P; p++) for (let j = 0; j < m.cols; j++) out[p * m.cols + j] |= getCode(m, (i * P + p) * m.cols + j) << (2 * i);
  return out;
}

function commonTensors(w: ModelWeights, attnSub?: string, ffnSub?: string): SafetensorsTensorToWrite[] {
  const t: SafetensorsTensorToWrite[] = [f32('model.embed_tokens.weight', [SHAPE.vocabSize, SHAPE.dim], floatToF32(w.tokenEmbedding), 'BF16')];
  w.layers.forEach((L, l) => {
    const p = `model.layers.${l}`;
    t.push(f32(`${p}.input_layernorm.weight`, [SHAPE.dim], L.attnNorm, 'BF16'), f32(`${p}.post_attention_layernorm.weight`, [SHAPE.dim], L.ffnNorm, 'BF16'));
    if (attnSub) t.push(f32(`${p}.${attnSub}.weight`, [SHAPE.dim], L.attnSubNorm!, 'BF16'));
    if (ffnSub) t.push(f32(`${p}.${ffnSub}.weight`, [SHAPE.ffnDim], L.ffnSubNorm!, 'BF16'));
  });
  t.push(f32('model.norm.weight', [SHAPE.dim], w.outputNorm, 'BF16'));
  return t;
}

/** Synthetic weights whose float parts are bf16-exact (so a BF16 checkpoint holds them exactly). */
function bf16Exact(w: ModelWeights): ModelWeights {
  const r = (v: Float32Array) => { const o = new Float32Array(v.length); const u = new Uint32Array(o.buffer); o.set(v); for (let i = 0; i < u.length; i++) u[i] &= 0xffff0000; return o; };
  const e = floatToF32(w.tokenEmbedding);
  return { ...w, tokenEmbedding: { ...w.tokenEmbedding, dtype: 'f32', data: r(e) } };
}

test('bitnet-b1.58 (2B4T packed uint8 + weight_scale) loads exactly and converts both ways', async () => {
  const dir = tmp();
  try {
    let w = bf16Exact(synthWeights(SHAPE, 3, 4));
    w = { ...w, config: { ...w.config, arch: 'bitnet-b1.58', activation: 'relu2', ropeTheta: 500000 } };
    for (const L of w.layers) for (const [k] of LINEARS) (L[k] as { m: TernaryMatrix }).m.scales.fill(0.0625); // 1/scale = 16, exact in bf16
    const tok = synthTokenizer(SHAPE.vocabSize);
    const src = join(dir, 'bitnet-2b');
    write2B4T(src, w, tok, 'bitlinear', 16);

    const loaded = loadHFDirectory(src);
    assert.equal(loaded.weights.config.arch, 'bitnet-b1.58');
    assert.equal(loaded.weights.config.activation, 'relu2');
    for (const [k] of LINEARS) assert.deepEqual((loaded.weights.layers[1][k] as { m: TernaryMatrix }).m.codes, (w.layers[1][k] as { m: TernaryMatrix }).m.codes, k);
    const ref = await logitsOf(w, tok);
    assertClose(await logitsOf(loaded.weights, loaded.tokenizer), ref, 0, 'HF load');

    // through loadModel (registered directory loader)
    const model = await loadModel(src, { backend: 'reference' });
    assert.equal(model.config.arch, 'bitnet-b1.58');
    model.dispose();

    // HF -> GGUF (i2_s keeps the f32 per-tensor scale: exact) -> HF
    convertModel(src, join(dir, 'm.gguf'), { type: 'i2_s' });
    const g = readModelSource(join(dir, 'm.gguf'));
    assertClose(await logitsOf(g.weights, g.tokenizer), ref, 0, 'GGUF i2_s');
    convertModel(join(dir, 'm.gguf'), join(dir, 'back'));
    const back = loadHFDirectory(join(dir, 'back'));
    const st = openSafetensors(join(dir, 'back', 'model.safetensors'));
    assert.equal(st.tensor('model.layers.0.self_attn.q_proj.weight')!.dtype, 'U8');
    assert.deepEqual(st.tensor('model.layers.0.mlp.down_proj.weight')!.shape, [SHAPE.dim / 4, SHAPE.ffnDim]);
    st.close();
    assertClose(await logitsOf(back.weights, back.tokenizer), ref, 1e-5, 'GGUF -> HF');
    // TQ2_0 stores f16 block scales: 0.0625 is exact there too
    convertModel(src, join(dir, 'm2.gguf'), { type: 'tq2_0' });
    const g2 = readModelSource(join(dir, 'm2.gguf'));
    assertClose(await logitsOf(g2.weights, g2.tokenizer), ref, 0, 'GGUF tq2_0');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

/** A 2B4T-layout directory: packed U8 linears + BF16 weight_scale (1/scale for bitlinear, scale for autobitlinear). */
function write2B4T(dir: string, w: ModelWeights, tok: Tokenizer, linearClass: 'bitlinear' | 'autobitlinear', weightScale: number): void {
  const t = commonTensors(w, 'self_attn.attn_sub_norm', 'mlp.ffn_sub_norm');
  w.layers.forEach((L, l) => {
    for (const [k, hf] of LINEARS) {
      const m = (L[k] as { m: TernaryMatrix }).m;
      t.push({ name: `model.layers.${l}.${hf}.weight`, dtype: 'U8', shape: [m.rows / 4, m.cols], data: packLikeTransformers(m) });
      t.push(f32(`model.layers.${l}.${hf}.weight_scale`, [1], new Float32Array([weightScale]), 'BF16'));
    }
  });
  writeDir(dir, baseConfig({ architectures: ['BitNetForCausalLM'], model_type: 'bitnet', hidden_act: 'relu2', rope_theta: 500000, tie_word_embeddings: true,
    quantization_config: { quant_method: 'bitnet', linear_class: linearClass, quantization_mode: 'offline' } }), t, tok);
}

test('bitnet-b1.58: autobitlinear multiplies by weight_scale; bf16 master weights are ternarized on load', async () => {
  const dir = tmp();
  try {
    let w = bf16Exact(synthWeights(SHAPE, 9, 4));
    w = { ...w, config: { ...w.config, arch: 'bitnet-b1.58', activation: 'relu2', ropeTheta: 500000 } };
    for (const L of w.layers) for (const [k] of LINEARS) (L[k] as { m: TernaryMatrix }).m.scales.fill(0.0625);
    const tok = synthTokenizer(SHAPE.vocabSize);
    const ref = await logitsOf(w, tok);
    write2B4T(join(dir, 'auto'), w, tok, 'autobitlinear', 0.0625);
    const a = loadHFDirectory(join(dir, 'auto'));
    assertClose(await logitsOf(a.weights, a.tokenizer), ref, 0, 'autobitlinear');
    // masters: float weights whose absmean ternarization is w's codes and scale
    const t = commonTensors(w, 'self_attn.attn_sub_norm', 'mlp.ffn_sub_norm');
    w.layers.forEach((L, l) => {
      for (const [k, hf] of LINEARS) {
        const m = (L[k] as { m: TernaryMatrix }).m;
        const q = new Float32Array(m.rows * m.cols);
        let nz = 0;
        for (let e = 0; e < q.length; e++) { q[e] = getCode(m, e) - 1; if (q[e] !== 0) nz++; }
        t.push(f32(`model.layers.${l}.${hf}.weight`, [m.rows, m.cols], q.map((v) => v * 0.0625 * q.length / nz), 'F32'));
      }
    });
    writeDir(join(dir, 'bf16'), baseConfig({ architectures: ['BitNetForCausalLM'], model_type: 'bitnet', hidden_act: 'relu2', rope_theta: 500000, tie_word_embeddings: true,
      quantization_config: { quant_method: 'bitnet', linear_class: 'autobitlinear', quantization_mode: 'online' } }), t, tok);
    const b = loadHFDirectory(join(dir, 'bf16'));
    assertClose(await logitsOf(b.weights, b.tokenizer), ref, 1e-4, 'float masters');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('1bitLLM bitnet_b1_58 latent weights are ternarized with absmean on load', async () => {
  const dir = tmp();
  try {
    const fp = bf16Exact(synthWeights(SHAPE, 5, 4, 'fp16'));
    const tok = synthTokenizer(SHAPE.vocabSize);
    const ones = (n: number) => new Float32Array(n).fill(1);
    const t = commonTensors({ ...fp, layers: fp.layers.map((L) => ({ ...L, attnSubNorm: ones(SHAPE.dim), ffnSubNorm: ones(SHAPE.ffnDim) })) }, 'self_attn.inner_attn_ln', 'mlp.ffn_layernorm');
    const latent: Record<string, Float32Array> = {};
    fp.layers.forEach((L, l) => {
      for (const [k, hf] of LINEARS) {
        const m = (L[k] as Matrix).m;
        const name = `model.layers.${l}.${hf}.weight`;
        latent[name] = floatToF32(m as never);
        t.push(f32(name, [m.rows, m.cols], latent[name], 'F16'));
      }
    });
    t.push(f32('lm_head.weight', [SHAPE.vocabSize, SHAPE.dim], floatToF32(fp.tokenEmbedding), 'BF16'));
    const src = join(dir, 'bitnet_b1_58-tiny');
    writeDir(src, baseConfig({ architectures: ['BitnetForCausalLM'], model_type: 'llama', hidden_act: 'silu', tie_word_embeddings: false, weight_bits: 1, input_bits: 8 }), t, tok);

    const { weights, tokenizer } = loadHFDirectory(src);
    assert.equal(weights.config.arch, 'bitnet');
    assert.ok(weights.output, 'untied lm_head kept');
    const q = weights.layers[0].wGate as { kind: string; m: TernaryMatrix };
    assert.equal(q.kind, 'ternary');
    const expect = absmeanTernarize(latent['model.layers.0.mlp.gate_proj.weight'], SHAPE.ffnDim, SHAPE.dim);
    assert.deepEqual(q.m.codes, expect.codes);
    assert.equal(q.m.scales[0], expect.scales[0]);

    const ref = await logitsOf(weights, tokenizer);
    convertModel(src, join(dir, 'b.gguf'), { type: 'i2_s' });
    const g = readModelSource(join(dir, 'b.gguf'));
    assert.equal(g.weights.config.arch, 'bitnet');
    assertClose(await logitsOf(g.weights, g.tokenizer), ref, 0, 'HF -> GGUF');
    // GGUF -> HF writes latent weights that re-ternarize to the same codes and scale
    convertModel(join(dir, 'b.gguf'), join(dir, 'back'));
    const back = loadHFDirectory(join(dir, 'back'));
    assertClose(await logitsOf(back.weights, back.tokenizer), ref, 1e-4, 'GGUF -> HF');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('LLaMA F16: q/k rows are permuted to GGUF order (normal rope == HF rotate_half), sharded index', async () => {
  const dir = tmp();
  try {
    const fp = synthWeights(SHAPE, 7, 4, 'fp16');
    const tok = synthTokenizer(SHAPE.vocabSize);
    const t = commonTensors(bf16Exact(fp));
    fp.layers.forEach((L, l) => {
      for (const [k, hf] of LINEARS) {
        const m = (L[k] as Matrix).m as { rows: number; cols: number; data: Uint16Array };
        t.push({ name: `model.layers.${l}.${hf}.weight`, dtype: 'F16', shape: [m.rows, m.cols], data: new Uint8Array(m.data.buffer.slice(0)) });
      }
    });
    // two shards + index
    const src = join(dir, 'llama');
    mkdirSync(src);
    writeFileSync(join(src, 'config.json'), JSON.stringify(baseConfig({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', tie_word_embeddings: true, torch_dtype: 'float16' })));
    const { tokenizerJson, tokenizerConfig } = tokenizerToHF(tok);
    writeFileSync(join(src, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(src, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    const half = Math.floor(t.length / 2);
    writeSafetensors(join(src, 'model-00001-of-00002.safetensors'), t.slice(0, half));
    writeSafetensors(join(src, 'model-00002-of-00002.safetensors'), t.slice(half));
    const weight_map: Record<string, string> = {};
    t.forEach((x, i) => { weight_map[x.name] = i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors'; });
    writeFileSync(join(src, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map }));

    const { weights, tokenizer } = loadHFDirectory(src);
    assert.equal(weights.config.ropeNeox, false);
    // the HF rows as they are, run with NEOX (rotate_half) rope, must give the same logits
    const hfOrder: ModelWeights = {
      ...weights, config: { ...weights.config, ropeNeox: true },
      layers: weights.layers.map((L) => ({
        ...L,
        wq: { kind: 'float', m: { ...(L.wq.m as never as { rows: number; cols: number; dtype: 'f16'; data: Uint16Array }), data: permuteQKRows((L.wq.m as never as { data: Uint16Array }).data, SHAPE.nHeads, SHAPE.dim, SHAPE.dim, true) } },
        wk: { kind: 'float', m: { ...(L.wk.m as never as { rows: number; cols: number; dtype: 'f16'; data: Uint16Array }), data: permuteQKRows((L.wk.m as never as { data: Uint16Array }).data, SHAPE.nKvHeads, SHAPE.dim / 2, SHAPE.dim, true) } },
      })),
    };
    assert.deepEqual((hfOrder.layers[0].wq.m as never as { data: Uint16Array }).data, (fp.layers[0].wq.m as never as { data: Uint16Array }).data);
    const ref = await logitsOf(weights, tokenizer);
    assertClose(await logitsOf(hfOrder, tokenizer), ref, 1e-4, 'normal rope on permuted rows vs NEOX on HF rows');

    // HF -> GGUF (f16) -> HF: identical logits and identical HF q rows
    convertModel(src, join(dir, 'l.gguf'), { type: 'f16' });
    const g = readModelSource(join(dir, 'l.gguf'));
    assertClose(await logitsOf(g.weights, g.tokenizer), ref, 0, 'HF -> GGUF');
    convertModel(join(dir, 'l.gguf'), join(dir, 'back'), { type: 'f16' });
    const st = openSafetensors(join(dir, 'back', 'model.safetensors'));
    const info = st.tensor('model.layers.1.self_attn.k_proj.weight')!;
    assert.equal(info.dtype, 'F16');
    assert.deepEqual(new Uint16Array(st.read(info).slice().buffer), (fp.layers[1].wk.m as never as { data: Uint16Array }).data);
    st.close();
    const back = loadHFDirectory(join(dir, 'back'));
    assertClose(await logitsOf(back.weights, back.tokenizer), ref, 0, 'GGUF -> HF');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('tokenizer.json written from a GGUF tokenizer encodes identically', () => {
  const dir = tmp();
  try {
    const tok = synthTokenizer(SHAPE.vocabSize);
    const { tokenizerJson, tokenizerConfig } = tokenizerToHF(tok);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    const hf = loadHFTokenizer(dir);
    for (const s of ['hello there', 'the rain in spain stays', '  two  spaces', 'ünïcödé → bytes', 'etaoin shrdlu\nnew line']) {
      assert.deepEqual(hf.encode(s), tok.encode(s), s);
      assert.equal(hf.decode(hf.encode(s, { addBos: false })), tok.decode(tok.encode(s, { addBos: false })));
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('bad directories fail with clear errors', () => {
  const dir = tmp();
  try {
    const tok = synthTokenizer(SHAPE.vocabSize);
    writeDir(join(dir, 'x'), baseConfig({ architectures: ['GPT2LMHeadModel'] }), [], tok);
    assert.throws(() => loadHFDirectory(join(dir, 'x')), (e: unknown) => e instanceof HFError && /unsupported Hugging Face architecture/.test(e.message));
    writeDir(join(dir, 'y'), baseConfig({ architectures: ['LlamaForCausalLM'] }), [f32('model.embed_tokens.weight', [2], new Float32Array(2))], tok);
    assert.throws(() => loadHFDirectory(join(dir, 'y')), /shape \[2\], expected \[320, 256\]/);
    assert.throws(() => readModelSource(join(dir, 'nope')), /model not found/);
    JSON.parse(readFileSync(join(dir, 'x', 'config.json'), 'utf8'));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

// llama.cpp-generated fixtures (test/fixtures/tokenizer): GGUF vocabulary + ids llama.cpp produced.
for (const name of ['bpe-llama3', 'bpe-gpt2', 'bpe-qwen2', 'spm']) {
  test(`${name}: tokenizer.json written from the GGUF vocabulary encodes exactly as llama.cpp`, () => {
    const f = JSON.parse(readFileSync(new URL(`../../test/fixtures/tokenizer/${name}.json`, import.meta.url), 'utf8')) as
      { metadata: GGUFMetadataEntry[]; cases: Array<{ text: string; parseSpecial: boolean; ids: number[] }> };
    const gguf = tokenizerFromGGUF((k) => f.metadata.find((e) => e.key === k)?.value);
    const { tokenizerJson, tokenizerConfig } = tokenizerToHF(gguf);
    const hf = tokenizerFromHF(JSON.parse(JSON.stringify(tokenizerJson)), JSON.parse(JSON.stringify(tokenizerConfig)));
    assert.equal(hf.kind, gguf.kind);
    assert.equal(hf.bos, gguf.bos);
    assert.equal(hf.eos, gguf.eos);
    let n = 0;
    for (const c of f.cases) {
      assert.deepEqual(hf.encode(c.text, { addBos: false, parseSpecial: c.parseSpecial }), c.ids, `${name} ${JSON.stringify(c.text)}`);
      n++;
    }
    assert.ok(n >= 100);
  });
}
