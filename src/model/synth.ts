/**
 * Random-weight models of the BitNet b1.58 paper's shapes (for benchmarks, cost reports and tests),
 * with a synthetic SentencePiece-style vocabulary that llama.cpp accepts.
 */
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';
import { SPMTokenizer } from '../tokenizer/spm.js';
import { TOKEN_TYPE } from '../tokenizer/bpe.js';
import { seededRandom } from './sampling.js';
import { f16ToF32, f32ToF16 } from '../quant/half.js';
import type { LayerWeights, Matrix, ModelConfig, ModelWeights } from './types.js';
import { layerDims, layerTensors } from './schema.js';

export interface ShapeSpec { dim: number; nLayers: number; nHeads: number; nKvHeads?: number; ffnDim: number; vocabSize: number; contextLength?: number }

/** Paper shapes (BitNet b1.58 Table 1 sizes, LLaMA-style configs as in 1bitLLM's reproductions). */
export const SHAPES: Record<string, ShapeSpec> = {
  tiny: { dim: 256, nLayers: 2, nHeads: 4, ffnDim: 512, vocabSize: 512, contextLength: 512 },
  '700m': { dim: 1536, nLayers: 24, nHeads: 16, ffnDim: 4096, vocabSize: 32000 },
  '1.3b': { dim: 2048, nLayers: 24, nHeads: 32, ffnDim: 5460 - (5460 % 256) + 256, vocabSize: 32000 },
  '3b': { dim: 3200, nLayers: 26, nHeads: 32, ffnDim: 8640, vocabSize: 32000 },
  '3.9b': { dim: 3200, nLayers: 26, nHeads: 32, ffnDim: 11008, vocabSize: 32000 },
  // BitNet b1.58 2B4T (microsoft/bitnet-b1.58-2B-4T config.json): GQA 20/5 heads, vocab of LLaMA 3
  '2b4t': { dim: 2560, nLayers: 30, nHeads: 20, nKvHeads: 5, ffnDim: 6912, vocabSize: 128256, contextLength: 4096 },
};

export function shapeOf(name: string): ShapeSpec {
  const s = SHAPES[name.toLowerCase()];
  if (!s) throw new Error(`unknown shape '${name}' (expected one of ${Object.keys(SHAPES).join(', ')})`);
  return s;
}

/** A vocabulary of <unk>, <s>, </s>, 256 byte tokens and filler pieces built from letter pairs. */
export function synthTokenizer(vocabSize: number): SPMTokenizer {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL];
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(TOKEN_TYPE.BYTE); }
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const seen = new Set(tokens);
  const push = (t: string) => { if (tokens.length < vocabSize && !seen.has(t)) { seen.add(t); tokens.push(t); types.push(TOKEN_TYPE.NORMAL); } };
  for (const ch of ' ' + letters) push(ch === ' ' ? '\u2581' : ch);
  for (let len = 2; tokens.length < vocabSize; len++) {
    for (let i = 0; tokens.length < vocabSize && i < letters.length ** Math.min(len, 3); i++) {
      let s = '', k = i;
      for (let j = 0; j < len; j++) { s += letters[k % letters.length]; k = Math.floor(k / letters.length) + j; }
      push('\u2581' + s); push(s);
    }
  }
  const scores = tokens.map((t, i) => (types[i] === TOKEN_TYPE.NORMAL ? -i : 0));
  return new SPMTokenizer({ tokens, scores, tokenTypes: types, unk: 0, bos: 1, eos: 2, addBos: true, addSpacePrefix: true });
}

/**
 * Random ternary weights (uniform codes; per-tensor scale chosen so activations keep unit scale) and
 * normal f32 embeddings. `logitScale` sharpens the output distribution (flat logits make agreement
 * checks meaningless).
 */
/** ternary: per-tensor scale (our internal layout); ternary-blocks: one scale per 256 weights (TQ2_0's); fp16: LLaMA in FP16. */
export type SynthForm = 'ternary' | 'ternary-blocks' | 'fp16';

