/**
 * Types and ranges of the GGUF metadata the model loader reads, checked before any tensor is: a key of the
 * wrong type (`block_count` as a string or `true`), a float that is not finite (`rms_epsilon` NaN), or a
 * token id outside the vocabulary (`bos_token_id` 1.5 or 10^6) is an error naming the key, not a model that
 * runs on NaN or fails at generation. The table follows the types llama.cpp's loader accepts
 * (llama-model-loader.cpp get_key: integer keys of any integer type, floats as f32/f64).
 */
import { GGUFError, GGUFValueType as T, type GGUFFile } from '../formats/gguf.js';

type Kind = 'int' | 'float' | 'bool' | 'string' | 'token';
interface KeyRule { key: string; kind: Kind; min?: number; max?: number; required?: boolean }

const INT_TYPES = new Set([T.UINT8, T.INT8, T.UINT16, T.INT16, T.UINT32, T.INT32, T.UINT64, T.INT64]);
const FLOAT_TYPES = new Set([T.FLOAT32, T.FLOAT64]);

/** `{arch}.` keys (the architecture prefix is the file's own) and `tokenizer.` keys. */
const ARCH_KEYS: KeyRule[] = [
  { key: 'embedding_length', kind: 'int', min: 1, max: 1 << 20, required: true },
  { key: 'block_count', kind: 'int', min: 1, max: 4096, required: true },
  { key: 'feed_forward_length', kind: 'int', min: 1, max: 1 << 22, required: true },
  { key: 'attention.head_count', kind: 'int', min: 1, max: 4096, required: true },
  { key: 'attention.head_count_kv', kind: 'int', min: 1, max: 4096 },
  { key: 'attention.key_length', kind: 'int', min: 2, max: 1 << 16 },
  { key: 'context_length', kind: 'int', min: 1, max: 1 << 24 },
  { key: 'vocab_size', kind: 'int', min: 1, max: 1 << 24 },
  { key: 'rope.dimension_count', kind: 'int', min: 0, max: 1 << 16 },
  { key: 'attention.layer_norm_rms_epsilon', kind: 'float', min: 0, max: 1 },
  { key: 'rope.freq_base', kind: 'float', min: 0, max: 1e12 },
];
const TOKENIZER_KEYS: KeyRule[] = [
  { key: 'tokenizer.ggml.model', kind: 'string' },
  { key: 'tokenizer.ggml.bos_token_id', kind: 'token' }, { key: 'tokenizer.ggml.eos_token_id', kind: 'token' },
  { key: 'tokenizer.ggml.unknown_token_id', kind: 'token' }, { key: 'tokenizer.ggml.padding_token_id', kind: 'token' },
  { key: 'tokenizer.ggml.eot_token_id', kind: 'token' }, { key: 'tokenizer.ggml.eom_token_id', kind: 'token' },
  { key: 'tokenizer.ggml.add_bos_token', kind: 'bool' }, { key: 'tokenizer.ggml.add_eos_token', kind: 'bool' },
  { key: 'tokenizer.chat_template', kind: 'string' },
];

/** Throws a GGUFError naming the first key whose type or value is wrong. */
export function checkModelMetadata(f: GGUFFile, arch: string): void {
  const tokens = f.metadata.get('tokenizer.ggml.tokens');
  const nTokens = tokens && Array.isArray(tokens.value) ? tokens.value.length : undefined;
  for (const r of [...ARCH_KEYS.map((r) => ({ ...r, key: `${arch}.${r.key}` })), ...TOKENIZER_KEYS]) {
    const v = f.metadata.get(r.key);
    if (v === undefined) { if (r.required) throw new GGUFError(`missing required key "${r.key}"`); continue; }
    const fail = (why: string): never => { throw new GGUFError(`key "${r.key}" ${why}`); };
    const typeName = T[v.type] ?? String(v.type);
    if (r.kind === 'string') { if (v.type !== T.STRING) fail(`must be a string, got ${typeName}`); continue; }
    if (r.kind === 'bool') { if (v.type !== T.BOOL) fail(`must be a bool, got ${typeName}`); continue; }
    const isInt = INT_TYPES.has(v.type);
    if (r.kind === 'float' ? !(isInt || FLOAT_TYPES.has(v.type)) : !isInt) fail(`must be ${r.kind === 'float' ? 'a float' : 'an integer'}, got ${typeName}`);
    const n = Number(v.value as number | bigint);
    if (!Number.isFinite(n)) fail(`is ${n}: not a finite number`);
    if (r.kind === 'token') {
      if (nTokens !== undefined && (n < 0 || n >= nTokens)) fail(`is ${n}: not a token id of this ${nTokens}-token vocabulary`);
      continue;
    }
    if (r.kind === 'float' ? !(n > r.min! && n <= r.max!) : !(n >= r.min! && n <= r.max!)) {
      fail(`is ${n}: outside ${r.kind === 'float' ? `(${r.min}, ${r.max}]` : `${r.min}..${r.max}`}`);
    }
  }
}
