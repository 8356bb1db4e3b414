/**
 * Every committed figure is what the current chart code draws from its committed data, by the command that
 * docs name for it (docs/cost-*.svg: test/chart.test.ts). A chart-code change that moves a pixel fails here until
 * the figures are redrawn with these same commands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI } from './util.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const svgs = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.svg')).sort();

// [folder of the figures, the results file they are drawn from]
const sweeps = [['docs/figures', 'results-600.json'], ['docs/figures/short', 'results-150.json'],
                ['docs/figures/scaling-quick', 'results.json']] as const;
for (const [dir, results] of sweeps) {
  test(`${dir}/*.svg are current: scripts/reproduce.mjs --replot ${dir}/${results}`, () => {
    const out = mkdtempSync(join(tmpdir(), 'figures-'));
    execFileSync(process.execPath, ['scripts/reproduce.mjs', '--replot', join(dir, results), '--figures', out], { cwd: root });
    assert.deepEqual(svgs(out), svgs(join(root, dir)), `${dir}: a committed figure not drawn from ${results}, or one missing`);
    for (const f of svgs(out)) {
      assert.equal(readFileSync(join(root, dir, f), 'utf8'), readFileSync(join(out, f), 'utf8'),
        `${dir}/${f} is stale: node scripts/reproduce.mjs --replot ${dir}/${results}`);
    }
  });
}

test('models/default-run/loss.svg is current: bitnet train --out models/default-run --replot', () => {
  const dir = join(root, 'models/default-run');
  const copy = mkdtempSync(join(tmpdir(), 'default-run-'));
  cpSync(join(dir, 'log.json'), join(copy, 'log.json'));
  execFileSync(process.execPath, [CLI, 'train', '--out', copy, '--replot'], { stdio: 'pipe' });
  assert.equal(readFileSync(join(dir, 'loss.svg'), 'utf8'), readFileSync(join(copy, 'loss.svg'), 'utf8'),
    'models/default-run/loss.svg is stale: npx bitnet train --out models/default-run --replot');
  const log = JSON.parse(readFileSync(join(dir, 'log.json'), 'utf8'));
  assert.equal(log.log.length, 850);
  assert.equal(log.log.filter((r: { valLoss?: number }) => r.valLoss !== undefined).at(-1).valLoss, 3.965); // models/README.md
});
