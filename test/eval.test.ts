import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rollingWindows, perplexityWith, countWords } from '../src/eval/perplexity.js';
import { TASKS, evaluateTask, hellaswagPreprocess } from '../src/eval/tasks.js';
import type { Scorer } from '../src/eval/scoring.js';
import { logProb } from '../src/eval/scoring.js';
import type { Tokenizer } from '../src/tokenizer/types.js';
import { CLI } from './util.js';

test('rolling windows: disjoint predictions covering every token, lm-eval contexts', () => {
  const toks = [10, 11, 12, 13, 14, 15, 16];
  const w = rollingWindows(toks, 0, 3);
  assert.deepEqual(w, [[[0], [10, 11, 12]], [[12], [13, 14, 15]], [[13, 14, 15], [16]]]);
  assert.deepEqual(w.flatMap(([, p]) => p), toks);
  // every window feeds at most maxLen tokens: context + predicted - 1
  for (const [c, p] of w) assert.ok(c.length + p.length - 1 <= 3);
});

test('perplexity metrics from known log-likelihoods', () => {
  const fake: Scorer = { score: (_c, cont) => ({ logprob: -cont.length * Math.LN2, greedy: false }) }; // 1 bit per token
  const text = 'ab cd\nef'; // 3 words, 8 bytes
  const r = perplexityWith(fake, [1, 2, 3, 4], 0, text, 2);
  assert.equal(r.tokens, 4);
  assert.equal(r.words, 3);
  assert.equal(r.bytes, 8);
  assert.ok(Math.abs(r.tokenPerplexity - 2) < 1e-12);
  assert.ok(Math.abs(r.wordPerplexity - 2 ** (4 / 3)) < 1e-12);
  assert.ok(Math.abs(r.bitsPerByte - 0.5) < 1e-12);
  assert.equal(countWords(' a b '), 4); // Python re.split keeps empty ends
  assert.ok(Math.abs(logProb(new Float32Array([0, Math.log(3)]), 1) - Math.log(0.75)) < 1e-6);
});

/** A character-level tokenizer: enough to check prompt formats and scoring plumbing. */
const charTok: Tokenizer = {
  kind: 'gpt2', vocabSize: 256, bos: 0, eos: 0, stopTokens: new Set([0]), chatTemplate: undefined,
  encode: (t) => Array.from(new TextEncoder().encode(t)), decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
  piece: (id) => String.fromCharCode(id), tokenBytes: (id) => Uint8Array.of(id), streamDecoder: () => ({ push: (id) => String.fromCharCode(id), flush: () => '' }),
};

