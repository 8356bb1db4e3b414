import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelFromWeights } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { ModelScorer, logProb } from '../src/eval/scoring.js';
import { perplexity, rollingWindows } from '../src/eval/perplexity.js';

const shape = { dim: 64, nLayers: 1, nHeads: 2, ffnDim: 128, vocabSize: 300, contextLength: 64 };

test('ModelScorer with a shared cached prefix equals scoring each request in a fresh session', async () => {
  const m = await modelFromWeights({ ...synthWeights(shape, 4, 8), output: synthWeights(shape, 5, 8).tokenEmbedding }, synthTokenizer(shape.vocabSize), { backend: 'reference' });
  /** Independent log-likelihood: one fresh session per request, logits of every position. */
  const fresh = (ctx: number[], cont: number[]) => {
    const s = m.createSession({ contextLength: 64 });
    const all = [...ctx, ...cont];
    let lp = 0;
    s.evaluate(all.slice(0, -1), { onLogits: (i, l) => { if (i >= ctx.length - 1) lp += logProb(l, all[i + 1]); } });
    s.dispose();
    return lp;
  };
  const scorer = new ModelScorer(m, 64);
  const reqs: Array<[number[], number[]]> = [
    [[1, 5, 6, 7], [8, 9]], [[1, 5, 6, 7], [20, 21, 22]], [[1, 5, 6], [7]], [[1, 5, 6, 7, 8, 9, 10], [11]], [[2], [3, 4, 5]],
  ];
  for (const [c, k] of reqs) {
    const got = scorer.score(c, k).logprob, want = fresh(c, k);
    assert.ok(Math.abs(got - want) < 1e-4 * Math.max(1, Math.abs(want)), `${c}|${k}: ${got} vs ${want}`);
  }
  // perplexity over the engine: nll equals the sum of fresh-session scores over lm-eval windows
  const text = 'the quick brown fox jumps over the lazy dog and then the dog sleeps';
  const r = perplexity(m, text, { ctx: 8 });
  const tokens = m.tokenizer.encode(text, { addBos: false, parseSpecial: false });
  const nll = -rollingWindows(tokens, m.tokenizer.bos ?? m.tokenizer.eos!, 8).reduce((s, [c, p]) => s + fresh(c, p), 0);
  assert.equal(r.tokens, tokens.length);
  assert.ok(r.windows > 1);
  assert.ok(Math.abs(r.nll - nll) < 1e-4 * nll, `${r.nll} vs ${nll}`);
  scorer.dispose(); m.dispose();
});
