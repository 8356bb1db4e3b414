/**
 * Hugging Face model directories <-> ModelWeights + Tokenizer (the twin of gguf-model.ts).
 *
 * A directory holds config.json, model.safetensors (or model.safetensors.index.json + shards) and
 * tokenizer.json (+ tokenizer_config.json). Three layouts (sources in docs/INTEROP.md):
 *  - bitnet-b1.58 (microsoft/bitnet-b1.58-2B-4T, `BitNetForCausalLM`): linear weights packed 4 ternary
 *    codes per uint8 along the OUTPUT dim (transformers integrations/bitnet.py unpack_weights: packed
 *    row p, bits 2i..2i+1 hold output row i*P + p, P = out/4; code = w + 1) plus a one-element
 *    `weight_scale`; relu2 gate, sub-norms `attn_sub_norm` / `ffn_sub_norm`. With linear_class
 *    "bitlinear" (the default) y = x·Wq / weight_scale, with "autobitlinear" y = x·Wq · weight_scale.
 *    A `-bf16` master checkpoint of the same architecture (float weights) is ternarized on load.
 *  - bitnet (1bitLLM bitnet_b1_58-*, `BitnetForCausalLM`): LLaMA names, full-precision latent weights
 *    that BitLinear ternarizes with absmean, sub-norms `inner_attn_ln` / `ffn_layernorm`.
 *  - llama (`LlamaForCausalLM`): full precision; q/k rows permuted to GGUF order for the GGML
 *    "normal" rope (convert_hf_to_gguf.py LlamaModel.permute). BitNet layouts keep HF order: their
 *    GGUF architectures use NEOX rope, the same rotate_half pairing as HF.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';
import { ACTIVATION_NAMES, type Architecture, type LayerWeights, type Matrix, type ModelConfig, type ModelWeights } from './types.js';
import { LAYER_SCHEMA, MODEL_TENSORS as NAMES, hfLayerModule, layerDims, layerTensors, type LayerTensor } from './schema.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { loadHFTokenizer, writeHFTokenizer } from '../tokenizer/hf.js';
import { absmeanTernarize, floatToF32, getCode, ternaryToF32 } from '../quant/ternary.js';
import { f32ToSafetensors, safetensorsToF32, writeSafetensors, type SafetensorsTensorInfo, type SafetensorsTensorToWrite } from '../formats/safetensors.js';
import { HFError, isHFDirectory, openHFCheckpoint, type HFCheckpoint, type Json } from '../formats/hf-checkpoint.js';

const fail = (msg: string): never => { throw new HFError(msg); };

/** Per-architecture HF facts: class name, model_type, sub-norms, activation, rope base default (tensor names: schema.ts). */
interface LayoutFacts {
  hfArch: string; modelType: string; subNorms: boolean; act: 'silu' | 'relu2'; ternary: boolean; permuteQK: boolean;
  // config.json defaults of the architecture's config class where a key is absent
  ropeTheta: number; rmsNormEps: number; kvHeads?: number;
}
export const HF_LAYOUTS: Record<Architecture, LayoutFacts> = {
  'bitnet-b1.58': { hfArch: 'BitNetForCausalLM', modelType: 'bitnet', subNorms: true, act: 'relu2', ternary: true, permuteQK: false,
    ropeTheta: 500000, rmsNormEps: 1e-5, kvHeads: 5 }, // transformers configuration_bitnet.py BitNetConfig
  bitnet: { hfArch: 'BitnetForCausalLM', modelType: 'llama', subNorms: true, act: 'silu', ternary: true, permuteQK: false,
    ropeTheta: 10000, rmsNormEps: 1e-6 }, // LlamaConfig
  llama: { hfArch: 'LlamaForCausalLM', modelType: 'llama', subNorms: false, act: 'silu', ternary: false, permuteQK: true,
    ropeTheta: 10000, rmsNormEps: 1e-6 }, // LlamaConfig
};

