// Every script under scripts/ that users run answers --help with its options and defaults, and refuses an unknown
// option, a malformed value or a missing input file with a message naming it (exit 2) before any work starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../../scripts/', import.meta.url));
const MODEL = fileURLToPath(new URL('../../models/default.gguf', import.meta.url)); // checked first: it exists
const run = (script: string, ...args: string[]) => spawnSync(script.endsWith('.sh') ? 'bash' : process.execPath,
  [dir + script, ...args], { encoding: 'utf8', timeout: 30_000 });

// script -> options its help must name with their defaults
const SCRIPTS: Record<string, string[]> = {
  'perf-table.mjs': ['--rounds N', 'default: 2', '--heads LIST', 'default: file', '--llamacpp FILE'],
  'logit-parity.mjs': ['--text FILE', '--random N', '--head HEAD', '--threads N', 'default: 2'],
  'profile-decode.mjs': ['MODEL.gguf', 'threads', 'default: 2', 'prompt', 'default: 64', 'head'],
  'profile-batch.mjs': ['MODEL.gguf', 'batch', 'default: 16', 'head'],
  'serve-memory.mjs': ['MODEL.gguf', 'chats', 'default: 8', 'positions', 'default: 1024,2048', '--kv-memory BYTES'],
  'bench-gemv.mjs': ['--threads LIST', 'default: 1,2', '--scales LIST', 'default: row,256', '--rounds N', 'default: 5'],
  'bench-head.mjs': ['rows', 'default: 128256', 'heads', 'default: f16,q8', 'variant', 'default: best'],
  'bench-fp16-reference.mjs': ['--shape S', '(required)', '--rounds N', 'default: 3'],
  'make-corpus-en.mjs': ['OUTDIR', '--debs DIR', 'default: OUTDIR/debs'],
  'reproduce.mjs': ['--train FILE', '--max-minutes M'],
  'build-web.mjs': ['--minify'],
  'build-wasm.mjs': ['--help'],
  'make-corpus.sh': ['OUT.txt'],
  'train-default.sh': ['WORKDIR', 'default: /tmp/bitnet-default', 'STEPS', 'default: 850'],
};

test('scripts: --help lists the options and their defaults (exit 0)', () => {
  for (const [script, words] of Object.entries(SCRIPTS)) {
    const r = run(script, '--help');
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: /, script);
    for (const w of words) assert.ok(r.stdout.includes(w), `${script} --help names ${w}:\n${r.stdout}`);
  }
});

test('scripts: an unknown option is refused by name (exit 2)', () => {
  for (const script of Object.keys(SCRIPTS)) {
    const r = run(script, '--no-such-option', 'x.gguf');
    assert.equal(r.status, 2, `${script}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /unknown (option|argument) '--no-such-option'/, script);
  }
});

test('scripts: a missing model file or a bad value is refused before any work (exit 2)', () => {
  for (const [script, args, re] of [
    ['perf-table.mjs', ['/nonexistent/m.gguf'], /MODEL\.gguf '\/nonexistent\/m\.gguf': no such file/],
    ['perf-table.mjs', [], /missing MODEL\.gguf/],
    ['perf-table.mjs', ['--rounds', 'two', MODEL], /--rounds must be an integer in 1\.\.100, got 'two'/],
    ['perf-table.mjs', ['--heads', 'file,fp8', MODEL], /--heads must be file or int8 or int7, got 'fp8'/],
    ['perf-table.mjs', ['--rounds'], /option '--rounds' needs a value/],
    ['logit-parity.mjs', ['/nonexistent/m.gguf', '--random', '4'], /no such file/],
    ['profile-decode.mjs', ['/nonexistent/m.gguf'], /no such file/],
    ['profile-decode.mjs', [MODEL, '2', '64', 'x', 'file'], /gen must be an integer/],
    ['profile-decode.mjs', [MODEL, '2', '64', '32', 'file', 'extra'], /unexpected argument 'extra'/],
    ['profile-batch.mjs', ['/nonexistent/m.gguf', '4'], /no such file/],
    ['bench-gemv.mjs', ['--sets', 'l3'], /--sets must be l2 or stream, got 'l3'/],
    ['bench-gemv.mjs', ['--threads', '2,x'], /--threads must be integers in 1\.\.256, got '2,x'/],
    ['bench-head.mjs', ['1024', '2560', '2', '5', 'f16,fp8'], /heads must be f16 or q8 or q7 or q7add, got 'fp8'/],
    ['bench-fp16-reference.mjs', ['--shape', '700m'], /missing --f16 FILE/],
    ['make-corpus-en.mjs', [], /missing OUTDIR/],
    ['reproduce.mjs', ['--train', '/nonexistent/t.txt', '--val', '/nonexistent/v.txt', '--work', '/tmp/x'], /no such file/],
    ['make-corpus.sh', [], /expected one argument/],
    ['train-default.sh', ['a', 'b'], /expected at most one argument/],
  ] as Array<[string, string[], RegExp]>) {
    const r = run(script, ...args);
    assert.equal(r.status, 2, `${script} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re, `${script} ${args.join(' ')}`);
  }
});
