/**
 * What both tokenizer kinds share, as llama.cpp's llama_vocab does it: the text -> id map (a later
 * duplicate wins), token attributes, end-of-generation detection by token text, and the split of the
 * input at special-token text before the model tokenizer runs (tokenizer_st_partition).
 */

const utf8 = new TextEncoder();

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

// Texts llama.cpp treats as end-of-generation (and forces to CONTROL) whatever the file says.
const EOG_TEXTS = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>',
  '<end_of_turn>', '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>',
  '<｜end▁of▁sentence｜>']);
const EOT_TEXTS = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>',
  '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>']);

export interface VocabTables {
  ids: Map<string, number>;   // text -> id, the last of duplicates (llama.cpp token_to_id)
  types: Int32Array;          // TOKEN_TYPE per id, EOG-looking tokens forced to CONTROL
  specials: Array<{ text: string; id: number; type: number }>; // CONTROL/USER_DEFINED/UNKNOWN, longest first
  eot: number | undefined;
  stopTokens: Set<number>;
}

/** The vocabulary fields both kinds read (BPEVocab, SPMVocab). */
export interface VocabFields {
  tokens: string[]; tokenTypes?: number[];
  bos?: number; eos?: number; eot?: number; eom?: number;
  addEos?: boolean; chatTemplate?: string;
}

/** What both tokenizer kinds hold: sizes, special ids, the vocabulary tables and a per-id cache of token bytes. */
export abstract class VocabTokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly eot: number | undefined;
  readonly stopTokens: ReadonlySet<number>;
  readonly chatTemplate: string | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  protected readonly t: VocabTables;
  private readonly tokens: readonly string[];
  private readonly pieces: Array<Uint8Array | undefined>; // token bytes by id, filled as decoded

  protected constructor(vocab: VocabFields, addBos: boolean) {
    this.vocabSize = vocab.tokens.length;
    this.tokens = vocab.tokens;
    this.t = buildTables(vocab.tokens, vocab.tokenTypes, vocab.eos, vocab.eot, vocab.eom);
    this.bos = vocab.bos; this.eos = vocab.eos; this.eot = this.t.eot;
    this.stopTokens = this.t.stopTokens;
    this.chatTemplate = vocab.chatTemplate;
    this.addBos = addBos;
    this.addEos = vocab.addEos ?? false;
    this.pieces = new Array(this.vocabSize);
  }

  /** The GGUF token type of `id` as the tokenizer uses it (EOG-looking tokens are CONTROL). */
  tokenType(id: number): number { return this.t.types[id] ?? TOKEN_TYPE.UNUSED; }

  /** The bytes a NORMAL token's text stands for (each kind has its own alphabet). */
  protected abstract normalBytes(text: string): Uint8Array;

  /** The bytes a token renders as when decoding (llama.cpp token_to_piece with special = false). */
  tokenBytes(id: number): Uint8Array {
    let p = this.pieces[id];
    if (p) return p;
    const text = this.tokens[id] ?? '';
    const type = this.t.types[id];
    if (type === TOKEN_TYPE.USER_DEFINED) p = utf8.encode(text);
    else if (type === TOKEN_TYPE.NORMAL) p = this.normalBytes(text);
    else if (type === TOKEN_TYPE.BYTE && byteOfToken(text) >= 0) p = Uint8Array.of(byteOfToken(text));
    else p = new Uint8Array(0); // CONTROL, UNKNOWN, UNUSED: not rendered
    if (id >= 0 && id < this.vocabSize) this.pieces[id] = p;
    return p;
  }
}

