#!/usr/bin/env node
// Reproduces docs/PERFORMANCE.md's decode / prompt / roofline table: bitnet-ts (`bitnet bench --model`) and
// llama.cpp (node-llama-cpp, outside the repo) on the same GGUF files, alternating engines round by round.
//   node scripts/perf-table.mjs [--rounds 2] [--threads 2] [--prompt 64] [--gen 32]
//     [--heads file,int8,int7] [--llamacpp /work/llamacpp-ref/llamacpp.mjs] MODEL.gguf...
// --heads: our LM head precisions to run (bench --head), each its own row; default: file.
// --llamacpp: /work/shared/tools/llamacpp.mjs copied next to the node_modules holding node-llama-cpp (ES modules
// resolve packages from the script's folder; NODE_PATH does not apply to them).
// Needs a build (npm run build). Prints one markdown row per file and engine (best round), and the ratios.
import { execFileSync } from 'node:child_process';
import { uptime, loadavg } from 'node:os';
import { parseScriptArgs } from './args.mjs';
import { checkBuild } from './check-build.mjs';

const { values: o, args: { model: files } } = parseScriptArgs({
  name: 'perf-table.mjs',
  about: 'bitnet-ts (bitnet bench) and llama.cpp (node-llama-cpp) on the same GGUF files, alternating round by round;\n' +
    'one markdown row per file and engine (best round) and the ratios.',
  options: {
    rounds: { value: 'N', default: '2', int: [1, 100], help: 'rounds; each runs llama.cpp, then ours per head' },
    threads: { value: 'N', default: '2', int: [1, 256], help: 'threads for both engines' },
    prompt: { value: 'N', default: '64', int: [1, 1 << 16], help: 'prompt tokens' },
    gen: { value: 'N', default: '32', int: [1, 1 << 16], help: 'decoded tokens' },
    heads: { value: 'LIST', default: 'file', choices: ['file', 'int8', 'int7'], help: 'our LM head precisions (bench --head), each its own row' },
    llamacpp: { value: 'FILE', default: '/work/llamacpp-ref/llamacpp.mjs', file: true,
      help: 'llamacpp.mjs beside the node_modules holding node-llama-cpp' },
  },
  args: [{ name: 'model', label: 'MODEL.gguf', help: 'GGUF files', file: true, many: true }],
  examples: ['node scripts/perf-table.mjs --rounds 2 --heads file,int8 /work/models-bench/2b4t-tq2_0.gguf'],
});
const { rounds, llamacpp } = o, threads = String(o.threads), P = String(o.prompt), G = String(o.gen);
const heads = o.heads.split(',');
checkBuild();
const cli = new URL('../bin/bitnet.js', import.meta.url).pathname;
const run = (argv) => {
  const out = execFileSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.slice(out.indexOf('{'))); // the one JSON object each command prints
};
const ours = (f, head) => run([cli, 'bench', '--model', f, '--threads', threads, '--prompt', P, '--gen', G, '--head', head, '--json']);
const theirs = (f) => run([llamacpp, 'bench', f, '--threads', threads, '--prompt', P, '--gen', G]);

console.error(`uptime ${uptime().toFixed(0)} s, load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
const best = new Map(); // file -> { ours: head -> best result, theirs, runs }
const better = (x, y) => (!x || y.decodeTokPerS > x.decodeTokPerS ? y : x);
for (let r = 0; r < rounds; r++) {
  for (const f of files) {
    const b = best.get(f) ?? { ours: {}, theirs: null, oursRuns: {}, theirsRuns: [] };
    const t = theirs(f);
    b.theirsRuns.push(`${t.prompt_tok_s.toFixed(1)}/${t.decode_tok_s.toFixed(1)}`);
    if (!b.theirs || t.decode_tok_s > b.theirs.decode_tok_s) b.theirs = t;
    for (const h of heads) {
      const o = ours(f, h);
      (b.oursRuns[h] ??= []).push(`${o.promptTokPerS.toFixed(1)}/${o.decodeTokPerS.toFixed(1)}`);
      b.ours[h] = better(b.ours[h], o);
    }
    best.set(f, b);
    console.error(`round ${r + 1}: ${f}: llama.cpp ${b.theirsRuns.at(-1)}, ` +
      heads.map((h) => `ours (head ${h}) ${b.oursRuns[h].at(-1)}`).join(', ') + ' (prompt/decode tok/s)');
  }
}
console.log(`| file | engine | prompt tok/s (${P}) | decode tok/s | weights read/token | achieved | stream | roofline | rounds |`);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [f, b] of best) {
  const t = b.theirs, name = f.split('/').pop();
  console.log(`| ${name} | llama.cpp, ${t.threads} thr | ${t.prompt_tok_s.toFixed(1)} | ${t.decode_tok_s.toFixed(1)} | | | | | ` +
    `${b.theirsRuns.join(', ')} |`);
  for (const h of heads) {
    const o = b.ours[h];
    console.log(`| ${name} | bitnet-ts ${o.backend}, ${o.threads} thr, head ${h} | ${o.promptTokPerS.toFixed(1)} | ` +
      `${o.decodeTokPerS.toFixed(1)} | ${(o.weightBytes / 1e6).toFixed(0)} MB | ${o.achievedGBps.toFixed(1)} GB/s | ` +
      `${o.bandwidthGBps.toFixed(1)} GB/s | ${(o.rooflineFraction * 100).toFixed(0)}% | ${b.oursRuns[h].join(', ')} |`);
    console.log(`| ${name} | ratio, head ${h} | ${(o.promptTokPerS / t.prompt_tok_s).toFixed(2)}x | ` +
      `${(o.decodeTokPerS / t.decode_tok_s).toFixed(2)}x | | | | | |`);
  }
}
