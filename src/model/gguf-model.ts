/**
 * Model <-> GGUF: architecture metadata keys (llama.cpp src/llama-arch.cpp, gguf-py/gguf/constants.py;
 * bitnet.cpp's `bitnet-b1.58` follows the same names); tensor names and shapes from model/schema.ts.
 *
 * GGUF dims are ggml order: a [out, in] weight is stored with ne = [in, out] (row length first).
 */
import type { GGUFFile, GGUFTensorInfo, GGUFValue } from '../formats/gguf.js';
import { GGUFError, gguf, writeGGUF } from '../formats/gguf.js';
import { checkModelMetadata } from './gguf-check.js';
import {
  GGMLType, ggmlTypeFromName, ggmlTypeName, i2sLayoutProblem, i2sRelayout, isTernaryType, quantize, type I2SLayout,
} from '../quant/ggml.js';
import { floatFromGGML, floatToF32, ternaryFromGGML, ternaryToGGML } from '../quant/ternary.js';
import { f16ToF32, f32ToF16 } from '../quant/half.js';
import { ACTIVATION_NAMES } from './types.js';
import type { Architecture, FileMatrix, LayerWeights, Matrix, ModelConfig, ModelWeights, StreamedWeights } from './types.js';
import { LAYER_SCHEMA, MODEL_TENSORS as NAMES, ggufLayerName, layerDims, layerTensors } from './schema.js';
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { tokenizerToGGUF } from '../tokenizer/gguf.js';

/** Per-architecture facts that are not in the file. */
// headFromEmbedding: bitnet.cpp's `bitnet-b1.58` graph multiplies by token_embd even when the file has output.weight.
// upstreamOutput: whether upstream loads an untied output.weight. llama.cpp's `bitnet` creates no such tensor (its
//   src/models/bitnet.cpp load_arch_tensors; the graph multiplies by tok_embd) and refuses a file that has one
//   ("done_getting_tensors: wrong number of tensors"); bitnet.cpp's `bitnet-b1.58` ignores it. We still read it in a
//   `bitnet` file (files written with `untiedHead`), but writeModelGGUF refuses to write one unasked.
export const ARCH: Record<Architecture, {
  activation: 'silu' | 'relu2'; subNorms: boolean; ropeNeox: boolean; ropeTheta: number; headFromEmbedding: boolean;
  upstreamOutput: boolean;
}> = {
  bitnet: { activation: 'silu', subNorms: true, ropeNeox: true, ropeTheta: 10000, headFromEmbedding: false, upstreamOutput: false },
  'bitnet-b1.58': {
    activation: 'relu2', subNorms: true, ropeNeox: true, ropeTheta: 500000, headFromEmbedding: true, upstreamOutput: false,
  },
  llama: { activation: 'silu', subNorms: false, ropeNeox: false, ropeTheta: 10000, headFromEmbedding: false, upstreamOutput: true },
};

export function isArchitecture(a: string): a is Architecture {
  return Object.prototype.hasOwnProperty.call(ARCH, a);
}

/** Other names of a supported layout: bitnet.cpp's earlier name for the 2B4T architecture. */
const ARCH_ALIASES: Record<string, Architecture> = { 'bitnet-25': 'bitnet-b1.58' };

