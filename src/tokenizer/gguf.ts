/** Tokenizers <-> GGUF metadata (`tokenizer.ggml.*`, llama.cpp llama-vocab.cpp / gguf-py constants). */
import { GGUFValueType, gguf, type GGUFValue } from '../formats/gguf.js';
import { BPETokenizer } from './bpe.js';
import { SPMTokenizer } from './spm.js';
import type { Tokenizer } from './types.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);

/** Builds the tokenizer a GGUF describes. `get` returns plain metadata values. */
export function tokenizerFromGGUF(get: (key: string) => unknown): Tokenizer {
  const model = get('tokenizer.ggml.model');
  const tokens = get('tokenizer.ggml.tokens') as string[] | undefined;
  if (typeof model !== 'string') throw new Error('missing required key "tokenizer.ggml.model"');
  if (!Array.isArray(tokens) || tokens.length === 0) throw new Error('missing required key "tokenizer.ggml.tokens"');
  const tokenTypes = (get('tokenizer.ggml.token_type') as number[] | undefined)?.map(Number);
  const common = {
    tokens, tokenTypes,
    bos: num(get('tokenizer.ggml.bos_token_id')), eos: num(get('tokenizer.ggml.eos_token_id')),
    eot: num(get('tokenizer.ggml.eot_token_id')),
    chatTemplate: get('tokenizer.chat_template') as string | undefined,
  };
  const addBos = get('tokenizer.ggml.add_bos_token') as boolean | undefined;
  if (model === 'gpt2') {
    const merges = get('tokenizer.ggml.merges') as string[] | undefined;
    if (!Array.isArray(merges)) throw new Error('missing required key "tokenizer.ggml.merges" for a gpt2 tokenizer');
    return new BPETokenizer({ ...common, merges, pre: (get('tokenizer.ggml.pre') as string | undefined) ?? 'default', addBos: addBos ?? false });
  }
  if (model === 'llama') {
    const scores = (get('tokenizer.ggml.scores') as number[] | undefined) ?? tokens.map(() => 0);
    return new SPMTokenizer({
      ...common, scores, unk: num(get('tokenizer.ggml.unknown_token_id')) ?? 0, addBos: addBos ?? true,
      addSpacePrefix: (get('tokenizer.ggml.add_space_prefix') as boolean | undefined) ?? true,
    });
  }
  throw new Error(`unsupported tokenizer model '${model}' (expected gpt2 or llama)`);
}

/** The `tokenizer.ggml.*` metadata that describes `t` (inverse of tokenizerFromGGUF). */
export function tokenizerToGGUF(t: Tokenizer): Array<[string, GGUFValue]> {
  const out: Array<[string, GGUFValue]> = [];
  const i32s = (v: number[]): GGUFValue => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value: v });
  if (t instanceof BPETokenizer) {
    const v = t.vocab;
    out.push(['tokenizer.ggml.model', gguf.str('gpt2')], ['tokenizer.ggml.pre', gguf.str(t.pre)],
      ['tokenizer.ggml.tokens', gguf.strArray(v.tokens)],
      ['tokenizer.ggml.token_type', i32s(v.tokenTypes ?? v.tokens.map(() => 1))],
      ['tokenizer.ggml.merges', gguf.strArray(v.merges)]);
  } else if (t instanceof SPMTokenizer) {
    const v = t.vocab;
    out.push(['tokenizer.ggml.model', gguf.str('llama')], ['tokenizer.ggml.tokens', gguf.strArray(v.tokens)],
      ['tokenizer.ggml.scores', gguf.f32Array(v.scores)], ['tokenizer.ggml.token_type', i32s(v.tokenTypes ?? v.tokens.map(() => 1))],
      ['tokenizer.ggml.unknown_token_id', gguf.u32(v.unk)], ['tokenizer.ggml.add_space_prefix', gguf.bool(v.addSpacePrefix)]);
  } else {
    throw new Error('tokenizerToGGUF: unknown tokenizer class');
  }
  if (t.bos !== undefined) out.push(['tokenizer.ggml.bos_token_id', gguf.u32(t.bos)]);
  if (t.eos !== undefined) out.push(['tokenizer.ggml.eos_token_id', gguf.u32(t.eos)]);
  out.push(['tokenizer.ggml.add_bos_token', gguf.bool((t as BPETokenizer | SPMTokenizer).addBos)]);
  if (t.chatTemplate) out.push(['tokenizer.chat_template', gguf.str(t.chatTemplate)]);
  return out;
}
