/**
 * Training checkpoints as one atomic unit: each save is one file, `checkpoint-<step>.ckpt`, written under a
 * temporary name, fsynced, made visible by a single rename, and the directory fsynced after it. The last
 * two are kept, so a save torn at any point leaves the previous complete one in place. Layout:
 *
 *   "BNCKPT01" | u32 LE header length H | header (H bytes of JSON, space-padded to a multiple of 4)
 *   | payload: f32 params (n) | f32 Adam m (n) | f32 Adam v (n) | sha256 of every byte before it (32)
 *
 * The header is the manifest: the run's metadata, the payload's size, and the sha256 of the run's
 * tokenizer.json. `loadLatestCheckpoint` takes the newest file whose size and hashes check out and says
 * why it skipped any newer one.
 *
 * Fault injection (tests of the above): BITNET_FAULT=<point>[@<n>] kills the process with SIGKILL the n-th
 * time (default 1st) it reaches <point>; FAULT_POINTS lists the points of a save in the order they come.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { Params } from './model.js';
import { AdamW } from './optim.js';
import type { TrainConfig } from './presets.js';

export interface LogRow { step: number; loss: number; valLoss?: number; lr: number; tokensPerSec: number }

export interface CheckpointMeta {
  config: TrainConfig;
  step: number;
  adamT: number;
  log: LogRow[];
  elapsedSec: number;
  tokensSeen: number;
  dataFile: string;
  dataSha256?: string; // of the corpus: --resume refuses another one (its validation split would move)
}

interface Header { format: 1; meta: CheckpointMeta; payloadBytes: number; tokenizerSha256: string | null }

const MAGIC = Buffer.from('BNCKPT01', 'latin1');
const FILE_RE = /^checkpoint-(\d+)\.ckpt$/;
const KEEP = 2;
export const TOKENIZER_FILE = 'tokenizer.json';

/** Where a save can be cut short, in order (each is also tried by the fault-injection test). */
export const FAULT_POINTS = [
  'save:begin', 'save:write-header', 'save:write-payload', 'save:write-end', 'save:rename', 'save:dirsync', 'save:prune',
] as const;
const faultCounts = new Map<string, number>();

let faultSpec: string | undefined;

/**
 * BITNET_FAULT=<point>[@n] kills this process (SIGKILL: no handlers, no flushing) the n-th time it reaches
 * that point; <point>[@n]:enospc throws there instead, as a full disk would.
 */
export function faultPoint(name: string): void {
  const spec = process.env.BITNET_FAULT;
  if (!spec) return;
  if (spec !== faultSpec) { faultSpec = spec; faultCounts.clear(); }
  const m = /^(save:[a-z-]+)(?:@(\d+))?(:enospc)?$/.exec(spec);
  if (!m || m[1] !== name) return;
  const n = (faultCounts.get(name) ?? 0) + 1;
  faultCounts.set(name, n);
  if (n !== Number(m[2] ?? 1)) return;
  if (m[3]) throw Object.assign(new Error(`ENOSPC: no space left on device, write (BITNET_FAULT at ${name})`), { code: 'ENOSPC' });
  process.kill(process.pid, 'SIGKILL');
}

const checkpointName = (step: number) => `checkpoint-${String(step).padStart(8, '0')}.ckpt`;

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try { fd = openSync(dir, 'r'); fsyncSync(fd); } catch { /* directories cannot be opened for fsync on some platforms */ }
  finally { if (fd !== undefined) closeSync(fd); }
}

/** Writes `path` durably and atomically: temp file, fsync, rename, fsync of the directory. */
export function writeFileDurable(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try { writeAll(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data); fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, path);
  fsyncDir(join(path, '..'));
}

