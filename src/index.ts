/**
 * Public library API of bitnet-ts (`bitnet-ts`): load a model, run it, sample, tokenize.
 * The other entry points: `bitnet-ts/formats` (model files: GGUF, safetensors, Hugging Face directories,
 * ggml types, converters, random-weight models), `bitnet-ts/train` (QAT trainer, BPE trainer) and
 * `bitnet-ts/serve` (OpenAI-compatible server and its load generator).
 */
export type { Backend, PagedKV, PagedRows, KVDtype } from './kernels/backend.js';
export { ReferenceBackend } from './kernels/reference.js';
export { createBackend, type BackendName } from './kernels/index.js';
export {
  loadModel, loadModelFromBytes, modelFromWeights, readModelSource, defaultModelPath, readTokenizer, Model, Session, Sampler,
  KVCache, KVSequence, KVBudgetError, DEFAULT_KV_MEMORY, type KVCacheOptions, type KVCacheStats,
  type LoadOptions, type ModelSource, type GenerateOptions, type GenerationChunk, type GenerationResult, type ModelInfo,
  HEAD_PRECISIONS, type HeadPrecision,
  type ModelConfig, type ModelWeights, type Matrix, type Architecture,
} from './model/index.js';
export type { TernaryMatrix, FloatMatrix } from './quant/matrix.js';
export {
  tokenizerFromGGUF, tokenizerFromHF, loadHFTokenizer, BPETokenizer, SPMTokenizer, TOKEN_TYPE,
  type Tokenizer, type EncodeOptions,
} from './tokenizer/index.js';
export { renderChat, type ChatMessage } from './tokenizer/chat.js';
