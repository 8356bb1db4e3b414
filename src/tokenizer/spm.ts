/**
 * SentencePiece-style tokenizer (GGUF `tokenizer.ggml.model` = "llama"), as llama.cpp's
 * llm_tokenizer_spm: spaces become "▁" (plus one in front when add_space_prefix), the text starts as
 * single characters, and the adjacent pair whose concatenation is the highest-scoring vocabulary
 * piece is merged (leftmost on ties) until none is; characters not in the vocabulary fall back to
 * <0xNN> byte tokens, else <unk>.
 */
import { TOKEN_TYPE } from './bpe.js';
import type { EncodeOptions, Tokenizer } from './types.js';

export interface SPMVocab {
  tokens: string[]; scores: number[]; tokenTypes?: number[];
  bos?: number; eos?: number; eot?: number; unk: number;
  addBos: boolean; addSpacePrefix: boolean; chatTemplate?: string;
}

const SPACE = '\u2581';
const utf8 = new TextEncoder();

export class SPMTokenizer implements Tokenizer {
  readonly kind = 'llama' as const;
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly stopTokens: ReadonlySet<number>;
  readonly chatTemplate: string | undefined;
  readonly addBos: boolean;
  private readonly ids = new Map<string, number>();
  private readonly byteIds: number[] = new Array(256).fill(-1);
  private readonly specials: string[];

  constructor(readonly vocab: SPMVocab) {
    this.vocabSize = vocab.tokens.length;
    vocab.tokens.forEach((t, i) => { if (!this.ids.has(t)) this.ids.set(t, i); });
    const types = vocab.tokenTypes ?? [];
    vocab.tokens.forEach((t, i) => {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
      if (m && (types[i] === undefined || types[i] === TOKEN_TYPE.BYTE)) this.byteIds[parseInt(m[1], 16)] = i;
    });
    this.bos = vocab.bos; this.eos = vocab.eos;
    this.stopTokens = new Set([vocab.eos, vocab.eot].filter((x): x is number => x !== undefined));
    this.chatTemplate = vocab.chatTemplate;
    this.addBos = vocab.addBos;
    this.specials = vocab.tokens.filter((t, i) => (types[i] === TOKEN_TYPE.CONTROL || types[i] === TOKEN_TYPE.USER_DEFINED) && t.length > 0)
      .sort((a, b) => b.length - a.length);
  }

  piece(id: number): string { return this.vocab.tokens[id] ?? ''; }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if ((opts.addBos ?? this.addBos) && this.bos !== undefined) out.push(this.bos);
    const parseSpecial = opts.parseSpecial ?? true;
    let rest = text, first = true;
    while (rest.length > 0) {
      let cut = rest.length, hit = '';
      if (parseSpecial) for (const s of this.specials) { const i = rest.indexOf(s); if (i >= 0 && i < cut) { cut = i; hit = s; } }
      if (cut > 0) this.encodePiece(rest.slice(0, cut), first && this.vocab.addSpacePrefix, out);
      first = false;
      if (!hit) break;
      out.push(this.ids.get(hit)!);
      rest = rest.slice(cut + hit.length);
    }
    return out;
  }

  private encodePiece(text: string, prefix: boolean, out: number[]): void {
    const s = (prefix ? SPACE : '') + text.replaceAll(' ', SPACE);
    const syms = Array.from(s);
    const scores = this.vocab.scores;
    while (syms.length > 1) {
      let best = -1, bestScore = -Infinity;
      for (let i = 0; i < syms.length - 1; i++) {
        const id = this.ids.get(syms[i] + syms[i + 1]);
        if (id !== undefined && scores[id] > bestScore) { bestScore = scores[id]; best = i; }
      }
      if (best < 0) break;
      syms.splice(best, 2, syms[best] + syms[best + 1]);
    }
    for (const sym of syms) {
      const id = this.ids.get(sym);
      if (id !== undefined) { out.push(id); continue; }
      for (const b of utf8.encode(sym)) out.push(this.byteIds[b] >= 0 ? this.byteIds[b] : this.vocab.unk);
    }
  }

  private tokenBytes(id: number, first: boolean): number[] {
    const type = this.vocab.tokenTypes?.[id];
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.UNKNOWN || type === TOKEN_TYPE.UNUSED) return [];
    const b = this.byteIds.indexOf(id);
    if (b >= 0) return [b];
    let t = (this.vocab.tokens[id] ?? '').replaceAll(SPACE, ' ');
    if (first && this.vocab.addSpacePrefix && t.startsWith(' ')) t = t.slice(1);
    return Array.from(utf8.encode(t));
  }

  decode(ids: readonly number[]): string {
    const d = this.streamDecoder();
    return ids.map((id) => d.push(id)).join('') + d.flush();
  }

  streamDecoder(): { push(id: number): string; flush(): string } {
    const dec = new TextDecoder();
    let first = true;
    return {
      push: (id) => {
        const bytes = this.tokenBytes(id, first);
        if (bytes.length) first = false;
        return dec.decode(new Uint8Array(bytes), { stream: true });
      },
      flush: () => dec.decode(),
    };
  }
}
