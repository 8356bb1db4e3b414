/** Loading models: GGUF files (model/gguf-model.ts) and Hugging Face directories (model/hf-model.ts). */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openGGUF, parseGGUFBytes, type GGUFFile } from '../formats/gguf.js';
import { ggmlTypeName } from '../quant/ggml.js';
import { createBackend, type BackendName } from '../kernels/index.js';
import type { Backend, KVDtype } from '../kernels/backend.js';
import { tokenizerFromGGUF } from '../tokenizer/gguf.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { streamedWeightsFromGGUF, weightsFromGGUF, type GGUFReadOptions } from './gguf-model.js';
import { loadHFDirectory } from './hf-model.js';
import { loadHFTokenizer } from '../tokenizer/hf.js';
import { isHFDirectory } from '../formats/hf-checkpoint.js';
import { Model, type HeadPrecision, type ModelInfo } from './transformer.js';
import type { ModelWeights, StreamedWeights } from './types.js';

export interface LoadOptions extends GGUFReadOptions {
  backend?: BackendName | Backend;
  threads?: number;
  /** Default context length of createSession() (default: the model's, capped at 4096). */
  contextLength?: number;
  /** Budget of the shared KV cache in bytes (default DEFAULT_KV_MEMORY, 1 GiB); blocks are allocated as sequences grow. */
  kvMemoryBytes?: number;
  /** KV cache cell type (default 'f16'). */
  kvType?: KVDtype;
  /**
   * LM head precision (default 'file': as stored, exact). 'int8': ggml Q8_0 blocks built at load, ~half the bytes
   * per decoded token; 'int7': the same with 7-bit codes (same bytes, a faster kernel, about twice int8's logit
   * error; opt-in). With either, a GGUF file on the WASM backend has its float embedding read from the file per
   * lookup instead of held (the file stays open until dispose()).
   */
  head?: HeadPrecision;
  /** Keep the canonical weights on the Model (converters need them; costs memory with the wasm backend). */
  keepWeights?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export type Progress = (done: number, total: number) => void;

async function backendOf(opts: LoadOptions): Promise<Backend> {
  if (typeof opts.backend === 'object') return opts.backend;
  return createBackend(opts.backend ?? 'wasm', { threads: opts.threads });
}

export async function modelFromWeights(weights: ModelWeights, tokenizer: Tokenizer, opts: LoadOptions = {}, info: Partial<ModelInfo> = {}): Promise<Model> {
  return build(await backendOf(opts), () => weights, tokenizer, opts, info);
}

/** The Model over `backend`; weights(stream) gives them (partly left in their file when stream is true). */
function build(backend: Backend, weights: (stream: boolean) => StreamedWeights, tokenizer: Tokenizer,
               opts: LoadOptions, info: Partial<ModelInfo>): Model {
  try {
    const keep = opts.keepWeights || backend.name === 'reference';
    const w = weights(!keep && !!backend.prepareGGML);
    const model = new Model(keep ? (w as ModelWeights) : undefined, w, tokenizer, backend, info,
      { memoryBytes: opts.kvMemoryBytes, dtype: opts.kvType }, { head: opts.head });
    if (opts.contextLength !== undefined) model.defaultContextLength = opts.contextLength;
    model.ownsBackend = typeof opts.backend !== 'object'; // a Backend passed in stays the caller's to dispose
    return model;
  } catch (e) {
    if (typeof opts.backend !== 'object') backend.dispose();
    throw e;
  }
}

function ggufInfo(f: GGUFFile): Partial<ModelInfo> {
  const types: Record<string, number> = {};
  for (const t of f.tensors) types[ggmlTypeName(t.type)] = (types[ggmlTypeName(t.type)] ?? 0) + 1;
  return { tensorTypes: types, fileBytes: f.size };
}

/**
 * A Model from an open GGUF (kept open until this returns; until model.dispose() when model.readsFile, see
 * LoadOptions.head). With a backend that reads files itself (WASM: prepareGGML) and no keepWeights, the big
 * tensors go from the file straight into its memory.
 */
export async function modelFromGGUF(f: GGUFFile, opts: LoadOptions = {}): Promise<Model> {
  const tokenizer = tokenizerFromGGUF((k) => f.get(k));
  const read: GGUFReadOptions = { i2sLayout: opts.i2sLayout };
  const weights = (stream: boolean) => (stream ? streamedWeightsFromGGUF : weightsFromGGUF)(f, opts.onProgress, read);
  return build(await backendOf(opts), weights, tokenizer, opts, ggufInfo(f));
}

/** What a model path holds, read without building a Model: the one place a path's format is decided. */
export interface ModelSource {
  weights: ModelWeights;
  tokenizer: Tokenizer;
  format: 'gguf' | 'hf';
  info: Partial<ModelInfo>;
}

/** The model bundled with the package (models/default.gguf), found from this module, not the working directory. */
export function defaultModelPath(): string {
  return fileURLToPath(new URL('../../../models/default.gguf', import.meta.url));
}

/** The stat of a --model path, with errors that say what is wrong. */
function modelStat(path: string): import('node:fs').Stats {
  let st: import('node:fs').Stats;
  try { st = statSync(path); } catch { throw new Error(`model not found: ${path}`); }
  if (st.isDirectory() && !isHFDirectory(path)) throw new Error(`${path} is a directory without config.json (not a Hugging Face model directory)`);
  // a FIFO or device would block the open (or never end): model files are regular files
  if (!st.isDirectory() && !st.isFile()) throw new Error(`${path} is not a regular file (a FIFO, socket or device)`);
  return st;
}

/** Only the tokenizer of a GGUF file or a Hugging Face directory (no weights read). */
export function readTokenizer(path: string): Tokenizer {
  if (modelStat(path).isDirectory()) return loadHFTokenizer(path);
  const f = openGGUF(path);
  try { return tokenizerFromGGUF((k) => f.get(k)); } finally { f.close(); }
}

/** Weights + tokenizer of a GGUF file or a Hugging Face directory. */
export function readModelSource(path: string, onProgress?: Progress, read: GGUFReadOptions = {}): ModelSource {
  if (modelStat(path).isDirectory()) {
    const { weights, tokenizer, info } = loadHFDirectory(path, onProgress);
    return { weights, tokenizer, format: 'hf', info };
  }
  const f = openGGUF(path);
  try {
    return { weights: weightsFromGGUF(f, onProgress, read), tokenizer: tokenizerFromGGUF((k) => f.get(k)), format: 'gguf', info: ggufInfo(f) };
  } finally {
    f.close();
  }
}

/** Loads a GGUF file or a Hugging Face directory; with no path, the bundled model (defaultModelPath()). */
export async function loadModel(path: string = defaultModelPath(), opts: LoadOptions = {}): Promise<Model> {
  if (statSync(path, { throwIfNoEntry: false })?.isFile()) {
    const f = openGGUF(path);
    let model: Model | undefined;
    try {
      model = await modelFromGGUF(f, opts);
      return model;
    } finally {
      if (model?.readsFile) model.addDisposer(() => f.close()); else f.close();
    }
  }
  const { weights, tokenizer, info } = readModelSource(path, opts.onProgress, opts);
  return modelFromWeights(weights, tokenizer, opts, info);
}

export async function loadModelFromBytes(bytes: Uint8Array, opts: LoadOptions = {}): Promise<Model> {
  return modelFromGGUF(parseGGUFBytes(bytes), opts);
}

export { Model, Session, CHUNK, HEAD_PRECISIONS, type HeadPrecision, type ModelInfo } from './transformer.js';
export { KVCache, KVSequence, KVBudgetError, DEFAULT_KV_MEMORY, type KVCacheOptions, type KVCacheStats } from './kv-cache.js';
export type { GenerateOptions, GenerationChunk, GenerationResult } from './generate.js';
export { Sampler, argmax, type SamplingOptions } from './sampling.js';
export { writeModelGGUF, weightsFromGGUF, streamedWeightsFromGGUF, configFromGGUF } from './gguf-model.js';
export type { ModelConfig, ModelWeights, Matrix, LayerWeights, Architecture } from './types.js';
