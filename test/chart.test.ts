/** Chart axes: 1-2-5 ticks, labels sized to their step, margins that fit them, single-point plots; committed plots current. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { lineChartSVG, logTicks, niceTicks, tickLabel } from '../src/report/chart.js';
import { costCharts } from '../src/bench/cost-report.js';

const labels = (svg: string) => [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" text-anchor="(end|middle)">([^<]*)<\/text>/g)]
  .map((m) => ({ x: +m[1], y: +m[2], anchor: m[3], text: m[4] }));

test('nice ticks: 1-2-5 steps, the axis widened to whole ticks, labels with the decimals the step needs', () => {
  const a = niceTicks(3.2, 61.008);
  assert.equal(a.step, 10);
  assert.deepEqual(a.ticks, [0, 10, 20, 30, 40, 50, 60, 70]);
  assert.deepEqual(a.ticks.map((v) => tickLabel(v, a.step)), ['0', '10', '20', '30', '40', '50', '60', '70']);
  const s = niceTicks(1, 850);
  assert.equal(s.step, 200);
  assert.ok(s.ticks.every(Number.isInteger)); // no "step 38.3"
  const small = niceTicks(0.00011, 0.00131);
  assert.equal(small.step, 0.0002);
  assert.equal(tickLabel(small.ticks[3], small.step), '0.0006');
  for (const [lo, hi] of [[0, 1], [2.9, 3.1], [-5, 17], [0.02, 7000], [1e5, 3.3e8]]) {
    const t = niceTicks(lo, hi);
    const f = t.step / 10 ** Math.floor(Math.log10(t.step));
    assert.ok([1, 2, 5].some((m) => Math.abs(f - m) < 1e-9), `${lo}..${hi}: step ${t.step}`);
    assert.ok(t.lo <= lo && t.hi >= hi && t.ticks.length >= 3 && t.ticks.length <= 12, `${lo}..${hi}: ${t.ticks}`);
  }
  assert.equal(tickLabel(25_000, 5000), '25k');
  assert.equal(tickLabel(1_500_000, 500_000), '1.5M');
  assert.deepEqual(logTicks(1, 64), [1, 2, 5, 10, 20, 50]);
  assert.deepEqual(logTicks(1e3, 2e6).map((v) => tickLabel(v, v)), ['1k', '10k', '100k', '1M']);
  const one = niceTicks(4.2, 4.2);
  assert.ok(one.lo < 4.2 && one.hi > 4.2);
});

test('charts: tick labels fit left of the axis and clear of the y title; legend inside; one point is a visible marker', () => {
  const svg = lineChartSVG([{ name: 'a rather long series name', color: '#000', points: [[1, 123456.7], [2, 234567.8], [3, 345678.9]] }],
    { title: 't', xLabel: 'x', yLabel: 'y' });
  const W = +/width="(\d+)"/.exec(svg)![1];
  const L = +/<line x1="([\d.]+)" y1="40" x2="\1"/.exec(svg)![1];
  const ys = labels(svg).filter((l) => l.anchor === 'end');
  assert.ok(ys.length >= 3);
  for (const l of ys) assert.ok(l.x - 7 * l.text.length >= 24, `y label '${l.text}' runs into the y title`);
  assert.ok(ys.every((l) => l.x < L));
  const legend = /<text x="([\d.]+)" y="[\d.]+">a rather long series name<\/text>/.exec(svg);
  assert.ok(legend && +legend[1] + 7 * 'a rather long series name'.length <= W, 'legend cut off');
  const single = lineChartSVG([{ name: 's', color: '#000', noMarkers: true, points: [[4, 0.5]] }], { title: 'one', xLabel: 'x', yLabel: 'y' });
  assert.ok(!/NaN|Infinity/.test(single));
  assert.match(single, /<circle /);
  const xs = labels(single).filter((l) => l.anchor === 'middle' && /^[\d.]+$/.test(l.text)).map((l) => +l.text);
  assert.ok(Math.min(...xs) < 4 && Math.max(...xs) > 4, `x ticks ${xs} around the single point`);
  const logSingle = lineChartSVG([{ name: 's', color: '#000', points: [[32, 10]] }], { title: 'one', xLabel: 'x', yLabel: 'y', logX: true, yFromZero: true });
  assert.ok(!/NaN|Infinity/.test(logSingle));
});

test('the committed docs/cost-*.svg are what the current chart code draws from docs/cost.json', () => {
  const saved = JSON.parse(readFileSync(new URL('../../docs/cost.json', import.meta.url), 'utf8'));
  for (const [name, svg] of costCharts(saved.rows, saved.options.shapes)) {
    assert.equal(readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8'), svg, `docs/${name} is stale: npx bitnet cost --replot docs`);
  }
});
