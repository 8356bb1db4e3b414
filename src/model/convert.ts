/**
 * The converters behind `bitnet convert` / `bitnet quantize`: any source loadModel reads (GGUF file,
 * Hugging Face directory) to GGUF or a Hugging Face directory, optionally ternarizing post-training.
 */
import { absmeanTernarize, floatToF32, ternaryToF32 } from '../quant/ternary.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { readModelSource, type Progress } from './index.js';
import { writeModelGGUF } from './gguf-model.js';
import { writeHFDirectory } from './hf-model.js';
import type { Architecture, LayerWeights, Matrix, ModelWeights } from './types.js';
import { LINEAR_KEYS } from './schema.js';
import type { I2SLayout } from '../quant/ggml.js';

export type ConvertType = 'tq2_0' | 'tq1_0' | 'i2_s' | 'f16';
export const CONVERT_TYPES: ConvertType[] = ['tq2_0', 'tq1_0', 'i2_s', 'f16'];


/** Same model with every linear layer replaced by f(matrix). */
export function mapLinears(w: ModelWeights, f: (m: Matrix) => Matrix, arch: Architecture = w.config.arch): ModelWeights {
  return {
    ...w, config: { ...w.config, arch },
    layers: w.layers.map((L) => {
      const out: LayerWeights = { ...L };
      for (const k of LINEAR_KEYS) (out as unknown as Record<string, Matrix>)[k] = f(L[k] as Matrix);
      return out;
    }),
  };
}

/** Ternary linears as full-precision effective weights (for `--type f16` GGUFs). */
export function linearsToFloat(w: ModelWeights): ModelWeights {
  return mapLinears(w, (m) => (m.kind === 'float' ? m : { kind: 'float', m: { rows: m.m.rows, cols: m.m.cols, dtype: 'f32', data: ternaryToF32(m.m) } }));
}

/**
 * Post-training ternarization (BitNet absmean, one scale per tensor) of every full-precision linear;
 * embeddings, norms and the head stay as they are, and so does the architecture (a `llama` model gets
 * BitLinear int8-activation matmuls but no sub-norms: PTQ does not add layers).
 */
export function ptqTernarize(w: ModelWeights): ModelWeights {
  return mapLinears(w, (m) => (m.kind === 'ternary' ? m : { kind: 'ternary', m: absmeanTernarize(floatToF32(m.m), m.m.rows, m.m.cols) }));
}

/** Precision of the float tensors written: each keeps its own (f16 stays f16, f32/bf16 are f32), or one type for all. */
export type OutType = 'source' | 'f32' | 'f16' | 'bf16';
export const OUT_TYPES: OutType[] = ['source', 'f32', 'f16', 'bf16'];

/** Whether any linear layer holds full-precision values (not exactly ternary ones: see readMatrix in gguf-model.ts). */
export function hasFloatLinears(w: ModelWeights): boolean {
  return w.layers.some((L) => LINEAR_KEYS.some((k) => (L[k] as Matrix).kind === 'float'));
}

export interface ConvertOptions {
  type?: ConvertType;
  outtype?: OutType;
  /** Hugging Face output of a `bitnet` model: 1bitLLM custom code (default) or transformers' native BitNet. */
  hfLayout?: 'custom' | 'transformers';
  /** Layout of I2_S tensors in the input GGUF, and in the output GGUF (both default 'x86'). */
  i2sLayout?: I2SLayout;
  outI2sLayout?: I2SLayout;
  /** GGUF output: write an untied head into a `bitnet` file although llama.cpp refuses it (WriteModelOptions). */
  untiedHead?: boolean;
  onProgress?: Progress;
  log?: (line: string) => void;
}

/**
 * IN (GGUF file or HF directory) -> OUT. OUT ending in .gguf writes GGUF (ternary type from --type);
 * anything else writes a Hugging Face directory.
 */
export function convertModel(input: string, output: string, opts: ConvertOptions = {}): { weights: ModelWeights; tokenizer: Tokenizer; outFormat: 'gguf' | 'hf' } {
  const src = readModelSource(input, opts.onProgress, { i2sLayout: opts.i2sLayout });
  let w = src.weights;
  const outFormat = output.toLowerCase().endsWith('.gguf') ? 'gguf' : 'hf';
  if (outFormat === 'gguf') {
    const type = opts.type ?? 'tq2_0';
    if (type === 'f16') w = linearsToFloat(w);
    // float tensors keep the source's precision, tensor by tensor, unless --outtype (or --type f16) says otherwise
    const floatType = opts.outtype ?? (type === 'f16' ? 'f16' : 'source');
    writeModelGGUF(output, w, src.tokenizer, {
      ternaryType: type === 'f16' ? 'tq2_0' : type, i2sLayout: opts.outI2sLayout, floatType, onTensor: opts.onProgress,
      name: `converted from ${input}`, untiedHead: opts.untiedHead,
    });
  } else {
    if (opts.type && opts.type !== 'f16') throw new Error(`--type ${opts.type} applies to GGUF output; Hugging Face output uses its layout's own packing`);
    const outtype = opts.outtype ?? (opts.type === 'f16' ? 'f16' : 'source');
    writeHFDirectory(output, w, src.tokenizer, {
      dtype: outtype === 'source' ? 'source' : (outtype.toUpperCase() as 'F32'), layout: opts.hfLayout, onProgress: opts.onProgress,
    });
  }
  opts.log?.(`${input} (${src.format}, ${w.config.arch}) -> ${output} (${outFormat})`);
  return { weights: w, tokenizer: src.tokenizer, outFormat };
}