export function synthWeights(shape: string | ShapeSpec, seed = 1, logitScale = 1, form: SynthForm = 'ternary', embedding: 'f32' | 'f16' = 'f32'): ModelWeights {
  const s = typeof shape === 'string' ? shapeOf(shape) : shape;
  const rand = seededRandom(seed);
  const gauss = () => { const u = 1 - rand(), v = rand(); return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v); };
  const nKv = s.nKvHeads ?? s.nHeads;
  const hd = s.dim / s.nHeads;
  // f16 weights drawn from a table of normal samples (fast enough for billions of weights)
  const halfTable = new Uint16Array(65536);
  for (let i = 0; i < halfTable.length; i++) halfTable[i] = f32ToF16(gauss());
  let xs = (seed * 2654435761) >>> 0 || 1;
  const float16 = (rows: number, cols: number): Matrix => {
    const data = new Uint16Array(rows * cols);
    const std = 1 / Math.sqrt(cols);
    // no subnormal halves: real checkpoints have few, and backends may store them as f32 (x86 is slow on them)
    const scaled = halfTable.map((h) => { const v = f32ToF16(f16ToF32(h) * std); return (v & 0x7c00) === 0 ? 0 : v; });
    for (let i = 0; i < data.length; i++) { xs ^= xs << 13; xs ^= xs >>> 17; xs ^= xs << 5; data[i] = scaled[xs & 0xffff]; }
    return { kind: 'float', m: { rows, cols, dtype: 'f16', data } };
  };
  const blockSize = (cols: number) => (form === 'ternary-blocks' ? 256 : cols);
  const linear = (rows: number, cols: number): Matrix => (form === 'fp16' ? float16(rows, cols) : ternary(rows, cols));
  const ternary = (rows: number, cols: number): Matrix => {
    const bs = blockSize(cols);
    const m: TernaryMatrix = { rows, cols, codes: new Uint8Array((rows * cols) / 4), blockSize: bs, scales: new Float32Array((rows * cols) / bs) };
    // 4 random codes per byte, each uniform over {0,1,2}: draw 32 bits, use base-3 digits
    for (let i = 0; i < m.codes.length; i++) {
      let r = Math.floor(rand() * 81), b = 0;
      for (let k = 0; k < 4; k++) { b |= (r % 3) << (2 * k); r = Math.floor(r / 3); }
      m.codes[i] = b;
    }
    m.scales.fill(1 / Math.sqrt((2 / 3) * cols)); // unit output variance for unit inputs
    return { kind: 'ternary', m };
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const dims = layerDims({ dim: s.dim, ffnDim: s.ffnDim, nHeads: s.nHeads, nKvHeads: nKv, headDim: hd });
  const layers: LayerWeights[] = [];
  for (let l = 0; l < s.nLayers; l++) {
    const L: Partial<LayerWeights> = {};
    for (const t of layerTensors({ subNorms: form !== 'fp16' })) {
      const [rows, cols] = t.shape(dims);
      (L as Record<string, unknown>)[t.key] = t.kind === 'norm' ? ones(cols) : linear(rows, cols);
    }
    layers.push(L as LayerWeights);
  }
  const emb: FloatMatrix = { rows: s.vocabSize, cols: s.dim, dtype: 'f32', data: new Float32Array(s.vocabSize * s.dim) };
  for (let i = 0; i < emb.data.length; i++) emb.data[i] = gauss() * 0.125 * logitScale;
  if (form === 'fp16' || embedding === 'f16') {
    const half = new Uint16Array(emb.data.length);
    for (let i = 0; i < half.length; i++) { const h = f32ToF16(emb.data[i]); half[i] = (h & 0x7c00) === 0 ? 0 : h; } // no subnormals, as above
    emb.dtype = 'f16'; emb.data = half;
  }
  const config: ModelConfig = {
    arch: form === 'fp16' ? 'llama' : 'bitnet', vocabSize: s.vocabSize, dim: s.dim, nLayers: s.nLayers, nHeads: s.nHeads, nKvHeads: nKv, headDim: hd,
    ffnDim: s.ffnDim, contextLength: s.contextLength ?? 2048, normEps: 1e-5, ropeTheta: 10000, ropeNeox: form !== 'fp16', activation: 'silu', subNorms: form !== 'fp16',
  };
  return { config, tokenEmbedding: emb, layers, outputNorm: ones(s.dim) };
}