export function configFromGGUF(f: GGUFFile): ModelConfig {
  const fileArch = f.require<string>('general.architecture');
  const arch = ARCH_ALIASES[fileArch] ?? fileArch;
  if (!isArchitecture(arch)) throw new GGUFError(`unsupported architecture '${fileArch}' (supported: ${[...Object.keys(ARCH), ...Object.keys(ARCH_ALIASES)].join(', ')})`);
  checkModelMetadata(f, fileArch); // types and ranges of every key read below (gguf-check.ts)
  const k = (name: string) => `${fileArch}.${name}`;
  const int = (name: string, dflt?: number): number => {
    const v = f.get(k(name));
    if (v === undefined) { if (dflt !== undefined) return dflt; throw new GGUFError(`missing required key "${k(name)}"`); }
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0 || n > 1e9) throw new GGUFError(`key "${k(name)}" has an invalid value ${String(v)}`);
    return n;
  };
  const dim = int('embedding_length');
  const nHeads = int('attention.head_count');
  const nKvHeads = int('attention.head_count_kv', nHeads);
  const embd = f.tensor(NAMES.tokenEmbedding.gguf);
  if (!embd) throw new GGUFError(`missing required tensor "${NAMES.tokenEmbedding.gguf}"`);
  const vocabSize = Number(f.get(k('vocab_size')) ?? embd.dims[1]);
  const headDim = Number(f.get(k('attention.key_length')) ?? dim / nHeads);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new GGUFError(`head size ${headDim} must be an even integer`);
  if (nHeads % nKvHeads !== 0) throw new GGUFError(`head_count ${nHeads} is not a multiple of head_count_kv ${nKvHeads}`);
  const a = ARCH[arch];
  // RoPE scaling (llama.cpp `%s.rope.scaling.type` / `.factor`, older `%s.rope.scale_linear`): we run plain RoPE, so
  // only none or linear with factor 1 (what llama.cpp's BitNet converter writes) is read; any other is refused
  const scaling = f.get(k('rope.scaling.type')), factor = Number(f.get(k('rope.scaling.factor')) ?? 1);
  const scaleLinear = Number(f.get(k('rope.scale_linear')) ?? 1);
  if ((scaling !== undefined && scaling !== 'none' && scaling !== 'linear') || (scaling !== 'none' && factor !== 1)
    || scaleLinear !== 1) {
    throw new GGUFError(`RoPE scaling ${JSON.stringify(scaling ?? 'linear')} with factor ${scaleLinear !== 1 ? scaleLinear : factor} ` +
      `("${k('rope.scaling.type')}", "${k('rope.scaling.factor')}", "${k('rope.scale_linear')}") is not supported: ` +
      'plain RoPE only (none, or linear with factor 1)');
  }
  // llama.cpp's `bitnet` reads `bitnet.hidden_activation` (default SiLU); we run SiLU and squared ReLU only
  const actName = f.get(k('hidden_activation'));
  let activation = a.activation;
  if (actName !== undefined) {
    const act = Object.prototype.hasOwnProperty.call(ACTIVATION_NAMES, String(actName)) ? ACTIVATION_NAMES[String(actName)] : undefined;
    if (!act) throw new GGUFError(`key "${k('hidden_activation')}" is '${String(actName)}': only ${Object.keys(ACTIVATION_NAMES).join(', ')} can run`);
    activation = act;
  }
  return {
    arch, vocabSize, dim, nHeads, nKvHeads, headDim,
    nLayers: int('block_count'), ffnDim: int('feed_forward_length'), contextLength: int('context_length', 2048),
    normEps: Number(f.get(k('attention.layer_norm_rms_epsilon')) ?? 1e-5),
    ropeTheta: Number(f.get(k('rope.freq_base')) ?? a.ropeTheta),
    ropeNeox: a.ropeNeox, activation, subNorms: a.subNorms,
  };
}

function expectDims(info: GGUFTensorInfo, dims: number[]): void {
  const got = info.dims.filter((d, i) => i < 2 || d !== 1);
  if (got.length !== dims.length || got.some((d, i) => d !== dims[i])) {
    throw new GGUFError(`tensor "${info.name}" has shape [${info.dims.join(', ')}], expected [${dims.join(', ')}]`);
  }
}

function readVector(f: GGUFFile, name: string, len: number): Float32Array {
  const info = f.tensor(name);
  if (!info) throw new GGUFError(`missing required tensor "${name}"`);
  expectDims(info, [len]);
  const m = floatFromGGML(info.type, f.readTensor(info), 1, len);
  return floatToF32(m);
}

function readFloat(f: GGUFFile, name: string, rows: number, cols: number): FloatMatrix {
  const info = f.tensor(name);
  if (!info) throw new GGUFError(`missing required tensor "${name}"`);
  expectDims(info, [cols, rows]);
  if (isTernaryType(info.type)) throw new GGUFError(`tensor "${name}" is ${ggmlTypeName(info.type)}: expected a float type`);
  return floatFromGGML(info.type, f.readTensor(info), rows, cols);
}

