// docs/ARCHITECTURE.md's dependency table is the rule: every folder imports exactly the folders its row names
// (the cli row: any folder above it), and the rows form no cycle. The table is read from the doc, so the doc
// and the code cannot drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** folder -> the folders its row names; `above` marks a row that allows every earlier row. */
function dependencyTable(): Array<{ folder: string; deps: string[]; above: boolean }> {
  const doc = readFileSync(join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const start = doc.indexOf('| folder | imports from |');
  assert.ok(start >= 0, 'docs/ARCHITECTURE.md has the "| folder | imports from |" table');
  const rows = doc.slice(start).split('\n').slice(2);
  const out: Array<{ folder: string; deps: string[]; above: boolean }> = [];
  for (const row of rows) {
    const m = /^\| (\w+) \| (.*) \|$/.exec(row.trim());
    if (!m) break;
    const cell = m[2].replace(/\([^)]*\)/g, '').trim();
    const above = cell.startsWith('everything above');
    const deps = above || cell === 'nothing' ? [] : cell.split(',').map((d) => d.trim()).filter(Boolean);
    out.push({ folder: m[1], deps, above });
  }
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'assembly' || n === 'dist' ? [] : tsFiles(p);
    return n.endsWith('.ts') ? [p] : [];
  });
}

/** The project folders that `folder`'s files import (web/ imports through ../src/). */
function importedFolders(folder: string): Set<string> {
  const dir = folder === 'web' ? join(ROOT, 'web') : join(ROOT, 'src', folder);
  const re = folder === 'web' ? /from '\.\.\/src\/(\w+)\//g : /from '\.\.\/(\w+)\//g;
  const found = new Set<string>();
  for (const f of tsFiles(dir)) for (const m of readFileSync(f, 'utf8').matchAll(re)) if (m[1] !== folder) found.add(m[1]);
  return found;
}

test('every folder imports what docs/ARCHITECTURE.md says, and dependencies point one way', () => {
  const table = dependencyTable();
  const folders = table.map((r) => r.folder);
  const onDisk = readdirSync(join(ROOT, 'src')).filter((n) => statSync(join(ROOT, 'src', n)).isDirectory());
  assert.deepEqual([...onDisk].sort(), folders.filter((f) => f !== 'web').sort(), 'the table has a row for each src/ folder');
  table.forEach(({ folder, deps, above }, i) => {
    const got = [...importedFolders(folder)].sort();
    if (above) {
      const earlier = new Set(folders.slice(0, i));
      assert.deepEqual(got.filter((d) => !earlier.has(d)), [], `${folder} imports only folders above it`);
    } else {
      assert.deepEqual(got, [...deps].sort(), `${folder}: imports ${got.join(', ') || 'nothing'}; the table says ${deps.join(', ') || 'nothing'}`);
    }
  });
  // no cycle: a depth-first walk of the table never meets a folder on its own path
  const deps = new Map(table.map((r) => [r.folder, r.above ? folders.slice(0, folders.indexOf(r.folder)) : r.deps]));
  const walk = (f: string, path: string[]): void => {
    assert.ok(!path.includes(f), `dependency cycle: ${[...path, f].join(' -> ')}`);
    for (const d of deps.get(f) ?? []) walk(d, [...path, f]);
  };
  for (const f of folders) walk(f, []);
});