export function buildTables(tokens: readonly string[], tokenTypes: readonly number[] | undefined,
  eos: number | undefined, eot: number | undefined, eom?: number): VocabTables {
  const n = tokens.length;
  const ids = new Map<string, number>();
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    ids.set(tokens[i] === '' ? `[EMPTY_${i}]` : tokens[i], i);
    types[i] = tokenTypes?.[i] ?? TOKEN_TYPE.NORMAL;
  }
  const stopTokens = new Set<number>();
  for (const [text, id] of ids) {
    if (eot === undefined && EOT_TEXTS.has(text)) eot = id;
    if (EOG_TEXTS.has(text)) { stopTokens.add(id); types[id] = TOKEN_TYPE.CONTROL; }
  }
  for (const id of [eos, eot, eom]) if (id !== undefined && id >= 0 && id < n) stopTokens.add(id);
  // harmony / solar-open chat formats: "<|end|>" ends a message, not the generation
  const has = (t: string) => { const id = ids.get(t); return id !== undefined && stopTokens.has(id); };
  const end = ids.get('<|end|>');
  if (end !== undefined && has('<|end|>') && (has('<|call|>') || has('<|calls|>')) && (has('<|return|>') || has('<|flush|>'))) {
    stopTokens.delete(end);
    types[end] = TOKEN_TYPE.USER_DEFINED;
  }
  const specials: VocabTables['specials'] = [];
  for (let i = 0; i < n; i++) {
    const t = types[i];
    if ((t === TOKEN_TYPE.CONTROL || t === TOKEN_TYPE.USER_DEFINED || t === TOKEN_TYPE.UNKNOWN) && tokens[i] !== '') {
      specials.push({ text: tokens[i], id: i, type: t });
    }
  }
  specials.sort((a, b) => utf8Length(b.text) - utf8Length(a.text)); // stable: id order among equal lengths
  return { ids, types, specials, eot, stopTokens };
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) { const c = ch.codePointAt(0)!; n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }
  return n;
}

/** Splits text into raw pieces (strings) and special tokens (ids). Each special, longest first, cuts every
 * remaining raw piece at its non-overlapping occurrences. Without parseSpecial only USER_DEFINED tokens cut.
 * No occurrence that overlaps a `literal` range (character offsets into `text`) cuts: that text is data. */
export function partitionSpecial(text: string, specials: VocabTables['specials'], parseSpecial: boolean,
                                 literal?: ReadonlyArray<readonly [number, number]>): Array<string | number> {
  // raw pieces carry their offset in `text`, so that occurrences can be tested against `literal`
  let parts: Array<{ s: string; at: number } | number> = text.length ? [{ s: text, at: 0 }] : [];
  const isLiteral = (from: number, to: number) => literal !== undefined && literal.some(([a, b]) => from < b && to > a);
  for (const sp of specials) {
    if (!parseSpecial && sp.type !== TOKEN_TYPE.USER_DEFINED) continue;
    let next: typeof parts | undefined;
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p];
      let at = typeof part === 'number' ? -1 : part.s.indexOf(sp.text);
      if (at < 0) { next?.push(part); continue; }
      const { s, at: base } = part as { s: string; at: number };
      let from = 0, cut = false;
      for (; at >= 0; at = s.indexOf(sp.text, at + 1)) {
        if (at < from || isLiteral(base + at, base + at + sp.text.length)) continue;
        if (!cut) { next ??= parts.slice(0, p); cut = true; }
        if (at > from) next!.push({ s: s.slice(from, at), at: base + from });
        next!.push(sp.id);
        from = at + sp.text.length;
      }
      if (!cut) { next?.push(part); continue; }
      if (from < s.length) next!.push({ s: s.slice(from), at: base + from });
    }
    if (next) parts = next;
  }
  return parts.map((p) => (typeof p === 'number' ? p : p.s));
}

/** "<0xNN>" -> NN, else -1. */
export function byteOfToken(text: string): number {
  return /^<0x[0-9A-Fa-f]{2}>$/.test(text) ? parseInt(text.slice(3, 5), 16) : -1;
}

/** A binary heap with a caller-supplied order: pop() returns the item that is `less` than all others. */
export class Heap<T> {
  private a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => boolean) {}
  get size(): number { return this.a.length; }
  push(x: T): void {
    const a = this.a; a.push(x);
    let i = a.length - 1;
    while (i > 0) { const p = (i - 1) >> 1; if (!this.less(a[i], a[p])) break; [a[i], a[p]] = [a[p], a[i]]; i = p; }
  }
  pop(): T {
    const a = this.a, top = a[0], last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]]; i = m;
      }
    }
    return top;
  }
}

/** Streaming UTF-8 decoding over per-token byte pieces: holds back an incomplete trailing sequence. */
export function byteStream(pieceBytes: (id: number) => Uint8Array): { push(id: number): string; flush(): string } {
  const dec = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a leading U+FEFF: it is text
  return {
    push: (id) => dec.decode(pieceBytes(id), { stream: true }),
    flush: () => dec.decode(),
  };
}
