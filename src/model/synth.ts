/**
 * Random-weight models of the BitNet b1.58 paper's shapes (for benchmarks, cost reports and tests),
 * with a synthetic SentencePiece-style vocabulary that llama.cpp accepts.
 */
import type { FloatMatrix, TernaryMatrix } from '../quant/matrix.js';
import { SPMTokenizer } from '../tokenizer/spm.js';
import { TOKEN_TYPE } from '../tokenizer/bpe.js';
import { f32ToF16 } from '../quant/half.js';
import type { Architecture, LayerWeights, Matrix, ModelConfig, ModelWeights } from './types.js';
import { LAYER_SCHEMA, layerDims } from './schema.js';
import { ARCH } from './gguf-model.js';

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
  const s = Object.hasOwn(SHAPES, name.toLowerCase()) ? SHAPES[name.toLowerCase()] : undefined; // not 'constructor'
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
 * The one random source of synthetic models: xorshift32 streams seeded from (seed, stream), one stream per
 * tensor (synthStream(seed, tensorStream(...))), so a tensor can be drawn alone and in any order (the GGUF
 * writer in synth-gguf.ts draws tensor by tensor). Returns uint32 values.
 */
export function synthStream(seed: number, stream: number): () => number {
  let x = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

/** Stream of a model tensor: 0 the token embedding, then every LAYER_SCHEMA entry of every layer in order. */
export function tensorStream(layer: number | 'embedding', schemaIndex = 0): number {
  return layer === 'embedding' ? 0 : 1 + layer * LAYER_SCHEMA.length + schemaIndex;
}

/** The 81 bytes whose four 2-bit fields are all valid codes (0..2), indexed by the base-3 number they hold. */
const CODE_BYTES = (() => {
  const t = new Uint8Array(81);
  for (let i = 0; i < 81; i++) {
    let r = i, b = 0;
    for (let k = 0; k < 4; k++) { b |= (r % 3) << (2 * k); r = Math.floor(r / 3); }
    t[i] = b;
  }
  return t;
})();

/** n bytes of 4 codes each uniform over {0, 1, 2} at dst[o..o+n): a byte of any 2-bit layout (canonical, TQ2_0, I2_S). */
export function fillCodes(dst: Uint8Array, o: number, n: number, next: () => number): void {
  for (let i = 0; i < n; i++) dst[o + i] = CODE_BYTES[((next() >>> 8) * 81) >>> 24];
}

/** One code uniform over {0, 1, 2}. */
export const randomCode = (next: () => number): number => ((next() >>> 8) * 3) >>> 24;

/** Scale of uniform ternary codes that keeps unit inputs at unit output variance: 1/sqrt(2/3 · cols). */
export const ternaryScale = (cols: number): number => 1 / Math.sqrt((2 / 3) * cols);

/**
 * 2^16 normal samples of standard deviation std (Box-Muller over the stream); values are then drawn by
 * indexing it with 16 random bits (fast enough for billions of weights).
 */
export function normalTable(next: () => number, std: number): Float32Array {
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) {
    const u = 1 - next() / 2 ** 32, v = next() / 2 ** 32;
    t[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) * std;
  }
  return t;
}

/**
 * n halves drawn from normalTable(next, std). flushSubnormals: subnormal halves become 0 (backends may store
 * f16 as f32, and x86 is slow on subnormal f32); otherwise they stay, as a real checkpoint has a few.
 */
export function normalHalves(n: number, std: number, next: () => number, flushSubnormals: boolean): Uint16Array {
  const table = Uint16Array.from(normalTable(next, std), (v) => {
    const h = f32ToF16(v);
    return flushSubnormals && (h & 0x7c00) === 0 ? 0 : h;
  });
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = table[next() >>> 16];
  return out;
}

/** n f32 values drawn from normalTable(next, std). */
export function normalFloats(n: number, std: number, next: () => number): Float32Array {
  const table = normalTable(next, std);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[next() >>> 16];
  return out;
}

/** Standard deviation of the token embedding: 0.125 · logitScale (the head is the tied embedding). */
export const embeddingStd = (logitScale: number): number => 0.125 * logitScale;

/** The ModelConfig of a shape under an architecture's conventions (model/gguf-model.ts ARCH). */
export function synthConfig(shape: string | ShapeSpec, arch: Architecture = 'bitnet'): ModelConfig {
  const s = typeof shape === 'string' ? shapeOf(shape) : shape;
  const a = ARCH[arch];
  return {
    arch, vocabSize: s.vocabSize, dim: s.dim, nLayers: s.nLayers, nHeads: s.nHeads, nKvHeads: s.nKvHeads ?? s.nHeads,
    headDim: s.dim / s.nHeads, ffnDim: s.ffnDim, contextLength: s.contextLength ?? 2048, normEps: 1e-5,
    ropeTheta: a.ropeTheta, ropeNeox: a.ropeNeox, activation: a.activation, subNorms: a.subNorms,
  };
}

/** ternary: per-tensor scale (our internal layout); ternary-blocks: one scale per 256 weights (TQ2_0's); fp16: LLaMA in FP16. */
export type SynthForm = 'ternary' | 'ternary-blocks' | 'fp16';

/**
 * Random weights in memory: uniform ternary codes with ternaryScale, or normal f16 linears (fp16, a `llama`
 * model), and a normal embedding of embeddingStd(logitScale) (logitScale sharpens the output distribution:
 * flat logits make agreement checks meaningless). Norms are ones.
 */
export function synthWeights(shape: string | ShapeSpec, seed = 1, logitScale = 1, form: SynthForm = 'ternary', embedding: 'f32' | 'f16' = 'f32'): ModelWeights {
  const config = synthConfig(shape, form === 'fp16' ? 'llama' : 'bitnet');
  const float16 = (rows: number, cols: number, next: () => number): Matrix =>
    ({ kind: 'float', m: { rows, cols, dtype: 'f16', data: normalHalves(rows * cols, 1 / Math.sqrt(cols), next, true) } });
  const ternary = (rows: number, cols: number, next: () => number): Matrix => {
    const bs = form === 'ternary-blocks' ? 256 : cols;
    const m: TernaryMatrix = { rows, cols, codes: new Uint8Array((rows * cols) / 4), blockSize: bs, scales: new Float32Array((rows * cols) / bs) };
    fillCodes(m.codes, 0, m.codes.length, next);
    m.scales.fill(ternaryScale(cols));
    return { kind: 'ternary', m };
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const dims = layerDims(config);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const L: Partial<LayerWeights> = {};
    LAYER_SCHEMA.forEach((t, i) => {
      if (t.subNorm && !config.subNorms) return;
      const [rows, cols] = t.shape(dims), next = synthStream(seed, tensorStream(l, i));
      (L as Record<string, unknown>)[t.key] = t.kind === 'norm' ? ones(cols) : (form === 'fp16' ? float16 : ternary)(rows, cols, next);
    });
    layers.push(L as LayerWeights);
  }
  const n = config.vocabSize * config.dim, std = embeddingStd(logitScale), next = synthStream(seed, tensorStream('embedding'));
  const tokenEmbedding: FloatMatrix = form === 'fp16' || embedding === 'f16'
    ? { rows: config.vocabSize, cols: config.dim, dtype: 'f16', data: normalHalves(n, std, next, true) }
    : { rows: config.vocabSize, cols: config.dim, dtype: 'f32', data: normalFloats(n, std, next) };
  return { config, tokenEmbedding, layers, outputNorm: ones(config.dim) };
}
