/**
 * Continuous batching: every step decodes all active sequences together (Model.decodeBatch: one
 * weight pass for the whole batch); a new request's prompt is prefilled PREFILL_STEP tokens per step
 * (one prompt at a time), then it joins the batch.
 *
 * Admission by KV budget: a request starts when the model's shared KV cache can hold its worst case
 * (prompt + max_tokens) on top of the worst cases of the running ones, so a running sequence never
 * runs out of cache; the others wait in order. Blocks are counted once however many sequences share
 * them: a request whose prompt prefix is held by a running sequence needs only its new blocks.
 * Bounded: at most `parallel` active sequences and `maxQueue` waiting ones.
 *
 * Prompt cache (llama-server's): finished sessions stay cached (up to `parallel` of them, least recently
 * used first out, and dropped whenever the cache needs their blocks); a new request that shares a
 * prompt prefix with a cached or running sequence forks it (Session.fork: the blocks are shared) and
 * prefills only the rest. Chat requests re-send the whole history each turn: only the new turn is
 * evaluated.
 */
import type { Model, Session } from '../model/transformer.js';
import { KVBudgetError } from '../model/kv-cache.js';
import { Decoding, type FinishReason, type TokenLogprob } from '../model/generate.js';
import type { SamplingOptions } from '../model/sampling.js';

export interface Job {
  prompt: number[];
  maxTokens: number;
  sampling: SamplingOptions & { stop?: string[]; logprobs?: number };
  /** Every sampled token, before its text (if any) goes to onText. */
  onToken?(token: number): void;
  /** New text, with (sampling.logprobs) the logprobs of the tokens it begins to show (Decoding.step); either may be empty. */
  onText(text: string, logprobs: readonly TokenLogprob[]): void;
  onDone(result: { finishReason: FinishReason; promptTokens: number; completionTokens: number; text: string }): void;
  onError(err: Error): void;
}

interface Active {
  job: Job; session: Session; dec: Decoding; next: number; cancelled: boolean; prefilled: number;
}

/** Prompt tokens evaluated per scheduler step (two engine chunks): long prompts do not stall the running streams. */
const PREFILL_STEP = 128;

export class QueueFullError extends Error {}

export class Scheduler {
  private readonly waiting: Array<{ job: Job; handle: { cancelled: boolean } }> = [];
  private readonly active: Active[] = [];
  private running = false;
  private closed = false;
  /** Finished sessions kept for their prompt prefix, least recently used first. */
  private readonly cached: Session[] = [];
  private readonly stopReclaim: () => void;
  stats = { completed: 0, cancelled: 0, steps: 0, maxBatch: 0, promptTokens: 0, promptTokensReused: 0 };

  constructor(private readonly model: Model, readonly parallel: number, readonly maxQueue: number) {
    // the cache asks for blocks back before it reports the budget exhausted: drop the oldest cached prefix
    this.stopReclaim = model.kvCache.onReclaim(() => {
      const s = this.cached.shift();
      s?.dispose();
      return s !== undefined;
    });
  }

  get load(): { active: number; waiting: number } { return { active: this.active.length, waiting: this.waiting.length }; }

  /** Context of a job's session, and the KV blocks its worst case takes. */
  private need(job: Job): { context: number; blocks: number } {
    const context = Math.min(this.model.config.contextLength, job.prompt.length + job.maxTokens);
    return { context, blocks: this.model.kvCache.blocksFor(context) };
  }

  /**
   * Queues a job; returns a cancel function. Throws QueueFullError when the queue is full, KVBudgetError
   * when the job alone needs more KV cache than the whole budget.
   */
  submit(job: Job): () => void {
    if (this.closed) throw new QueueFullError('server is shutting down');
    if (this.waiting.length >= this.maxQueue) throw new QueueFullError(`queue full (${this.maxQueue} waiting)`);
    const kv = this.model.kvCache, { context, blocks } = this.need(job);
    if (blocks > kv.capacityBlocks) {
      throw new KVBudgetError(`prompt + max_tokens (${context} positions, ${(blocks * kv.blockBytes / 2 ** 20).toFixed(1)} MiB of KV cache) ` +
        `exceed the KV cache budget of ${(kv.memoryBytes / 2 ** 20).toFixed(1)} MiB (--kv-memory)`);
    }
    const handle = { cancelled: false };
    this.waiting.push({ job, handle });
    this.kick();
    return () => {
      handle.cancelled = true;
      const a = this.active.find((x) => x.job === job);
      if (a) a.cancelled = true;
    };
  }

  /** Stops taking jobs; resolves when the in-flight ones are finished. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.running || this.waiting.length || this.active.length) await new Promise((r) => setTimeout(r, 20));
    while (this.cached.length) this.cached.shift()!.dispose();
    this.stopReclaim();
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => this.loop());
  }

  private finish(a: Active): void {
    this.active.splice(this.active.indexOf(a), 1);
    this.keep(a.session);
    if (a.cancelled) { this.stats.cancelled++; a.dec.abort(); }
    else this.stats.completed++;
    a.job.onDone({ finishReason: a.dec.finishReason ?? 'abort', promptTokens: a.job.prompt.length, completionTokens: a.dec.produced, text: a.dec.text });
  }

  /** A finished session joins the prompt cache (the least recently used one leaves when it is full). */
  private keep(s: Session): void {
    if (s.position === 0 || this.closed) { s.dispose(); return; }
    this.cached.push(s);
    while (this.cached.length > this.parallel) this.cached.shift()!.dispose();
  }

