/**
 * Token sampling: greedy, temperature, top-k, top-p, min-p, repetition penalty, OpenAI's logit bias and
 * presence/frequency penalties; seeded and reproducible.
 */

export interface SamplingOptions {
  temperature?: number;   // 0 = greedy (default 0.8)
  topK?: number;          // 0 = off (default 40)
  topP?: number;          // 1 = off (default 0.95)
  minP?: number;          // 0 = off (default 0.05)
  repeatPenalty?: number; // 1 = off (default 1.1)
  repeatLastN?: number;   // how many recent tokens the penalty sees (default 64)
  seed?: number;          // default: random
  /** Added to a token's logit before anything else (OpenAI logit_bias: -100 bans, +100 forces). */
  logitBias?: ReadonlyMap<number, number>;
  /** OpenAI: logit[j] -= count[j] × frequencyPenalty + (count[j] > 0) × presencePenalty, where
   * count[j] is how often this sampler has already picked token j (0 = off). */
  presencePenalty?: number;
  frequencyPenalty?: number;
}

export const SAMPLING_DEFAULTS = {
  temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.1, repeatLastN: 64,
  logitBias: new Map<number, number>() as ReadonlyMap<number, number>, presencePenalty: 0, frequencyPenalty: 0,
};

/** mulberry32: tiny, fast, good enough for sampling, and identical on every platform. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export class Sampler {
  private readonly o: Required<SamplingOptions>;
  private readonly rand: () => number;
  private idx: Int32Array = new Int32Array(0);
  private probs: Float64Array = new Float64Array(0);
  /** token id → times picked so far (only kept when a presence/frequency penalty is on) */
  private readonly counts = new Map<number, number>();

  constructor(opts: SamplingOptions = {}) {
    const o = { ...SAMPLING_DEFAULTS, seed: Math.floor(Math.random() * 2 ** 31), ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<SamplingOptions>;
    if (o.temperature < 0) throw new Error(`temperature must be >= 0, got ${o.temperature}`);
    if (o.topP <= 0 || o.topP > 1) throw new Error(`top-p must be in (0, 1], got ${o.topP}`);
    if (o.minP < 0 || o.minP >= 1) throw new Error(`min-p must be in [0, 1), got ${o.minP}`);
    if (o.topK < 0) throw new Error(`top-k must be >= 0, got ${o.topK}`);
    if (o.repeatPenalty <= 0) throw new Error(`repeat penalty must be > 0, got ${o.repeatPenalty}`);
    for (const k of ['presencePenalty', 'frequencyPenalty'] as const) {
      if (!Number.isFinite(o[k])) throw new Error(`${k} must be a finite number, got ${o[k]}`);
    }
    this.o = o;
    this.rand = seededRandom(o.seed);
  }

  /** Picks the next token. `logits` is modified (penalties applied). */
  sample(logits: Float32Array, history: readonly number[]): number {
    const token = this.pick(logits, history);
    if (this.o.presencePenalty !== 0 || this.o.frequencyPenalty !== 0) this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    return token;
  }

  private pick(logits: Float32Array, history: readonly number[]): number {
    const o = this.o;
    for (const [t, b] of o.logitBias) if (t >= 0 && t < logits.length) logits[t] += b;
    for (const [t, c] of this.counts) logits[t] -= c * o.frequencyPenalty + o.presencePenalty;
    if (o.repeatPenalty !== 1) {
      const seen = new Set(history.slice(-o.repeatLastN));
      for (const t of seen) if (t < logits.length) logits[t] = logits[t] > 0 ? logits[t] / o.repeatPenalty : logits[t] * o.repeatPenalty;
    }
    if (o.temperature === 0) return argmax(logits);
    const V = logits.length;
    if (this.idx.length !== V) { this.idx = new Int32Array(V); this.probs = new Float64Array(V); }
    // candidates sorted by logit (top-k first cut keeps the sort small)
    let n = V;
    for (let i = 0; i < V; i++) this.idx[i] = i;
    const sorted = Array.from(this.idx).sort((a, b) => logits[b] - logits[a]);
    if (o.topK > 0 && o.topK < n) n = o.topK;
    const max = logits[sorted[0]];
    let sum = 0;
    for (let i = 0; i < n; i++) { this.probs[i] = Math.exp((logits[sorted[i]] - max) / o.temperature); sum += this.probs[i]; }
    // min-p: drop tokens below minP × the best probability
    if (o.minP > 0) { const cut = o.minP * (this.probs[0]); let k = n; for (let i = 1; i < n; i++) if (this.probs[i] < cut) { k = i; break; } for (let i = k; i < n; i++) sum -= this.probs[i]; n = k; }
    // top-p: smallest prefix with mass >= topP
    if (o.topP < 1) { let acc = 0; for (let i = 0; i < n; i++) { acc += this.probs[i] / sum; if (acc >= o.topP) { for (let j = i + 1; j < n; j++) sum -= this.probs[j]; n = i + 1; break; } } }
    let r = this.rand() * sum;
    for (let i = 0; i < n; i++) { r -= this.probs[i]; if (r <= 0) return sorted[i]; }
    return sorted[n - 1];
  }
}
