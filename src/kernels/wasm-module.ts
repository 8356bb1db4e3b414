/**
 * Loading the kernel WebAssembly: pick the ISA variant the engine supports, read the bytes
 * (fs in Node, fetch in the browser) and compile once; workers receive the compiled module.
 */
import { DotForm, type KernelExports } from './jobs.js';

export type WasmVariant = 'relaxed' | 'simd128';

/** Tiny module: () -> v128 computing i16x8.relaxed_dot_i8x16_i7x16_s of two constants. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
  0x03, 0x02, 0x01, 0x00,                   // one function of type 0
  0x0a, 0x2b, 0x01, 0x29, 0x00,             // code: one body of 41 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(1), // v128.const
  0xfd, 0x0c, ...new Array<number>(16).fill(2), // v128.const
  0xfd, 0x92, 0x02,                         // i16x8.relaxed_dot_i8x16_i7x16_s (0x112)
  0x0b,
]);

/** Same shape with i8x16.add (0x6e) instead: plain SIMD128. */
const SIMD_PROBE = new Uint8Array([
  ...RELAXED_PROBE.slice(0, 19), 0x0a, 0x2a, 0x01, 0x28, 0x00,
  0xfd, 0x0c, ...new Array<number>(16).fill(1),
  0xfd, 0x0c, ...new Array<number>(16).fill(2),
  0xfd, 0x6e, 0x0b,
]);

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
let flagsSet = false;

