// The package's entry points resolve by name (package.json "exports") and each holds what it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('subpath exports: bitnet-ts, bitnet-ts/formats, bitnet-ts/train, bitnet-ts/serve', async () => {
  const root = await import('bitnet-ts');
  const formats = await import('bitnet-ts/formats');
  const train = await import('bitnet-ts/train');
  const serve = await import('bitnet-ts/serve');
  for (const name of ['loadModel', 'modelFromWeights', 'Model', 'Sampler', 'createBackend', 'BPETokenizer', 'renderChat']) {
    assert.ok(name in root, `bitnet-ts exports ${name}`);
  }
  for (const name of ['openGGUF', 'writeGGUF', 'openSafetensors', 'loadHFDirectory', 'writeModelGGUF', 'convertModel', 'LAYER_SCHEMA', 'synthWeights']) {
    assert.ok(name in formats, `bitnet-ts/formats exports ${name}`);
  }
  assert.equal(typeof train.train, 'function');
  assert.equal(typeof train.trainBPE, 'function');
  assert.equal(typeof serve.BitnetServer, 'function');
  assert.equal(typeof serve.runServerBench, 'function');
  // one way to generate: Model.generate; internals and fixtures stay out of the root
  for (const name of ['generate', 'generateText', 'writeGGUF', 'synthWeights', 'train', 'BitnetServer', 'registerLoader']) {
    assert.ok(!(name in root), `bitnet-ts does not export ${name}`);
  }
  assert.equal(typeof root.Model.prototype.generate, 'function');
});
