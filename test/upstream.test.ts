// Details where upstream (bitnet.cpp, llama.cpp, transformers) differs from a plain reading, each pinned here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, modelFromWeights } from '../src/model/index.js';
import { gguf, openGGUF, serializeGGUF, type GGUFValue } from '../src/formats/gguf.js';
import { openSafetensors } from '../src/formats/safetensors.js';
import { weightsFromGGUF, writeModelGGUF, configFromGGUF } from '../src/model/gguf-model.js';
import { configFromHF, writeHFDirectory } from '../src/model/hf-model.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import type { ModelWeights } from '../src/model/types.js';
import { floatToF32 } from '../src/quant/ternary.js';

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

/** The same file under another architecture name: every `<from>.` key renamed, tensors as they are. */
function renameArch(src: string, dst: string, to: string, extra: Array<[string, GGUFValue]> = []): void {
  const f = openGGUF(src);
  try {
    const from = f.require<string>('general.architecture');
    const meta = [...f.metadata].map(([k, v]): [string, GGUFValue] => (k === 'general.architecture' ? [k, gguf.str(to)]
      : [k.startsWith(`${from}.`) ? `${to}.${k.slice(from.length + 1)}` : k, v]));
    meta.push(...extra);
    writeFileSync(dst, serializeGGUF(meta, f.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: f.readTensor(t) }))));
  } finally { f.close(); }
}

test('GGUF untied head: refused for bitnet (llama.cpp loads no output.weight) unless untiedHead; never for bitnet-b1.58',
  withDir(async (dir) => {
    const base = synthWeights(SHAPE, 3, 4);
    const head = synthWeights(SHAPE, 4, 4).tokenEmbedding;
    const tok = synthTokenizer(SHAPE.vocabSize);
    for (const arch of ['bitnet', 'bitnet-b1.58'] as const) {
      const w: ModelWeights = { ...base, config: { ...base.config, arch, activation: 'relu2' }, output: head };
      const path = join(dir, `${arch}.gguf`);
      assert.throws(() => writeModelGGUF(path, w, tok, { floatType: 'f32' }),
        new RegExp(`untied LM head.*Hugging Face directory${arch === 'bitnet' ? '.*--untied-head' : '(?!.*--untied-head)'}`));
      assert.ok(!existsSync(path), 'nothing written');
    }
    // opted in: a `bitnet` file with output.weight, read back with that head
    const untied: ModelWeights = { ...base, output: head };
    const bitnet = join(dir, 'untied.gguf');
    writeModelGGUF(bitnet, untied, tok, { floatType: 'f32', ternaryType: 'i2_s', untiedHead: true }); // I2_S: exact scales
    const f = openGGUF(bitnet);
    try {
      assert.ok(f.tensor('output.weight'), 'the file has output.weight');
      assert.deepEqual(weightsFromGGUF(f).output?.data, head.data);
    } finally { f.close(); }
    assert.deepEqual(await logits(bitnet), await logits(untied));
    assert.throws(() => writeModelGGUF(join(dir, 'x.gguf'), { ...untied, config: { ...base.config, arch: 'bitnet-b1.58' } }, tok,
      { untiedHead: true }), /bitnet-b1\.58.*ignores output\.weight/);
    // the same bytes as `bitnet-b1.58` (bitnet.cpp's name): the head is token_embd, as bitnet.cpp's graph has it
    const b158 = join(dir, 'untied-b158.gguf');
    renameArch(bitnet, b158, 'bitnet-b1.58');
    const g = openGGUF(b158);
    try { assert.equal(weightsFromGGUF(g).output, undefined); } finally { g.close(); }
    // an output equal to the embedding (f32 and f16 copies) is the tied head: no output.weight, same logits
    const half = synthWeights(SHAPE, 3, 4, 'ternary', 'f16'); // f16 embedding, its f32 copy as the head
    for (const [name, w] of [['f32', { ...base, output: { ...base.tokenEmbedding } }],
      ['f16-f32', { ...half, output: { ...half.tokenEmbedding, dtype: 'f32', data: floatToF32(half.tokenEmbedding) } }]] as const) {
      const tied = join(dir, `tied-${name}.gguf`);
      writeModelGGUF(tied, w, tok, { floatType: 'f32', ternaryType: 'i2_s' });
      const t = openGGUF(tied);
      try { assert.equal(t.tensor('output.weight'), undefined, name); } finally { t.close(); }
      assert.deepEqual(await logits(tied), await logits(w), name);
    }
    // llama keeps its untied head (llama.cpp's llama arch loads output.weight)
    const llama = join(dir, 'llama.gguf');
    writeModelGGUF(llama, { ...synthWeights(SHAPE, 3, 4, 'fp16'), output: head }, tok, { floatType: 'f32' });
    const l = openGGUF(llama);
    try { assert.ok(l.tensor('output.weight')); } finally { l.close(); }
  }));

test('GGUF names of BitNet b1.58 2B4T: bitnet-b1.58 and bitnet-25 (bitnet.cpp), bitnet + relu2 (llama.cpp) load alike',
  withDir(async (dir) => {
    const w0 = synthWeights(SHAPE, 6, 4);
    const w: ModelWeights = { ...w0, config: { ...w0.config, arch: 'bitnet-b1.58', activation: 'relu2', ropeTheta: 500000 } };
    const b158 = join(dir, 'b158.gguf');
    writeModelGGUF(b158, w, synthTokenizer(SHAPE.vocabSize), { floatType: 'f32', ternaryType: 'i2_s' });
    const ref = await logits(b158);
    assert.deepEqual(ref, await logits(w));
    // llama.cpp's converter (BitnetModel, MODEL_ARCH.BITNET) writes 2B4T as `bitnet`: hidden_act relu2 read from
    // `bitnet.hidden_activation` (src/models/bitnet.cpp), rope scaling linear 1.0 (a no-op)
    const llamaCpp: Array<[string, GGUFValue]> = [['bitnet.hidden_activation', gguf.str('relu2')],
      ['bitnet.rope.scaling.type', gguf.str('linear')], ['bitnet.rope.scaling.factor', gguf.f32(1)]];
    for (const [name, extra] of [['bitnet-25', []], ['bitnet', llamaCpp]] as const) {
      const p = join(dir, `${name}.gguf`);
      renameArch(b158, p, name, [...extra]);
      const f = openGGUF(p);
      try {
        const c = configFromGGUF(f);
        assert.deepEqual([c.activation, c.ropeTheta, c.subNorms, c.ropeNeox], ['relu2', 500000, true, true], name);
      } finally { f.close(); }
      assert.deepEqual(await logits(p), ref, name);
    }
    // RoPE scaling we do not run is refused by its keys, not ignored
    for (const extra of [[['bitnet.rope.scaling.type', gguf.str('yarn')], ['bitnet.rope.scaling.factor', gguf.f32(4)]],
      [['bitnet.rope.scaling.type', gguf.str('linear')], ['bitnet.rope.scaling.factor', gguf.f32(2)]],
      [['bitnet.rope.scale_linear', gguf.f32(2)]]] as Array<Array<[string, GGUFValue]>>) {
      const p = join(dir, 'scaled.gguf');
      renameArch(b158, p, 'bitnet', extra);
      await assert.rejects(loadModel(p, { backend: 'reference' }), /RoPE scaling .*"bitnet\.rope\.scaling\.type".*plain RoPE only/);
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
