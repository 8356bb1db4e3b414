/** GGUF metadata types and ranges (src/model/gguf-check.ts), invalid ternary codes, non-regular files, `logits` input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GGUFValueType, gguf, parseGGUFBytes, serializeGGUF, type GGUFValue } from '../src/formats/gguf.js';
import { configFromGGUF, writeModelGGUF } from '../src/model/gguf-model.js';
import { loadModel } from '../src/model/index.js';
import { tokenizerFromGGUF } from '../src/tokenizer/gguf.js';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';

const dir = mkdtempSync(join(tmpdir(), 'gguf-validate-'));
const shape = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 4, ffnDim: 256, vocabSize: 300, contextLength: 64 };
const base = join(dir, 'base.gguf');
writeModelGGUF(base, synthWeights(shape, 3, 1, 'ternary-blocks'), synthTokenizer(shape.vocabSize), { ternaryType: 'tq2_0' });
const bytes = new Uint8Array(readFileSync(base));
const f0 = parseGGUFBytes(bytes);

/** The base file with some metadata replaced (undefined: removed). */
function patched(patch: Record<string, GGUFValue | undefined>) {
  const meta: Array<[string, GGUFValue]> = [];
  for (const [k, v] of f0.metadata) if (!(k in patch)) meta.push([k, v]);
  for (const [k, v] of Object.entries(patch)) if (v) meta.push([k, v]);
  const tensors = f0.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: f0.readTensor(t) }));
  return parseGGUFBytes(serializeGGUF(meta, tensors));
}

test('every metadata key the loader reads is checked for type and range', () => {
  assert.equal(configFromGGUF(patched({})).nLayers, 2);
  const f64 = (v: number): GGUFValue => ({ type: GGUFValueType.FLOAT64, value: v });
  const cases: Array<[Record<string, GGUFValue | undefined>, RegExp]> = [
    [{ 'bitnet.block_count': gguf.str('2') }, /"bitnet.block_count" must be an integer, got STRING/],
    [{ 'bitnet.block_count': gguf.bool(true) }, /"bitnet.block_count" must be an integer, got BOOL/],
    [{ 'bitnet.block_count': gguf.u32(0) }, /block_count" is 0: outside 1\.\.4096/],
    [{ 'bitnet.block_count': undefined }, /missing required key "bitnet.block_count"/],
    [{ 'bitnet.attention.layer_norm_rms_epsilon': gguf.f32(NaN) }, /rms_epsilon" is NaN: not a finite number/],
    [{ 'bitnet.attention.layer_norm_rms_epsilon': gguf.str('1e-5') }, /rms_epsilon" must be a float, got STRING/],
    [{ 'bitnet.rope.freq_base': f64(Infinity) }, /freq_base" is Infinity/],
    [{ 'bitnet.rope.freq_base': gguf.f32(-1) }, /freq_base" is -1: outside/],
    [{ 'bitnet.context_length': gguf.u64(2n ** 40n) }, /context_length" is 1099511627776: outside/],
    [{ 'tokenizer.ggml.bos_token_id': gguf.f32(1.5) }, /bos_token_id" must be an integer, got FLOAT32/],
    [{ 'tokenizer.ggml.eos_token_id': gguf.u32(1_000_000) }, /eos_token_id" is 1000000: not a token id of this 300-token vocabulary/],
    [{ 'tokenizer.ggml.add_bos_token': gguf.u8(1) }, /add_bos_token" must be a bool/],
    [{ 'tokenizer.chat_template': gguf.u32(1) }, /chat_template" must be a string/],
  ];
  for (const [patch, msg] of cases) assert.throws(() => configFromGGUF(patched(patch)), msg, JSON.stringify(Object.keys(patch)));
  // and the file still loads as a whole with float epsilons stored as f64 (llama.cpp accepts both widths)
  const ok = patched({ 'bitnet.attention.layer_norm_rms_epsilon': f64(1e-6) });
  assert.equal(configFromGGUF(ok).normEps, 1e-6);
  assert.ok(tokenizerFromGGUF((k) => ok.get(k)).vocabSize === 300);
});

test('a model file whose TQ2_0 / I2_S tensor holds code 3 is refused on every load path, naming the tensor', async () => {
  for (const ternaryType of ['tq2_0', 'i2_s'] as const) {
    const path = join(dir, `code3-${ternaryType}.gguf`);
    writeModelGGUF(path, synthWeights(shape, 3, 1, 'ternary'), synthTokenizer(shape.vocabSize), { ternaryType });
    const good = new Uint8Array(readFileSync(path));
    const f = parseGGUFBytes(good);
    const info = f.tensors.find((t) => t.name === 'blk.1.ffn_down.weight')!;
    const bad = good.slice();
    bad[info.offset + 3] |= ternaryType === 'tq2_0' ? 0x03 : 0xc0; // element 3 of either layout: code 3
    writeFileSync(path, bad);
    const want = /tensor "blk\.1\.ffn_down\.weight" \((TQ2_0|I2_S)\) holds the invalid 2-bit code 3 at row 0, column 3/;
    // streamed into wasm memory (repack kernel's flag), the eager canonical reader, the reference backend
    for (const opts of [{ threads: 2 }, { threads: 1, keepWeights: true }, { backend: 'reference' as const }]) {
      await assert.rejects(loadModel(path, opts), want, `${ternaryType} ${JSON.stringify(opts)}`);
    }
    writeFileSync(path, good);
    (await loadModel(path, { threads: 1 })).dispose();
  }
});

const bin = new URL('../../bin/bitnet.js', import.meta.url).pathname;
function cli(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; err: string; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...args]);
    let err = '', out = '';
    c.stderr.on('data', (d) => (err += d)); c.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code) => { clearTimeout(timer); resolve({ code, err, out }); });
  });
}

test('a FIFO as --model or --file is refused at once (no hang); logits refuses more tokens than the context', async () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const m = await cli(['logits', '--model', fifo, '--tokens', '1,2']);
  assert.equal(m.code, 1, m.err);
  assert.match(m.err, /not a regular file/);
  const r = await cli(['run', '--model', base, '--file', fifo, '-n', '1']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /--file: cannot read .*not a regular file/);
  const long = Array.from({ length: 65 }, () => 5).join(',');
  const l = await cli(['logits', '--model', base, '--tokens', long]);
  assert.equal(l.code, 1);
  assert.match(l.err, /65 tokens do not fit the model's context of 64/);
  for (const t of ['0x10', '1e2']) {
    const x = await cli(['logits', '--model', base, '--tokens', t]);
    assert.equal(x.code, 1);
    assert.match(x.err, /not a token id/);
  }
  const ok = await cli(['logits', '--model', base, '--tokens', '5,6']);
  assert.equal(ok.code, 0, ok.err);
  writeFileSync(join(dir, 'done'), '');
});