/**
 * A float matrix whose values are all 0 or ±s (llama.cpp's converter stores BitNet weights as F16/F32
 * ternary values times the absmean scale) as a TernaryMatrix, so it runs as a BitLinear; else undefined.
 */
export function exactTernary(m: FloatMatrix): TernaryMatrix | undefined {
  const v = floatToF32(m);
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]);
    if (a === 0) continue;
    if (s === 0) s = a; else if (a !== s) return undefined;
  }
  if (s === 0 || m.cols % 4 !== 0) return undefined;
  return ternaryFromSigns(v, m.rows, m.cols, s);
}

function ternaryFromSigns(v: Float32Array, rows: number, cols: number, s: number): TernaryMatrix {
  const codes = new Uint8Array((rows * cols) / 4);
  for (let i = 0; i < v.length; i++) codes[i >> 2] |= (v[i] > 0 ? 2 : v[i] < 0 ? 0 : 1) << (2 * (i & 3));
  return { rows, cols, codes, blockSize: cols, scales: new Float32Array(rows).fill(s) };
}

/** What `--i2s-layout` says in help and errors: how to pick. */
export const I2S_HELP = 'x86 (bitnet.cpp\'s x86 build and its Python converter; the default), arm (its ARM build), ' +
  'x86-rows (x86 built without ACT_PARALLEL); a file does not record which: pick the build that wrote it, and ' +
  '`bitnet info --check` flags a wrong pick';

/** How to read a GGUF's tensors: what the file cannot say. */
export interface GGUFReadOptions {
  /** Which bitnet.cpp build wrote the I2_S tensors (default 'x86'; see I2SLayout in quant/ggml.ts). */
  i2sLayout?: I2SLayout;
}

/** I2_S tensors of another layout are moved to 'x86', the one the rest of the engine reads. */
function toX86(info: GGUFTensorInfo, bytes: Uint8Array, rows: number, cols: number, layout: I2SLayout): Uint8Array {
  return info.type === GGMLType.I2_S && layout !== 'x86' ? i2sRelayout(bytes, rows, cols, layout, 'x86') : bytes;
}

/** A linear layer: ternary tensors as they are, exactly-ternary floats (BitNet archs) as ternary; `.scale` applied. */
function readMatrix(f: GGUFFile, name: string, rows: number, cols: number, bitnet: boolean, i2s: I2SLayout): Matrix {
  const info = f.tensor(name);
  if (!info) throw new GGUFError(`missing required tensor "${name}"`);
  expectDims(info, [cols, rows]);
  const bytes = toX86(info, f.readTensor(info), rows, cols, i2s);
  let m: Matrix;
  if (isTernaryType(info.type)) m = { kind: 'ternary', m: ternaryFromGGML(info.type, bytes, rows, cols, name) };
  else {
    const fm = floatFromGGML(info.type, bytes, rows, cols);
    const t = bitnet ? exactTernary(fm) : undefined;
    m = t ? { kind: 'ternary', m: t } : { kind: 'float', m: fm };
  }
  // llama.cpp's optional per-tensor output scale (blk.N.attn_q.scale, shape [1]) multiplies W·x
  const scaleInfo = f.tensor(name.replace(/\.weight$/, '.scale'));
  if (scaleInfo) {
    const sc = floatToF32(floatFromGGML(scaleInfo.type, f.readTensor(scaleInfo), 1, 1))[0];
    if (m.kind === 'ternary') m.m.scales.forEach((v, i, a) => { a[i] = v * sc; });
    else m = { kind: 'float', m: { ...m.m, dtype: 'f32', data: floatToF32(m.m).map((v) => v * sc) } };
  }
  return m;
}

/** All weights in memory (converters, the reference backend). */
export function weightsFromGGUF(f: GGUFFile, onTensor?: (done: number, total: number) => void, opts: GGUFReadOptions = {}): ModelWeights {
  return readWeights(f, false, onTensor, opts) as ModelWeights;
}

