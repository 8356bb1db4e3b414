/** Public library API of bitnet-ts. */
export type { Backend, PagedKV, PagedRows, KVDtype } from './kernels/backend.js';
export type { TernaryMatrix, FloatMatrix } from './quant/matrix.js';
export { ReferenceBackend } from './kernels/reference.js';
export { createBackend } from './kernels/index.js';
export {
  loadModel, loadModelFromBytes, modelFromWeights, readModelSource, defaultModelPath, readTokenizer, Model, Session, Sampler, generate,
  writeModelGGUF, weightsFromGGUF, configFromGGUF, KVCache, KVSequence, KVBudgetError, DEFAULT_KV_MEMORY,
  type KVCacheOptions, type KVCacheStats, type LoadOptions, type GenerateOptions, type GenerationChunk, type GenerationResult, type ModelInfo,
  type ModelConfig, type ModelWeights, type Matrix, type Architecture,
} from './model/index.js';
export { synthWeights, synthTokenizer, SHAPES } from './model/synth.js';
export { openGGUF, parseGGUF, parseGGUFBytes, writeGGUF, serializeGGUF, gguf, GGUFError, GGUFValueType } from './formats/gguf.js';
export type { GGUFFile, GGUFValue, GGUFTensorInfo, GGUFTensorToWrite } from './formats/gguf.js';
export { fileSource, bufferSource, type ByteSource } from './formats/source.js';
export { GGMLType, GGML_TYPES, quantize, dequantize, tensorBytes, ggmlTypeFromName } from './quant/ggml.js';
export { absmeanTernarize, ternaryFromGGML, ternaryToGGML, ternaryToF32 } from './quant/ternary.js';
export {
  tokenizerFromGGUF, tokenizerToGGUF, tokenizerToGGUFMetadata, tokenizerFromHF, loadHFTokenizer, BPETokenizer, SPMTokenizer, TOKEN_TYPE, trainBPE,
  type Tokenizer, type EncodeOptions,
} from './tokenizer/index.js';
export { train } from './train/trainer.js';
export { PRESETS as TRAIN_PRESETS } from './train/presets.js';
export { BitnetServer, type ServeOptions } from './serve/server.js';
export { runServerBench, formatServerBench, type ServerBenchOptions, type ServerBenchResult } from './bench/server-load.js';
export { renderChat, type ChatMessage } from './tokenizer/chat.js';
export {
  openSafetensors, parseSafetensors, parseSafetensorsBytes, writeSafetensors, serializeSafetensors, safetensorsToF32, f32ToSafetensors,
  SafetensorsError, type SafetensorsDtype, type SafetensorsFile, type SafetensorsTensorInfo, type SafetensorsTensorToWrite,
} from './formats/safetensors.js';
export { loadHFDirectory, writeHFDirectory, configFromHF, configToHF, weightsFromHF } from './model/hf-model.js';
export { openHFCheckpoint, HFError } from './formats/hf-checkpoint.js';
export { tokenizerToHF, writeHFTokenizer } from './tokenizer/hf.js';
export { convertModel, ptqTernarize } from './model/convert.js';
