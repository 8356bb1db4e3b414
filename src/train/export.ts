/** Trainer checkpoint → engine ModelWeights (llama.cpp `bitnet` layout) → GGUF. */
import type { Params } from './model.js';
import { LINEARS, quantizeWeights } from './model.js';
import type { ModelWeights, Matrix, LayerWeights } from '../model/types.js';
import { absmeanTernarize } from '../quant/ternary.js';
import { writeModelGGUF } from '../model/gguf-model.js';
import { writeHFDirectory } from '../model/hf-model.js';
import type { Tokenizer } from '../tokenizer/types.js';

/** Quantized weights exactly as the trainer's forward pass uses them. */
function linearMatrix(data: Float32Array, rows: number, cols: number, precision: Params['config']['precision']): Matrix {
  if (precision === 'ternary') return { kind: 'ternary', m: absmeanTernarize(data, rows, cols) };
  if (precision === 'binary') {
    // ±scale is ternary-representable (no zeros): reuse the ternary path with a per-tensor scale.
    const q = new Float32Array(data.length);
    const scale = quantizeWeights(data, q, 'binary');
    const m = absmeanTernarize(q, rows, cols);
    m.scales.fill(scale);
    return { kind: 'ternary', m };
  }
  return { kind: 'float', m: { rows, cols, dtype: 'f32', data: data.slice() } };
}

export function paramsToWeights(p: Params, contextLength?: number): ModelWeights {
  const c = p.config;
  // the ablation switches (scripts/reproduce.mjs) have no counterpart in the bitnet file layout
  if (c.subNorm === false || c.weightScale === 'absmax') throw new Error('ablation checkpoints (no sub-norms / absmax scale) cannot be exported');
  const layers: LayerWeights[] = p.layers.map((L) => {
    const mats = {} as Record<typeof LINEARS[number], Matrix>;
    for (const n of LINEARS) mats[n] = linearMatrix(L[n].data, L[n].rows, L[n].cols, c.precision);
    return {
      attnNorm: L.attnNorm.data.slice(), attnSubNorm: L.attnSubNorm.data.slice(), ffnNorm: L.ffnNorm.data.slice(), ffnSubNorm: L.ffnSubNorm.data.slice(),
      ...mats,
    };
  });
  return {
    config: {
      arch: 'bitnet', vocabSize: c.vocabSize, dim: c.dim, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nHeads,
      headDim: c.dim / c.nHeads, ffnDim: c.ffnDim, contextLength: contextLength ?? Math.max(c.seqLen, 512), normEps: c.normEps,
      ropeTheta: c.ropeTheta, ropeNeox: true, activation: 'silu', subNorms: true,
    },
    tokenEmbedding: { rows: c.vocabSize, cols: c.dim, dtype: 'f32', data: p.tokEmb.data.slice() },
    layers,
    outputNorm: p.outNorm.data.slice(),
  };
}

export function exportCheckpoint(p: Params, tokenizer: Tokenizer, path: string, ternaryType: 'tq2_0' | 'tq1_0' | 'i2_s' = 'tq2_0', floatType: 'f16' | 'f32' = 'f16'): void {
  writeModelGGUF(path, paramsToWeights(p), tokenizer, { ternaryType, floatType, name: `bitnet-ts ${p.config.precision} ${p.config.dim}d${p.config.nLayers}L` });
}

/**
 * Hugging Face directory (config.json, model.safetensors, tokenizer.json) in transformers' native BitNet
 * layout (model/hf-model.ts `layout: 'transformers'`: BitNetForCausalLM, packed 2-bit weights + weight_scale,
 * hidden_act silu), so ternary and binary runs continue in PyTorch / transformers without custom code.
 * fp runs are refused: that layout's linears are ternary by definition.
 */
export function exportCheckpointHF(p: Params, tokenizer: Tokenizer, dir: string): void {
  if (p.config.precision === 'fp') throw new Error('--export hf: fp runs have sub-norms that LlamaForCausalLM lacks; export GGUF instead');
  writeHFDirectory(dir, paramsToWeights(p), tokenizer, { dtype: 'F32', layout: 'transformers' });
}
