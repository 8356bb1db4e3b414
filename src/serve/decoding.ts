/**
 * The text side of decoding one sequence, driven one step at a time by the batched scheduler:
 * the same Decoding class generate() uses (stop tokens, stop strings, partial UTF-8, token budget).
 */
export { Decoding, type FinishReason } from '../model/generate.js';
