/**
 * The text side of decoding one sequence in the batched server: sampled ids in, printable text out.
 * Same rules as generate() (src/model/generate.ts): stop tokens, stop strings (text that may start one is
 * held back), partial UTF-8 held by the tokenizer's stream decoder, and the token budget — but driven
 * one step at a time by the scheduler instead of owning the decode loop.
 */
import { Sampler, type SamplingOptions } from '../model/sampling.js';
import type { Tokenizer } from '../tokenizer/types.js';

export type FinishReason = 'stop' | 'length' | 'abort';

/** Length of the longest suffix of `text` that is a prefix of some stop string (text that must be held back). */
export function holdBack(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops) for (let k = Math.min(s.length - 1, text.length); k > keep; k--) if (text.endsWith(s.slice(0, k))) { keep = k; break; }
  return keep;
}

export class Decoding {
  readonly sampler: Sampler;
  private readonly decoder: { push(id: number): string; flush(): string };
  private readonly stops: string[];
  private pending = '';
  text = '';
  produced = 0;
  finishReason: FinishReason | undefined;

  constructor(private readonly tokenizer: Tokenizer, readonly maxTokens: number, opts: SamplingOptions & { stop?: string[] } = {}) {
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new Error(`max tokens must be a non-negative integer, got ${maxTokens}`);
    this.sampler = new Sampler(opts);
    this.decoder = tokenizer.streamDecoder();
    this.stops = (opts.stop ?? []).filter((s) => s.length > 0);
    if (maxTokens === 0) this.finishReason = 'length';
  }

  get done(): boolean { return this.finishReason !== undefined; }

  /** Samples from logits (which it may modify), advances the text; returns the sampled id and the new printable text. */
  step(logits: Float32Array, history: readonly number[]): { token: number; text: string } {
    const token = this.sampler.sample(logits, history);
    this.produced++;
    if (this.tokenizer.stopTokens.has(token)) { this.finishReason = 'stop'; return this.emit(token, this.flushText()); }
    this.pending += this.decoder.push(token);
    const hits = this.stops.map((s) => this.pending.indexOf(s)).filter((i) => i >= 0);
    if (hits.length) {
      const out = this.pending.slice(0, Math.min(...hits));
      this.pending = '';
      this.finishReason = 'stop';
      return this.emit(token, out);
    }
    const keep = holdBack(this.pending, this.stops);
    let out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    if (this.produced >= this.maxTokens) { this.finishReason = 'length'; out += this.flushText(); }
    return this.emit(token, out);
  }

  /** Ends early (client gone, server shutting down). */
  abort(): void { if (!this.finishReason) this.finishReason = 'abort'; }

  private emit(token: number, out: string): { token: number; text: string } {
    this.text += out;
    return { token, text: out };
  }

  private flushText(): string {
    const rest = this.pending + this.decoder.flush();
    this.pending = '';
    return rest;
  }
}
