/**
 * `bitnet synth`: random-weight GGUFs written tensor by tensor straight in their file layout, so a
 * 1.2 GB file of the 2B4T shape takes seconds and no more memory than its largest tensor.
 * Ternary codes are uniform over {-1, 0, +1} with a per-tensor scale that keeps unit activations at
 * unit scale; the token embedding is normal halves (subnormals included, as in real checkpoints).
 * Deterministic: each tensor's stream is seeded from (seed, tensor index).
 */
import { writeGGUF, type GGUFTensorToWrite } from '../formats/gguf.js';
import { GGML_TYPES, GGMLType, packTernaryBlock, tensorBytes } from '../quant/ggml.js';
import { f32ToF16 } from '../quant/half.js';
import { ARCH, modelMetadata } from './gguf-model.js';
import { LAYER_SCHEMA, MODEL_TENSORS as NAMES, ggufLayerName, layerDims } from './schema.js';
import { seededRandom } from './sampling.js';
import { shapeOf, synthTokenizer } from './synth.js';
import type { Architecture, ModelConfig } from './types.js';

export interface SynthOptions {
  arch?: Architecture;
  ternaryType?: 'tq2_0' | 'tq1_0' | 'i2_s';
  embedding?: 'f16' | 'f32';
  seed?: number;
  /** Embedding scale: larger values give sharper logits (the head is the tied embedding). */
  logitScale?: number;
  onTensor?: (done: number, total: number) => void;
}

/** The 81 bytes whose four 2-bit fields are all valid codes (0..2): any layout's byte of 4 codes. */
const CODE_BYTES = (() => {
  const t = new Uint8Array(81);
  for (let i = 0; i < 81; i++) {
    let r = i, b = 0;
    for (let k = 0; k < 4; k++) { b |= (r % 3) << (2 * k); r = Math.floor(r / 3); }
    t[i] = b;
  }
  return t;
})();

/** xorshift32 stream seeded from (seed, stream). */
function xorshift(seed: number, stream: number): () => number {
  let x = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

/** n random bytes of 4 valid codes each at dst[o..o+n). */
function fillCodes(dst: Uint8Array, o: number, n: number, next: () => number): void {
  for (let i = 0; i < n; i++) dst[o + i] = CODE_BYTES[((next() >>> 8) * 81) >>> 24];
}

function ternaryTensor(type: GGMLType, rows: number, cols: number, next: () => number): Uint8Array {
  const n = rows * cols;
  const out = new Uint8Array(tensorBytes(type, n));
  const scale = 1 / Math.sqrt((2 / 3) * cols); // unit output variance for unit inputs
  const { blockSize, typeSize } = GGML_TYPES[type];
  const dv = new DataView(out.buffer);
  if (type === GGMLType.I2_S) { // codes, then one f32 scale (bitnet.cpp: max|w|)
    fillCodes(out, 0, n / 4, next);
    dv.setFloat32(n / 4, scale, true);
    return out;
  }
  const d = f32ToF16(scale);
  const codes = new Uint8Array(blockSize);
  for (let b = 0; b < n / blockSize; b++) {
    const o = b * typeSize;
    if (type === GGMLType.TQ2_0) fillCodes(out, o, 64, next);
    else { // TQ1_0: base-3 packing, through the reference packer
      for (let i = 0; i < blockSize; i++) codes[i] = ((next() >>> 8) * 3) >>> 24;
      packTernaryBlock(type, codes, out, o);
    }
    dv.setUint16(o + typeSize - 2, d, true);
  }
  return out;
}

/** rows × cols normal values of standard deviation `std`, as F16 or F32 bytes (drawn from a table of 2^16). */
function normalTensor(type: GGMLType, n: number, std: number, seed: number, next: () => number): Uint8Array {
  const rand = seededRandom(seed);
  const gauss = () => { const u = 1 - rand(), v = rand(); return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v); };
  if (type === GGMLType.F16) {
    const table = new Uint16Array(65536).map(() => f32ToF16(gauss() * std));
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = table[next() >>> 16];
    return new Uint8Array(out.buffer);
  }
  const table = new Float32Array(65536).map(() => gauss() * std);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[next() >>> 16];
  return new Uint8Array(out.buffer);
}

/** The ModelConfig of a named shape under an architecture's conventions. */
export function synthConfig(shape: string, arch: Architecture = 'bitnet'): ModelConfig {
  const s = shapeOf(shape);
  const a = ARCH[arch];
  return {
    arch, vocabSize: s.vocabSize, dim: s.dim, nLayers: s.nLayers, nHeads: s.nHeads, nKvHeads: s.nKvHeads ?? s.nHeads,
    headDim: s.dim / s.nHeads, ffnDim: s.ffnDim, contextLength: s.contextLength ?? 2048, normEps: 1e-5,
    ropeTheta: a.ropeTheta, ropeNeox: a.ropeNeox, activation: a.activation, subNorms: a.subNorms,
  };
}

/** Writes a random-weight BitNet GGUF of a named shape (tied head: no output.weight). */
export function writeSynthGGUF(path: string, shape: string, opts: SynthOptions = {}): ModelConfig {
  const arch = opts.arch ?? 'bitnet';
  if (arch === 'llama') throw new Error('synth writes BitNet architectures (bitnet, bitnet-b1.58)');
  const c = synthConfig(shape, arch);
  const seed = opts.seed ?? 1;
  const tType = { tq2_0: GGMLType.TQ2_0, tq1_0: GGMLType.TQ1_0, i2_s: GGMLType.I2_S }[opts.ternaryType ?? 'tq2_0'];
  const eType = (opts.embedding ?? 'f16') === 'f16' ? GGMLType.F16 : GGMLType.F32;
  const { blockSize } = GGML_TYPES[tType];
  for (const cols of [c.dim, c.ffnDim]) {
    if (tType !== GGMLType.I2_S && cols % blockSize !== 0) throw new Error(`${shape}: rows of ${cols} are not a multiple of ${blockSize} (${GGML_TYPES[tType].name})`);
  }
  const D = c.dim, dims = layerDims(c);
  const ones = (n: number) => new Uint8Array(new Float32Array(n).fill(1).buffer);
  const tensors: GGUFTensorToWrite[] = [];
  const std = 0.125 * (opts.logitScale ?? 1);
  tensors.push({ name: NAMES.tokenEmbedding.gguf, type: eType, dims: [D, c.vocabSize],
    data: () => normalTensor(eType, c.vocabSize * D, std, seed, xorshift(seed, 0)) });
  for (let l = 0; l < c.nLayers; l++) {
    for (const t of LAYER_SCHEMA) {
      const [rows, cols] = t.shape(dims);
      const name = ggufLayerName(l, t), stream = tensors.length;
      if (t.kind === 'norm') tensors.push({ name, type: GGMLType.F32, dims: [cols], data: () => ones(cols) });
      else tensors.push({ name, type: tType, dims: [cols, rows], data: () => ternaryTensor(tType, rows, cols, xorshift(seed, stream)) });
    }
  }
  tensors.push({ name: NAMES.outputNorm.gguf, type: GGMLType.F32, dims: [D], data: () => ones(D) });
  const meta = modelMetadata(c, synthTokenizer(c.vocabSize), `bitnet-ts synthetic ${shape}`);
  writeGGUF(path, meta, tensors, { onTensor: opts.onTensor });
  return c;
}