/** Node 20 ships relaxed SIMD behind a flag; setting it before any compile enables it for the process. */
async function enableRelaxedSimd(): Promise<void> {
  if (!isNode || flagsSet) return;
  flagsSet = true;
  if (WebAssembly.validate(RELAXED_PROBE)) return;
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** The variants this engine can run, best first. */
export async function supportedVariants(): Promise<WasmVariant[]> {
  await enableRelaxedSimd();
  const out: WasmVariant[] = [];
  if (WebAssembly.validate(RELAXED_PROBE)) out.push('relaxed');
  if (WebAssembly.validate(SIMD_PROBE)) out.push('simd128');
  return out;
}

const cache = new Map<WasmVariant, Promise<WebAssembly.Module>>();

export function wasmUrl(variant: WasmVariant): URL {
  // dist/src/kernels/wasm-module.js -> build/ at the package root
  return new URL(`../../../build/kernels-${variant}.wasm`, import.meta.url);
}

async function readBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(url);
    } catch {
      throw new Error(`kernel module ${url.pathname} not found: run \`npm run build:wasm\``);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`kernel module ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

export function compileVariant(variant: WasmVariant): Promise<WebAssembly.Module> {
  let p = cache.get(variant);
  if (!p) {
    p = (async () => {
      await enableRelaxedSimd();
      return WebAssembly.compile((await readBytes(wasmUrl(variant))) as Uint8Array<ArrayBuffer>);
    })();
    cache.set(variant, p);
  }
  return p;
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}

// ---- the dot form (jobs.ts DotForm): chosen once per process and variant ------------------------------------------

export type DotFormName = 'pair' | 'add';
export const DOT_FORM_NAMES: Record<DotForm, DotFormName> = { [DotForm.Pair]: 'pair', [DotForm.Add]: 'add' };

/** How the dot form was chosen: forced by the caller, by BITNET_DOT, or by dotFormProbe's timing. */
export interface DotFormChoice {
  form: DotForm;
  source: 'option' | 'env' | 'probe';
  /** probe: the pair form's best time over the add form's (> DOT_ADD_MIN_SPEEDUP picks add); 0 when not probed. */
  speedup: number;
}

/**
 * The add form must beat the pair form by this factor in the probe. Measured (dotFormProbe, 1 thread, this repo's
 * Xeon with AVX-VNNI): Node 20 0.37 (3-instruction lowering), Node 24 and 26 1.13-1.14 (vpdpbusd; the real kernels
 * gain 1.03-1.31x); the margin covers timer noise.
 */
export const DOT_ADD_MIN_SPEEDUP = 1.05;
const PROBE_STEPS = 32;        // codes: 32 × 64 bytes, x: 2 × 32 × 16 bytes (3 KiB, L1-resident)
const PROBE_WARM_REPS = 32;    // warm-up calls: ~1.5 us optimized, ~5 us unoptimized
const PROBE_WARM_MS = 3;       // V8 tiers the probe up after ~1-1.5 ms of unoptimized (Liftoff) calls
const PROBE_REPS = 512;        // timed calls: 2 Mi multiply-adds, ~20-25 us optimized
const PROBE_ROUNDS = 6;        // timed pair/add rounds; the best of each counts
// A ratio between PROBE_CLEARLY_SLOWER and DOT_ADD_MIN_SPEEDUP means both forms ran alike: usually the probe was still
// unoptimized (on a busy machine V8's background compile of it can take longer than the warm-up; Node 24 then picked
// pair in ~4 of 70 fresh processes, and ran n = 2..8 on the slower path). Warm up and time again, up to
// PROBE_ATTEMPTS times (Node 20's 0.37 and Node 24's 1.13 decide at the first).
const PROBE_CLEARLY_SLOWER = 0.8;
const PROBE_ATTEMPTS = 4;
/** Bytes of scratch memory dotFormFor's probe needs. */
export const PROBE_BYTES = PROBE_STEPS * 96;

const probed = new Map<WasmVariant, DotFormChoice>();
const addExact = new Map<WasmVariant, boolean>();

export function parseDotForm(v: string, what: string): DotForm {
  if (v === 'add') return DotForm.Add;
  if (v === 'pair') return DotForm.Pair;
  throw new Error(`${what} must be add or pair, got '${v}'`);
}

/**
 * The dot form for `variant`: `forced` (an option) first, then BITNET_DOT=add|pair, else a timed calibration on the
 * relaxed build (probeDotForm, once per process: ~3.5 ms; up to ~14 ms when a timing is ambiguous): add only where
 * it is clearly faster and gives the same sums. The SIMD128 build has no relaxed dot: pair (add is allowed when
 * forced: the same sums through plain SIMD).
 * A forced add is refused where the engine computes it wrong: Node 20's V8 11.3 does in its baseline compiler
 * (Liftoff), which runs every function's first calls, so no test or benchmark may use it there.
 * `scratch` is PROBE_BYTES of memory the probe may overwrite.
 */
export function dotFormFor(variant: WasmVariant, k: KernelExports, memory: WebAssembly.Memory, scratch: number,
                           forced?: DotFormName): DotFormChoice {
  const env = typeof process !== 'undefined' ? process.env?.BITNET_DOT : undefined;
  const source = forced !== undefined ? 'option' : env ? 'env' : 'probe';
  if (source !== 'probe') {
    const form = parseDotForm(forced ?? env!, source === 'option' ? 'dotForm' : 'BITNET_DOT');
    if (form === DotForm.Add && !checkAddExact(variant, k, memory, scratch)) {
      throw new Error(`dot form 'add' (${source === 'env' ? 'BITNET_DOT' : 'dotForm'}) gives wrong sums in this ` +
        `JavaScript engine (${engineName()}: i32x4.relaxed_dot_i8x16_i7x16_add_s, baseline compiler); use 'pair'`);
    }
    return { form, source, speedup: 0 };
  }
  if (variant !== 'relaxed') return { form: DotForm.Pair, source, speedup: 0 };
  let choice = probed.get(variant);
  if (!choice) {
    choice = checkAddExact(variant, k, memory, scratch) ? probeDotForm(k, memory, scratch)
      : { form: DotForm.Pair, source, speedup: 0 };
    probed.set(variant, choice);
  }
  return choice;
}

const engineName = () =>
  (typeof process !== 'undefined' && process.versions?.node ? `Node ${process.versions.node}` : 'this browser');

/** Fills the probe's operands: 2 × PROBE_STEPS × 16 int8 x, then PROBE_STEPS × 64 codes 0..2. */
function probeData(memory: WebAssembly.Memory, scratch: number): number {
  const xBytes = PROBE_STEPS * 32;
  const x = new Int8Array(memory.buffer, scratch, xBytes);
  const codes = new Uint8Array(memory.buffer, scratch + xBytes, PROBE_STEPS * 64);
  for (let i = 0, s = 12345; i < PROBE_BYTES; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    if (i < xBytes) x[i] = s >>> 24; else codes[i - xBytes] = (s >>> 16) % 3;
  }
  return xBytes;
}

/**
 * Do both forms give the same sums from the first call on? Decided once per process and variant, on the probe's
 * first calls: they run in the engine's baseline code, as every kernel's first calls do.
 */
function checkAddExact(variant: WasmVariant, k: KernelExports, memory: WebAssembly.Memory, scratch: number): boolean {
  let ok = addExact.get(variant);
  if (ok === undefined) {
    const xBytes = probeData(memory, scratch);
    const run = (form: DotForm) => k.dotFormProbe(scratch, scratch + xBytes, PROBE_STEPS, PROBE_WARM_REPS, form);
    ok = run(DotForm.Add) === run(DotForm.Pair);
    addExact.set(variant, ok);
  }
  return ok;
}

/**
 * Times dotFormProbe in both forms: calls of PROBE_WARM_REPS first, alternating, until the engine has optimized it
 * (unoptimized code runs both forms at about the same speed), then PROBE_ROUNDS timed rounds. Any two sums that
 * differ make it pair.
 */
function probeDotForm(k: KernelExports, memory: WebAssembly.Memory, scratch: number): DotFormChoice {
  const xBytes = probeData(memory, scratch);
  const now = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now();
  const run = (reps: number, form: DotForm) => k.dotFormProbe(scratch, scratch + xBytes, PROBE_STEPS, reps, form);
  const pair = (): DotFormChoice => ({ form: DotForm.Pair, source: 'probe', speedup: 0 });
  const warmSum = run(PROBE_WARM_REPS, DotForm.Pair);
  const sum = run(PROBE_REPS, DotForm.Pair);
  let speedup = 0;
  for (let attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
    for (const t0 = now(); now() - t0 < PROBE_WARM_MS;) {
      if (run(PROBE_WARM_REPS, DotForm.Add) !== warmSum || run(PROBE_WARM_REPS, DotForm.Pair) !== warmSum) return pair();
    }
    const best = [Infinity, Infinity];
    for (let r = 0; r < PROBE_ROUNDS; r++) {
      for (const form of [DotForm.Pair, DotForm.Add]) {
        const t0 = now();
        const s = run(PROBE_REPS, form);
        best[form] = Math.min(best[form], now() - t0);
        if (s !== sum) return pair();
      }
    }
    speedup = best[DotForm.Add] > 0 ? best[DotForm.Pair] / best[DotForm.Add] : 0;
    if (speedup > DOT_ADD_MIN_SPEEDUP || speedup < PROBE_CLEARLY_SLOWER) break;
  }
  return { form: speedup > DOT_ADD_MIN_SPEEDUP ? DotForm.Add : DotForm.Pair, source: 'probe', speedup };
}
