/**
 * `bitnet-ts/formats`: model files. GGUF and safetensors containers, Hugging Face directories, the ggml
 * type table and ternary layouts, the model <-> file mappings, converters, and random-weight models of
 * the paper's shapes (for benchmarks and tests).
 */
export { openGGUF, parseGGUF, parseGGUFBytes, writeGGUF, serializeGGUF, gguf, GGUFError, GGUFValueType } from './formats/gguf.js';
export type { GGUFFile, GGUFValue, GGUFTensorInfo, GGUFTensorToWrite } from './formats/gguf.js';
export { fileSource, bufferSource, type ByteSource } from './formats/source.js';
export {
  openSafetensors, parseSafetensors, parseSafetensorsBytes, writeSafetensors, serializeSafetensors, safetensorsToF32, f32ToSafetensors,
  SafetensorsError, type SafetensorsDtype, type SafetensorsFile, type SafetensorsTensorInfo, type SafetensorsTensorToWrite,
} from './formats/safetensors.js';
export { openHFCheckpoint, HFError, type HFCheckpoint } from './formats/hf-checkpoint.js';
export { GGMLType, GGML_TYPES, quantize, dequantize, tensorBytes, ggmlTypeFromName } from './quant/ggml.js';
export { absmeanTernarize, ternaryFromGGML, ternaryToGGML, ternaryToF32 } from './quant/ternary.js';
export { writeModelGGUF, weightsFromGGUF, configFromGGUF, type WriteModelOptions } from './model/gguf-model.js';
export { loadHFDirectory, writeHFDirectory, configFromHF, configToHF, weightsFromHF } from './model/hf-model.js';
export { LAYER_SCHEMA, MODEL_TENSORS, type LayerTensor } from './model/schema.js';
export { convertModel, ptqTernarize, type ConvertType } from './model/convert.js';
export { tokenizerToGGUF, tokenizerToGGUFMetadata, tokenizerToHF, writeHFTokenizer } from './tokenizer/index.js';
export { synthWeights, synthTokenizer, SHAPES, type ShapeSpec } from './model/synth.js';
export { writeSynthGGUF } from './model/synth-gguf.js';