/**
 * Norms in memory; the embedding, an untied output and the ternary linears (without a `.scale`) left in
 * the file as FileMatrix, read when the engine prepares them: with the WASM backend straight into its
 * memory, so loading makes no copy of them. The file must stay open until the Model is built.
 * onTensor counts matrices as they are read.
 */
export function streamedWeightsFromGGUF(f: GGUFFile, onTensor?: (done: number, total: number) => void,
                                        opts: GGUFReadOptions = {}): StreamedWeights {
  return readWeights(f, true, onTensor, opts);
}

function readWeights(f: GGUFFile, stream: boolean, onTensor: ((done: number, total: number) => void) | undefined,
                     opts: GGUFReadOptions): StreamedWeights {
  const c = configFromGGUF(f);
  const D = c.dim, dims = layerDims(c), tensors = layerTensors(c);
  const i2s = opts.i2sLayout ?? 'x86';
  // every I2_S tensor must fit the layout asked for, checked before any tensor is read
  for (let l = 0; l < c.nLayers; l++) {
    for (const t of tensors) {
      const info = f.tensor(ggufLayerName(l, t));
      if (info?.type !== GGMLType.I2_S) continue;
      const [rows, cols] = t.shape(dims), problem = i2sLayoutProblem(i2s, rows, cols);
      if (problem) throw new GGUFError(`tensor "${info.name}": ${problem} (--i2s-layout: ${I2S_HELP})`);
    }
  }
  const hasOutput = !ARCH[c.arch].headFromEmbedding && f.tensor(NAMES.output.gguf) !== undefined;
  const matrices = 1 + (hasOutput ? 1 : 0) + c.nLayers * tensors.filter((t) => t.kind === 'linear').length;
  let done = 0;
  const tick = () => onTensor?.(++done, matrices);
  const fileMatrix = (name: string, rows: number, cols: number, load: () => Matrix): FileMatrix | undefined => {
    const info = f.tensor(name);
    if (!stream || !info || f.tensor(name.replace(/\.weight$/, '.scale'))) return undefined;
    expectDims(info, [cols, rows]);
    let ranged = false;
    return {
      kind: 'file',
      tensor: {
        type: info.type, rows, cols, nbytes: info.nbytes, name,
        read: (dst) => {
          f.readTensorInto(info, dst);
          if (info.type === GGMLType.I2_S && i2s !== 'x86') dst.set(toX86(info, dst, rows, cols, i2s));
          tick();
        },
        readRange: (at, dst) => { // counted as read once a pass reaches the tensor's end (the int8 head's staging)
          f.readTensorInto(info, dst, at);
          if (!ranged && at + dst.byteLength === info.nbytes) { ranged = true; tick(); }
        },
      },
      load: () => { const m = load(); tick(); return m; },
    };
  };
  const floatMatrix = (name: string): FloatMatrix | FileMatrix => {
    const load = (): FloatMatrix => readFloat(f, name, c.vocabSize, D);
    const info = f.tensor(name);
    const lazy = info && !isTernaryType(info.type) ? fileMatrix(name, c.vocabSize, D, () => ({ kind: 'float', m: load() })) : undefined;
    if (lazy) return lazy;
    const m = load();
    tick();
    return m;
  };
  const tokenEmbedding = floatMatrix(NAMES.tokenEmbedding.gguf);
  const layers: Array<LayerWeights<Matrix | FileMatrix>> = [];
  for (let l = 0; l < c.nLayers; l++) {
    const L: Partial<LayerWeights<Matrix | FileMatrix>> = {};
    for (const t of tensors) {
      const [rows, cols] = t.shape(dims), name = ggufLayerName(l, t);
      if (t.kind === 'norm') { (L as Record<string, unknown>)[t.key] = readVector(f, name, cols); continue; }
      const load = () => readMatrix(f, name, rows, cols, c.arch !== 'llama', i2s);
      const info = f.tensor(name);
      const lazy = info && isTernaryType(info.type) ? fileMatrix(name, rows, cols, load) : undefined;
      (L as Record<string, unknown>)[t.key] = lazy ?? load();
      if (!lazy) tick();
    }
    layers.push(L as LayerWeights<Matrix | FileMatrix>);
  }
  const outputNorm = readVector(f, NAMES.outputNorm.gguf, D);
  const output = hasOutput ? floatMatrix(NAMES.output.gguf) : undefined;
  return { config: c, tokenEmbedding, layers, outputNorm, output };
}

