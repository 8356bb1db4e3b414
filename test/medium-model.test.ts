// The `medium` model (models/kjv-medium.gguf, issue 13's run of `bitnet train --config medium` on the KJV) against
// the bundled small one on text both held out from training: the last 7.9 KB of the corpus (Revelation 20-22),
// inside the last 5 % of tokens that each run kept for validation. Each model is scored at the context it was
// trained at (lm-eval rolling windows), in bits per byte, which compares their different tokenizers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { loadModel } from '../src/model/index.js';
import { perplexity } from '../src/eval/perplexity.js';

const medium = new URL('../../models/kjv-medium.gguf', import.meta.url).pathname;
const bundled = new URL('../../models/default.gguf', import.meta.url).pathname;
const heldOut = readFileSync(new URL('../../test/fixtures/kjv-heldout.txt', import.meta.url), 'utf8');

test('medium model: the trained shape, and fewer bits per byte than the bundled model on held-out KJV', async () => {
  assert.ok(existsSync(medium), 'models/kjv-medium.gguf is missing');
  const model = await loadModel(medium);
  let ours: number;
  try {
    assert.equal(model.info.arch, 'bitnet');
    assert.deepEqual([model.config.dim, model.config.nLayers, model.config.ffnDim, model.tokenizer.vocabSize], [384, 6, 1024, 2048]);
    let text = '';
    for await (const c of model.generate('And God said', { maxTokens: 30, temperature: 0 })) text += c.text;
    assert.ok((text.match(/[A-Za-z]+/g) ?? []).length >= 10, `too few words: ${JSON.stringify(text)}`);
    ours = perplexity(model, heldOut, { ctx: 256 }).bitsPerByte;
  } finally {
    model.dispose();
  }
  const small = await loadModel(bundled);
  let theirs: number;
  try {
    theirs = perplexity(small, heldOut, { ctx: 64 }).bitsPerByte;
  } finally {
    small.dispose();
  }
  assert.ok(ours < theirs - 0.1, `medium ${ours.toFixed(3)} vs bundled ${theirs.toFixed(3)} bits/byte`);
});
