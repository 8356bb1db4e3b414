/** Streaming generation: prompt → sampled tokens as an async iterator, with stop tokens and stop strings. */
import type { Model, Session } from './transformer.js';
import { Sampler, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;
  stop?: string[];
  addBos?: boolean;
  signal?: AbortSignal;
  session?: Session;           // reuse a session (its cache is reset unless it already holds the prompt's prefix)
}

export interface GenerationChunk { token: number; text: string }
export interface GenerationResult { finishReason: 'stop' | 'length' | 'abort'; promptTokens: number; completionTokens: number; text: string }

/** Length of the longest suffix of `text` that is a prefix of some stop string (text that must be held back). */
function holdBack(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops) for (let k = Math.min(s.length - 1, text.length); k > keep; k--) if (text.endsWith(s.slice(0, k))) { keep = k; break; }
  return keep;
}

export async function* generate(model: Model, prompt: string | number[], opts: GenerateOptions = {}): AsyncGenerator<GenerationChunk, GenerationResult> {
  const tok = model.tokenizer;
  const ids = typeof prompt === 'string' ? tok.encode(prompt, { addBos: opts.addBos }) : [...prompt];
  if (ids.length === 0) throw new Error('empty prompt: nothing to condition on (the tokenizer adds no BOS)');
  const maxTokens = opts.maxTokens ?? 128;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new Error(`max tokens must be a non-negative integer, got ${maxTokens}`);
  const own = !opts.session;
  const session = opts.session ?? model.createSession({ contextLength: Math.min(model.config.contextLength, ids.length + maxTokens + 1) });
  // reuse the cached prefix when the session already holds it
  let common = 0;
  while (common < session.tokens.length && common < ids.length - 1 && session.tokens[common] === ids[common]) common++;
  session.truncate(common);
  if (ids.length + maxTokens > session.contextLength) throw new Error(`prompt (${ids.length} tokens) + max tokens (${maxTokens}) exceed the context length ${session.contextLength}`);
  const sampler = new Sampler(opts);
  const stops = (opts.stop ?? []).filter((s) => s.length > 0);
  const decoder = tok.streamDecoder();
  let logits = session.evaluate(ids.slice(common));
  let pending = '', text = '', produced = 0;
  let finish: GenerationResult['finishReason'] = 'length';
  try {
    while (produced < maxTokens) {
      if (opts.signal?.aborted) { finish = 'abort'; break; }
      const next = sampler.sample(logits, session.tokens);
      produced++;
      if (tok.stopTokens.has(next)) { finish = 'stop'; break; }
      pending += decoder.push(next);
      const hit = stops.map((s) => pending.indexOf(s)).filter((i) => i >= 0).sort((a, b) => a - b)[0];
      if (hit !== undefined) {
        const out = pending.slice(0, hit);
        text += out;
        if (out) yield { token: next, text: out };
        finish = 'stop';
        break;
      }
      const keep = holdBack(pending, stops);
      const out = pending.slice(0, pending.length - keep);
      pending = pending.slice(pending.length - keep);
      text += out;
      yield { token: next, text: out };
      if (produced < maxTokens) logits = session.evaluate([next]);
      if (produced % 8 === 0) await new Promise((r) => setImmediate(r)); // let I/O and aborts through
    }
    if (finish !== 'stop') { const rest = pending + decoder.flush(); if (rest) { text += rest; yield { token: -1, text: rest }; } }
  } finally {
    if (own) session.dispose();
  }
  return { finishReason: finish, promptTokens: ids.length, completionTokens: produced, text };
}
