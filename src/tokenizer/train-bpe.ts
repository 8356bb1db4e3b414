/**
 * Byte-level BPE tokenizer trainer (GPT-2 style): count pre-tokenized words, start from the 256
 * byte symbols, and repeatedly merge the most frequent adjacent pair (ties: the pair first seen).
 * The result loads as a GGUF "gpt2" tokenizer.
 */
import { BPETokenizer, BYTE_TO_CHAR, TOKEN_TYPE, bytesToSymbols, preTokenize, type BPEVocab } from './bpe.js';

export interface TrainBPEOptions {
  vocabSize: number;                 // including the 256 byte tokens and the specials
  specials?: string[];               // default ['<|endoftext|>']
  pre?: string;                      // pre-tokenizer name, default 'gpt-2' (llama.cpp LLAMA_VOCAB_PRE_TYPE_GPT2)
  onProgress?: (done: number, total: number) => void;
}

export function trainBPE(text: string, opts: TrainBPEOptions): BPETokenizer {
  const specials = opts.specials ?? ['<|endoftext|>'];
  const pre = opts.pre ?? 'gpt-2';
  const nMerges = opts.vocabSize - 256 - specials.length;
  if (nMerges < 0) throw new Error(`vocab size ${opts.vocabSize} is smaller than 256 bytes + ${specials.length} specials`);
  // word -> count, as arrays of symbols
  const counts = new Map<string, number>();
  for (const w of preTokenize(text, pre)) { const s = bytesToSymbols(w); counts.set(s, (counts.get(s) ?? 0) + 1); }
  const words = [...counts.entries()].map(([w, c]) => ({ syms: Array.from(w), count: c }));
  const merges: string[] = [];
  const tokens = [...BYTE_TO_CHAR];
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { syms, count } of words) {
      for (let i = 0; i < syms.length - 1; i++) {
        const k = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + count);
      }
    }
    let best = '', bestCount = 1;
    for (const [k, c] of pairs) if (c > bestCount) { best = k; bestCount = c; }
    if (!best) break; // nothing left worth merging
    const [a, b] = best.split(' ');
    const merged = a + b;
    merges.push(best);
    tokens.push(merged);
    for (const w of words) {
      const s = w.syms;
      if (s.length < 2) continue;
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i < s.length - 1 && s[i] === a && s[i + 1] === b) { out.push(merged); i++; } else out.push(s[i]);
      }
      w.syms = out;
    }
    opts.onProgress?.(m + 1, nMerges);
  }
  const first = tokens.length;
  tokens.push(...specials);
  const tokenTypes = tokens.map((_, i) => (i >= first ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.NORMAL));
  const vocab: BPEVocab = { tokens, merges, tokenTypes, pre, bos: first, eos: first, addBos: false };
  return new BPETokenizer(vocab);
}
