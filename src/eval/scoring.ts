/** Log-likelihood scoring through the engine: the primitive under perplexity and multiple-choice tasks. */
import type { Model, Session } from '../model/transformer.js';

/** log softmax(logits)[target], computed stably in float64. */
export function logProb(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[target] - max - Math.log(sum);
}

function isArgmax(logits: Float32Array, target: number): boolean {
  const v = logits[target];
  for (let i = 0; i < logits.length; i++) if (logits[i] > v) return false;
  return true;
}

export interface Scorer {
  /** Sum of log p(continuation | context) and whether every continuation token was the greedy choice. */
  score(context: number[], continuation: number[]): { logprob: number; greedy: boolean };
}

/** Scores with one reusable session, keeping the longest shared prefix of consecutive requests cached. */
export class ModelScorer implements Scorer {
  private session: Session;
  constructor(private readonly model: Model, contextLength = Math.min(model.config.contextLength, 2048)) {
    this.session = model.createSession({ contextLength });
  }

  score(context: number[], continuation: number[]): { logprob: number; greedy: boolean } {
    if (context.length === 0) throw new Error('score: empty context (give at least a BOS/EOS token)');
    if (continuation.length === 0) return { logprob: 0, greedy: true };
    const s = this.session;
    let keep = context.length + continuation.length;
    if (keep > s.contextLength) throw new Error(`request of ${keep} tokens exceeds the context length ${s.contextLength}`);
    // reuse the cached prefix, but re-evaluate at least the last context token (its logits predict continuation[0])
    let common = 0;
    while (common < s.tokens.length && common < context.length - 1 && s.tokens[common] === context[common]) common++;
    s.truncate(common);
    let lp = 0, greedy = true;
    const first = s.evaluate(context.slice(common));
    lp += logProb(first, continuation[0]);
    greedy &&= isArgmax(first, continuation[0]);
    if (continuation.length > 1) {
      s.evaluate(continuation.slice(0, -1), { onLogits: (i, l) => { lp += logProb(l, continuation[i + 1]); greedy &&= isArgmax(l, continuation[i + 1]); } });
    }
    keep = 0;
    return { logprob: lp, greedy };
  }

  dispose(): void { this.session.dispose(); }
}
