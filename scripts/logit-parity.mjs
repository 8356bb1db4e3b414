#!/usr/bin/env node
// Logit parity of bitnet-ts against llama.cpp (node-llama-cpp, outside the repo) on the same GGUF and tokens,
// with the criterion of issue 12: the same best non-input token (the highest logit among tokens not in the
// input) at >= 80% of positions, and max |Δlogit| <= 0.3 × the logits' standard deviation (llama.cpp's, per
// position; the worst position is reported).
//   node scripts/logit-parity.mjs MODEL.gguf (--text FILE | --random N) [--head file|int8]... [--threads 2]
//     [--llamacpp /work/llamacpp-ref/llamacpp.mjs]
// --text: tokenized by bitnet-ts (`bitnet tokenize`); --random N: N seeded random ids. Several --head values run
// ours once each against one llama.cpp run. Needs a build (npm run build). Prints one markdown row per head.
import { execFileSync } from 'node:child_process';
import { checkBuild } from './check-build.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(`--${k}`); if (i < 0) return d; const v = args[i + 1]; args.splice(i, 2); return v; };
const heads = [];
for (let h = opt('head'); h !== undefined; h = opt('head')) heads.push(h);
const text = opt('text'), random = opt('random'), threads = opt('threads', '2');
const llamacpp = opt('llamacpp', '/work/llamacpp-ref/llamacpp.mjs');
const [model] = args;
if (!model || (!text && !random)) {
  console.error('usage: node scripts/logit-parity.mjs MODEL.gguf (--text FILE | --random N) [--head file|int8]...');
  process.exit(1);
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
