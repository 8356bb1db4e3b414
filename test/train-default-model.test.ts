// End to end on the bundled model (models/default.gguf, trained by `bitnet train`): it loads in the engine,
// predicts held-out-style KJV text far better than chance, and greedy decoding writes English words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { loadModel } from '../src/model/index.js';

const path = new URL('../../models/default.gguf', import.meta.url).pathname;
const sample = new URL('../../test/fixtures/kjv-sample.txt', import.meta.url).pathname;

test('bundled model: ternary bitnet GGUF, KJV loss well below chance, greedy text is English words', async () => {
  assert.ok(existsSync(path), 'models/default.gguf is missing');
  const model = await loadModel(path);
  try {
    assert.equal(model.info.arch, 'bitnet');
    assert.ok(model.info.ternaryParameters > 0.8 * model.info.parameters, 'mostly ternary');
    const ids = model.tokenizer.encode(readFileSync(sample, 'utf8').slice(0, 2000), { addBos: false }).slice(0, 256);
    let nll = 0;
    const s = model.createSession({ contextLength: 256 });
    s.evaluate(ids.slice(0, -1), { onLogits: (i, l) => {
      let max = -Infinity; for (const v of l) max = Math.max(max, v);
      let sum = 0; for (const v of l) sum += Math.exp(v - max);
      nll += Math.log(sum) + max - l[ids[i + 1]];
    } });
    s.dispose();
    const loss = nll / (ids.length - 1);
    assert.ok(loss < 0.6 * Math.log(model.tokenizer.vocabSize), `loss ${loss.toFixed(3)} vs chance ${Math.log(model.tokenizer.vocabSize).toFixed(3)}`);

    let text = '';
    for await (const c of model.generate('And God said', { maxTokens: 40, temperature: 0 })) text += c.text;
    const words = text.match(/[A-Za-z]+/g) ?? [];
    assert.ok(words.length >= 10, `too few words: ${JSON.stringify(text)}`);
    const common = new Set(['the', 'and', 'of', 'to', 'unto', 'that', 'in', 'he', 'shall', 'lord', 'his', 'i', 'a', 'is', 'be', 'for', 'not', 'they', 'them', 'him', 'it', 'with', 'all', 'thou', 'thy', 'was', 'which', 'my', 'me', 'said', 'god', 'will', 'ye', 'have', 'from', 'their', 'you', 'are', 'upon', 'this']);
    const hits = words.filter((w) => common.has(w.toLowerCase())).length;
    assert.ok(hits / words.length > 0.3, `few common English words in ${JSON.stringify(text)}`);
  } finally {
    model.dispose();
  }
});
