/** Streaming generation: prompt → sampled tokens as an async iterator, with stop tokens and stop strings. */
import type { Model, Session } from './transformer.js';
import { Sampler, type SamplingOptions } from './sampling.js';
import type { Tokenizer } from '../tokenizer/types.js';

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  stop?: string[];
  addBos?: boolean;
  signal?: AbortSignal;
  session?: Session;           // reuse a session (the prompt's cached prefix is kept)
}

export interface GenerationChunk { token: number; text: string }
/** A sampled token's log-probability under the model (log-softmax of the raw logits, before bias,
 * penalties and temperature), with the `top` most likely alternatives, best first. */
export interface TokenLogprob { token: number; logprob: number; top: Array<{ token: number; logprob: number }> }
export type FinishReason = 'stop' | 'length' | 'abort';
export interface GenerationResult { finishReason: FinishReason; promptTokens: number; completionTokens: number; text: string }

const NO_LOGPROBS: readonly TokenLogprob[] = Object.freeze([]);

/** Length of the longest suffix of `text` that is a prefix of some stop string (text that must be held back). */
function holdBack(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops) for (let k = Math.min(s.length - 1, text.length); k > keep; k--) if (text.endsWith(s.slice(0, k))) { keep = k; break; }
  return keep;
}

/**
 * The text side of decoding one sequence: sampled ids in, printable text out. Handles stop tokens,
 * stop strings (holding back text that may start one), partial UTF-8 and the token budget.
 * Shared by generate() and the server's batched scheduler.
 */
export class Decoding {
  readonly sampler: Sampler;
  private readonly decoder: { push(id: number): string; flush(): string };
  private readonly stops: string[];
  private pending = '';
  text = '';
  produced = 0;
  finishReason: FinishReason | undefined;

  /**
   * With `logprobs` (the number of alternatives to report, 0..20): the TokenLogprob of each token of `text`, in
   * order. A token is listed once its text has started to appear in `text` (so held-back text holds its logprob
   * back too); stop tokens, and tokens that produced only (part of) a stop string, are never listed, so the
   * tokens spell the returned text (the last one may run on into the stop string when one token straddles it).
   */
  readonly logprobs: TokenLogprob[] | undefined;
  private readonly topLogprobs: number;
  private raw: Float32Array = new Float32Array(0); // (vocab) the logits before the sampler changes them
  private held: Array<{ lp: TokenLogprob; start: number }> = []; // sampled, not yet in `text`; start: its first char

  constructor(private readonly tokenizer: Tokenizer, readonly maxTokens: number,
              opts: SamplingOptions & { stop?: string[]; logprobs?: number } = {}) {
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new Error(`max tokens must be a non-negative integer, got ${maxTokens}`);
    this.sampler = new Sampler(opts);
    this.decoder = tokenizer.streamDecoder();
    this.stops = (opts.stop ?? []).filter((s) => s.length > 0);
    if (maxTokens === 0) this.finishReason = 'length';
    this.topLogprobs = opts.logprobs ?? 0;
    this.logprobs = opts.logprobs === undefined ? undefined : [];
  }

  get done(): boolean { return this.finishReason !== undefined; }

  /**
   * Samples from logits, advances the text; returns the sampled id, the new printable text and (with `logprobs`)
   * the logprobs of the tokens that text begins to show.
   */
  step(logits: Float32Array, history: readonly number[]): { token: number; text: string; logprobs: readonly TokenLogprob[] } {
    if (this.logprobs) { if (this.raw.length !== logits.length) this.raw = new Float32Array(logits.length); this.raw.set(logits); }
    const token = this.sampler.sample(logits, history);
    this.produced++;
    if (this.tokenizer.stopTokens.has(token)) {
      this.finishReason = 'stop';
      const t = this.flushText();
      this.text += t;
      return { token, text: t, logprobs: this.release(Infinity) }; // the stop token itself is not text
    }
    const start = this.text.length + this.pending.length; // where this token's text begins in the decoded stream
    if (this.logprobs) this.held.push({ lp: tokenLogprob(this.raw, token, this.topLogprobs), start });
    this.pending += this.decoder.push(token);
    const hits = this.stops.map((s) => this.pending.indexOf(s)).filter((i) => i >= 0);
    if (hits.length) {
      const out = this.pending.slice(0, Math.min(...hits));
      this.pending = '';
      this.text += out;
      this.finishReason = 'stop';
      const lps = this.release(this.text.length);
      this.held = []; // what is left produced only the stop string
      return { token, text: out, logprobs: lps };
    }
    const keep = holdBack(this.pending, this.stops);
    let out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    if (this.produced >= this.maxTokens) { this.finishReason = 'length'; out += this.flushText(); }
    this.text += out;
    return { token, text: out, logprobs: this.release(this.done ? Infinity : this.text.length) };
  }