export function archFromHFConfig(cfg: Json): Architecture {
  const archs = Array.isArray(cfg.architectures) ? cfg.architectures.map(String) : [];
  for (const [arch, f] of Object.entries(HF_LAYOUTS) as Array<[Architecture, LayoutFacts]>) if (archs.includes(f.hfArch)) return arch;
  if (cfg.model_type === 'bitnet') return 'bitnet-b1.58';
  if (cfg.model_type === 'llama') return 'llama';
  return fail(`unsupported Hugging Face architecture ${JSON.stringify(archs[0] ?? cfg.model_type)} (supported: ${Object.values(HF_LAYOUTS).map((f) => f.hfArch).join(', ')})`);
}

/** Switches of the HF config classes that change the math and that we do not run: refused, not ignored. */
function checkSwitches(cfg: Json, f: LayoutFacts): void {
  const refuse = (key: string, value: unknown, why: string) => {
    if (cfg[key] !== undefined && cfg[key] !== null && cfg[key] !== value) {
      fail(`config.json: "${key}": ${JSON.stringify(cfg[key])} is not supported for ${f.hfArch} (${why})`);
    }
  };
  refuse('attention_bias', false, 'q/k/v/o projections without bias only');
  refuse('mlp_bias', false, 'MLP projections without bias only');
  refuse('use_rms_norm', true, 'RMSNorm only');
  refuse('pretraining_tp', 1, 'tensor-parallel slicing of the linears is not implemented');
  const rs = cfg.rope_scaling;
  if (rs !== undefined && rs !== null) fail(`config.json: "rope_scaling" ${JSON.stringify(rs)} is not supported (plain RoPE only)`);
}

/** config.json -> ModelConfig (configuration_bitnet.py / configuration_llama.py key names). */
export function configFromHF(cfg: Json): ModelConfig {
  const arch = archFromHFConfig(cfg);
  const f = HF_LAYOUTS[arch];
  const int = (key: string, dflt?: number): number => {
    const v = cfg[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 1e9) return fail(`config.json: "${key}" must be a positive integer, got ${JSON.stringify(cfg[key])}`);
    return v;
  };
  const dim = int('hidden_size'), nHeads = int('num_attention_heads');
  // BitNetConfig: 5 when the key is absent, the head count when it is null
  const nKvHeads = cfg.num_key_value_heads === null ? nHeads : int('num_key_value_heads', f.kvHeads ?? nHeads);
  checkSwitches(cfg, f);
  const headDim = int('head_dim', dim / nHeads);
  if (headDim % 2 !== 0) fail(`config.json: head size ${headDim} must be even`);
  if (nHeads % nKvHeads !== 0) fail(`config.json: num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`);
  // BitNetForCausalLM takes any ACT2FN name (we run relu2, its default, and silu); the other classes their own
  const acts = Object.keys(ACTIVATION_NAMES).filter((n) => arch === 'bitnet-b1.58' || ACTIVATION_NAMES[n] === f.act);
  const actName = String(cfg.hidden_act ?? f.act);
  if (!acts.includes(actName)) {
    fail(`config.json: hidden_act "${actName}" is not supported for ${f.hfArch} (supported: ${acts.join(', ')})`);
  }
  const act = ACTIVATION_NAMES[actName];
  return {
    arch, vocabSize: int('vocab_size'), dim, nLayers: int('num_hidden_layers'), nHeads, nKvHeads, headDim,
    ffnDim: int('intermediate_size'), contextLength: int('max_position_embeddings', 2048),
    normEps: typeof cfg.rms_norm_eps === 'number' ? cfg.rms_norm_eps : f.rmsNormEps,
    ropeTheta: typeof cfg.rope_theta === 'number' ? cfg.rope_theta : f.ropeTheta,
    ropeNeox: !f.permuteQK, activation: act, subNorms: f.subNorms,
  };
}

