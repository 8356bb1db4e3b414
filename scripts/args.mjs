// The command line of a script users run (`node scripts/NAME.mjs ...`): `--help` prints the usage with every option
// and its default; an unknown option, a missing or malformed value, a missing argument or an input file that is not
// there is refused with a message naming it (exit status 2) before any work starts. Options: node:util parseArgs.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';

/**
 * spec:
 *   name       the script's file name, e.g. 'perf-table.mjs'
 *   about      what it does (help text, one or more lines)
 *   options    { name: { value?: 'N' (takes a value; else a flag), default?: string, help: string,
 *                int?: [min, max] (an integer in that range), choices?: string[] (each comma-separated item one of these),
 *                file?: true (must exist), multiple?: true, required?: true } }
 *   args       positional arguments in order: { name, label? (shown in help and errors; default: name), help, default?,
 *              int?, file?, many? (one or more; last only) };
 *              an argument without a default is required
 *   examples   lines shown after the options
 * Returns { values, args }: values by option name (numbers where `int`), args by argument name (an array for `many`).
 */
export function parseScriptArgs(spec, argv = process.argv.slice(2)) {
  const fail = (msg) => {
    process.stderr.write(`${spec.name}: ${msg}\n(node scripts/${spec.name} --help lists the options)\n`);
    process.exit(2);
  };
  const options = { help: { type: 'boolean', short: 'h' } };
  for (const [k, o] of Object.entries(spec.options ?? {})) {
    options[k] = { type: o.value ? 'string' : 'boolean', ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    fail(e.message.replace(/^Unknown option/, 'unknown option').replace(/\. To specify a positional argument.*$/s, '')
      .replace(/^Option '(--[^ ']+)[^']*' argument missing$/, "option '$1' needs a value"));
  }
  if (parsed.values.help) { process.stdout.write(helpText(spec)); process.exit(0); }
  const args = {};
  const pos = parsed.positionals;
  const max = (spec.args ?? []).some((a) => a.many) ? Infinity : (spec.args ?? []).length;
  if (pos.length > max) fail(`unexpected argument '${pos[max]}'`);
  (spec.args ?? []).forEach((a, i) => {
    const label = a.label ?? a.name;
    if (a.many) { args[a.name] = pos.slice(i).map((x) => check(label, a, x, fail)); if (!pos[i]) fail(`missing ${label}`); return; }
    const v = pos[i] ?? a.default;
    if (v === undefined) fail(`missing ${label}`);
    args[a.name] = check(label, a, v, fail);
  });
  const values = {};
  for (const [k, o] of Object.entries(spec.options ?? {})) {
    const v = parsed.values[k] ?? (o.multiple && o.default !== undefined ? [o.default] : o.default);
    if (v === undefined && o.required) fail(`missing --${k}${o.value ? ` ${o.value}` : ''}`);
    values[k] = v === undefined ? undefined : Array.isArray(v) ? v.map((x) => check(`--${k}`, o, x, fail)) : check(`--${k}`, o, v, fail);
  }
  return { values, args };
}

function check(what, o, v, fail) {
  if (typeof v !== 'string') return v; // a flag
  if (o.int) {
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < o.int[0] || n > o.int[1]) fail(`${what} must be an integer in ${o.int[0]}..${o.int[1]}, got '${v}'`);
    return n;
  }
  if (o.choices) for (const x of v.split(',')) if (!o.choices.includes(x)) fail(`${what} must be ${o.choices.join(' or ')}, got '${x}'`);
  if (o.file) {
    const st = statSync(v, { throwIfNoEntry: false });
    if (!st?.isFile()) fail(`${what} '${v}': ${st ? 'not a file' : 'no such file'}`);
  }
  return v;
}

function helpText(spec) {
  const usage = [...Object.keys(spec.options ?? {}).length ? ['[options]'] : [],
    ...(spec.args ?? []).map((a) => a.label ?? a.name).map((l, i) => (spec.args[i].many ? `${l}...`
      : spec.args[i].default !== undefined ? `[${l}]` : l))];
  const rows = [
    ...(spec.args ?? []).map((a) => [a.label ?? a.name, a.help, a.default]),
    ...Object.entries(spec.options ?? {}).map(([k, o]) => [`--${k}${o.value ? ` ${o.value}` : ''}`,
      `${o.help}${o.required ? ' (required)' : ''}`, o.default]),
    ['-h, --help', 'this text'],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const lines = rows.map(([n, h, d]) => `  ${n.padEnd(w)}  ${h}${d !== undefined ? ` (default: ${d})` : ''}`);
  return `usage: node scripts/${[spec.name, ...usage].join(' ')}\n${spec.about}\n\n${lines.join('\n')}\n` +
    (spec.examples?.length ? `\nexamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}\n` : '');
}