export interface WriteModelOptions {
  ternaryType?: 'tq2_0' | 'tq1_0' | 'i2_s';
  /** Layout of I2_S tensors (default 'x86'). */
  i2sLayout?: I2SLayout;
  /** Type of the float matrices (embedding, output, linears of float models); norms are always f32.
   * 'source': each matrix keeps its own precision (f16 stays f16, anything else is written f32). */
  floatType?: 'f32' | 'f16' | 'bf16' | 'q8_0' | 'source';
  name?: string;
  /** Write an untied head as output.weight in a `bitnet` file although llama.cpp refuses such a file (default false:
   * refused, see untiedHeadProblem). */
  untiedHead?: boolean;
  onTensor?: (done: number, total: number) => void;
}

/** Whether two float matrices hold the same values (no copy: an f16 one is read in place). */
function sameMatrix(a: FloatMatrix, b: FloatMatrix): boolean {
  if (a.rows !== b.rows || a.cols !== b.cols) return false;
  const at = (m: FloatMatrix, i: number) => (m.dtype === 'f16' ? f16ToF32(m.data[i]) : m.data[i]);
  const n = a.rows * a.cols;
  if (a.dtype === b.dtype) { for (let i = 0; i < n; i++) if (a.data[i] !== b.data[i]) return false; return true; }
  for (let i = 0; i < n; i++) if (!Object.is(at(a, i), at(b, i))) return false;
  return true;
}

/**
 * Why an untied head cannot go into a GGUF of this architecture (undefined when it can). No llama.cpp architecture
 * with BitNet's sub-norms loads a separate head (src/llama-arch.cpp has `bitnet` only; `bitnet-b1.58` and
 * `bitnet-25` are bitnet.cpp's, whose graph multiplies by token_embd).
 */
export function untiedHeadProblem(arch: Architecture, untiedHead: boolean): string | undefined {
  const a = ARCH[arch];
  if (a.upstreamOutput || (untiedHead && !a.headFromEmbedding)) return undefined;
  const why = a.headFromEmbedding
    ? `bitnet.cpp's \`${arch}\` graph (and bitnet-ts reading it) multiplies by token_embd and ignores output.weight`
    : `llama.cpp's \`${arch}\` architecture has no output.weight (its head is token_embd) and refuses a file that ` +
      'has one ("wrong number of tensors"); no llama.cpp architecture with BitNet\'s sub-norms loads a separate head';
  const keep = a.headFromEmbedding ? '' : ', or pass --untied-head (untiedHead: true) to write output.weight anyway ' +
    '(bitnet-ts reads it; llama.cpp will not load the file)';
  return `the model has an untied LM head (output weights differ from the token embedding): ${why}. Write a ` +
    `Hugging Face directory instead (an output path not ending in .gguf; transformers loads untied heads)${keep}`;
}

function floatBytes(m: FloatMatrix, type: GGMLType): Uint8Array {
  if (type === GGMLType.F16 && m.dtype === 'f16') return new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength).slice();
  const f32 = floatToF32(m);
  if (type === GGMLType.F16) {
    const out = new Uint16Array(f32.length);
    for (let i = 0; i < f32.length; i++) out[i] = f32ToF16(f32[i]);
    return new Uint8Array(out.buffer);
  }
  return quantize(type, f32, m.rows, m.cols);
}

/** What `--untied-head` says in help. */
export const UNTIED_HEAD_HELP = 'GGUF output of a bitnet model with an untied LM head: write it as output.weight anyway ' +
  '(bitnet-ts reads it; llama.cpp refuses such a file: its bitnet architecture uses token_embd as the head). ' +
  'Without it such a model is refused; a head equal to the embedding is written tied';

