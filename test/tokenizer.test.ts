/**
 * Tokenizers against llama.cpp: test/fixtures/tokenizer/*.json hold small vocabularies (as GGUF
 * tokenizer metadata) and the ids llama.cpp (node-llama-cpp) produced for a tricky text set, with and
 * without special-token parsing. Plus round trips, streaming decode, tokenizer.json loading, speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  tokenizerFromGGUF, tokenizerFromHF, loadHFTokenizer, tokenizerToGGUFMetadata, tokenizerToGGUF, BPETokenizer, SPMTokenizer, TOKEN_TYPE, preTokenize,
  type Tokenizer, type GGUFMetadataEntry,
} from '../src/tokenizer/index.js';

interface Fixture { metadata: GGUFMetadataEntry[]; cases: Array<{ text: string; parseSpecial: boolean; ids: number[]; detok: string }> }
const fixtureDir = new URL('../../test/fixtures/tokenizer/', import.meta.url);
const load = (name: string): Fixture => JSON.parse(readFileSync(new URL(`${name}.json`, fixtureDir), 'utf8')) as Fixture;
const fromMeta = (meta: GGUFMetadataEntry[]): Tokenizer => tokenizerFromGGUF((k) => meta.find((e) => e.key === k)?.value);
const NAMES = ['bpe-llama3', 'bpe-gpt2', 'bpe-default', 'bpe-qwen2', 'spm'];

for (const name of NAMES) {
  test(`${name}: ids equal llama.cpp's on the tricky text set`, () => {
    const f = load(name);
    const tok = fromMeta(f.metadata);
    assert.ok(f.cases.length >= 100);
    for (const c of f.cases) {
      assert.deepEqual(tok.encode(c.text, { addBos: false, parseSpecial: c.parseSpecial }), c.ids,
        `${name} parseSpecial=${c.parseSpecial} ${JSON.stringify(c.text)}`);
    }
  });

  test(`${name}: decode(encode(text)) gives the text back`, () => {
    const f = load(name);
    const tok = fromMeta(f.metadata);
    for (const c of f.cases) {
      if (c.parseSpecial || c.text.includes('<tool>')) continue; // specials render empty / add a space prefix
      assert.equal(tok.decode(tok.encode(c.text, { parseSpecial: false })), c.text, JSON.stringify(c.text));
    }
  });

  test(`${name}: metadata round trip (tokenizerToGGUFMetadata o tokenizerFromGGUF)`, () => {
    const f = load(name);
    const tok = fromMeta(f.metadata);
    const again = tokenizerToGGUFMetadata(fromMeta(tokenizerToGGUFMetadata(tok)));
    assert.deepEqual(again, tokenizerToGGUFMetadata(tok));
    const keys = new Set(again.map((e) => e.key));
    for (const k of ['tokenizer.ggml.model', 'tokenizer.ggml.tokens', 'tokenizer.ggml.token_type', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.add_bos_token']) assert.ok(keys.has(k), k);
    assert.equal(tokenizerToGGUF(tok).length, again.length);
  });
}

test('spm: the whole-text merge path (vocabularies with "▁" inside tokens) gives the same ids', () => {
  const f = load('spm');
  const base = fromMeta(f.metadata) as SPMTokenizer;
  // an unreachable token with "▁" after a character turns off word-by-word encoding
  const v = base.vocab;
  const tok = new SPMTokenizer({ ...v, tokens: [...v.tokens, 'q\u0000\u2581'], scores: [...v.scores, -1e9], tokenTypes: [...v.tokenTypes!, TOKEN_TYPE.NORMAL] });
  for (const c of f.cases) assert.deepEqual(tok.encode(c.text, { addBos: false, parseSpecial: c.parseSpecial }), c.ids, JSON.stringify(c.text));
});

test('BOS/EOS, stop tokens and special-token parsing follow the GGUF', () => {
  const tok = fromMeta(load('bpe-llama3').metadata);
  const bos = tok.bos!, eos = tok.eos!;
  assert.equal(tok.piece(bos), '<|begin_of_text|>');
  assert.equal(tok.encode('Hi')[0], bos);                        // llama-bpe adds BOS by default
  assert.notEqual(tok.encode('Hi', { addBos: false })[0], bos);
  assert.equal(tok.encode('Hi', { addBos: false, addEos: true }).at(-1), eos);
  const eotId = tok.encode('<|eot_id|>', { addBos: false });
  assert.equal(eotId.length, 1);
  assert.ok(tok.stopTokens.has(eotId[0]) && tok.stopTokens.has(eos));
  // "<|im_end|>" is a NORMAL token in the file, but llama.cpp treats it as an end-of-generation control token
  const imEnd = tok.encode('<|im_end|>', { addBos: false });
  assert.equal(imEnd.length, 1);
  assert.ok(tok.stopTokens.has(imEnd[0]));
  assert.equal(tok.decode([...tok.encode('a<|eot_id|>b', { addBos: false })]), 'ab'); // control tokens render empty
  assert.ok(tok.encode('<|eot_id|>', { addBos: false, parseSpecial: false }).length > 1);
  const spm = fromMeta(load('spm').metadata);
  assert.equal(spm.kind, 'llama');
  assert.deepEqual(spm.encode('')[0], spm.bos);
  assert.equal(spm.encode('', { addBos: false }).length, 0);
});

test('streaming decoder holds back partial UTF-8 and matches decode', () => {
  for (const name of ['bpe-llama3', 'spm']) {
    const tok = fromMeta(load(name).metadata);
    const text = '\uFEFFemoji 🤖🚀 界 naïve こんにちは'; // a leading BOM is text too
    const ids = tok.encode(text, { addBos: false });
    const d = tok.streamDecoder();
    let out = '';
    for (const id of ids) {
      const s = d.push(id);
      assert.ok(!s.includes('\uFFFD'), `${name}: partial character leaked at token ${id}`);
      out += s;
    }
    out += d.flush();
    // the stream does not drop the SentencePiece prefix space: it continues a prompt
    assert.equal(out, name === 'spm' ? ` ${text}` : text);
    assert.equal(tok.decode(ids), text);
  }
  // a byte-fallback character split over tokens: nothing comes out until it completes
  const spm = fromMeta(load('spm').metadata);
  const ids = spm.encode('界', { addBos: false }).slice(1); // after the "▁"
  assert.equal(ids.length, 3);
  const d = spm.streamDecoder();
  assert.deepEqual(ids.map((id) => d.push(id)), ['', '', '界']);
  const d2 = spm.streamDecoder();
  d2.push(ids[0]);
  assert.equal(d2.flush(), '\uFFFD'); // an incomplete tail at the end becomes U+FFFD
});

test('pre-tokenizers split like llama.cpp on the classic cases', () => {
  assert.deepEqual(preTokenize("I'M don't 1234567 \n\n  \tx", 'llama-bpe'), ['I', "'M", ' don', "'t", ' ', '123', '456', '7', ' \n\n', '  ', '\tx']);
  assert.deepEqual(preTokenize("I'M don't 1234567", 'gpt-2'), ['I', "'", 'M', ' don', "'t", ' 1234567']);
  assert.deepEqual(preTokenize('a   b', 'gpt-2'), ['a', '  ', ' b']);
  assert.deepEqual(preTokenize('x\u0085y', 'gpt-2'), ['x', '\u0085', 'y']);        // \x85 is whitespace to llama.cpp
  assert.deepEqual(preTokenize('x\uFEFFy', 'llama-bpe'), ['x', '\uFEFFy']);        // \uFEFF is not
  // letters in Node's Unicode that llama.cpp's older tables leave unassigned split like punctuation
  assert.deepEqual(preTokenize('a\u1C89b c\u{2B73A}', 'llama-bpe'), ['a', '\u1C89b', ' c', '\u{2B73A}']);
  assert.deepEqual(preTokenize('1234567', 'qwen2'), ['1', '2', '3', '4', '5', '6', '7']);
  assert.throws(() => preTokenize('x', 'no-such-pre'), /unknown pre-tokenizer 'no-such-pre'/);
});

/** A tokenizer.json describing the same vocabulary as a GGUF fixture. */
function hfJson(f: Fixture, split: string | undefined): { json: unknown; config: unknown } {
  const get = (k: string) => f.metadata.find((e) => e.key === k)?.value;
  const tokens = get('tokenizer.ggml.tokens') as string[], types = get('tokenizer.ggml.token_type') as number[];
  const vocab: Record<string, number> = {};
  const added: unknown[] = [];
  tokens.forEach((t, i) => {
    if (types[i] === TOKEN_TYPE.CONTROL || types[i] === TOKEN_TYPE.USER_DEFINED) added.push({ id: i, content: t, special: types[i] === TOKEN_TYPE.CONTROL });
    else vocab[t] = i;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: split === undefined };
  const bos = tokens[get('tokenizer.ggml.bos_token_id') as number];
  return {
    json: {
      version: '1.0', added_tokens: added, normalizer: null,
      pre_tokenizer: split === undefined ? byteLevel : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: split }, behavior: 'Isolated', invert: false }, byteLevel] },
      post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] },
      decoder: { type: 'ByteLevel' },
      model: { type: 'BPE', vocab, merges: (get('tokenizer.ggml.merges') as string[]).map((m) => m.split(' ')), byte_fallback: false, ignore_merges: true },
    },
    config: { bos_token: bos, eos_token: tokens[get('tokenizer.ggml.eos_token_id') as number], chat_template: '{{ messages }}' },
  };
}