  /** Moves the held tokens that start before `end` (a position in the decoded stream) to `logprobs`. */
  private release(end: number): readonly TokenLogprob[] {
    if (!this.logprobs) return NO_LOGPROBS;
    let n = 0;
    while (n < this.held.length && this.held[n].start < end) n++;
    if (n === 0) return NO_LOGPROBS;
    const out = this.held.splice(0, n).map((h) => h.lp);
    this.logprobs.push(...out);
    return out;
  }

  /** Ends early (client gone, signal aborted). */
  abort(): void { if (!this.finishReason) this.finishReason = 'abort'; }

  private flushText(): string {
    const rest = this.pending + this.decoder.flush();
    this.pending = '';
    return rest;
  }
}

/** log-softmax of `logits` at `token`, and the `top` most likely tokens (ties: lower id first). */
export function tokenLogprob(logits: Float32Array, token: number, top: number): TokenLogprob {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  // top-k by insertion into a short sorted list: k ≤ 20, one pass over the vocabulary
  const best: number[] = [];
  for (let i = 0; i < logits.length && top > 0; i++) {
    if (best.length < top) best.push(i);
    else if (logits[i] > logits[best[top - 1]]) best[top - 1] = i;
    else continue;
    for (let j = best.length - 1; j > 0 && logits[best[j - 1]] < logits[best[j]]; j--) [best[j - 1], best[j]] = [best[j], best[j - 1]];
  }
  return { token, logprob: logits[token] - lse, top: best.map((t) => ({ token: t, logprob: logits[t] - lse })) };
}

export async function* generate(model: Model, prompt: string | number[], opts: GenerateOptions = {}): AsyncGenerator<GenerationChunk, GenerationResult> {
  const tok = model.tokenizer;
  const ids = typeof prompt === 'string' ? tok.encode(prompt, { addBos: opts.addBos }) : [...prompt];
  if (ids.length === 0) throw new Error('empty prompt: nothing to condition on (the tokenizer adds no BOS)');
  const maxTokens = opts.maxTokens ?? 128;
  const dec = new Decoding(tok, maxTokens, opts);
  const own = !opts.session;
  const session = opts.session ?? model.createSession({ contextLength: Math.min(model.config.contextLength, ids.length + maxTokens + 1) });
  // reuse the cached prefix when the session already holds it
  let common = 0;
  while (common < session.tokens.length && common < ids.length - 1 && session.tokens[common] === ids[common]) common++;
  session.truncate(common);
  if (ids.length + maxTokens > session.contextLength) throw new Error(`prompt (${ids.length} tokens) + max tokens (${maxTokens}) exceed the context length ${session.contextLength}`);
  try {
    let logits = session.evaluate(ids.slice(common));
    while (!dec.done) {
      if (opts.signal?.aborted) { dec.abort(); break; }
      const { token, text } = dec.step(logits, session.tokens);
      if (text) yield { token, text };
      if (dec.done) break;
      logits = session.evaluate([token]);
      if (dec.produced % 8 === 0) await new Promise((r) => setImmediate(r)); // let I/O and aborts through
    }
  } finally {
    if (own) session.dispose();
  }
  return { finishReason: dec.finishReason ?? 'length', promptTokens: ids.length, completionTokens: dec.produced, text: dec.text };
}