/** GGUF metadata of a model: architecture keys (`<arch>.*`) and the tokenizer. */
export function modelMetadata(c: ModelConfig, tokenizer: Tokenizer, name: string): Array<[string, GGUFValue]> {
  const a = c.arch;
  return [
    ['general.architecture', gguf.str(a)],
    ['general.name', gguf.str(name)],
    [`${a}.vocab_size`, gguf.u32(c.vocabSize)],
    [`${a}.context_length`, gguf.u32(c.contextLength)],
    [`${a}.embedding_length`, gguf.u32(c.dim)],
    [`${a}.block_count`, gguf.u32(c.nLayers)],
    [`${a}.feed_forward_length`, gguf.u32(c.ffnDim)],
    [`${a}.attention.head_count`, gguf.u32(c.nHeads)],
    [`${a}.attention.head_count_kv`, gguf.u32(c.nKvHeads)],
    [`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(c.normEps)],
    [`${a}.rope.freq_base`, gguf.f32(c.ropeTheta)],
    [`${a}.rope.dimension_count`, gguf.u32(c.headDim)],
    // only where it differs from the architecture's own (so default files stay as llama.cpp writes them)
    ...(c.activation !== ARCH[a].activation ? [[`${a}.hidden_activation`, gguf.str(c.activation)] as [string, GGUFValue]] : []),
    ...tokenizerToGGUF(tokenizer),
  ];
}

/** Writes a model as GGUF (atomically), with the tokenizer in its metadata. */
export function writeModelGGUF(path: string, w: ModelWeights, tokenizer: Tokenizer, opts: WriteModelOptions = {}): void {
  const c = w.config;
  // an output equal to the embedding is the tied head; any other needs an architecture that loads it
  const output = w.output && !(!ARCH[c.arch].upstreamOutput && sameMatrix(w.output, w.tokenEmbedding)) ? w.output : undefined;
  const headProblem = output ? untiedHeadProblem(c.arch, opts.untiedHead ?? false) : undefined;
  if (headProblem) throw new Error(headProblem);
  const tType = ggmlTypeFromName(opts.ternaryType ?? 'tq2_0');
  const i2s = opts.i2sLayout ?? 'x86';
  const floatType = opts.floatType ?? 'f16';
  const fTypeOf = (m: FloatMatrix) => floatType === 'source' ? (m.dtype === 'f16' ? GGMLType.F16 : GGMLType.F32) : ggmlTypeFromName(floatType);
  const meta = modelMetadata(c, tokenizer, opts.name ?? 'bitnet-ts model');
  const tensors: Parameters<typeof writeGGUF>[2] = [];
  const vec = (name: string, v: Float32Array) => tensors.push({ name, type: GGMLType.F32, dims: [v.length], data: () => quantize(GGMLType.F32, v, 1, v.length) });
  const mat = (name: string, m: Matrix) => {
    if (m.kind === 'ternary') {
      const { rows, cols } = m.m;
      const problem = tType === GGMLType.I2_S ? i2sLayoutProblem(i2s, rows, cols) : undefined;
      if (problem) throw new Error(`tensor "${name}": ${problem}`);
      const data = () => (tType === GGMLType.I2_S && i2s !== 'x86'
        ? i2sRelayout(ternaryToGGML(tType, m.m), rows, cols, 'x86', i2s) : ternaryToGGML(tType, m.m));
      tensors.push({ name, type: tType, dims: [cols, rows], data });
    }
    else { const t = fTypeOf(m.m); tensors.push({ name, type: t, dims: [m.m.cols, m.m.rows], data: () => floatBytes(m.m, t) }); }
  };
  mat(NAMES.tokenEmbedding.gguf, { kind: 'float', m: w.tokenEmbedding });
  w.layers.forEach((L, l) => {
    for (const t of LAYER_SCHEMA) {
      const v = L[t.key];
      if (v === undefined) continue;
      if (v instanceof Float32Array) vec(ggufLayerName(l, t), v); else mat(ggufLayerName(l, t), v as Matrix);
    }
  });
  vec(NAMES.outputNorm.gguf, w.outputNorm);
  if (output) mat(NAMES.output.gguf, { kind: 'float', m: output });
  writeGGUF(path, meta, tensors, { onTensor: opts.onTensor });
}
