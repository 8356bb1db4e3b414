/**
 * Byte-level BPE (GGUF `tokenizer.ggml.model` = "gpt2"), as llama.cpp's llm_tokenizer_bpe:
 * split the text at special tokens, pre-tokenize each piece with the pre-tokenizer named by
 * `tokenizer.ggml.pre`, map each word's UTF-8 bytes to GPT-2's printable byte alphabet, then merge
 * adjacent symbols by merge rank (lowest first, leftmost on ties) until no listed merge applies.
 * LLaMA-3-style pre-tokenizers ("ignore merges") take a word that is itself a token as is.
 */
import { TOKEN_TYPE, Heap, VocabTokenizer, byteStream, partitionSpecial } from './common.js';
import { preTokenize, preTokenizerSpec, type PreTokenizerSpec } from './pretokenize.js';
import type { EncodeOptions, Tokenizer } from './types.js';

export { TOKEN_TYPE, preTokenize };

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
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c.codePointAt(0)!, b]));

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
  pre?: string;              // llama.cpp pre-tokenizer name (default 'default')
  bos?: number; eos?: number; eot?: number; eom?: number; unk?: number; pad?: number;
  addBos?: boolean;          // default: true for LLaMA-3-style pre-tokenizers, else false
  addEos?: boolean;
  chatTemplate?: string;
}

interface Bigram { left: number; right: number; rank: number; text: string }

export class BPETokenizer extends VocabTokenizer implements Tokenizer {
  readonly kind = 'gpt2' as const;
  readonly pre: string;
  private readonly spec: PreTokenizerSpec;
  private readonly ranks = new Map<string, number>();  // "left right" -> merge rank (first listing wins)
  private readonly cache = new Map<string, number[]>();

  constructor(readonly vocab: BPEVocab) {
    const pre = vocab.pre ?? 'default', spec = preTokenizerSpec(pre);
    super(vocab, vocab.addBos ?? spec.addBos ?? false);
    this.pre = pre;
    this.spec = spec;
    vocab.merges.forEach((m, i) => {
      const at = m.indexOf(' ', 1);
      const key = at < 0 ? ' ' : m; // llama.cpp keeps an unsplittable merge as ("", "")
      if (!this.ranks.has(key)) this.ranks.set(key, i);
    });
  }

  piece(id: number): string { return this.vocab.tokens[id] ?? ''; }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((opts.addBos ?? this.addBos) && this.bos !== undefined) out.push(this.bos);
    for (const part of partitionSpecial(text, this.t.specials, opts.parseSpecial ?? true, opts.literalRanges)) {
      if (typeof part === 'number') { out.push(part); continue; }
      for (const word of preTokenize(part, this.spec)) this.encodeWord(bytesToSymbols(word), out);
    }
    if ((opts.addEos ?? this.addEos) && this.eos !== undefined) out.push(this.eos);
    return out;
  }

  /** Encodes one byte-encoded pre-token. */
  private encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached) { for (const id of cached) out.push(id); return; }
    const ids: number[] = [];
    const whole = this.spec.ignoreMerges ? this.t.ids.get(word) : undefined;
    if (whole !== undefined) ids.push(whole);
    else for (const sym of this.merge(word)) this.emitSymbol(sym, ids);
    if (this.cache.size >= 50_000) this.cache.clear();
    this.cache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  /** Symbols after merging: a linked list over the word's characters and a queue of candidate pairs. */
  private merge(word: string): string[] {
    const sym = Array.from(word);
    const n = sym.length;
    if (n < 2) return sym;
    const prev = new Int32Array(n), next = new Int32Array(n);
    for (let i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
    const queue = new Heap<Bigram>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));
    const tryPair = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const rank = this.ranks.get(sym[l] + ' ' + sym[r]);
      if (rank !== undefined) queue.push({ left: l, right: r, rank, text: sym[l] + sym[r] });
    };
    for (let i = 1; i < n; i++) tryPair(i - 1, i);
    while (queue.size) {
      const b = queue.pop();
      if (sym[b.left] === '' || sym[b.right] === '' || sym[b.left] + sym[b.right] !== b.text || next[b.left] !== b.right) continue; // stale
      sym[b.left] = b.text; sym[b.right] = '';
      next[b.left] = next[b.right];
      if (next[b.right] >= 0) prev[next[b.right]] = b.left;
      tryPair(prev[b.left], b.left);
      tryPair(b.left, next[b.left]);
    }
    return sym.filter((s) => s !== '');
  }

  /** A symbol's id; unknown symbols fall back to single-byte-text tokens, as llama.cpp does. */
  private emitSymbol(sym: string, out: number[]): void {
    const id = this.t.ids.get(sym);
    if (id !== undefined) { out.push(id); return; }
    for (const b of utf8.encode(sym)) {
      if (b >= 0x80) continue; // a lone byte >= 0x80 is never a token text
      const one = this.t.ids.get(String.fromCharCode(b));
      if (one !== undefined) out.push(one);
    }
  }

  /** GPT-2's printable byte alphabet back to bytes; a character outside it as its UTF-8 (llama.cpp: [UNK_BYTE_…]). */
  protected normalBytes(text: string): Uint8Array {
    const bytes: number[] = [];
    for (const ch of text) {
      const b = CHAR_TO_BYTE.get(ch.codePointAt(0)!);
      if (b !== undefined) bytes.push(b); else for (const x of utf8.encode(ch)) bytes.push(x);
    }
    return Uint8Array.from(bytes);
  }

  decode(ids: readonly number[]): string {
    const d = this.streamDecoder();
    let s = '';
    for (const id of ids) s += d.push(id);
    return s + d.flush();
  }

  streamDecoder(): { push(id: number): string; flush(): string } {
    return byteStream((id) => this.tokenBytes(id));
  }
}
