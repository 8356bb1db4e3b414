/**
 * A sanity check for weights read wrong (`bitnet info --check`): a language model that was read as it was
 * written predicts plain English far better than a uniform guess; one whose ternary codes landed in the
 * wrong places (an I2_S file of another bitnet.cpp build read with the default layout, see I2SLayout in
 * quant/ggml.ts) predicts it no better, or worse. The check scores a fixed English text and compares the
 * mean next-token loss with ln(vocab), the loss of the uniform guess.
 *
 * It needs a trained model: a synthetic one (random weights) fails it however it is read.
 */
import type { Model } from '../model/transformer.js';
import { perplexity } from './perplexity.js';

/** Everyday English that any English-trained model, even a small one, has seen the like of. */
export const CHECK_TEXT =
  'And the man said unto them, Go your way into the city, and it shall be told you what ye must do. ' +
  'Then they went out of the house, and the people of the land came to see them, and they gave thanks. ' +
  'The day was long and the night was cold, but in the morning the sun rose over the hills and the fields.';

/** Mean loss at or above this fraction of ln(vocab) is implausible for a model read correctly. */
export const IMPLAUSIBLE_FRACTION = 0.75;

export interface PlausibilityResult {
  /** Mean next-token loss on CHECK_TEXT, nats. */
  lossNats: number;
  /** ln(vocab): the loss of a uniform guess. */
  uniformNats: number;
  plausible: boolean;
}

export function checkPlausibility(model: Model): PlausibilityResult {
  const r = perplexity(model, CHECK_TEXT);
  const lossNats = r.nll / r.tokens, uniformNats = Math.log(model.config.vocabSize);
  return { lossNats, uniformNats, plausible: lossNats < IMPLAUSIBLE_FRACTION * uniformNats };
}