export function configToHF(c: ModelConfig, tied: boolean): Json {
  const f = HF_LAYOUTS[c.arch];
  const cfg: Json = {
    architectures: [f.hfArch], model_type: f.modelType,
    vocab_size: c.vocabSize, hidden_size: c.dim, intermediate_size: c.ffnDim, num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads, num_key_value_heads: c.nKvHeads, head_dim: c.headDim,
    max_position_embeddings: c.contextLength, rms_norm_eps: c.normEps, rope_theta: c.ropeTheta,
    hidden_act: c.activation, tie_word_embeddings: tied, torch_dtype: 'float32',
  };
  if (c.arch === 'bitnet-b1.58') cfg.quantization_config = { quant_method: 'bitnet', linear_class: 'bitlinear', quantization_mode: 'offline' };
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// tensors -> our matrices

function expectShape(name: string, info: SafetensorsTensorInfo, shape: number[]): void {
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    fail(`tensor "${name}" has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
}

function readF32(ck: HFCheckpoint, name: string, shape: number[]): Float32Array {
  const info = ck.info(name);
  expectShape(name, info, shape);
  if (!['F32', 'F16', 'BF16'].includes(info.dtype)) fail(`tensor "${name}" is ${info.dtype}: expected F32, F16 or BF16`);
  return safetensorsToF32(info.dtype, ck.read(name));
}

/** F16 stays half precision (the engine takes it as is); BF16/F32 become f32. */
function readFloatMatrix(ck: HFCheckpoint, name: string, rows: number, cols: number): FloatMatrix {
  const info = ck.info(name);
  if (info.dtype === 'F16') {
    expectShape(name, info, [rows, cols]);
    const data = new Uint16Array(rows * cols);
    new Uint8Array(data.buffer).set(ck.read(name));
    return { rows, cols, dtype: 'f16', data };
  }
  return { rows, cols, dtype: 'f32', data: readF32(ck, name, [rows, cols]) };
}

/** transformers unpack_weights: packed [P, in] uint8, output row i*P + p in bits 2i of packed row p. */
export function unpackBitNetWeight(packed: Uint8Array, rows: number, cols: number, scale: number): TernaryMatrix {
  const P = rows / 4;
  const m: TernaryMatrix = { rows, cols, codes: new Uint8Array((rows * cols) / 4), blockSize: cols, scales: new Float32Array(rows).fill(scale) };
  for (let r = 0; r < rows; r++) {
    const p = r % P, shift = 2 * Math.floor(r / P);
    for (let j = 0; j < cols; j++) {
      const code = (packed[p * cols + j] >> shift) & 3;
      if (code === 3) fail(`packed ternary weight has the invalid code 3 at row ${r}, column ${j}`);
      const e = r * cols + j;
      m.codes[e >> 2] |= code << ((e & 3) * 2);
    }
  }
  return m;
}

/** Inverse of unpackBitNetWeight (transformers pack_weights layout). */
export function packBitNetWeight(m: TernaryMatrix): Uint8Array {
  const P = m.rows / 4;
  const out = new Uint8Array(P * m.cols);
  for (let r = 0; r < m.rows; r++) {
    const p = r % P, shift = 2 * Math.floor(r / P);
    for (let j = 0; j < m.cols; j++) out[p * m.cols + j] |= Math.min(getCode(m, r * m.cols + j), 2) << shift;
  }
  return out;
}

/**
 * llama.cpp LlamaModel.permute for q/k: within each head, HF rows [first half | second half]
 * (rotate_half pairs i, i + d/2) become interleaved rows (2i, 2i+1) for GGML "normal" rope.
 * `inverse` undoes it. Works on any row-major data with `cols` elements per row.
 */
export function permuteQKRows<T extends Float32Array | Uint16Array>(data: T, nHeads: number, rows: number, cols: number, inverse = false): T {
  const hd = rows / nHeads, half = hd / 2;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let s = 0; s < 2; s++) {
        const hfRow = h * hd + s * half + i, ggRow = h * hd + 2 * i + s;
        const [from, to] = inverse ? [ggRow, hfRow] : [hfRow, ggRow];
        out.set(data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

function weightScaleOf(ck: HFCheckpoint, name: string, multiply: boolean): number {
  const info = ck.info(name);
  const n = info.shape.reduce((a, b) => a * b, 1);
  if (n !== 1) fail(`tensor "${name}" should hold one scale, has shape [${info.shape.join(', ')}]`);
  const s = safetensorsToF32(info.dtype, ck.read(name))[0];
  if (!Number.isFinite(s) || s <= 0) fail(`tensor "${name}" holds an invalid scale ${s}`);
  return multiply ? s : Math.fround(1 / s);
}

function readLinear(ck: HFCheckpoint, c: ModelConfig, name: string, rows: number, cols: number, multiplyScale: boolean, permuteHeads?: number): Matrix {
  const f = HF_LAYOUTS[c.arch];
  const info = ck.info(`${name}.weight`);
  if (info.dtype === 'U8' || info.dtype === 'I8') {
    if (!f.ternary) fail(`tensor "${name}.weight" is packed ${info.dtype} but ${f.hfArch} is full precision`);
    if (rows % 4 !== 0) fail(`tensor "${name}.weight": ${rows} output rows are not a multiple of 4`);
    expectShape(`${name}.weight`, info, [rows / 4, cols]);
    if (!ck.has(`${name}.weight_scale`)) fail(`packed tensor "${name}.weight" has no "${name}.weight_scale"`);
    return { kind: 'ternary', m: unpackBitNetWeight(ck.read(`${name}.weight`), rows, cols, weightScaleOf(ck, `${name}.weight_scale`, multiplyScale)) };
  }
  if (f.ternary) return { kind: 'ternary', m: absmeanTernarize(readF32(ck, `${name}.weight`, [rows, cols]), rows, cols) };
  const m = readFloatMatrix(ck, `${name}.weight`, rows, cols);
  if (permuteHeads) m.data = permuteQKRows(m.data, permuteHeads, rows, cols);
  return { kind: 'float', m };
}

/** Reads the weights of an open checkpoint in our canonical (GGUF-order) form. */
/** q/k rows are permuted for `llama` (GGML "normal" rope): the head count of the permuted tensor, else undefined. */
function permutedHeads(c: ModelConfig, t: LayerTensor): number | undefined {
  if (!HF_LAYOUTS[c.arch].permuteQK) return undefined;
  return t.key === 'wq' ? c.nHeads : t.key === 'wk' ? c.nKvHeads : undefined;
}

export function weightsFromHF(ck: HFCheckpoint, onProgress?: (done: number, total: number) => void): ModelWeights {
  const c = configFromHF(ck.config);
  const D = c.dim, dims = layerDims(c);
  const qc = ck.config.quantization_config as Json | undefined;
  const multiply = qc?.linear_class === 'autobitlinear';
  const total = c.nLayers + 2;
  const tokenEmbedding = readFloatMatrix(ck, NAMES.tokenEmbedding.hf, c.vocabSize, D);
  onProgress?.(1, total);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const L: Partial<LayerWeights> = {};
    for (const t of layerTensors(c)) {
      const [rows, cols] = t.shape(dims), mod = hfLayerModule(c.arch, l, t);
      (L as Record<string, unknown>)[t.key] = t.kind === 'norm'
        ? readF32(ck, `${mod}.weight`, [cols])
        : readLinear(ck, c, mod, rows, cols, multiply, permutedHeads(c, t));
    }
    layers.push(L as LayerWeights);
    onProgress?.(l + 2, total);
  }
  const outputNorm = readF32(ck, NAMES.outputNorm.hf, [D]);
  const tied = ck.config.tie_word_embeddings === true || !ck.has(NAMES.output.hf);
  const output = tied ? undefined : readFloatMatrix(ck, NAMES.output.hf, c.vocabSize, D);
  onProgress?.(total, total);
  return { config: c, tokenEmbedding, layers, outputNorm, output };
}

/** A whole model directory: weights + tokenizer. */
export function loadHFDirectory(dir: string, onProgress?: (done: number, total: number) => void): { weights: ModelWeights; tokenizer: Tokenizer; info: { tensorTypes: Record<string, number>; fileBytes: number } } {
  const tokenizer = loadHFTokenizer(dir);
  const ck = openHFCheckpoint(dir);
  try {
    const weights = weightsFromHF(ck, onProgress);
    if (tokenizer.vocabSize > weights.config.vocabSize) fail(`tokenizer.json has ${tokenizer.vocabSize} tokens but the model only ${weights.config.vocabSize}`);
    const tensorTypes: Record<string, number> = {};
    let fileBytes = 0;
    for (const n of ck.names) { const i = ck.info(n); tensorTypes[i.dtype] = (tensorTypes[i.dtype] ?? 0) + 1; fileBytes += i.byteLength; }
    return { weights, tokenizer, info: { tensorTypes, fileBytes } };
  } finally {
    ck.close();
  }
}

// ---------------------------------------------------------------------------------------------
// writing

export interface WriteHFOptions {
  /**
   * HF layout of a `bitnet` model: 'custom' (default) = 1bitLLM's BitnetForCausalLM (custom code, latent f32
   * weights); 'transformers' = transformers' native BitNetForCausalLM (model_type bitnet, packed 2-bit weights +
   * weight_scale, hidden_act silu), so the model continues in PyTorch / transformers. Other archs: their own layout.
   */
  layout?: 'custom' | 'transformers';
  /** Float tensor dtype (embeddings, full-precision linears; norms stay F32). 'source': each tensor keeps
   * its own precision (f16 stays F16, anything else is F32). Default F32. */
  dtype?: 'F32' | 'F16' | 'BF16' | 'source';
  onProgress?: (done: number, total: number) => void;
}

/** The single scale of a per-tensor-scaled ternary matrix (blocks with only zero codes don't count). */
function singleScale(m: TernaryMatrix, name: string): number {
  const nb = m.cols / m.blockSize;
  let s: number | undefined;
  for (let r = 0; r < m.rows; r++) {
    for (let b = 0; b < nb; b++) {
      let nonzero = false;
      for (let j = b * m.blockSize; j < (b + 1) * m.blockSize && !nonzero; j++) nonzero = getCode(m, r * m.cols + j) !== 1;
      if (!nonzero) continue;
      const v = m.scales[r * nb + b];
      if (s === undefined) s = v;
      else if (v !== s) fail(`"${name}" has several weight scales (${s}, ${v}, ...): Hugging Face BitNet layouts hold one per tensor`);
    }
  }
  return s ?? 1;
}

/**
 * Latent weights that re-ternarize (absmean) to exactly these codes and scale: W = q·s/f, where f is
 * the fraction of non-zero codes, so mean|W| = s and round(W/s) clamps back to q.
 */
function latentFromTernary(m: TernaryMatrix, s: number): Float32Array {
  let nonzero = 0;
  const n = m.rows * m.cols;
  for (let e = 0; e < n; e++) if (getCode(m, e) !== 1) nonzero++;
  const v = nonzero === 0 ? 0 : (s * n) / nonzero;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) out[e] = (getCode(m, e) - 1) * v;
  return out;
}

function floatTensor(name: string, m: FloatMatrix, asked: 'F32' | 'F16' | 'BF16' | 'source', shape: number[], permuteHeads?: number): SafetensorsTensorToWrite {
  const dtype = asked === 'source' ? (m.dtype === 'f16' ? 'F16' : 'F32') : asked;
  if (m.dtype === 'f16' && dtype === 'F16') {
    const data = permuteHeads ? permuteQKRows(m.data as Uint16Array, permuteHeads, m.rows, m.cols, true) : m.data;
    return { name, dtype, shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  let v = floatToF32(m);
  if (permuteHeads) v = permuteQKRows(v, permuteHeads, m.rows, m.cols, true);
  return { name, dtype, shape, data: f32ToSafetensors(dtype, v) };
}

/** Writes ModelWeights as a Hugging Face checkpoint: config.json, model.safetensors, tokenizer files. */
export function writeHFDirectory(dir: string, w: ModelWeights, tokenizer: Tokenizer, opts: WriteHFOptions = {}): void {
  if (opts.layout === 'transformers') {
    if (w.config.arch === 'llama') fail('--hf-layout transformers: a llama model has no BitNet layout (it is full precision)');
    w = { ...w, config: { ...w.config, arch: 'bitnet-b1.58' } }; // BitNetForCausalLM names, packing and config
  }
  const c = w.config, f = HF_LAYOUTS[c.arch];
  const dtype = opts.dtype ?? 'F32';
  const tensors: SafetensorsTensorToWrite[] = [];
  const vec = (name: string, v: Float32Array) => tensors.push({ name, dtype: 'F32', shape: [v.length], data: f32ToSafetensors('F32', v) });
  tensors.push(floatTensor(NAMES.tokenEmbedding.hf, w.tokenEmbedding, dtype, [c.vocabSize, c.dim]));
  w.layers.forEach((L, l) => {
    for (const t of LAYER_SCHEMA) {
      const v = L[t.key];
      if (v === undefined || (t.subNorm && !f.subNorms)) continue;
      const name = hfLayerModule(c.arch, l, t);
      if (v instanceof Float32Array) { vec(`${name}.weight`, v); continue; }
      const m = v as Matrix;
      const shape = [m.m.rows, m.m.cols];
      if (m.kind === 'float') {
        if (f.ternary) fail(`"${name}" is full precision, but ${f.hfArch} checkpoints hold ternary linears`);
        tensors.push(floatTensor(`${name}.weight`, m.m, dtype, shape, permutedHeads(c, t)));
      } else if (c.arch === 'bitnet-b1.58') {
        const s = singleScale(m.m, name);
        if (m.m.rows % 4 !== 0) fail(`"${name}": ${m.m.rows} rows are not a multiple of 4`);
        tensors.push({ name: `${name}.weight`, dtype: 'U8', shape: [m.m.rows / 4, m.m.cols], data: packBitNetWeight(m.m) });
        tensors.push({ name: `${name}.weight_scale`, dtype: 'F32', shape: [1], data: f32ToSafetensors('F32', new Float32Array([1 / s])) });
      } else if (c.arch === 'bitnet') {
        tensors.push({ name: `${name}.weight`, dtype: 'F32', shape, data: f32ToSafetensors('F32', latentFromTernary(m.m, singleScale(m.m, name))) });
      } else {
        // a ternary matrix in a llama checkpoint: its effective weights
        const t = dtype === 'source' ? 'F32' : dtype;
        tensors.push({ name: `${name}.weight`, dtype: t, shape, data: f32ToSafetensors(t, ternaryToF32(m.m)) });
      }
    }
    opts.onProgress?.(l + 1, c.nLayers + 1);
  });
  vec(NAMES.outputNorm.hf, w.outputNorm);
  if (w.output) tensors.push(floatTensor(NAMES.output.hf, w.output, dtype, [c.vocabSize, c.dim]));

  // whole directory written under a temporary name, then renamed into place
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(configToHF(c, !w.output), null, 2) + '\n');
    writeHFTokenizer(tmp, tokenizer);
    if (existsSync(dir)) {
      if (!isHFDirectory(dir)) fail(`${dir} exists and is not a model directory: not overwriting it`);
      rmSync(dir, { recursive: true });
    }
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  opts.onProgress?.(c.nLayers + 1, c.nLayers + 1);
}

