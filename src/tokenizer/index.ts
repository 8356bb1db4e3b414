/** Tokenizers: GGUF "gpt2" (byte-level BPE) and "llama" (SentencePiece-style), from GGUF metadata or tokenizer.json. */
export type { Tokenizer, TokenizerKind, EncodeOptions } from './types.js';
export { TOKEN_TYPE } from './common.js';
export { BPETokenizer, type BPEVocab } from './bpe.js';
export { SPMTokenizer, type SPMVocab } from './spm.js';
export { PRE_TOKENIZERS, preTokenize } from './pretokenize.js';
export { tokenizerFromGGUF, tokenizerToGGUFMetadata, tokenizerToGGUF, type GGUFMetadataEntry, type GGUFMetadataKind } from './gguf.js';
export { tokenizerFromHF, loadHFTokenizer, tokenizerToHF, writeHFTokenizer } from './hf.js';
export { trainBPE, type TrainBPEOptions } from './train-bpe.js';
