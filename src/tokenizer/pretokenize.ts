/**
 * BPE pre-tokenizers by GGUF `tokenizer.ggml.pre` name, matching llama.cpp (llama-vocab.cpp +
 * unicode.cpp). A pre-tokenizer is a list of stages; each stage re-splits every piece the previous
 * stage produced. llama.cpp runs the GPT-2 / LLaMA-3 / Qwen2 expressions as hand-written codepoint
 * walkers (with its own whitespace set: \x85 counts, \uFEFF does not, unlike JS \s); we do the same,
 * and run the other expressions as JS regexes where matches and the gaps between them both become
 * pieces (its std::regex fallback).
 */

/** Appends the lengths (in codepoints) of the pieces of cps[start, end) to out. `text`/`units` give the
 * same text as a string and each codepoint's UTF-16 offset, for the regex stages. */
type Splitter = (cps: number[], start: number, end: number, out: number[], text: string, units: Int32Array) => void;

// llama.cpp unicode_set_whitespace
const WHITESPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
  0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);

// Per-codepoint class, cached: 1 letter, 2 number, 4 whitespace, 0 other.
const LETTER = 1, NUMBER = 2, SPACE = 4;
const classCache = new Uint8Array(0x110000).fill(255);

// Letters/numbers (hex ranges) that Node's newer Unicode knows but llama.cpp's tables (an older Unicode)
// leave unassigned, so llama.cpp splits them like punctuation. Found by comparing every codepoint
// against llama.cpp's unicode-data.cpp; older Node versions already agree on them.
const LLAMA_CPP_UNASSIGNED =
  '88f c5c cdc 1c89-1c8a a7cb-a7cf a7d2 a7d4 a7da-a7dc a7f1 105c0-105f3 10940-10959 10d40-10d65 ' +
  '10d6f-10d85 10ec2-10ec7 11380-11389 1138b 1138e 11390-113b5 113b7 113d1 113d3 116d0-116e3 ' +
  '11bc0-11be0 11bf0-11bf9 11db0-11ddb 11de0-11de9 13460-143fa 16100-1611d 16130-16139 16d40-16d6c ' +
  '16d70-16d79 16ea0-16eb8 16ebb-16ed3 16ff2-16ff6 187f8-187ff 18cff 18d09-18d1e 18d80-18df2 ' +
  '1ccf0-1ccf9 1e5d0-1e5ed 1e5f0-1e5fa 1e6c0-1e6de 1e6e0-1e6e2 1e6e4-1e6e5 1e6e7-1e6ed 1e6f0-1e6f4 ' +
  '1e6fe-1e6ff 2b73a-2b73f 2cea2-2cead 323b0-33479 ';
for (const r of LLAMA_CPP_UNASSIGNED.trim().split(' ')) {
  const [a, b = a] = r.split('-').map((h) => parseInt(h, 16));
  classCache.fill(0, a, b + 1);
}
const isL = /\p{L}/u, isN = /\p{N}/u;
function cls(cp: number): number {
  let c = classCache[cp];
  if (c === 255) {
    const ch = String.fromCodePoint(cp);
    c = (isL.test(ch) ? LETTER : 0) | (isN.test(ch) ? NUMBER : 0) | (WHITESPACE.has(cp) ? SPACE : 0);
    classCache[cp] = c;
  }
  return c;
}

const CR = 0x0d, LF = 0x0a, SP = 0x20, APOS = 0x27;
const lower = (cp: number): number => (cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp);

/** Length of the contraction ('s 't 're 've 'm 'll 'd) at i, or 0. */
function contraction(cps: number[], i: number, end: number, caseInsensitive: boolean): number {
  if (cps[i] !== APOS || i + 1 >= end) return 0;
  const f = caseInsensitive ? lower : (x: number) => x;
  const a = f(cps[i + 1]);
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return 2; // s t m d
  if (i + 2 >= end) return 0;
  const b = f(cps[i + 2]);
  if ((a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c)) return 3; // re ve ll
  return 0;
}

/** Whitespace run handling shared by both walkers: \s+(?!\S) keeps the last space for the next word. */
function spaceRun(cps: number[], i: number, end: number): number {
  let n = 0;
  while (i + n < end && cls(cps[i + n]) & SPACE) n++;
  if (n > 1 && i + n < end) return n - 1; // \s+(?!\S)
  return n;                                // \s+ (0: no match)
}

