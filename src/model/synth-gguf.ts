/**
 * `bitnet synth`: random-weight GGUFs written tensor by tensor straight in their file layout, so a
 * 1.2 GB file of the 2B4T shape takes seconds and no more memory than its largest tensor.
 * Ternary codes are uniform over {-1, 0, +1} with a per-tensor scale that keeps unit activations at
 * unit scale; the token embedding is normal halves (subnormals included, as in real checkpoints).
 * Deterministic: each tensor is drawn from its own stream of synth.ts's one random source (synthStream,
 * tensorStream), the same streams synthWeights draws its in-memory models from.
 */
import { writeGGUF, type GGUFTensorToWrite } from '../formats/gguf.js';
import { GGML_TYPES, GGMLType, packTernaryBlock, tensorBytes } from '../quant/ggml.js';
import { f32ToF16 } from '../quant/half.js';
import { modelMetadata } from './gguf-model.js';
import { LAYER_SCHEMA, MODEL_TENSORS as NAMES, ggufLayerName, layerDims } from './schema.js';
import {
  embeddingStd, fillCodes, normalFloats, normalHalves, randomCode, synthConfig, synthStream, synthTokenizer, tensorStream, ternaryScale,
} from './synth.js';
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

function ternaryTensor(type: GGMLType, rows: number, cols: number, next: () => number): Uint8Array {
  const n = rows * cols;
  const out = new Uint8Array(tensorBytes(type, n));
  const scale = ternaryScale(cols);
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
      for (let i = 0; i < blockSize; i++) codes[i] = randomCode(next);
      packTernaryBlock(type, codes, out, o);
    }
    dv.setUint16(o + typeSize - 2, d, true);
  }
  return out;
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
  const std = embeddingStd(opts.logitScale ?? 1), nEmb = c.vocabSize * D;
  const embedding = (next: () => number): Uint8Array => {
    const v = eType === GGMLType.F16 ? normalHalves(nEmb, std, next, false) : normalFloats(nEmb, std, next);
    return new Uint8Array(v.buffer);
  };
  tensors.push({ name: NAMES.tokenEmbedding.gguf, type: eType, dims: [D, c.vocabSize],
    data: () => embedding(synthStream(seed, tensorStream('embedding'))) });
  for (let l = 0; l < c.nLayers; l++) {
    LAYER_SCHEMA.forEach((t, i) => {
      const [rows, cols] = t.shape(dims), name = ggufLayerName(l, t), stream = tensorStream(l, i);
      if (t.kind === 'norm') tensors.push({ name, type: GGMLType.F32, dims: [cols], data: () => ones(cols) });
      else tensors.push({ name, type: tType, dims: [cols, rows], data: () => ternaryTensor(tType, rows, cols, synthStream(seed, stream)) });
    });
  }
  tensors.push({ name: NAMES.outputNorm.gguf, type: GGMLType.F32, dims: [D], data: () => ones(D) });
  const meta = modelMetadata(c, synthTokenizer(c.vocabSize), `bitnet-ts synthetic ${shape}`);
  writeGGUF(path, meta, tensors, { onTensor: opts.onTensor });
  return c;
}