test('tokenizerFromHF and tokenizerFromGGUF of the same vocabulary give identical ids', () => {
  const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  for (const [name, split] of [['bpe-llama3', llama3Regex], ['bpe-gpt2', undefined]] as const) {
    const f = load(name);
    const { json, config } = hfJson(f, split);
    const hf = tokenizerFromHF(json, config), gg = fromMeta(f.metadata);
    assert.equal(hf.kind, 'gpt2');
    assert.equal(hf.chatTemplate, '{{ messages }}');
    assert.equal(hf.bos, gg.bos);
    assert.equal(hf.encode('x')[0], hf.bos); // BOS from the post-processor template
    // newer tokenizer.json files wrap the template in a Sequence post-processor
    const j = json as { post_processor: unknown };
    const wrapped = tokenizerFromHF({ ...j, post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel' }, j.post_processor] } }, { ...(config as object), bos_token: undefined });
    assert.equal(wrapped.bos, gg.bos);
    assert.equal(wrapped.encode('x')[0], gg.bos);
    for (const c of f.cases) {
      assert.deepEqual(hf.encode(c.text, { parseSpecial: c.parseSpecial }), gg.encode(c.text, { parseSpecial: c.parseSpecial }), `${name} ${JSON.stringify(c.text)}`);
      assert.deepEqual(hf.encode(c.text, { addBos: false, parseSpecial: c.parseSpecial }), c.ids);
    }
  }
});

test('loadHFTokenizer reads a model directory', () => {
  const f = load('bpe-gpt2');
  const { json, config } = hfJson(f, undefined);
  const dir = mkdtempSync(join(tmpdir(), 'tok-'));
  try {
    assert.throws(() => loadHFTokenizer(dir), /no tokenizer\.json/);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tok = loadHFTokenizer(dir);
    assert.equal(tok.chatTemplate, '{{ messages }}');
    assert.deepEqual(tok.encode('Hello world', { addBos: false }), fromMeta(f.metadata).encode('Hello world', { addBos: false }));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{ broken');
    assert.throws(() => loadHFTokenizer(dir), /cannot read .*tokenizer_config\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizerFromHF: LLaMA-2 style (byte_fallback, "▁") becomes a SentencePiece tokenizer scored by merge order', () => {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', 'he', 'll', '▁he', 'llo', '▁hello', 'wo', 'rl', '▁w', '▁wo', 'rld', '▁world'];
  pieces.forEach((p, i) => { vocab[p] = 259 + i; });
  const merges = ['h e', 'l l', '▁ he', 'll o', '▁he llo', 'w o', 'r l', '▁ w', '▁w o', 'rl d', '▁wo rld'];
  const json = {
    added_tokens: [{ id: 0, content: '<unk>', special: true }, { id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null, decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }] },
    model: { type: 'BPE', vocab, merges, byte_fallback: true, unk_token: '<unk>' },
  };
  const tok = tokenizerFromHF(json, { bos_token: '<s>', eos_token: '</s>', add_bos_token: true });
  assert.ok(tok instanceof SPMTokenizer);
  const ids = tok.encode('hello world!');
  assert.deepEqual(ids.map((i) => tok.piece(i)), ['<s>', '▁hello', '▁world', '<0x21>']);
  assert.equal(tok.decode(ids), 'hello world!');
  assert.ok(tok.stopTokens.has(2));
});

test('bad input is rejected with messages that name the problem', () => {
  assert.throws(() => tokenizerFromGGUF(() => undefined), /tokenizer\.ggml\.model/);
  assert.throws(() => tokenizerFromGGUF((k) => (k === 'tokenizer.ggml.model' ? 'bert' : ['a'])), /unsupported tokenizer model 'bert'/);
  assert.throws(() => tokenizerFromGGUF((k) => (k === 'tokenizer.ggml.model' ? 'gpt2' : k === 'tokenizer.ggml.tokens' ? ['a'] : undefined)), /merges/);
  assert.throws(() => tokenizerFromHF({ model: { type: 'Unigram' } }), /Unigram/);
  assert.throws(() => new BPETokenizer({ tokens: ['a'], merges: [], pre: 'qwen35' }), /unknown pre-tokenizer 'qwen35'/);
});

test('very long words and whitespace runs encode without blowing the stack', () => {
  for (const name of ['bpe-llama3', 'bpe-default', 'spm']) {
    const tok = fromMeta(load(name).metadata);
    for (const text of [' '.repeat(200_000), 'a'.repeat(200_000), '1'.repeat(200_000), '!'.repeat(200_000)]) {
      const ids = tok.encode(text, { addBos: false });
      assert.equal(tok.decode(ids), text, `${name} ${text[0]}`);
    }
  }
});

test('encoding 1 MB of mixed text is fast', () => {
  const base = readFileSync(new URL('../../test/fixtures/kjv-sample.txt', import.meta.url), 'utf8');
  const f = load('bpe-llama3');
  const extra = f.cases.map((c) => c.text).filter((t) => !t.includes('<tool>')).join(' '); // <tool> is USER_DEFINED: always split out
  let text = '';
  while (text.length < 1_000_000) text += base + extra;
  text = text.slice(0, 1_000_000);
  for (const name of ['bpe-llama3', 'spm']) {
    const tok = fromMeta(load(name).metadata);
    const t0 = performance.now();
    const ids = tok.encode(text, { addBos: false, parseSpecial: false });
    const ms = performance.now() - t0;
    console.log(`# ${name}: 1 MB -> ${ids.length} tokens in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 15_000, `${name} took ${ms} ms`);
    assert.equal(tok.decode(ids).length, text.length);
  }
});