/** 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
const gpt2: Splitter = (cps, start, end, out) => {
  const at = (p: number) => (p < end ? cls(cps[p]) : -1); // -1: past the piece
  let i = start;
  while (i < end) {
    const c = contraction(cps, i, end, false);
    if (c) { out.push(c); i += c; continue; }
    const j = cps[i] === SP ? i + 1 : i;
    const k = at(j);
    let e = -1;
    if (k >= 0 && k & LETTER) { e = j; while (at(e) >= 0 && at(e) & LETTER) e++; }
    else if (k >= 0 && k & NUMBER) { e = j; while (at(e) >= 0 && at(e) & NUMBER) e++; }
    else if (k >= 0 && !(k & (SPACE | LETTER | NUMBER))) { e = j; while (at(e) >= 0 && !(at(e) & (SPACE | LETTER | NUMBER))) e++; }
    if (e < 0) { const n = spaceRun(cps, i, end); e = i + (n || 1); }
    out.push(e - i); i = e;
  }
};

/** (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * with D = 3 (LLaMA-3) or 1 (Qwen2). */
function llama3Like(maxDigits: number): Splitter {
  return (cps, start, end, out) => {
    const at = (p: number) => (p < end ? cls(cps[p]) : -1);
    let i = start;
    while (i < end) {
      const c = contraction(cps, i, end, true);
      if (c) { out.push(c); i += c; continue; }
      const cp = cps[i], k = cls(cp);
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if (cp !== CR && cp !== LF && !(k & NUMBER) && (k & LETTER || (at(i + 1) >= 0 && at(i + 1) & LETTER))) {
        let e = i + 1;
        while (at(e) >= 0 && at(e) & LETTER) e++;
        out.push(e - i); i = e; continue;
      }
      // \p{N}{1,D}
      if (k & NUMBER) {
        let e = i;
        while (e < end && e - i < maxDigits && at(e) & NUMBER) e++;
        out.push(e - i); i = e; continue;
      }
      // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
      const j = cp === SP ? i + 1 : i;
      const k2 = at(j);
      if (k2 >= 0 ? !(k2 & (SPACE | LETTER | NUMBER)) : j > i) {
        let e = j;
        while (at(e) >= 0 && !(at(e) & (SPACE | LETTER | NUMBER))) e++;
        while (e < end && (cps[e] === CR || cps[e] === LF)) e++;
        out.push(e - i); i = e; continue;
      }
      // \s*[\r\n]+ : up to the last \r or \n of the whitespace run
      let n = 0, lastNl = -1;
      while (i + n < end && cls(cps[i + n]) & SPACE) { if (cps[i + n] === CR || cps[i + n] === LF) lastNl = i + n + 1; n++; }
      if (lastNl > 0) { out.push(lastNl - i); i = lastNl; continue; }
      const m = spaceRun(cps, i, end) || 1;
      out.push(m); i += m;
    }
  };
}

/** A regex stage: matches and the text between them both become pieces (llama.cpp's std::regex path). */
function regexStage(re: RegExp): Splitter {
  const g = new RegExp(re.source, 'gu');
  return (_cps, start, end, out, full, units) => {
    const text = full.slice(units[start], units[end]);
    let last = 0, lastCp = 0;
    const cpLen = (from: number, to: number) => { let n = 0; for (let p = from; p < to; p++) { const u = text.charCodeAt(p); if (u < 0xdc00 || u > 0xdfff) n++; } return n; };
    g.lastIndex = 0;
    for (let m = g.exec(text); m; m = g.exec(text)) {
      if (m[0].length === 0) { g.lastIndex++; continue; }
      if (m.index > last) { const n = cpLen(last, m.index); out.push(n); lastCp += n; }
      const n = cpLen(m.index, m.index + m[0].length);
      out.push(n); lastCp += n; last = m.index + m[0].length;
    }
    if (lastCp < end - start) out.push(end - start - lastCp);
  };
}

export interface PreTokenizerSpec { stages: Splitter[]; ignoreMerges: boolean; addBos?: boolean }

const LLAMA3: PreTokenizerSpec = { stages: [llama3Like(3)], ignoreMerges: true, addBos: true };
const GPT2: PreTokenizerSpec = { stages: [gpt2], ignoreMerges: false };
const QWEN2: PreTokenizerSpec = { stages: [llama3Like(1)], ignoreMerges: false };
const STARCODER: PreTokenizerSpec = { stages: [regexStage(/\p{N}/u), gpt2], ignoreMerges: false };
const DEFAULT: PreTokenizerSpec = {
  stages: [regexStage(/[\p{P}$+<=>^~|]+/u), gpt2, regexStage(/\p{N}+/u), regexStage(/[0-9][0-9][0-9]/u)], ignoreMerges: false,
};

/** llama.cpp's name -> pre-tokenizer table (the subset we implement). */
export const PRE_TOKENIZERS: Record<string, PreTokenizerSpec> = {
  default: DEFAULT,
  'llama3': LLAMA3, 'llama-v3': LLAMA3, 'llama-bpe': LLAMA3, 'falcon3': LLAMA3, 'pixtral': LLAMA3,
  'gpt-2': GPT2, 'phi-2': GPT2, 'mpt': GPT2, 'olmo': GPT2, 'jais': GPT2, 'roberta-bpe': GPT2,
  'qwen2': QWEN2, 'deepseek-r1-qwen': QWEN2, 'stablelm2': QWEN2, 'megrez': QWEN2,
  'starcoder': STARCODER, 'refact': STARCODER, 'smollm': STARCODER, 'command-r': STARCODER, 'codeshell': STARCODER,
};
PRE_TOKENIZERS.gpt2 = GPT2; // not a llama.cpp name, but what our early files called it

export function preTokenizerSpec(pre: string): PreTokenizerSpec {
  const spec = PRE_TOKENIZERS[pre];
  if (!spec) throw new Error(`unknown pre-tokenizer '${pre}' (known: ${Object.keys(PRE_TOKENIZERS).join(', ')})`);
  return spec;
}

/** Splits text into pre-tokens (strings) with the named pre-tokenizer. */
export function preTokenize(text: string, pre: string | PreTokenizerSpec): string[] {
  const spec = typeof pre === 'string' ? preTokenizerSpec(pre) : pre;
  const cps: number[] = [];
  const units = new Int32Array(text.length + 1); // UTF-16 offset of each codepoint, then the end
  for (let u = 0; u < text.length;) {
    const cp = text.codePointAt(u)!;
    units[cps.length] = u;
    cps.push(cp);
    u += cp > 0xffff ? 2 : 1;
  }
  units[cps.length] = text.length;
  let lens = [cps.length];
  for (const stage of spec.stages) {
    const next: number[] = [];
    let s = 0;
    for (const n of lens) { if (n > 0) stage(cps, s, s + n, next, text, units); s += n; }
    lens = next;
  }
  const words: string[] = [];
  let s = 0;
  for (const n of lens) { if (n > 0) words.push(text.slice(units[s], units[s + n])); s += n; }
  return words;
}
