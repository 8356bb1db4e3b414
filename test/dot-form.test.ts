// The integer kernels' two dot forms (kernels/jobs.ts DotForm): 'pair' (relaxed dot into i16 + add) and 'add'
// (relaxed dot-add into i32, vpdpbusd where V8 12+ lowers it so). Each form against the reference and against the
// other, bit for bit: ternary matmul at n = 1 (decode GEMV), 2..8 (the add form's small-batch passes: token blocks of
// 2, 3, 4 and their combinations), 9 and 16 (unpacked tiles), odd shapes, per-row and per-block scales, i32/i16
// limits, 1/2/3 threads; the choice (option, BITNET_DOT, probe).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../src/kernels/reference.js';
import { createBackend, WasmBackend, type DotFormName, type WasmVariant } from '../src/kernels/index.js';
import { randomTernaryFrom } from './util.js';

let seed = 424242;
function rand(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32;
}
const randomTernary = randomTernaryFrom(rand);

function assertClose(actual: Float32Array, expected: Float32Array, rel: number, what: string): void {
  let scale = 1e-6;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= rel * scale)) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (|err| ${err} > ${rel} * ${scale})`);
  }
}

/** V8 11.3 (Node 20) computes i32x4.relaxed_dot_i8x16_i7x16_add_s wrong in its baseline compiler (Liftoff). */
const v8Major = Number(process.versions.v8.split('.')[0]);
const relaxedAddWorks = v8Major >= 12;

test('a forced add form is refused where the engine computes it wrong, and accepted where it does not', async () => {
  const make = () => WasmBackend.create({ threads: 1, variant: 'relaxed', dotForm: 'add' });
  if (relaxedAddWorks) {
    const be = await make();
    assert.equal(be.dotForm, 'add');
    assert.deepEqual(be.dotFormChoice, { form: 1, source: 'option', speedup: 0 });
    be.dispose();
  } else {
    await assert.rejects(make(), /dot form 'add' \(dotForm\) gives wrong sums in this JavaScript engine/);
  }
  const simd = await WasmBackend.create({ threads: 1, variant: 'simd128', dotForm: 'add' }); // plain SIMD: exact
  assert.equal(simd.dotForm, 'add');
  simd.dispose();
});

test('the probe picks a form once per process; pair where the add form is slow or wrong', async () => {
  const a = await WasmBackend.create({ threads: 1, variant: 'relaxed' });
  const b = await createBackend('wasm', { threads: 1, variant: 'relaxed' }) as WasmBackend;
  assert.equal(a.dotFormChoice.source, 'probe');
  assert.deepEqual(b.dotFormChoice, a.dotFormChoice); // cached
  if (!relaxedAddWorks) assert.deepEqual(a.dotFormChoice, { form: 0, source: 'probe', speedup: 0 });
  else assert.ok(a.dotFormChoice.speedup > 0, `probe speedup ${a.dotFormChoice.speedup}`);
  assert.equal(a.dotForm, a.dotFormChoice.speedup > 1.05 ? 'add' : 'pair');
  const simd = await WasmBackend.create({ threads: 1, variant: 'simd128' });
  assert.equal(simd.dotForm, 'pair');
  for (const be of [a, b, simd]) be.dispose();
});

test('BITNET_DOT overrides the probe; the option overrides BITNET_DOT; bad values are refused', async () => {
  const old = process.env.BITNET_DOT;
  try {
    process.env.BITNET_DOT = 'pair';
    const be = await WasmBackend.create({ threads: 1 });
    assert.deepEqual(be.dotFormChoice, { form: 0, source: 'env', speedup: 0 });
    be.dispose();
    process.env.BITNET_DOT = 'add';
    const forced = await WasmBackend.create({ threads: 1, variant: 'simd128', dotForm: 'pair' });
    assert.equal(forced.dotFormChoice.source, 'option');
    assert.equal(forced.dotForm, 'pair');
    forced.dispose();
    process.env.BITNET_DOT = 'vnni';
    await assert.rejects(WasmBackend.create({ threads: 1 }), /BITNET_DOT must be add or pair, got 'vnni'/);
    await assert.rejects(WasmBackend.create({ threads: 1, dotForm: 'x' as DotFormName }), /dotForm must be add or pair/);
  } finally {
    if (old === undefined) delete process.env.BITNET_DOT; else process.env.BITNET_DOT = old;
  }
});

// Every (variant, form) the engine runs correctly, × 1/2/3 threads.
const forms: Array<{ variant: WasmVariant; form: DotFormName }> = [
  { variant: 'relaxed', form: 'pair' }, { variant: 'simd128', form: 'pair' }, { variant: 'simd128', form: 'add' },
];
if (relaxedAddWorks) forms.push({ variant: 'relaxed', form: 'add' });

for (const threads of [1, 2, 3]) {
  test(`ternary matmul, ${threads} thread(s): every dot form bit-exact with the reference and with each other`, async () => {
    const bes = await Promise.all(forms.map((f) => WasmBackend.create({ threads, variant: f.variant, dotForm: f.form })));
    try {
      const cases: Array<[number, number, number, boolean]> = [
        [13, 320, 320, true],   // rows not a multiple of 4, cols not of 64
        [6, 512, 256, false],   // one scale per 256 columns
        [5, 768, 64, false],    // per-64 blocks
        [70, 2560, 2560, true], // decode's two streams and touches, a partial last group
        [9, 1028, 1028, true],  // a partial last chunk
      ];
      for (const [rows, cols, bs, uniform] of cases) {
        const m = randomTernary(rows, cols, bs, uniform);
        const prepared = bes.map((be) => be.prepareTernary(m));
        const ones = { ...m, scales: new Float32Array(m.scales.length).fill(1) };
        const preparedOnes = bes.map((be) => be.prepareTernary(ones));
        for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 16]) {
          const xq = new Int8Array(n * cols).map(() => Math.floor(rand() * 256) - 128);
          xq[0] = -128;
          const inv = new Float32Array(n).map(() => 0.001 + rand() * 0.01), invOnes = new Float32Array(n).fill(1);
          const sums = new Float32Array(n * rows), want = new Float32Array(n * rows);
          ref.ternaryMatMulRef(ones, xq, invOnes, n, sums); // scales 1: the exact integer sums
          ref.ternaryMatMulRef(m, xq, inv, n, want);
          let first: Float32Array | undefined;
          bes.forEach((be, i) => {
            const what = `${forms[i].variant}/${forms[i].form} ${rows}x${cols}/${bs} n=${n}`;
            const got = new Float32Array(n * rows);
            be.ternaryMatMul(preparedOnes[i], xq, invOnes, n, got);
            assert.deepEqual(got, sums, `integer sums, ${what}`);
            be.ternaryMatMul(prepared[i], xq, inv, n, got);
            assertClose(got, want, 1e-5, what); // the float steps: the same in every form, not the reference's order
            if (first) assert.deepEqual(got, first, `${what} vs ${forms[0].variant}/${forms[0].form}`);
            else first = Float32Array.from(got);
          });
        }
      }
      // Accumulator limits: every weight +1 (code 2), x all -128 or all 127, rows of 6912 columns (the add form
      // keeps one i32 per lane for a whole block; the pair form flushes its i16 lanes), scales 1: the raw sums.
      const rows = 5, cols = 6912;
      for (const bs of [cols, 256]) {
        const m = randomTernary(rows, cols, bs, true);
        m.codes.fill(0xaa);
        m.scales.fill(1);
        const prepared = bes.map((be) => be.prepareTernary(m));
        const limits = [[1, -128], [1, 127], [2, -128], [3, 127], [4, -128], [5, 127], [6, -128], [7, 127], [8, -128]];
        for (const [n, fill] of limits) {
          const xq = new Int8Array(n * cols).fill(fill), inv = new Float32Array(n).fill(1);
          const want = new Float32Array(n * rows);
          ref.ternaryMatMulRef(m, xq, inv, n, want);
          assert.equal(want[0], fill * cols);
          bes.forEach((be, i) => {
            const got = new Float32Array(n * rows);
            be.ternaryMatMul(prepared[i], xq, inv, n, got);
            assert.deepEqual(got, want, `limits ${forms[i].variant}/${forms[i].form} /${bs} n=${n} x=${fill}`);
          });
        }
      }
    } finally {
      for (const be of bes) be.dispose();
    }
  });
}
