/**
 * Chat templates are code from the model file: they render here with limits, so that a template such as
 * `{% for i in range(3000000) %}` costs a bounded, small amount of the server's main thread instead of
 * seconds (measured before: 7.8 s per request, /health blocked meanwhile).
 *
 * Limits: interpreter steps (every statement and expression @huggingface/jinja evaluates, and every item
 * a `range()` yields), wall time (checked every 1024 steps), the length of a `range()`, and the length
 * of the output.
 */
import { Interpreter, Template } from '@huggingface/jinja';

export interface TemplateLimits { maxSteps: number; maxMs: number; maxRange: number; maxOutputChars: number }

export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = { maxSteps: 2_000_000, maxMs: 250, maxRange: 100_000, maxOutputChars: 4 << 20 };

export class TemplateLimitError extends Error {}

interface Budget { steps: number; deadline: number; limits: TemplateLimits }
let budget: Budget | undefined;

// One hook on the interpreter's evaluate(): rendering is synchronous, so a module-level budget is the
// budget of the render in progress (and none outside renderTemplate, e.g. for other users of the library).
const proto = Interpreter.prototype as unknown as { evaluate: (...a: unknown[]) => unknown; run: (p: unknown) => unknown };
const evaluate = proto.evaluate, run = proto.run;
// the library's range() builds any length it is asked for: under a budget, the global is swapped for ours
proto.run = function limitedRun(this: Interpreter, program: unknown): unknown {
  if (budget !== undefined) { this.global.variables.delete('range'); this.global.set('range', limitedRange(budget.limits)); }
  return run.call(this, program);
};
proto.evaluate = function limitedEvaluate(this: unknown, ...a: unknown[]): unknown {
  const b = budget;
  if (b !== undefined) {
    b.steps++;
    if (b.steps > b.limits.maxSteps) throw new TemplateLimitError(`more than ${b.limits.maxSteps} steps`);
    if ((b.steps & 1023) === 0 && performance.now() > b.deadline) throw new TemplateLimitError(`more than ${b.limits.maxMs} ms`);
  }
  return evaluate.apply(this, a);
};

function limitedRange(limits: TemplateLimits) {
  return (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) { stop = start; start = 0; }
    if (![start, stop, step].every(Number.isInteger)) throw new Error('range() takes integers');
    if (step === 0) throw new Error('range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (n > limits.maxRange) throw new TemplateLimitError(`range() of ${n} items (limit ${limits.maxRange})`);
    // each item is a loop iteration to come, which may evaluate nothing (an empty body): charge it now
    if (budget !== undefined) {
      budget.steps += n;
      if (budget.steps > limits.maxSteps) throw new TemplateLimitError(`more than ${limits.maxSteps} steps`);
      if (performance.now() > budget.deadline) throw new TemplateLimitError(`more than ${limits.maxMs} ms`);
    }
    return Array.from({ length: n }, (_, i) => start + i * step);
  };
}

/** Renders `source` with `items`; throws TemplateLimitError naming the limit it hit. */
export function renderTemplate(source: string, items: Record<string, unknown>, limits = DEFAULT_TEMPLATE_LIMITS): string {
  const template = new Template(source);
  budget = { steps: 0, deadline: performance.now() + limits.maxMs, limits };
  let out: string;
  try { out = template.render(items); } finally { budget = undefined; }
  if (out.length > limits.maxOutputChars) throw new TemplateLimitError(`output of ${out.length} characters (limit ${limits.maxOutputChars})`);
  return out;
}
