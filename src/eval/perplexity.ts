/**
 * Perplexity with lm-evaluation-harness conventions (lm_eval/utils.py get_rolling_token_windows +
 * make_disjoint_window, loglikelihood_rolling; metrics word_perplexity, byte_perplexity, bits_per_byte):
 * the document is cut into disjoint windows of predicted tokens; the first window is conditioned on a
 * prefix token (BOS, else EOS), each later one on the tokens just before it, up to the context size.
 * Word count = pieces of re.split(r"\s+", text); byte count = UTF-8 bytes of the original text.
 */
import type { Model } from '../model/transformer.js';
import { ModelScorer, type Scorer } from './scoring.js';

export interface PerplexityResult {
  tokens: number; words: number; bytes: number; nll: number;
  tokenPerplexity: number; wordPerplexity: number; bytePerplexity: number; bitsPerByte: number;
  windows: number; ctx: number;
}

/** [context, predicted] windows: predicted parts are disjoint and cover all tokens (context_len = 1 as lm-eval). */
export function rollingWindows(tokens: number[], prefix: number, maxLen: number): Array<[number[], number[]]> {
  if (maxLen < 1) throw new Error(`context size must be >= 1, got ${maxLen}`);
  const out: Array<[number[], number[]]> = [];
  let start = 0;
  while (start < tokens.length) {
    const pred = tokens.slice(start, start + maxLen);
    // later windows: the model input is the maxLen tokens ending just before the last predicted one;
    // the context is its part before the predicted tokens (make_disjoint_window)
    const ctx = start === 0 ? [prefix] : tokens.slice(start + pred.length - maxLen - 1, start);
    out.push([ctx, pred]);
    start += pred.length;
  }
  return out;
}

export function countWords(text: string): number {
  return text.split(/\s+/).length; // as Python's re.split(r"\s+", doc): empty ends count
}

export function perplexityWith(scorer: Scorer, tokens: number[], prefix: number, text: string, ctx: number,
                               onProgress?: (done: number, total: number) => void): PerplexityResult {
  if (tokens.length === 0) throw new Error('the text has no tokens');
  const windows = rollingWindows(tokens, prefix, ctx);
  let ll = 0;
  windows.forEach(([c, p], i) => { ll += scorer.score(c, p).logprob; onProgress?.(i + 1, windows.length); });
  const nll = -ll;
  const words = countWords(text), bytes = new TextEncoder().encode(text).length;
  return {
    tokens: tokens.length, words, bytes, nll, windows: windows.length, ctx,
    tokenPerplexity: Math.exp(nll / tokens.length), wordPerplexity: Math.exp(nll / words),
    bytePerplexity: Math.exp(nll / bytes), bitsPerByte: nll / bytes / Math.LN2,
  };
}

export function perplexity(model: Model, text: string, opts: { ctx?: number; onProgress?: (d: number, t: number) => void } = {}): PerplexityResult {
  const ctx = opts.ctx ?? Math.min(model.config.contextLength, 1024);
  const tok = model.tokenizer;
  const prefix = tok.bos ?? tok.eos;
  if (prefix === undefined) throw new Error('the tokenizer has neither BOS nor EOS to start the first window');
  const tokens = tok.encode(text, { addBos: false, parseSpecial: false });
  const scorer = new ModelScorer(model, ctx + 1);
  try {
    return perplexityWith(scorer, tokens, prefix, text, ctx, opts.onProgress);
  } finally { scorer.dispose(); }
}
