/**
 * Hugging Face tokenizer.json (+ tokenizer_config.json) -> Tokenizer, the way llama.cpp's
 * convert_hf_to_gguf.py maps them:
 *  - BPE with a ByteLevel pre-tokenizer -> "gpt2"; the Split regex names the pre-tokenizer
 *    (LLaMA-3 -> llama-bpe, Qwen2 -> qwen2, plain ByteLevel -> gpt-2);
 *  - BPE with byte_fallback and "▁" spaces (LLaMA-2 style) -> "llama" (SentencePiece-style), with
 *    each merged token scored by minus the rank of the merge that makes it, so score order = merge order.
 * added_tokens become CONTROL (special) or USER_DEFINED tokens; ids missing from the vocab become
 * "[PAD<id>]" UNUSED tokens. tokenizerToHF / writeHFTokenizer write our tokenizers back in that form.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BPETokenizer } from './bpe.js';
import { TOKEN_TYPE, byteOfToken } from './common.js';
import { SPMTokenizer } from './spm.js';
import type { Tokenizer } from './types.js';
import { HFError } from '../formats/hf-checkpoint.js';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});

// Split regexes as they appear in tokenizer.json, by llama.cpp pre-tokenizer name.
const SPLIT_REGEX_TO_PRE: Record<string, string> = {
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'qwen2',
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+": 'gpt-2',
};

/** All pre-tokenizer / normalizer / decoder nodes, flattened out of Sequences. */
function nodes(v: unknown): Json[] {
  const o = obj(v);
  if (o.type === 'Sequence') return [...(o.pretokenizers as unknown[] ?? []), ...(o.normalizers as unknown[] ?? []), ...(o.decoders as unknown[] ?? [])].flatMap(nodes);
  return o.type ? [o] : [];
}

function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  const c = obj(v).content;
  return typeof c === 'string' ? c : undefined;
}

