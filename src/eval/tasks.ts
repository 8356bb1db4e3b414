/**
 * Zero-shot multiple choice by log-likelihood, with lm-evaluation-harness prompt formats
 * (lm_eval/tasks/{arc,hellaswag,boolq,openbookqa,piqa,winogrande}). Each task turns one JSONL record
 * (the dataset's published field names) into requests: context + " " + choice, and the gold index.
 * acc = argmax log p; acc_norm = argmax log p / len(choice in characters) (lm-eval's acc_norm).
 */
import type { Tokenizer } from '../tokenizer/types.js';
import type { Scorer } from './scoring.js';

export interface MCItem { contexts: string[]; continuations: string[]; gold: number }
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function need(doc: Doc, field: string, task: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (doc[field] === undefined) throw new Error(`${task}: record lacks field '${field}'`);
  return doc[field];
}

/** HellaSwag preprocess (lm_eval/tasks/hellaswag/utils.py). */
export function hellaswagPreprocess(text: string): string {
  return text.trim().replace(' [title]', '. ').replace(/\[.*?\]/g, '').replaceAll('  ', ' ');
}

function arcLike(doc: Doc, task: string, questionField: string): MCItem {
  const choices = need(doc, 'choices', task) as { text: string[]; label: string[] };
  const gold = choices.label.indexOf(String(need(doc, 'answerKey', task)));
  if (gold < 0) throw new Error(`${task}: answerKey '${doc.answerKey}' is not among the labels ${choices.label.join(',')}`);
  const q = need(doc, questionField, task);
  const ctx = task === 'openbookqa' ? q : `Question: ${q}\nAnswer:`;
  return { contexts: choices.text.map(() => ctx), continuations: choices.text.map((t) => ` ${t}`), gold };
}

export const TASKS: Record<string, (doc: Doc) => MCItem> = {
  arc_easy: (d) => arcLike(d, 'arc_easy', 'question'),
  arc_challenge: (d) => arcLike(d, 'arc_challenge', 'question'),
  openbookqa: (d) => arcLike(d, 'openbookqa', 'question_stem'),
  hellaswag: (d) => {
    const ctx = `${need(d, 'ctx_a', 'hellaswag')} ${String(need(d, 'ctx_b', 'hellaswag')).replace(/^./, (c) => c.toUpperCase())}`;
    const query = hellaswagPreprocess(`${need(d, 'activity_label', 'hellaswag')}: ${ctx}`);
    const endings = need(d, 'endings', 'hellaswag') as string[];
    return { contexts: endings.map(() => query), continuations: endings.map((e) => ` ${hellaswagPreprocess(e)}`), gold: Number(need(d, 'label', 'hellaswag')) };
  },
  boolq: (d) => {
    const ctx = `${need(d, 'passage', 'boolq')}\nQuestion: ${need(d, 'question', 'boolq')}?\nAnswer:`;
    const gold = d.label !== undefined ? Number(d.label) : need(d, 'answer', 'boolq') ? 1 : 0;
    return { contexts: [ctx, ctx], continuations: [' no', ' yes'], gold };
  },
  piqa: (d) => {
    const ctx = `Question: ${need(d, 'goal', 'piqa')}\nAnswer:`;
    return { contexts: [ctx, ctx], continuations: [` ${need(d, 'sol1', 'piqa')}`, ` ${need(d, 'sol2', 'piqa')}`], gold: Number(need(d, 'label', 'piqa')) };
  },
  winogrande: (d) => {
    // partial scoring: the option fills the blank in the context; score the shared rest of the sentence
    const sentence = String(need(d, 'sentence', 'winogrande'));
    const idx = sentence.indexOf('_');
    if (idx < 0) throw new Error('winogrande: sentence has no "_" blank');
    const rest = ` ${sentence.slice(idx + 1).trim()}`;
    const opts = [need(d, 'option1', 'winogrande'), need(d, 'option2', 'winogrande')];
    return { contexts: opts.map((o) => sentence.slice(0, idx) + o), continuations: [rest, rest], gold: Number(need(d, 'answer', 'winogrande')) - 1 };
  },
};

/** Accuracies with their standard errors, sqrt(p(1-p)/(n-1)) as lm-eval reports them (mean_stderr). */
export interface TaskResult { task: string; n: number; acc: number; accNorm: number; accStderr: number; accNormStderr: number }

const stderrOf = (p: number, n: number) => Math.sqrt((p * (1 - p)) / Math.max(1, n - 1));

/** Context/continuation token ids as lm-eval: continuation = encode(ctx + cont) minus encode(ctx)'s length. */
export function encodePair(tok: Tokenizer, prefix: number, context: string, continuation: string): [number[], number[]] {
  // lm-eval moves trailing spaces of the context onto the continuation
  const trail = context.length - context.trimEnd().length;
  if (trail) { continuation = context.slice(-trail) + continuation; context = context.slice(0, -trail); }
  const whole = tok.encode(context + continuation, { addBos: false, parseSpecial: false });
  const ctx = tok.encode(context, { addBos: false, parseSpecial: false });
  return [[prefix, ...ctx], whole.slice(ctx.length)];
}

export function evaluateTask(task: string, docs: Doc[], scorer: Scorer, tok: Tokenizer, prefix: number,
                             onProgress?: (done: number, total: number) => void): TaskResult {
  const make = TASKS[task];
  if (!make) throw new Error(`unknown task '${task}' (supported: ${Object.keys(TASKS).join(', ')})`);
  let correct = 0, correctNorm = 0;
  docs.forEach((doc, i) => {
    const item = make(doc);
    if (!(item.gold >= 0 && item.gold < item.continuations.length)) throw new Error(`${task} record ${i}: gold answer ${item.gold} out of range`);
    const lls = item.continuations.map((cont, j) => {
      const [c, k] = encodePair(tok, prefix, item.contexts[j], cont);
      return scorer.score(c, k).logprob;
    });
    const best = (xs: number[]) => xs.indexOf(Math.max(...xs));
    if (best(lls) === item.gold) correct++;
    // acc_norm divides by the choice length in characters, without the " " target delimiter (lm-eval)
    if (best(lls.map((l, j) => l / Math.max(1, item.continuations[j].length - 1))) === item.gold) correctNorm++;
    onProgress?.(i + 1, docs.length);
  });
  const n = docs.length, acc = correct / n, accNorm = correctNorm / n;
  return { task, n, acc, accNorm, accStderr: stderrOf(acc, n), accNormStderr: stderrOf(accNorm, n) };
}
