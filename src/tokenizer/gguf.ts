/** Tokenizers <-> GGUF metadata (`tokenizer.ggml.*`, llama.cpp llama-vocab.cpp / gguf-py constants). */
import { GGUFValueType, type GGUFValue } from '../formats/gguf.js';
import { BPETokenizer } from './bpe.js';
import { SPMTokenizer } from './spm.js';
import type { Tokenizer } from './types.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
function numbers(v: unknown, key: string): number[] | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<number | bigint>, Number);
  throw new Error(`metadata key "${key}" should be a number array`);
}
function strings(v: unknown, key: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || typeof v[0] !== 'string') throw new Error(`missing or invalid required key "${key}" (a string array)`);
  return v as string[];
}

/** Builds the tokenizer a GGUF describes. `get` returns plain metadata values. */
export function tokenizerFromGGUF(get: (key: string) => unknown): Tokenizer {
  const model = get('tokenizer.ggml.model');
  if (typeof model !== 'string') throw new Error('missing required key "tokenizer.ggml.model"');
  const tokens = strings(get('tokenizer.ggml.tokens'), 'tokenizer.ggml.tokens');
  const tokenTypes = numbers(get('tokenizer.ggml.token_type'), 'tokenizer.ggml.token_type');
  const id = (k: string) => { const v = num(get(`tokenizer.ggml.${k}`)); return v !== undefined && v >= 0 && v < tokens.length ? v : undefined; };
  const common = {
    tokens, tokenTypes, eot: id('eot_token_id'), eom: id('eom_token_id'), pad: id('padding_token_id'),
    chatTemplate: str(get('tokenizer.chat_template')),
    addEos: bool(get('tokenizer.ggml.add_eos_token')),
  };
  const addBos = bool(get('tokenizer.ggml.add_bos_token'));
  if (model === 'gpt2') {
    const merges = get('tokenizer.ggml.merges');
    if (!Array.isArray(merges)) throw new Error('missing required key "tokenizer.ggml.merges" for a gpt2 tokenizer');
    return new BPETokenizer({
      ...common, merges: merges as string[], pre: str(get('tokenizer.ggml.pre')) ?? 'default', addBos,
      bos: id('bos_token_id'), eos: id('eos_token_id'), unk: id('unknown_token_id'),
    });
  }
  if (model === 'llama') {
    const scores = numbers(get('tokenizer.ggml.scores'), 'tokenizer.ggml.scores') ?? tokens.map(() => 0);
    const dflt = (k: string, d: number) => id(k) ?? (d < tokens.length ? d : undefined); // llama.cpp SPM defaults
    return new SPMTokenizer({
      ...common, scores, unk: dflt('unknown_token_id', 0)!, bos: dflt('bos_token_id', 1), eos: dflt('eos_token_id', 2),
      addBos: addBos ?? true, addSpacePrefix: bool(get('tokenizer.ggml.add_space_prefix')) ?? true,
    });
  }
  throw new Error(`unsupported tokenizer model '${model}' (expected gpt2 or llama)`);
}

export type GGUFMetadataKind = 'str' | 'u32' | 'i32' | 'f32' | 'bool' | 'strArray' | 'f32Array' | 'i32Array';
export interface GGUFMetadataEntry { key: string; kind: GGUFMetadataKind; value: unknown }

/** The `tokenizer.ggml.*` metadata that describes `t` (inverse of tokenizerFromGGUF), with GGUF types. */
export function tokenizerToGGUFMetadata(t: Tokenizer): GGUFMetadataEntry[] {
  const out: GGUFMetadataEntry[] = [];
  const put = (key: string, kind: GGUFMetadataKind, value: unknown) => { if (value !== undefined) out.push({ key: `tokenizer.${key}`, kind, value }); };
  const bpe = t instanceof BPETokenizer ? t : undefined, spm = t instanceof SPMTokenizer ? t : undefined;
  const tk = bpe ?? spm;
  if (!tk) throw new Error('tokenizerToGGUFMetadata: not a BPETokenizer or SPMTokenizer');
  const v = tk.vocab;
  // one key a line, in the order files have always had; a key of the other kind is undefined (not written)
  put('ggml.model', 'str', bpe ? 'gpt2' : 'llama');
  put('ggml.pre', 'str', bpe && (bpe.pre === 'gpt2' ? 'gpt-2' : bpe.pre)); // llama.cpp knows only "gpt-2"
  put('ggml.tokens', 'strArray', v.tokens);
  put('ggml.scores', 'f32Array', spm?.vocab.scores);
  put('ggml.token_type', 'i32Array', v.tokenTypes ?? v.tokens.map(() => 1));
  put('ggml.merges', 'strArray', bpe?.vocab.merges);
  put('ggml.unknown_token_id', 'u32', v.unk);
  put('ggml.padding_token_id', 'u32', v.pad);
  put('ggml.eom_token_id', 'u32', v.eom);
  put('ggml.add_space_prefix', 'bool', spm?.vocab.addSpacePrefix);
  put('ggml.add_eos_token', 'bool', tk.addEos);
  put('ggml.bos_token_id', 'u32', t.bos);
  put('ggml.eos_token_id', 'u32', t.eos);
  put('ggml.eot_token_id', 'u32', tk.eot);
  put('ggml.add_bos_token', 'bool', tk.addBos);
  if (t.chatTemplate) put('chat_template', 'str', t.chatTemplate);
  return out;
}

const KIND_TO_GGUF: Record<GGUFMetadataKind, (v: unknown) => GGUFValue> = {
  str: (v) => ({ type: GGUFValueType.STRING, value: v as string }),
  u32: (v) => ({ type: GGUFValueType.UINT32, value: v as number }),
  i32: (v) => ({ type: GGUFValueType.INT32, value: v as number }),
  f32: (v) => ({ type: GGUFValueType.FLOAT32, value: v as number }),
  bool: (v) => ({ type: GGUFValueType.BOOL, value: v as boolean }),
  strArray: (v) => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value: v as string[] }),
  f32Array: (v) => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.FLOAT32, value: Array.from(v as ArrayLike<number>) }),
  i32Array: (v) => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value: Array.from(v as ArrayLike<number>) }),
};

/** tokenizerToGGUFMetadata as typed values for src/formats/gguf.ts writers. */
export function tokenizerToGGUF(t: Tokenizer): Array<[string, GGUFValue]> {
  return tokenizerToGGUFMetadata(t).map((e) => [e.key, KIND_TO_GGUF[e.kind](e.value)]);
}
