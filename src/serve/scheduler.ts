/**
 * Continuous batching: every step decodes all active sequences together (Model.decodeBatch: one
 * weight pass for the whole batch); a new request's prompt is prefilled PREFILL_STEP tokens per step
 * (one prompt at a time), then it joins the batch.
 * Bounded: at most `parallel` active sequences and `maxQueue` waiting ones.
 */
import type { Model, Session } from '../model/transformer.js';
import { Decoding, type FinishReason, type TokenLogprob } from '../model/generate.js';
import type { SamplingOptions } from '../model/sampling.js';

export interface Job {
  prompt: number[];
  maxTokens: number;
  sampling: SamplingOptions & { stop?: string[]; logprobs?: number };
  /** Every sampled token, before its text (if any) goes to onText; with sampling.logprobs, its logprob. */
  onToken?(token: number, logprob: TokenLogprob | undefined): void;
  onText(text: string): void;
  onDone(result: { finishReason: FinishReason; promptTokens: number; completionTokens: number; text: string }): void;
  onError(err: Error): void;
}

interface Active { job: Job; session: Session; dec: Decoding; next: number; cancelled: boolean; prefilled: number }

/** Prompt tokens evaluated per scheduler step (two engine chunks): long prompts do not stall the running streams. */
const PREFILL_STEP = 128;

export class QueueFullError extends Error {}

export class Scheduler {
  private readonly waiting: Array<{ job: Job; handle: { cancelled: boolean } }> = [];
  private readonly active: Active[] = [];
  private running = false;
  private closed = false;
  stats = { completed: 0, cancelled: 0, steps: 0, maxBatch: 0 };

  constructor(private readonly model: Model, readonly parallel: number, readonly maxQueue: number) {}

  get load(): { active: number; waiting: number } { return { active: this.active.length, waiting: this.waiting.length }; }

  /** Queues a job; returns a cancel function. Throws QueueFullError when the queue is full. */
  submit(job: Job): () => void {
    if (this.closed) throw new QueueFullError('server is shutting down');
    if (this.waiting.length >= this.maxQueue) throw new QueueFullError(`queue full (${this.maxQueue} waiting)`);
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
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => this.loop());
  }

  private finish(a: Active): void {
    this.active.splice(this.active.indexOf(a), 1);
    a.session.dispose();
    if (a.cancelled) { this.stats.cancelled++; a.dec.abort(); }
    else this.stats.completed++;
    a.job.onDone({ finishReason: a.dec.finishReason ?? 'abort', promptTokens: a.job.prompt.length, completionTokens: a.dec.produced, text: a.dec.text });
  }

  /** A new sequence: its session, its decoding state; prefilled over the next steps. */
  private admit(job: Job): Active | undefined {
    let session: Session;
    try {
      session = this.model.createSession({ contextLength: Math.min(this.model.config.contextLength, job.prompt.length + job.maxTokens) });
    } catch (e) {
      job.onError(e as Error);
      return undefined;
    }
    const a: Active = { job, session, dec: new Decoding(this.model.tokenizer, job.maxTokens, job.sampling), next: -1, cancelled: false, prefilled: 0 };
    this.active.push(a);
    if (a.dec.done) { this.finish(a); return undefined; } // max_tokens 0
    return a;
  }

  private emit(a: Active, logits: Float32Array): void {
    const { token, text } = a.dec.step(logits, a.session.tokens);
    a.job.onToken?.(token, a.dec.logprobs?.[a.dec.logprobs.length - 1]);
    if (text) a.job.onText(text);
    a.next = token;
    if (a.dec.done) this.finish(a);
  }

  private loop(): void {
    try {
      while (this.waiting.length && this.waiting[0].handle.cancelled) { this.waiting.shift()!.job.onDone({ finishReason: 'abort', promptTokens: 0, completionTokens: 0, text: '' }); this.stats.cancelled++; }
      // one prompt is prefilled at a time, PREFILL_STEP tokens per step, so running streams keep flowing
      let filling = this.active.find((a) => a.prefilled < a.job.prompt.length);
      if (!filling && this.waiting.length && this.active.length < this.parallel) filling = this.admit(this.waiting.shift()!.job);
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
        const logits = this.model.decodeBatch(batch.map((a) => a.session), batch.map((a) => a.next));
        batch.forEach((a, i) => this.emit(a, logits[i]));
      }
    } catch (e) {
      for (const a of [...this.active]) { this.active.splice(this.active.indexOf(a), 1); a.session.dispose(); a.job.onError(e as Error); }
    }
    if (this.waiting.length || this.active.length) setImmediate(() => this.loop());
    else this.running = false;
  }
}
