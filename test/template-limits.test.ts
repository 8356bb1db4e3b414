/** Chat templates render on a worker with a hard time bound, and no value may outgrow the output limit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TEMPLATE_LIMITS, renderTemplate, renderTemplateHere, TemplateLimitError } from '../src/tokenizer/template-limits.js';

// one expression that runs for seconds: split a 4 Mi-character string into 2 Mi words, sort them, eight times.
// Few interpreter steps, so the in-thread checks (every 128 steps) cannot stop it; only the worker's bound can.
const slowSteps = '{% set ns = namespace(s="x ") %}{% for i in range(21) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}' +
  '{% set l = ns.s.split() %}{{ (l|sort|length) + (l|sort|length) + (l|sort|length) + (l|sort|length) + ' +
  '(l|sort|length) + (l|sort|length) + (l|sort|length) + (l|sort|length) }}';

test('a template whose single steps are slow is cut off at maxMs + grace by terminating its worker', () => {
  const ok = '{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}';
  const items = { messages: [{ role: 'user', content: 'hi' }] };
  assert.equal(renderTemplate(ok, items), '[user] hi'); // starts the worker
  const t0 = performance.now();
  assert.throws(() => renderTemplate(slowSteps, {}), (e: Error) => e instanceof TemplateLimitError &&
    /no result within 250 ms|more than 250 ms/.test(e.message));
  const ms = performance.now() - t0;
  assert.ok(ms < DEFAULT_TEMPLATE_LIMITS.maxMs + 900, `returned after ${ms.toFixed(0)} ms`);
  // the next render gets a fresh worker and works
  assert.equal(renderTemplate(ok, items), '[user] hi');
});

test('no string value may be longer than the output limit, in the worker and on this thread', () => {
  for (const render of [renderTemplate, renderTemplateHere]) {
    assert.throws(() => render('{{ ("a\\nb" | indent(300000000)) | length }}', {}), /a string of 300000003 characters \(limit 4194304\)/);
    assert.throws(() => render('{% set ns = namespace(s="ab") %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}', {}),
      /a string of 4194304 characters|a string of 8388608 characters/);
    assert.equal(render('{{ "x" | indent(4) }}', {}), 'x');
  }
  // errors of the template itself come back as plain errors, not limit errors
  assert.throws(() => renderTemplate('{{ "a".split("") }}', {}), (e: Error) => !(e instanceof TemplateLimitError) && /empty separator/.test(e.message));
});
