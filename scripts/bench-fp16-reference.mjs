#!/usr/bin/env node
/**
 * Our FP16 path vs llama.cpp's F16 on the same FP16 file, with both engines' ternary for the ratio, alternating
 * (ours ternary, ours FP16, llama.cpp F16, llama.cpp ternary) in one run. Writes the JSON that
 * `bitnet cost --fp16-reference FILE` renders into COST.md (src/bench/cost-reference.ts).
 *
 *   bitnet synth --shape 700m --type f16 -o /work/models-bench/700m-f16.gguf
 *   bitnet synth --shape 700m --type tq2_0 -o /work/models-bench/700m-tq2_0.gguf
 *   flock /tmp/cpu.lock node scripts/bench-fp16-reference.mjs --shape 700m --f16 /work/models-bench/700m-f16.gguf \
 *     --ternary /work/models-bench/700m-tq2_0.gguf --llamacpp /work/llamacpp-ref/llamacpp.mjs --out docs/cost-fp16-reference.json
 *
 * --llamacpp is the side-by-side tool (outside the project, never a dependency): `llamacpp.mjs bench MODEL` printing
 * {"prompt_tok_s", "decode_tok_s"}. Options: --rounds 3, --threads 2, --prompt 64, --gen 32, --reference "NAME VERSION".
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseScriptArgs } from './args.mjs';

const { values: o } = parseScriptArgs({
  name: 'bench-fp16-reference.mjs',
  about: 'Our FP16 path vs llama.cpp\'s F16 on the same file, with both engines\' ternary for the ratio, alternating;\n' +
    'writes the JSON `bitnet cost --fp16-reference FILE` renders.',
  options: {
    shape: { value: 'S', required: true, help: 'shape name the files were made with (bitnet synth --shape)' },
    f16: { value: 'FILE', required: true, file: true, help: 'FP16 GGUF' },
    ternary: { value: 'FILE', required: true, file: true, help: 'ternary GGUF of the same shape' },
    llamacpp: { value: 'FILE', required: true, file: true, help: 'llamacpp.mjs beside the node_modules holding node-llama-cpp' },
    out: { value: 'FILE.json', required: true, help: 'JSON written (other shapes already in it are kept)' },
    rounds: { value: 'N', default: '3', int: [1, 100], help: 'rounds of the four runs' },
    threads: { value: 'N', default: '2', int: [1, 256], help: 'threads for both engines' },
    prompt: { value: 'N', default: '64', int: [1, 1 << 16], help: 'prompt tokens' },
    gen: { value: 'N', default: '32', int: [1, 1 << 16], help: 'decoded tokens' },
    reference: { value: 'NAME', help: 'how the reference is named (default: node-llama-cpp\'s version read beside --llamacpp)' },
  },
});
const { shape, f16, ternary, llamacpp, out, rounds } = o;
const threads = String(o.threads), prompt = String(o.prompt), gen = String(o.gen);
const bin = new URL('../bin/bitnet.js', import.meta.url).pathname;
let reference = o.reference;
if (!reference) {
  const pkg = join(dirname(llamacpp), 'node_modules/node-llama-cpp/package.json');
  reference = `llama.cpp (node-llama-cpp ${existsSync(pkg) ? JSON.parse(readFileSync(pkg, 'utf8')).version : '?'} prebuilt CPU binaries)`;
}
const ours = (file) => {
  const r = JSON.parse(execFileSync(process.execPath, [bin, 'bench', '--model', file, '--threads', threads, '--prompt', prompt, '--gen', gen, '--json'], { encoding: 'utf8' }));
  return { promptTokPerS: r.promptTokPerS, decodeTokPerS: r.decodeTokPerS };
};
const theirs = (file) => {
  const s = execFileSync(process.execPath, [llamacpp, 'bench', file, '--threads', threads, '--prompt', prompt, '--gen', gen],
                         { encoding: 'utf8', cwd: dirname(llamacpp), stdio: ['ignore', 'pipe', 'ignore'] });
  const r = JSON.parse(s.trim().split('\n').pop());
  return { promptTokPerS: r.prompt_tok_s, decodeTokPerS: r.decode_tok_s };
};
const uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
const runs = { 'ours-ternary': [], 'ours-fp16': [], 'ref-fp16': [], 'ref-ternary': [] };
for (let i = 0; i < rounds; i++) {
  runs['ours-ternary'].push(ours(ternary));
  runs['ours-fp16'].push(ours(f16));
  runs['ref-fp16'].push(theirs(f16));
  runs['ref-ternary'].push(theirs(ternary));
  process.stderr.write(`round ${i + 1}/${rounds}: ${JSON.stringify(Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.at(-1).decodeTokPerS.toFixed(2)])))}\n`);
}
const prev = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : { shapes: {} };
const doc = {
  measured: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), machine: `${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  threads: Number(threads), prompt: Number(prompt), gen: Number(gen), uptime, reference,
  command: `node scripts/bench-fp16-reference.mjs --shape ${shape} --f16 ${f16} --ternary ${ternary} --llamacpp ${llamacpp} --rounds ${rounds} --threads ${threads}`,
  shapes: { ...prev.shapes, [shape]: { f16File: f16, ternaryFile: ternary, runs } },
};
writeFileSync(`${out}.tmp`, JSON.stringify(doc, null, 1) + '\n'); renameSync(`${out}.tmp`, out);
console.log(`wrote ${out}`);