export function tokenizerFromHF(tokenizerJson: unknown, tokenizerConfig?: unknown): Tokenizer {
  const tj = obj(tokenizerJson), cfg = obj(tokenizerConfig);
  const model = obj(tj.model);
  if (model.type !== 'BPE') throw new Error(`unsupported tokenizer.json model type '${String(model.type)}' (expected BPE)`);
  const vocab = obj(model.vocab);
  const added = (Array.isArray(tj.added_tokens) ? tj.added_tokens : []).map(obj);

  // tokens by id
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, Number(id) + 1);
  for (const a of added) n = Math.max(n, Number(a.id) + 1);
  const tokens: string[] = new Array(n).fill(undefined);
  const types: number[] = new Array(n).fill(TOKEN_TYPE.NORMAL);
  for (const [text, id] of Object.entries(vocab)) tokens[Number(id)] = text;
  for (const a of added) {
    const id = Number(a.id);
    tokens[id] = String(a.content);
    types[id] = a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  }
  for (let i = 0; i < n; i++) if (tokens[i] === undefined) { tokens[i] = `[PAD${i}]`; types[i] = TOKEN_TYPE.UNUSED; }
  const idOf = (v: unknown) => { const t = tokenText(v); const i = t === undefined ? -1 : tokens.lastIndexOf(t); return i >= 0 ? i : undefined; };

  const merges = (Array.isArray(model.merges) ? model.merges : []).map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : String(m)));
  // does the post-processor put a BOS token in front?
  const post = obj(tj.post_processor);
  const template = post.type === 'Sequence' ? (Array.isArray(post.processors) ? post.processors.map(obj).find((x) => x.type === 'TemplateProcessing') : undefined) : post;
  const single = template?.single;
  const firstSpecial = Array.isArray(single) ? tokenText(obj(obj(single[0]).SpecialToken).id) : undefined;
  const bos = idOf(cfg.bos_token) ?? (firstSpecial !== undefined ? idOf(firstSpecial) : undefined);
  const eos = idOf(cfg.eos_token);
  const addBos = typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : firstSpecial !== undefined && idOf(firstSpecial) === bos;
  const addEos = typeof cfg.add_eos_token === 'boolean' ? cfg.add_eos_token : undefined;
  const chatTemplate = typeof cfg.chat_template === 'string' ? cfg.chat_template : undefined;

  const pre = nodes(tj.pre_tokenizer);
  const byteLevel = pre.some((p) => p.type === 'ByteLevel') || nodes(tj.decoder).some((d) => d.type === 'ByteLevel');
  if (byteLevel) {
    const split = pre.find((p) => p.type === 'Split');
    const regex = split ? tokenText(obj(split.pattern).Regex) : undefined;
    let preName: string | undefined;
    if (regex !== undefined) preName = SPLIT_REGEX_TO_PRE[regex];
    else if (pre.some((p) => p.type === 'ByteLevel' && p.use_regex !== false)) preName = 'gpt-2';
    if (!preName) throw new Error(`unsupported tokenizer.json pre-tokenizer${regex ? ` regex ${JSON.stringify(regex)}` : ''}`);
    return new BPETokenizer({ tokens, merges, tokenTypes: types, pre: preName, bos, eos, addBos, addEos, chatTemplate, unk: idOf(model.unk_token) });
  }

  if (model.byte_fallback) {
    // LLaMA-2 style: "▁" spaces; prefix space when the normalizer prepends "▁" or a Metaspace says so
    const norm = nodes(tj.normalizer);
    const meta = pre.find((p) => p.type === 'Metaspace');
    const addSpacePrefix = norm.some((x) => x.type === 'Prepend' && x.prepend === '\u2581') ||
      (meta !== undefined && meta.prepend_scheme !== 'never' && meta.add_prefix_space !== false);
    const scores = new Array(n).fill(0);
    const ids = new Map(tokens.map((t, i) => [t, i]));
    merges.forEach((m, rank) => {
      const at = m.indexOf(' ', 1);
      const id = ids.get(m.slice(0, at) + m.slice(at + 1)) ?? -1;
      if (id >= 0 && scores[id] === 0) scores[id] = -(rank + 1);
    });
    for (let i = 0; i < n; i++) if (byteOfToken(tokens[i]) >= 0 && types[i] === TOKEN_TYPE.NORMAL) types[i] = TOKEN_TYPE.BYTE;
    const unk = idOf(model.unk_token) ?? idOf(cfg.unk_token) ?? 0;
    if (types[unk] === TOKEN_TYPE.NORMAL || types[unk] === TOKEN_TYPE.CONTROL) types[unk] = TOKEN_TYPE.UNKNOWN;
    return new SPMTokenizer({ tokens, scores, tokenTypes: types, unk, bos, eos, addBos: typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : true, addEos, addSpacePrefix, chatTemplate });
  }
  throw new Error('unsupported tokenizer.json: a BPE model with neither a ByteLevel pre-tokenizer nor byte_fallback');
}

/** Reads tokenizer.json (required) and tokenizer_config.json (optional) from a model directory. */
export function loadHFTokenizer(dir: string): Tokenizer {
  const read = (name: string): unknown => {
    const path = join(dir, name);
    try { return JSON.parse(readFileSync(path, 'utf8')); } catch (e) { throw new Error(`cannot read ${path}: ${(e as Error).message}`); }
  };
  if (!existsSync(join(dir, 'tokenizer.json'))) throw new Error(`no tokenizer.json in ${dir}`);
  const config = existsSync(join(dir, 'tokenizer_config.json')) ? read('tokenizer_config.json') : undefined;
  return tokenizerFromHF(read('tokenizer.json'), config);
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json from our tokenizers (what tokenizerFromHF reads back)

/** LLaMA-3 split regex (tokenizer.json form) for the llama-bpe pre-tokenizer. */
const PRE_TO_SPLIT_REGEX: Record<string, string> = {
  'llama-bpe': "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

function addedTokens(tokens: string[], types: number[] | undefined): Json[] {
  const out: Json[] = [];
  tokens.forEach((t, id) => {
    const ty = types?.[id];
    if (ty === TOKEN_TYPE.CONTROL || ty === TOKEN_TYPE.USER_DEFINED || ty === TOKEN_TYPE.UNKNOWN) {
      out.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: ty !== TOKEN_TYPE.USER_DEFINED });
    }
  });
  return out;
}

