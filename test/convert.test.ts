/** `bitnet convert` and `bitnet quantize --ptq` end to end through the CLI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthTokenizer, synthWeights } from '../src/model/synth.js';
import { writeModelGGUF } from '../src/model/gguf-model.js';
import { writeHFDirectory } from '../src/model/hf-model.js';
import { openGGUF } from '../src/formats/gguf.js';
import { ggmlTypeName } from '../src/quant/ggml.js';
import { CLI } from './util.js';

const cli = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const logits = (model: string): number[][] => JSON.parse(cli('logits', '--model', model, '--tokens', '1,50,60,70,80', '--all', '--json', '--backend', 'reference')).logits;
const SHAPE = { dim: 256, nLayers: 1, nHeads: 4, ffnDim: 256, vocabSize: 320, contextLength: 64 };

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => { m = Math.max(m, Math.abs(v - b[i][j])); }));
  return m;
}

function types(path: string): Record<string, number> {
  const f = openGGUF(path);
  const out: Record<string, number> = {};
  for (const t of f.tensors) out[ggmlTypeName(t.type)] = (out[ggmlTypeName(t.type)] ?? 0) + 1;
  f.close();
  return out;
}

test('convert: GGUF -> HF directory -> GGUF, and a GGUF type change, keep the logits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-convert-'));
  try {
    const src = join(dir, 'src.gguf');
    writeModelGGUF(src, synthWeights(SHAPE, 2, 4), synthTokenizer(SHAPE.vocabSize), { ternaryType: 'tq2_0', floatType: 'f32' });
    const ref = logits(src);
    cli('convert', src, join(dir, 'hf'));
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(existsSync(join(dir, 'hf', f)), f);
    assert.ok(maxDiff(logits(join(dir, 'hf')), ref) < 1e-4, 'HF directory');
    cli('convert', join(dir, 'hf'), join(dir, 'back.gguf'), '--type', 'tq1_0');
    assert.equal(types(join(dir, 'back.gguf')).TQ1_0, 7);
    assert.ok(maxDiff(logits(join(dir, 'back.gguf')), ref) < 1e-4, 'back to GGUF');
    cli('convert', src, join(dir, 'tq1.gguf'), '--type', 'tq1_0');
    assert.equal(maxDiff(logits(join(dir, 'tq1.gguf')), ref), 0, 'tq2_0 -> tq1_0');
    assert.ok(!existsSync(join(dir, 'tq1.gguf.tmp')) && !existsSync(join(dir, 'hf.tmp')));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('quantize --ptq: ternary output and perplexity before/after', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-ptq-'));
  try {
    const src = join(dir, 'fp.gguf');
    writeModelGGUF(src, synthWeights(SHAPE, 4, 1, 'fp16'), synthTokenizer(SHAPE.vocabSize), { floatType: 'f16' });
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'the rain in spain stays mainly in the plain. etaoin shrdlu. '.repeat(3));
    const out = cli('quantize', '--ptq', src, join(dir, 'q.gguf'), '--data', text, '--ctx', '32', '--backend', 'reference');
    const m = /full precision ([\d.e+]+), ternary \(PTQ\) ([\d.e+]+)/.exec(out);
    assert.ok(m, out);
    assert.ok(Number(m![1]) > 1 && Number(m![2]) > 1);
    assert.notEqual(m![1], m![2]);
    assert.equal(types(join(dir, 'q.gguf')).TQ2_0, 7);
    assert.equal(types(join(dir, 'q.gguf')).F16, 1); // embedding
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('bad input: exit 1, a message, no stack trace', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  for (const [args, re] of [
    [['convert', '/nonexistent/x.gguf', '/tmp/y.gguf'], /model not found/],
    [['convert', '/nonexistent/x.gguf', '/tmp/y.gguf', '--type', 'q4'], /--type must be one of/],
    [['quantize', '/nonexistent/x.gguf', '/tmp/y.gguf'], /--ptq/],
  ] as Array<[string[], RegExp]>) {
    const r = run(...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('convert: an untied bitnet head is refused for GGUF (llama.cpp would not load the file), kept with --untied-head', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-convert-'));
  try {
    const w = synthWeights(SHAPE, 2, 4);
    writeHFDirectory(join(dir, 'hf'), { ...w, output: synthWeights(SHAPE, 3, 4).tokenEmbedding }, synthTokenizer(SHAPE.vocabSize));
    const out = join(dir, 'out.gguf');
    const r = spawnSync(process.execPath, [CLI, 'convert', join(dir, 'hf'), out], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /untied LM head .*llama\.cpp's `bitnet` architecture has no output\.weight.*--untied-head/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.ok(!existsSync(out));
    cli('convert', join(dir, 'hf'), out, '--untied-head', '--type', 'i2_s');
    const f = openGGUF(out);
    try { assert.ok(f.tensor('output.weight')); } finally { f.close(); }
    assert.ok(maxDiff(logits(out), logits(join(dir, 'hf'))) < 1e-4);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
