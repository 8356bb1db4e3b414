#!/usr/bin/env node
// Logit parity of bitnet-ts against llama.cpp (node-llama-cpp, outside the repo) on the same GGUF and tokens,
// with the criterion of issue 12: the same best non-input token (the highest logit among tokens not in the
// input) at >= 80% of positions, and max |Δlogit| <= 0.3 × the logits' standard deviation (llama.cpp's, per
// position; the worst position is reported).
//   node scripts/logit-parity.mjs MODEL.gguf (--text FILE | --random N) [--head file|int8|int7]... [--threads 2]
//     [--llamacpp /work/llamacpp-ref/llamacpp.mjs]
// --text: tokenized by bitnet-ts (`bitnet tokenize`); --random N: N seeded random ids. Several --head values run
// ours once each against one llama.cpp run. Needs a build (npm run build). Prints one markdown row per head.
import { execFileSync } from 'node:child_process';
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';

const { values: o, args: { model } } = parseScriptArgs({
  name: 'logit-parity.mjs',
  about: 'Logit parity of bitnet-ts against llama.cpp on the same GGUF and tokens (issue 12\'s criterion);\n' +
    'one markdown row per head. Give --text or --random.',
  options: {
    text: { value: 'FILE', file: true, help: 'UTF-8 text, tokenized by bitnet-ts' },
    random: { value: 'N', int: [1, 1 << 16], help: 'N seeded random token ids instead of a text' },
    head: { value: 'HEAD', multiple: true, default: 'file', choices: ['file', 'int8', 'int7'],
      help: 'our LM head; repeat to run several against one llama.cpp run' },
    threads: { value: 'N', default: '2', int: [1, 256], help: 'threads for both engines' },
    llamacpp: { value: 'FILE', default: '/work/llamacpp-ref/llamacpp.mjs', file: true,
      help: 'llamacpp.mjs beside the node_modules holding node-llama-cpp' },
  },
  args: [{ name: 'model', label: 'MODEL.gguf', help: 'GGUF file', file: true }],
  examples: ['node scripts/logit-parity.mjs models/default.gguf --text kjv.txt --head file --head int8'],
});
const { text, head: heads, llamacpp } = o, threads = String(o.threads), random = o.random === undefined ? undefined : String(o.random);
if ((text === undefined) === (random === undefined)) {
  console.error('logit-parity.mjs: give one of --text FILE or --random N (node scripts/logit-parity.mjs --help)');
  process.exit(2);
}
checkBuild();
const cli = new URL('../bin/bitnet.js', import.meta.url).pathname;
const json = (argv) => {
  const out = execFileSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 1 << 30 });
  return JSON.parse(out.slice(out.indexOf('{')));
};
let tokens;
if (text) tokens = json([cli, 'tokenize', '--model', model, '--file', text, '--json']).tokens;
else {
  const vocab = json([cli, 'info', '--model', model, '--json']).config.vocabSize;
  let s = 12345;
  tokens = Array.from({ length: Number(random) }, () => { s = (s * 1103515245 + 12345) % 2 ** 31; return 1 + (s % (vocab - 1)); });
}
const list = tokens.join(',');
const theirs = json([llamacpp, 'logits', model, '--tokens', list, '--all']).logits;
const input = new Set(tokens);
const bestNonInput = (row) => {
  let best = -1;
  for (let j = 0; j < row.length; j++) if (!input.has(j) && (best < 0 || row[j] > row[best])) best = j;
  return best;
};
const argmax = (row) => row.reduce((b, v, j) => (v > row[b] ? j : b), 0);
console.log(`${model.split('/').pop()}: ${tokens.length} positions, vocabulary ${theirs[0].length}`);
// worst and median over positions of max_j |a - b| / sd(b)
const deltaOverSd = (ours, ref) => {
  const ratios = ours.map((a, p) => {
    const b = ref[p];
    let mean = 0, d = 0, sd = 0;
    for (const v of b) mean += v / b.length;
    for (let j = 0; j < b.length; j++) { sd += (b[j] - mean) ** 2 / b.length; d = Math.max(d, Math.abs(a[j] - b[j])); }
    return d / Math.sqrt(sd);
  }).sort((x, y) => x - y);
  return { worst: ratios.at(-1), median: ratios[ratios.length >> 1] };
};
console.log('| head | same best non-input token | same argmax | max \\|Δlogit\\| / sd: worst position | median | pass | ' +
  'vs our `file` head: worst | median |');
console.log('|---|---|---|---|---|---|---|---|');
let fileRun;
for (const head of heads.length ? heads : ['file']) {
  const ours = json([cli, 'logits', '--model', model, '--tokens', list, '--all', '--head', head, '--threads', threads]).logits;
  if (head === 'file') fileRun = ours;
  let same = 0, sameTop = 0;
  for (let p = 0; p < tokens.length; p++) {
    if (bestNonInput(ours[p]) === bestNonInput(theirs[p])) same++;
    if (argmax(ours[p]) === argmax(theirs[p])) sameTop++;
  }
  const { worst, median } = deltaOverSd(ours, theirs);
  const self = fileRun && head !== 'file' ? deltaOverSd(ours, fileRun) : undefined;
  const frac = same / tokens.length;
  console.log(`| ${head} | ${(100 * frac).toFixed(1)}% (${same}/${tokens.length}) | ${(100 * sameTop / tokens.length).toFixed(1)}% | ` +
    `${worst.toFixed(3)} | ${median.toFixed(3)} | ${frac >= 0.8 && worst <= 0.3 ? 'yes' : 'NO'} | ` +
    `${self ? self.worst.toFixed(3) : '-'} | ${self ? self.median.toFixed(3) : '-'} |`);
}
