/** `bitnet bench --server URL --soak SECONDS` against a live server: hang-ups and bad requests mixed in, nothing unexpected. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelFromWeights } from '../src/model/index.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { BitnetServer } from '../src/serve/server.js';
import { runSoak } from '../src/bench/soak.js';

test('soak: 3 s of mixed traffic, every response as expected, RSS sampled', { timeout: 30_000 }, async () => {
  const shape = { dim: 64, nLayers: 1, nHeads: 2, nKvHeads: 2, ffnDim: 128, vocabSize: 300, contextLength: 128 };
  const model = await modelFromWeights(synthWeights(shape, 7, 4), synthTokenizer(shape.vocabSize), { backend: 'wasm', threads: 1 });
  const server = new BitnetServer(model, { port: 0, parallel: 4 });
  const { port } = await server.listen();
  try {
    const r = await runSoak({ server: `http://127.0.0.1:${port}`, seconds: 3, concurrency: 4, maxTokens: 4, sampleEverySec: 1 });
    assert.equal(r.unexpected, 0, JSON.stringify(r.outcomes));
    for (const k of ['ok', 'disconnected', 'refused_as_expected']) assert.ok(r.outcomes[k] > 0, `${k}: ${JSON.stringify(r.outcomes)}`);
    assert.ok(r.rss.length >= 3 && r.rss.every((s) => typeof s.rssMB === 'number' && s.rssMB > 0));
    const h = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
    assert.equal(h.status, 'ok');
  } finally { await server.close(); model.dispose(); }
});