  /** The cached or running session sharing the longest prefix with `prompt` (at most all but its last token). */
  private longestPrefix(prompt: number[]): { source: Session; length: number } | undefined {
    let best: { source: Session; length: number } | undefined;
    for (const s of [...this.cached, ...this.active.map((a) => a.session)]) {
      const t = s.tokens, max = Math.min(t.length, prompt.length - 1);
      let n = 0;
      while (n < max && t[n] === prompt[n]) n++;
      if (n > 0 && (!best || n > best.length)) best = { source: s, length: n };
    }
    return best;
  }

  /**
   * Whether the job's worst case fits the KV budget next to the running sequences': the distinct blocks they
   * hold, what each may still take (its session's context), and the job's blocks less those of its prompt
   * prefix that a running sequence already holds (shared by the fork in admit; cached-only ones count, as
   * the fork pins them).
   */
  private fits(job: Job): boolean {
    const kv = this.model.kvCache, held = new Set<number>();
    let future = 0;
    for (const a of this.active) {
      const s = a.session.kv;
      for (let i = 0; i < s.blocks; i++) held.add(s.table[i]);
      future += kv.blocksFor(a.session.contextLength) - s.keptBlocks(a.session.position);
    }
    let need = this.need(job).blocks;
    const prefix = this.longestPrefix(job.prompt);
    if (prefix) {
      const shared = Math.floor(prefix.length / kv.blockSize), t = prefix.source.kv.table; // the partial one is copied
      for (let i = 0; i < shared; i++) if (held.has(t[i])) need--;
    }
    return held.size + future + need <= kv.capacityBlocks;
  }

  /** A new sequence: its session (forked from a shared prefix when there is one), its decoding state; prefilled over the next steps. */
  private admit(job: Job): Active | undefined {
    const { context } = this.need(job);
    let session: Session;
    try {
      const prefix = this.longestPrefix(job.prompt);
      session = prefix ? prefix.source.fork(prefix.length, { contextLength: context }) : this.model.createSession({ contextLength: context });
      if (prefix) {
        const i = this.cached.indexOf(prefix.source);
        if (i >= 0) this.cached.push(...this.cached.splice(i, 1)); // most recently used
      }
    } catch (e) {
      job.onError(e as Error);
      return undefined;
    }
    this.stats.promptTokens += job.prompt.length;
    this.stats.promptTokensReused += session.position;
    const a: Active = {
      job, session, dec: new Decoding(this.model.tokenizer, job.maxTokens, job.sampling), next: -1, cancelled: false,
      prefilled: session.position,
    };
    this.active.push(a);
    if (a.dec.done) { this.finish(a); return undefined; } // max_tokens 0
    return a;
  }

  private emit(a: Active, logits: Float32Array): void {
    const { token, text, logprobs } = a.dec.step(logits, a.session.tokens);
    a.job.onToken?.(token);
    if (text || logprobs.length) a.job.onText(text, logprobs);
    a.next = token;
    if (a.dec.done) this.finish(a);
  }

  private loop(): void {
    try {
      while (this.waiting.length && this.waiting[0].handle.cancelled) { this.waiting.shift()!.job.onDone({ finishReason: 'abort', promptTokens: 0, completionTokens: 0, text: '' }); this.stats.cancelled++; }
      // one prompt is prefilled at a time, PREFILL_STEP tokens per step, so running streams keep flowing
      let filling = this.active.find((a) => a.prefilled < a.job.prompt.length);
      if (!filling && this.waiting.length && this.active.length < this.parallel && this.fits(this.waiting[0].job)) {
        filling = this.admit(this.waiting.shift()!.job);
      }
      if (filling && !filling.cancelled) {
        const a = filling, p = a.job.prompt;
        try {
          const logits = a.session.evaluate(p.slice(a.prefilled, a.prefilled + PREFILL_STEP));
          a.prefilled = Math.min(p.length, a.prefilled + PREFILL_STEP);
          if (a.prefilled === p.length) this.emit(a, logits);
        } catch (e) {
          this.active.splice(this.active.indexOf(a), 1);
          a.session.dispose();
          a.job.onError(e as Error);
        }
      }
      for (const a of [...this.active]) if (a.cancelled) this.finish(a);
      // one decoding step for every active sequence together
      const batch = this.active.filter((a) => a.next >= 0);
      if (batch.length) {
        this.stats.steps++;
        this.stats.maxBatch = Math.max(this.stats.maxBatch, batch.length);
        this.model.decodeBatch(batch.map((a) => a.session), batch.map((a) => a.next),
          { onLogits: (i, logits) => this.emit(batch[i], logits) }); // views: emit samples at once
      }
    } catch (e) {
      for (const a of [...this.active]) { this.active.splice(this.active.indexOf(a), 1); a.session.dispose(); a.job.onError(e as Error); }
    }
    if (this.waiting.length || this.active.length) setImmediate(() => this.loop());
    else this.running = false;
  }
}
