/** `bitnet-ts/train`: the quantization-aware trainer (BitNet b1.58 from scratch) and the BPE tokenizer trainer. */
export { train, type TrainRunOptions, type TrainResult } from './train/trainer.js';
export { PRESETS as TRAIN_PRESETS } from './train/presets.js';
export { trainBPE, type TrainBPEOptions } from './tokenizer/index.js';