function writeAll(fd: number, b: Uint8Array): void {
  for (let o = 0; o < b.byteLength;) o += writeSync(fd, b, o, b.byteLength - o);
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function sha256File(path: string): string | null {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : null;
}

/** Saves params + optimizer + metadata as checkpoint-<step>.ckpt, then drops all but the two newest. */
export function saveCheckpoint(outDir: string, params: Params, opt: AdamW, meta: CheckpointMeta): void {
  faultPoint('save:begin');
  const n = params.count;
  const header: Header = { format: 1, meta, payloadBytes: 12 * n, tokenizerSha256: sha256File(join(outDir, TOKENIZER_FILE)) };
  let json = JSON.stringify(header);
  json += ' '.repeat((4 - (Buffer.byteLength(json) % 4)) % 4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(Buffer.byteLength(json));
  const head = Buffer.concat([MAGIC, len, Buffer.from(json, 'utf8')]);
  const hash = createHash('sha256');
  const parts: Uint8Array[] = [head, bytesOf(params.data), bytesOf(opt.m), bytesOf(opt.v)];
  for (const p of parts) hash.update(p);
  const path = join(outDir, checkpointName(meta.step));
  const tmp = `${path}.${process.pid}.tmp`;
  for (const f of readdirSync(outDir)) if (/^checkpoint-\d+\.ckpt\.\d+\.tmp$/.test(f)) unlinkSync(join(outDir, f));
  const fd = openSync(tmp, 'w');
  try {
    try {
      writeAll(fd, head);
      faultPoint('save:write-header');
      writeAll(fd, parts[1]);
      faultPoint('save:write-payload');
      writeAll(fd, parts[2]); writeAll(fd, parts[3]);
      writeAll(fd, hash.digest());
      faultPoint('save:write-end');
      fsyncSync(fd);
    } finally { closeSync(fd); }
  } catch (e) { // e.g. a full disk: the partial file goes (it would keep the disk full), the older checkpoints stay
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw new Error(`could not write checkpoint ${path}: ${(e as Error).message} ` +
                    '(the checkpoints before it are kept: free space, then --resume)');
  }
  faultPoint('save:rename');
  renameSync(tmp, path);
  faultPoint('save:dirsync');
  fsyncDir(outDir);
  const old = listCheckpoints(outDir).slice(KEEP);
  old.forEach((f, i) => { unlinkSync(join(outDir, f.file)); if (i === 0) faultPoint('save:prune'); });
  if (old.length === 0) faultPoint('save:prune');
}

/** checkpoint-<step>.ckpt files, newest first. */
export function listCheckpoints(outDir: string): Array<{ file: string; step: number }> {
  if (!existsSync(outDir)) return [];
  return readdirSync(outDir).flatMap((file) => {
    const m = FILE_RE.exec(file);
    return m ? [{ file, step: Number(m[1]) }] : [];
  }).sort((a, b) => b.step - a.step);
}

export function hasCheckpoint(outDir: string): boolean {
  return listCheckpoints(outDir).length > 0;
}

/** A complete checkpoint that does not belong with the run directory's other files: resume refuses, it does not skip. */
export class CheckpointMismatchError extends Error {}

export interface LoadedCheckpoint { params: Params; opt: AdamW; meta: CheckpointMeta; file: string }

/** Reads and verifies one checkpoint file; throws a message naming what does not check out. */
export function readCheckpointFile(path: string, tokenizerPath?: string): LoadedCheckpoint {
  const raw = readFileSync(path);
  const fail = (why: string): never => { throw new Error(`${path}: ${why}`); };
  if (raw.byteLength < MAGIC.length + 4 + 32 || !raw.subarray(0, MAGIC.length).equals(MAGIC)) fail('not a bitnet-ts checkpoint (bad magic or truncated)');
  const hlen = raw.readUInt32LE(MAGIC.length);
  const bodyEnd = raw.byteLength - 32;
  if (MAGIC.length + 4 + hlen > bodyEnd) fail(`truncated (header of ${hlen} bytes in a ${raw.byteLength}-byte file)`);
  const digest: Hash = createHash('sha256').update(raw.subarray(0, bodyEnd));
  if (!digest.digest().equals(raw.subarray(bodyEnd))) fail('sha256 mismatch (torn or corrupted file)');
  const header = JSON.parse(raw.subarray(MAGIC.length + 4, MAGIC.length + 4 + hlen).toString('utf8')) as Header;
  const payloadAt = MAGIC.length + 4 + hlen;
  if (header.format !== 1 || bodyEnd - payloadAt !== header.payloadBytes) fail(`payload is ${bodyEnd - payloadAt} bytes, manifest says ${header.payloadBytes}`);
  if (tokenizerPath && header.tokenizerSha256 && sha256File(tokenizerPath) !== header.tokenizerSha256) {
    // not a torn file: the run directory itself was changed, so no checkpoint of it may be used (nor overwritten)
    throw new CheckpointMismatchError(`${path}: ${tokenizerPath} is not the tokenizer this checkpoint was trained with (sha256 differs)`);
  }
  const meta = header.meta;
  const params = new Params(modelConfigOf(meta.config));
  const n = params.count;
  if (header.payloadBytes !== 12 * n) fail(`payload of ${header.payloadBytes} bytes, expected ${12 * n} for its config`);
  const f32 = new Float32Array(raw.buffer.slice(raw.byteOffset + payloadAt, raw.byteOffset + bodyEnd));
  params.data.set(f32.subarray(0, n));
  const opt = new AdamW(params);
  opt.m.set(f32.subarray(n, 2 * n)); opt.v.set(f32.subarray(2 * n, 3 * n)); opt.t = meta.adamT;
  return { params, opt, meta, file: path };
}

/**
 * The newest complete checkpoint in `outDir` (undefined when there is none), and one line per newer file
 * that was skipped (torn, corrupt), saying why. A complete one trained with another tokenizer.json throws.
 */
export function loadLatestCheckpoint(outDir: string): { ckpt?: LoadedCheckpoint; skipped: string[] } {
  const skipped: string[] = [];
  for (const { file } of listCheckpoints(outDir)) {
    try {
      return { ckpt: readCheckpointFile(join(outDir, file), join(outDir, TOKENIZER_FILE)), skipped };
    } catch (e) {
      if (e instanceof CheckpointMismatchError) throw e;
      skipped.push((e as Error).message);
    }
  }
  return { skipped };
}

/** Loads the newest complete checkpoint or throws, naming every file it rejected. */
export function loadCheckpoint(outDir: string): LoadedCheckpoint {
  const { ckpt, skipped } = loadLatestCheckpoint(outDir);
  if (ckpt) return ckpt;
  const legacy = existsSync(join(outDir, 'checkpoint.json')) ? ' (checkpoint.json/.bin are the old, non-atomic format: not read)' : '';
  throw new Error(`no complete checkpoint in ${outDir}${legacy}${skipped.length ? `: ${skipped.join('; ')}` : ''}`);
}

/** Files a run directory may hold; `--out` refuses a non-empty directory with anything else in it. */
const RUN_FILE_RE = /^(checkpoint-\d+\.ckpt|tokenizer\.json|loss\.svg|log\.json|model-[a-z0-9_]+\.gguf|hf)(\.\d+)?(\.tmp)?$/;

/** Throws unless `dir` is missing, empty, or holds only what a training run writes. */
export function checkRunDirectory(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`--out ${dir} is not a directory`);
  const foreign = readdirSync(dir).filter((f) => !RUN_FILE_RE.test(f));
  if (foreign.length) {
    throw new Error(`--out ${dir} is not empty and not a run directory (it holds ${foreign.slice(0, 3).join(', ')}` +
                    `${foreign.length > 3 ? ', …' : ''}): choose an empty or new directory`);
  }
}

export function modelConfigOf(c: TrainConfig): ConstructorParameters<typeof Params>[0] {
  return { vocabSize: c.vocabSize, dim: c.dim, nLayers: c.nLayers, nHeads: c.nHeads, ffnDim: c.ffnDim, seqLen: c.seqLen,
           normEps: c.normEps, ropeTheta: c.ropeTheta, precision: c.precision,
           weightScale: c.weightScale, subNorm: c.subNorm };
}
