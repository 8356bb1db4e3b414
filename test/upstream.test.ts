// Details where upstream (bitnet.cpp, llama.cpp, transformers) differs from a plain reading, each pinned here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, modelFromWeights } from '../src/model/index.js';
import { openGGUF } from '../src/formats/gguf.js';
import { openSafetensors } from '../src/formats/safetensors.js';
import { weightsFromGGUF, writeModelGGUF, configFromGGUF } from '../src/model/gguf-model.js';
import { configFromHF, writeHFDirectory } from '../src/model/hf-model.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import type { ModelWeights } from '../src/model/types.js';

const SHAPE = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 300, contextLength: 64 };
const PROMPT = [1, 40, 77, 120, 5, 200];

async function logits(w: ModelWeights | string): Promise<Float32Array> {
  const m = typeof w === 'string' ? await loadModel(w, { backend: 'reference' })
    : await modelFromWeights(w, synthTokenizer(SHAPE.vocabSize), { backend: 'reference' });
  try { return m.createSession().evaluate(PROMPT).slice(); } finally { m.dispose(); }
}

function withDir(f: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bitnet-upstream-'));
    try { await f(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

test('GGUF bitnet-b1.58: the head is always token_embd (bitnet.cpp), even with output.weight; bitnet keeps output', withDir((dir) => {
  const base = synthWeights(SHAPE, 3, 4);
  const head = synthWeights(SHAPE, 4, 4).tokenEmbedding;
  for (const arch of ['bitnet-b1.58', 'bitnet'] as const) {
    const w: ModelWeights = { ...base, config: { ...base.config, arch, activation: 'relu2' }, output: head };
    const path = join(dir, `${arch}.gguf`);
    writeModelGGUF(path, w, synthTokenizer(SHAPE.vocabSize), { floatType: 'f32' });
    const f = openGGUF(path);
    try {
      assert.ok(f.tensor('output.weight'), 'the file has output.weight');
      const back = weightsFromGGUF(f);
      if (arch === 'bitnet-b1.58') assert.equal(back.output, undefined);
      else assert.deepEqual(back.output?.data, head.data);
    } finally { f.close(); }
  }
}));

test('GGUF <arch>.hidden_activation: read (relu2 runs as relu2), written only when not the default, unknown refused', withDir(async (dir) => {
  const w0 = synthWeights(SHAPE, 5, 4);
  const relu = { ...w0, config: { ...w0.config, activation: 'relu2' as const } };
  const path = join(dir, 'relu2.gguf');
  writeModelGGUF(path, relu, synthTokenizer(SHAPE.vocabSize), { floatType: 'f32', ternaryType: 'i2_s' }); // I2_S: exact f32 scale
  let f = openGGUF(path);
  assert.equal(f.get('bitnet.hidden_activation'), 'relu2');
  assert.equal(configFromGGUF(f).activation, 'relu2');
  f.close();
  assert.deepEqual(await logits(path), await logits(relu));
  assert.notDeepEqual(await logits(path), await logits(w0)); // SiLU would give other logits
  const silu = join(dir, 'silu.gguf');
  writeModelGGUF(silu, w0, synthTokenizer(SHAPE.vocabSize), { floatType: 'f32' });
  f = openGGUF(silu);
  assert.equal(f.get('bitnet.hidden_activation'), undefined); // default: not written, as llama.cpp's converter
  f.close();
  const gelu = join(dir, 'gelu.gguf');
  writeModelGGUF(gelu, { ...w0, config: { ...w0.config, activation: 'gelu' as 'silu' } }, synthTokenizer(SHAPE.vocabSize), { floatType: 'f32' });
  await assert.rejects(loadModel(gelu, { backend: 'reference' }), /hidden_activation" is 'gelu': only silu, swish, swiglu, relu2/);
  // llama.cpp's other spellings of SiLU (LLM_FFN_OP_TYPES_FROM_STRING) read as silu, on a file that says relu2 otherwise
  for (const name of ['swish', 'swiglu']) {
    const p = join(dir, `${name}.gguf`);
    writeModelGGUF(p, { ...w0, config: { ...w0.config, activation: name as 'silu' } }, synthTokenizer(SHAPE.vocabSize), { floatType: 'f32' });
    f = openGGUF(p);
    assert.equal(f.get('bitnet.hidden_activation'), name);
    assert.equal(configFromGGUF(f).activation, 'silu', name);
    f.close();
  }
}));

test('HF config defaults per config class (BitNetConfig: rms_norm_eps 1e-5, 5 KV heads; LlamaConfig: 1e-6, all heads)', () => {
  const dims = { hidden_size: 2560, num_attention_heads: 20, num_hidden_layers: 2, intermediate_size: 6912, vocab_size: 1000 };
  const b = configFromHF({ architectures: ['BitNetForCausalLM'], ...dims });
  assert.equal(b.nKvHeads, 5);
  assert.equal(b.normEps, 1e-5);
  assert.equal(b.ropeTheta, 500000);
  assert.equal(b.activation, 'relu2');
  assert.equal(configFromHF({ architectures: ['BitNetForCausalLM'], ...dims, num_key_value_heads: null }).nKvHeads, 20);
  const l = configFromHF({ architectures: ['LlamaForCausalLM'], ...dims });
  assert.equal(l.nKvHeads, 20);
  assert.equal(l.normEps, 1e-6);
});

test('HF config switches that change the math are refused, not ignored', () => {
  const cfg = { architectures: ['BitNetForCausalLM'], hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 4, num_hidden_layers: 1, intermediate_size: 128, vocab_size: 300 };
  for (const [extra, re] of [
    [{ attention_bias: true }, /"attention_bias": true is not supported/],
    [{ mlp_bias: true }, /"mlp_bias": true is not supported/],
    [{ use_rms_norm: false }, /"use_rms_norm": false is not supported/],
    [{ rope_scaling: { type: 'linear', factor: 2 } }, /"rope_scaling" .* is not supported/],
    [{ hidden_act: 'gelu' }, /hidden_act "gelu" is not supported for BitNetForCausalLM \(supported: silu, swish, swiglu, relu2\)/],
  ] as const) {
    assert.throws(() => configFromHF({ ...cfg, ...extra }), re as RegExp, JSON.stringify(extra));
  }
  // the values that mean "off" are accepted
  assert.doesNotThrow(() => configFromHF({ ...cfg, attention_bias: false, use_rms_norm: true, rope_scaling: null, pretraining_tp: 1 }));
});

test('transformers-native export of a bitnet model: BitNetForCausalLM, packed U8 + weight_scale, same logits back', withDir(async (dir) => {
  const w = synthWeights(SHAPE, 6, 4); // arch bitnet, SiLU, per-tensor scales (what the trainer exports)
  const out = join(dir, 'hf');
  writeHFDirectory(out, w, synthTokenizer(SHAPE.vocabSize), { layout: 'transformers' });
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual([cfg.model_type, cfg.architectures[0], cfg.hidden_act], ['bitnet', 'BitNetForCausalLM', 'silu']);
  assert.equal(cfg.quantization_config.quant_method, 'bitnet');
  const st = openSafetensors(join(out, 'model.safetensors'));
  try {
    const q = st.tensor('model.layers.0.self_attn.q_proj.weight')!;
    assert.deepEqual([q.dtype, q.shape], ['U8', [SHAPE.dim / 4, SHAPE.dim]]);
    assert.deepEqual(st.tensor('model.layers.0.self_attn.q_proj.weight_scale')?.shape, [1]);
    assert.ok(st.tensor('model.layers.0.self_attn.attn_sub_norm.weight'));
    assert.ok(st.tensor('model.layers.0.mlp.ffn_sub_norm.weight'));
  } finally { st.close(); }
  const [a, b] = [await logits(w), await logits(out)];
  let worst = 0, scale = 0;
  for (let i = 0; i < a.length; i++) { worst = Math.max(worst, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(a[i])); }
  assert.ok(worst <= 1e-4 * scale, `max |Δlogit| ${worst} (scale ${scale})`); // weight_scale is 1/s in f32: an ulp
}));
