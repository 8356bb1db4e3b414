/**
 * Byte-level BPE (GGUF `tokenizer.ggml.model` = "gpt2"), as llama.cpp's llm_tokenizer_bpe:
 * split the text at special tokens, pre-tokenize each piece with the regex named by
 * `tokenizer.ggml.pre`, map each word's UTF-8 bytes to GPT-2's printable byte alphabet, then merge
 * adjacent symbols by merge rank (lowest first) until no listed merge applies.
 */
import type { EncodeOptions, Tokenizer } from './types.js';

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards. */
export const BYTE_TO_CHAR: string[] = (() => {
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return table;
})();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** Pre-tokenizer regexes by `tokenizer.ggml.pre` (llama.cpp llama-vocab.cpp). JS lacks (?i:…), so contractions are spelled out. */
const CONTRACTIONS_CI = "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]";
export const PRE_TOKENIZERS: Record<string, RegExp> = {
  default: /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu,
  'llama-bpe': new RegExp(`${CONTRACTIONS_CI}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`, 'gu'),
};
PRE_TOKENIZERS.gpt2 = PRE_TOKENIZERS['gpt-2'] = PRE_TOKENIZERS.default;
PRE_TOKENIZERS['llama3'] = PRE_TOKENIZERS['llama-bpe'];

export function preTokenize(text: string, pre: string): string[] {
  const re = PRE_TOKENIZERS[pre] ?? PRE_TOKENIZERS.default;
  return text.match(new RegExp(re.source, re.flags)) ?? [];
}

const utf8 = new TextEncoder();

export function bytesToSymbols(s: string): string {
  let out = '';
  for (const b of utf8.encode(s)) out += BYTE_TO_CHAR[b];
  return out;
}

export interface BPEVocab {
  tokens: string[];
  merges: string[];          // "a b"
  tokenTypes?: number[];
  pre?: string;
  bos?: number; eos?: number; eot?: number;
  addBos?: boolean;
  chatTemplate?: string;
}

export class BPETokenizer implements Tokenizer {
  readonly kind = 'gpt2' as const;
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly stopTokens: ReadonlySet<number>;
  readonly chatTemplate: string | undefined;
  readonly pre: string;
  readonly addBos: boolean;
  private readonly ids = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  private readonly specials: string[];
  private readonly cache = new Map<string, number[]>();

  constructor(readonly vocab: BPEVocab) {
    this.vocabSize = vocab.tokens.length;
    vocab.tokens.forEach((t, i) => { if (!this.ids.has(t)) this.ids.set(t, i); });
    vocab.merges.forEach((m, i) => this.ranks.set(m, i));
    this.bos = vocab.bos; this.eos = vocab.eos;
    this.stopTokens = new Set([vocab.eos, vocab.eot].filter((x): x is number => x !== undefined));
    this.chatTemplate = vocab.chatTemplate;
    this.pre = vocab.pre ?? 'default';
    this.addBos = vocab.addBos ?? false;
    const types = vocab.tokenTypes ?? [];
    // Longest first, so "<|end|>" wins over "<|e".
    this.specials = vocab.tokens.filter((t, i) => (types[i] === TOKEN_TYPE.CONTROL || types[i] === TOKEN_TYPE.USER_DEFINED) && t.length > 0)
      .sort((a, b) => b.length - a.length);
  }

  piece(id: number): string { return this.vocab.tokens[id] ?? ''; }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((opts.addBos ?? this.addBos) && this.bos !== undefined) out.push(this.bos);
    const parseSpecial = opts.parseSpecial ?? true;
    let rest = text;
    while (rest.length > 0) {
      let cut = rest.length, hit = '';
      if (parseSpecial) {
        for (const s of this.specials) {
          const i = rest.indexOf(s);
          if (i >= 0 && (i < cut || (i === cut && s.length > hit.length))) { cut = i; hit = s; }
        }
      }
      for (const word of preTokenize(rest.slice(0, cut), this.pre)) this.encodeWord(word, out);
      if (!hit) break;
      out.push(this.ids.get(hit)!);
      rest = rest.slice(cut + hit.length);
    }
    return out;
  }

  private encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached) { for (const id of cached) out.push(id); return; }
    let syms = Array.from(bytesToSymbols(word));
    // Merge the adjacent pair with the lowest rank until none is listed.
    while (syms.length > 1) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i < syms.length - 1; i++) {
        const r = this.ranks.get(`${syms[i]} ${syms[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      syms = [...syms.slice(0, best), syms[best] + syms[best + 1], ...syms.slice(best + 2)];
    }
    const ids: number[] = [];
    for (const s of syms) {
      const id = this.ids.get(s);
      if (id !== undefined) { ids.push(id); continue; }
      for (const ch of s) { const b = this.ids.get(ch); if (b !== undefined) ids.push(b); } // unknown: per byte
    }
    if (this.cache.size < 100_000) this.cache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  private tokenBytes(id: number): number[] {
    const t = this.vocab.tokens[id] ?? '';
    const type = this.vocab.tokenTypes?.[id];
    if (type === TOKEN_TYPE.CONTROL) return [];
    if (type === TOKEN_TYPE.USER_DEFINED) return Array.from(utf8.encode(t));
    const bytes: number[] = [];
    for (const ch of t) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b !== undefined) bytes.push(b); else bytes.push(...utf8.encode(ch));
    }
    return bytes;
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) bytes.push(...this.tokenBytes(id));
    return new TextDecoder().decode(new Uint8Array(bytes));
  }

  streamDecoder(): { push(id: number): string; flush(): string } {
    const dec = new TextDecoder();
    return {
      push: (id) => dec.decode(new Uint8Array(this.tokenBytes(id)), { stream: true }),
      flush: () => dec.decode(),
    };
  }
}
