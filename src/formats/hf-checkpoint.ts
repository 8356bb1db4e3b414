/**
 * A Hugging Face checkpoint directory as a container: config.json plus model.safetensors, or
 * model.safetensors.index.json and its shards. What the tensors mean is model/hf-model.ts's business.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSafetensors, type SafetensorsFile, type SafetensorsTensorInfo } from './safetensors.js';

export class HFError extends Error {
  constructor(message: string) { super(message); this.name = 'HFError'; }
}
const fail = (msg: string): never => { throw new HFError(msg); };

export type Json = Record<string, unknown>;

/** Reads and parses a JSON file; `what` names it in the error. */
export function readJson(path: string, what: string): Json {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return fail(`${what} not found: ${path}`); }
  try { return JSON.parse(text) as Json; } catch (e) { return fail(`${what} ${path} is not valid JSON: ${(e as Error).message}`); }
}

export function isHFDirectory(path: string): boolean {
  return existsSync(join(path, 'config.json'));
}

export interface HFCheckpoint {
  config: Json;
  names: string[];
  has(name: string): boolean;
  info(name: string): SafetensorsTensorInfo;
  read(name: string): Uint8Array;
  close(): void;
}

/** Opens config.json and the (possibly sharded) safetensors weights of a model directory. */
export function openHFCheckpoint(dir: string): HFCheckpoint {
  const config = readJson(join(dir, 'config.json'), 'config.json');
  const files: SafetensorsFile[] = [];
  const where = new Map<string, SafetensorsFile>();
  const add = (file: string, only?: Set<string>) => {
    const f = openSafetensors(join(dir, file));
    files.push(f);
    for (const t of f.tensors) {
      if (only && !only.has(t.name)) continue;
      if (where.has(t.name)) fail(`tensor "${t.name}" appears in two shards`);
      where.set(t.name, f);
    }
  };
  try {
    const index = join(dir, 'model.safetensors.index.json');
    if (existsSync(index)) {
      const map = readJson(index, 'shard index').weight_map;
      if (!map || typeof map !== 'object') fail(`${index}: missing "weight_map"`);
      const byFile = new Map<string, Set<string>>();
      for (const [name, file] of Object.entries(map as Json)) {
        if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) fail(`${index}: bad shard name for "${name}"`);
        if (!byFile.has(file as string)) byFile.set(file as string, new Set());
        byFile.get(file as string)!.add(name);
      }
      for (const [file, names] of byFile) add(file, names);
      for (const name of Object.keys(map as Json)) if (!where.has(name)) fail(`${index}: tensor "${name}" is not in its shard`);
    } else if (existsSync(join(dir, 'model.safetensors'))) {
      add('model.safetensors');
    } else {
      fail(`${dir}: no model.safetensors or model.safetensors.index.json`);
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  const get = (name: string) => where.get(name) ?? fail(`missing tensor "${name}"`);
  return {
    config, names: [...where.keys()],
    has: (name) => where.has(name),
    info: (name) => get(name).tensor(name)!,
    read: (name) => get(name).read(get(name).tensor(name)!),
    close: () => { for (const f of files) f.close(); },
  };
}