/**
 * SentencePiece scores -> BPE merges the way transformers' SentencePieceExtractor does: every split of
 * a vocabulary piece into two vocabulary pieces is a merge, ordered by the merged piece's score.
 */
function mergesFromScores(tokens: string[], scores: number[], types: number[] | undefined): string[] {
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => { if (!types || types[i] === TOKEN_TYPE.NORMAL) ids.set(t, i); });
  const merges: Array<[number, number, number, string]> = [];
  for (const [t, id] of ids) {
    const cps = [...t];
    for (let k = 1; k < cps.length; k++) {
      const a = cps.slice(0, k).join(''), b = cps.slice(k).join('');
      const ia = ids.get(a), ib = ids.get(b);
      if (ia !== undefined && ib !== undefined) merges.push([scores[id], ia, ib, `${a} ${b}`]);
    }
  }
  merges.sort((x, y) => y[0] - x[0] || x[1] - y[1] || x[2] - y[2]);
  return merges.map((m) => m[3]);
}

export function tokenizerToHF(t: Tokenizer): { tokenizerJson: Json; tokenizerConfig: Json } {
  const tokenText = (id: number | undefined) => (id === undefined ? null : t.piece(id));
  const baseConfig: Json = {
    bos_token: tokenText(t.bos), eos_token: tokenText(t.eos), chat_template: t.chatTemplate,
  };
  if (t instanceof BPETokenizer) {
    const v = t.vocab;
    const vocab: Record<string, number> = {};
    v.tokens.forEach((tok, i) => { vocab[tok] = i; });
    const regex = PRE_TO_SPLIT_REGEX[t.pre];
    if (!regex && t.pre !== 'gpt-2') throw new HFError(`cannot express the "${t.pre}" pre-tokenizer in tokenizer.json (supported: llama-bpe, qwen2, gpt-2)`);
    const pre = regex
      ? { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] }
      : { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    return {
      tokenizerJson: {
        version: '1.0', added_tokens: addedTokens(v.tokens, v.tokenTypes), normalizer: null, pre_tokenizer: pre,
        post_processor: null, decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
        model: { type: 'BPE', dropout: null, unk_token: null, byte_fallback: false, ignore_merges: t.pre === 'llama-bpe', vocab, merges: v.merges },
      },
      tokenizerConfig: { ...baseConfig, add_bos_token: t.addBos, add_eos_token: t.addEos ?? false },
    };
  }
  if (t instanceof SPMTokenizer) {
    const v = t.vocab;
    const vocab: Record<string, number> = {};
    v.tokens.forEach((tok, i) => { vocab[tok] = i; });
    return {
      tokenizerJson: {
        version: '1.0', added_tokens: addedTokens(v.tokens, v.tokenTypes),
        normalizer: { type: 'Sequence', normalizers: [...(v.addSpacePrefix ? [{ type: 'Prepend', prepend: '\u2581' }] : []), { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
        pre_tokenizer: null, post_processor: null,
        decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: v.addSpacePrefix ? 1 : 0, stop: 0 }] },
        model: { type: 'BPE', dropout: null, unk_token: v.tokens[v.unk], fuse_unk: true, byte_fallback: true, vocab, merges: mergesFromScores(v.tokens, v.scores, v.tokenTypes) },
      },
      tokenizerConfig: { ...baseConfig, unk_token: v.tokens[v.unk], add_bos_token: v.addBos, add_eos_token: v.addEos ?? false },
    };
  }
  throw new HFError('tokenizerToHF: unsupported tokenizer class');
}

/** Writes tokenizer.json and tokenizer_config.json into a directory (what loadHFTokenizer reads back). */
export function writeHFTokenizer(dir: string, t: Tokenizer): void {
  const { tokenizerJson, tokenizerConfig } = tokenizerToHF(t);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson, null, 2) + '\n');
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');
}