test('task formats and acc / acc_norm on hand-computed cases', () => {
  const seen: string[] = [];
  // scorer: log p = -(number of 'x' characters) - 0.1 × continuation length; records the full strings
  const scorer: Scorer = { score: (c, k) => {
    const s = charTok.decode([...c.slice(1), ...k]);
    seen.push(s);
    const cont = charTok.decode(k);
    return { logprob: -(cont.match(/x/g)?.length ?? 0) - 0.1 * cont.length, greedy: false };
  } };
  const arc = { question: 'Q?', choices: { text: ['xx', 'abcdefghij', 'x'], label: ['A', 'B', 'C'] }, answerKey: 'B' };
  // lls: -2.3, -1.1, -1.2 → acc picks B (gold); per-char: -1.15, -0.11, -1.2 → acc_norm picks B
  const r = evaluateTask('arc_easy', [arc], scorer, charTok, 0);
  assert.equal(r.acc, 1); assert.equal(r.accNorm, 1);
  assert.equal(seen[0], 'Question: Q?\nAnswer: xx');
  // a case where acc and acc_norm disagree: long answer with more x's but lower per-char loss
  const arc2 = { question: 'Q?', choices: { text: ['a', 'xbbbbbbbbbbbbbbbbbbb'], label: ['A', 'B'] }, answerKey: 'B' };
  const r2 = evaluateTask('arc_easy', [arc2], scorer, charTok, 0);
  assert.equal(r2.acc, 0); assert.equal(r2.accNorm, 1);
  // standard errors of both accuracies, sqrt(p(1-p)/(n-1)): arc3 is wrong both ways, so acc 1/4, acc_norm 3/4
  const arc3 = { question: 'Q?', choices: { text: ['a', 'xxxxxxxxxx'], label: ['A', 'B'] }, answerKey: 'B' };
  const r4 = evaluateTask('arc_easy', [arc, arc2, arc2, arc3], scorer, charTok, 0);
  assert.equal(r4.acc, 0.25); assert.equal(r4.accNorm, 0.75);
  assert.ok(Math.abs(r4.accStderr - Math.sqrt((0.25 * 0.75) / 3)) < 1e-12);
  assert.ok(Math.abs(r4.accNormStderr - Math.sqrt((0.75 * 0.25) / 3)) < 1e-12);
  seen.length = 0;
  evaluateTask('winogrande', [{ sentence: 'A fits B because _ is small.', option1: 'A', option2: 'B', answer: '2' }], scorer, charTok, 0);
  assert.deepEqual(seen, ['A fits B because A is small.', 'A fits B because B is small.']);
  seen.length = 0;
  evaluateTask('boolq', [{ passage: 'P.', question: 'q', answer: true }], scorer, charTok, 0);
  assert.deepEqual(seen, ['P.\nQuestion: q?\nAnswer: no', 'P.\nQuestion: q?\nAnswer: yes']);
  assert.equal(hellaswagPreprocess('Title [title] more  [header] text '), 'Title. more  text'); // Python's one-pass replace leaves two of three spaces
  const hs = TASKS.hellaswag({ activity_label: 'Act', ctx_a: 'A did.', ctx_b: 'then', endings: ['x [y] z'], label: '0' });
  assert.equal(hs.contexts[0], 'Act: A did. Then');
  assert.equal(hs.continuations[0], ' x z');
  assert.equal(TASKS.piqa({ goal: 'G', sol1: 'a', sol2: 'b', label: 1 }).gold, 1);
  assert.throws(() => evaluateTask('nope', [], scorer, charTok, 0), /unknown task/);
});

test('bitnet eval ppl and tasks run end to end on a model (JSON)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-eval-'));
  const model = join(dir, 'm.gguf');
  const run = (...a: string[]) => execFileSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });
  run('synth', '--shape', 'tiny', '-o', model);
  writeFileSync(join(dir, 't.txt'), 'In the beginning God created the heaven and the earth. '.repeat(20));
  const ppl = JSON.parse(run('eval', 'ppl', '--model', model, '--data', join(dir, 't.txt'), '--ctx', '64', '--json'));
  assert.ok(ppl.tokenPerplexity > 1 && Number.isFinite(ppl.tokenPerplexity));
  assert.ok(Math.abs(ppl.bitsPerByte - ppl.nll / ppl.bytes / Math.LN2) < 1e-9);
  const fixtures = new URL('../../test/fixtures/eval', import.meta.url).pathname;
  const tasks = JSON.parse(run('eval', 'tasks', '--model', model, '--tasks', Object.keys(TASKS).join(','), '--data', fixtures, '--json'));
  assert.equal(tasks.results.length, 7);
  for (const r of tasks.results) assert.ok(r.acc >= 0 && r.acc <= 1 && r.n >= 1);
});

test('README names the dataset, config and split of every task, and the fields the task reads', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = /### Evaluation data[\s\S]*?(?=\n### )/.exec(readme)?.[0] ?? '';
  const src = readFileSync(new URL('../../src/eval/tasks.ts', import.meta.url), 'utf8');
  for (const task of Object.keys(TASKS)) {
    const row = section.split('\n').find((l) => l.startsWith(`| \`${task}\` |`));
    assert.ok(row, `README: no row for ${task}`);
    assert.match(row, /\| (test|validation) \|/, task);
    assert.ok(section.includes(`("${task}",`), `README: the conversion script lacks ${task}`);
    // every field the task's code asks for by name is in its row
    const body = new RegExp(`need\\(d, '([a-z_0-9]+)', '${task}'\\)`, 'g');
    for (const m of src.matchAll(body)) assert.ok(row.includes(`\`${m[1]}\``), `${task}: field ${m[1]} missing in README`);
  }
});
