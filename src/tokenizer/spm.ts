/**
 * SentencePiece-style tokenizer (GGUF `tokenizer.ggml.model` = "llama"), as llama.cpp's
 * llm_tokenizer_spm: after special-token splitting, each raw piece gets a leading space when it starts
 * the text or follows a special token (add_space_prefix), spaces become "▁", the piece starts as
 * single characters, and the adjacent pair whose concatenation is the highest-scoring vocabulary
 * entry is merged (leftmost on ties) until none is; characters not in the vocabulary fall back to
 * <0xNN> byte tokens.
 */
import { Heap, VocabTokenizer, partitionSpecial } from './common.js';
import type { EncodeOptions, Tokenizer } from './types.js';

export interface SPMVocab {
  tokens: string[]; scores: number[]; tokenTypes?: number[];
  bos?: number; eos?: number; eot?: number; eom?: number; unk: number; pad?: number;
  addBos: boolean; addEos?: boolean; addSpacePrefix: boolean; chatTemplate?: string;
}

const SPACE = '\u2581';
const utf8 = new TextEncoder();

interface Bigram { left: number; right: number; score: number; size: number }

export class SPMTokenizer extends VocabTokenizer implements Tokenizer {
  readonly kind = 'llama' as const;
  private readonly scores: Float32Array;  // f32, as llama.cpp compares them
  private readonly byteIds: Int32Array;   // byte -> token id, -1 if none
  // When no token has "▁" after another character, no merge crosses the start of a "▁" run that
  // follows a non-"▁" character, so the text can be encoded word by word (and words cached).
  private readonly wordwise: boolean;
  private readonly cache = new Map<string, number[]>();

  constructor(readonly vocab: SPMVocab) {
    super(vocab, vocab.addBos);
    this.scores = Float32Array.from(vocab.tokens, (_, i) => vocab.scores[i] ?? 0);
    // llama.cpp byte_to_token: the "<0xNN>" token, else the one-byte text itself
    this.byteIds = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      this.byteIds[b] = this.t.ids.get(hex) ?? (b < 0x80 ? this.t.ids.get(String.fromCharCode(b)) : undefined) ?? -1;
    }
    this.wordwise = vocab.tokens.every((t) => !/[^\u2581]\u2581/.test(t));
  }

  piece(id: number): string { return this.vocab.tokens[id] ?? ''; }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((opts.addBos ?? this.addBos) && this.bos !== undefined) out.push(this.bos);
    let prevSpecial = true; // the text start counts as "after a special token"
    for (const part of partitionSpecial(text, this.t.specials, opts.parseSpecial ?? true, opts.literalRanges)) {
      if (typeof part === 'number') { out.push(part); prevSpecial = true; continue; }
      const s = (this.vocab.addSpacePrefix && prevSpecial ? ' ' : '') + part;
      this.encodeText(s.replaceAll(' ', SPACE), out);
      prevSpecial = false;
    }
    if ((opts.addEos ?? this.addEos) && this.eos !== undefined) out.push(this.eos);
    return out;
  }

  private encodeText(text: string, out: number[]): void {
    if (!this.wordwise) { this.encodePiece(text, out); return; }
    for (const word of text.split(/(?<=[^\u2581])(?=\u2581)/u)) {
      let ids = this.cache.get(word);
      if (!ids) {
        ids = [];
        this.encodePiece(word, ids);
        if (this.cache.size >= 50_000) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private encodePiece(text: string, out: number[]): void {
    const sym = Array.from(text);
    const n = sym.length;
    const prev = new Int32Array(n), next = new Int32Array(n);
    for (let i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
    const len = sym.map((s) => s.length); // UTF-16 length: a merged symbol is the concatenation
    const queue = new Heap<Bigram>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
    const tryPair = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const id = this.t.ids.get(sym[l] + sym[r]);
      if (id !== undefined) queue.push({ left: l, right: r, score: this.scores[id], size: len[l] + len[r] });
    };
    for (let i = 1; i < n; i++) tryPair(i - 1, i);
    while (queue.size) {
      const b = queue.pop();
      if (len[b.left] === 0 || len[b.right] === 0 || len[b.left] + len[b.right] !== b.size) continue; // stale
      sym[b.left] += sym[b.right]; len[b.left] += len[b.right];
      sym[b.right] = ''; len[b.right] = 0;
      next[b.left] = next[b.right];
      if (next[b.right] >= 0) prev[next[b.right]] = b.left;
      tryPair(prev[b.left], b.left);
      tryPair(b.left, next[b.left]);
    }
    for (let i = 0; i < n && i >= 0; i = next[i]) {
      const id = this.t.ids.get(sym[i]);
      if (id !== undefined) { out.push(id); continue; }
      // merged symbols are always tokens, so only single characters get here: byte fallback
      for (const b of utf8.encode(sym[i])) {
        const bid = this.byteIds[b] >= 0 ? this.byteIds[b] : this.vocab.unk;
        if (bid === undefined || bid < 0) throw new Error(`no byte token <0x${b.toString(16).toUpperCase().padStart(2, '0')}> for '${sym[i]}'`);
        out.push(bid);
      }
    }
  }

  /** "▁" is a space. */
  protected normalBytes(text: string): Uint8Array { return utf8.encode(text.replaceAll(SPACE, ' ')); }

  /** Text of a token sequence; the space that encoding put in front of the text is removed again
   * (from the first token that renders anything), as SentencePiece decoding does. */
  decode(ids: readonly number[]): string {
    const d = this.streamDecoder();
    let s = '', first = true;
    for (const id of ids) {
      let piece = this.tokenBytes(id);
      if (first && piece.length) {
        if (this.vocab.addSpacePrefix && piece[0] === 0x20) piece = piece.subarray(1);
        first = false;
      }
      s += d.pushBytes(piece);
    }
    return s + d.flush();
  }

  /** Decodes generated tokens one at a time (no space removal: they continue a prompt). */
  streamDecoder(): { push(id: number): string; flush(): string; pushBytes(b: Uint8Array): string } {
    const dec = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a leading U+FEFF: it is text
    return {
      push: (id) => dec.decode(this.tokenBytes(id), { stream: true }),
      pushBytes: (b) => dec.decode(b, { stream: true }),
      flush: () => dec.decode(),
    };
  }
}
