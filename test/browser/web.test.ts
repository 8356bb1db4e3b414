/**
 * The browser demo in a real browser (Debian chromium driven by playwright-core): the page loads a GGUF
 * into the WASM engine inside a Web Worker, a prompt is typed, generated text streams in. Greedy output
 * must equal what the same engine produces in Node. Opt-in (it needs /usr/bin/chromium): `npm run test:browser`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { loadModel, writeModelGGUF } from '../../src/model/index.js';
import { synthTokenizer, synthWeights } from '../../src/model/synth.js';
import { ensureWebBundle, startWebServer, PACKAGE_ROOT } from '../../src/serve/static.js';
import { lineChartSVG } from '../../src/report/chart.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const enabled = process.env.BITNET_BROWSER === '1';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const SHOTS = process.env.BITNET_SCREENSHOTS ?? join(PACKAGE_ROOT, 'dist', 'screenshots');

const cleanup: Array<() => Promise<unknown> | void> = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });

test('browser demo: load the bundled model, type a prompt, stream text (greedy = Node engine); then a picked GGUF file', { skip: !enabled && 'set BITNET_BROWSER=1 (npm run test:browser)', timeout: 120_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install -y chromium`);
  const dir = mkdtempSync(join(tmpdir(), 'bitnet-web-'));
  const shape = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 512, vocabSize: 400, contextLength: 256 };
  const tok = synthTokenizer(shape.vocabSize);
  const a = join(dir, 'a.gguf'), b = join(dir, 'b.gguf');
  writeModelGGUF(a, synthWeights(shape, 3, 4), tok);
  writeModelGGUF(b, synthWeights(shape, 6, 1), tok);

  // what the engine gives in Node: greedy, the page's default sampler settings otherwise
  const prompt = 'In the beginning';
  const expect = async (file: string) => {
    const m = await loadModel(file, { backend: 'wasm', threads: 1 });
    const it = m.generate(m.tokenizer.encode(prompt), { temperature: 0, maxTokens: 24 });
    let r = await it.next();
    while (!r.done) r = await it.next();
    m.dispose();
    return r.value.text;
  };
  const wantA = await expect(a), wantB = await expect(b);
  assert.notEqual(wantA, wantB, 'the two test models must write different text');

  await ensureWebBundle();
  const { server, url } = await startWebServer({ port: 0, model: a });
  cleanup.push(() => new Promise((r) => server.close(r)));
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  cleanup.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP headers make the page cross-origin isolated');

  const waitState = async (state: string) => {
    await page.waitForFunction((s) => document.body.dataset.state === s || document.body.dataset.state === 'error', state, { timeout: 60_000 });
    const st = await page.evaluate(() => [document.body.dataset.state, document.getElementById('status')!.textContent] as const);
    assert.equal(st[0], state, `page state: ${st[1]}; errors: ${errors.join('; ')}`);
  };
  const run = async () => {
    await page.fill('#prompt', prompt);
    await page.fill('#max-tokens', '24');
    await page.fill('#temperature', '0');
    // count the distinct states of the output while it is generated: streaming shows text before the end
    await page.evaluate(() => {
      const w = window as unknown as { seen: Set<string> };
      w.seen = new Set();
      new MutationObserver(() => w.seen.add(document.getElementById('output')!.textContent ?? '')).observe(document.getElementById('output')!, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#generate');
    await waitState('done');
    const updates = await page.evaluate(() => (window as unknown as { seen: Set<string> }).seen.size);
    assert.ok(updates > 1, `the output updated ${updates} time(s): tokens should stream in`);
    return { text: (await page.textContent('#output')) ?? '', stats: (await page.textContent('#stats')) ?? '', status: (await page.textContent('#status')) ?? '' };
  };

  await waitState('ready'); // the page loads the bundled model by itself
  const r1 = await run();
  assert.match(r1.status, /wasm/);
  assert.match(r1.stats, /\d+ tokens .* [\d.]+ tok\/s/);
  assert.ok(r1.text.length > 0, 'generated text appears');
  assert.equal(r1.text, wantA, 'greedy text in the browser equals the Node engine\'s');
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'web-bundled.png') });
  // the generated text is on screen: the output box renders differently from the same box emptied
  const withText = await page.locator('#output').screenshot({ path: join(SHOTS, 'web-output.png') });
  const saved = r1.text;
  await page.evaluate(() => { document.getElementById('output')!.textContent = ''; });
  const empty = await page.locator('#output').screenshot();
  assert.ok(!withText.equals(empty), 'the generated text is not visible in the page');
  await page.evaluate((t) => { document.getElementById('output')!.textContent = t; }, saved);

  await page.setInputFiles('#file', b);
  await waitState('ready');
  assert.match((await page.textContent('#status')) ?? '', /b\.gguf/);
  const r2 = await run();
  assert.equal(r2.text, wantB);
  await page.screenshot({ path: join(SHOTS, 'web-picked.png') });
  assert.deepEqual(errors, []);
});

test('a plot in a real browser: every label inside the picture, none overlapping; the screenshot is not blank', { skip: !enabled && 'set BITNET_BROWSER=1 (npm run test:browser)', timeout: 60_000 }, async () => {
  const svg = lineChartSVG([
    { name: 'ternary', color: '#1f77b4', points: [[0.7, 0.00131], [1.3, 0.0024], [3.2, 0.0061], [3.9, 0.0074]] },
    { name: 'fp16 (a longer name)', color: '#d62728', dashed: true, points: [[0.7, 1.4], [1.3, 2.6], [3.2, 6.4], [3.9, 7.8]] },
  ], { title: 'weight memory vs model size', xLabel: 'linear parameters (billions)', yLabel: 'weight memory (GB)', yFromZero: true });
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  cleanup.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 900, height: 500 } });
  await page.setContent(`<body style="margin:0">${svg}</body>`);
  const boxes = await page.evaluate(() => {
    const root = document.querySelector('svg')!;
    const r = root.getBoundingClientRect();
    return { w: r.width, h: r.height, texts: Array.from(root.querySelectorAll('text')).map((t) => { const b = t.getBoundingClientRect(); return { s: t.textContent, l: b.left, r: b.right, t: b.top, b: b.bottom }; }) };
  });
  for (const t of boxes.texts) assert.ok(t.l >= 0 && t.t >= 0 && t.r <= boxes.w && t.b <= boxes.h, `'${t.s}' is cut off`);
  for (let i = 0; i < boxes.texts.length; i++) {
    for (let j = i + 1; j < boxes.texts.length; j++) {
      const a = boxes.texts[i], b = boxes.texts[j];
      const overlap = a.l < b.r - 1 && b.l < a.r - 1 && a.t < b.b - 1 && b.t < a.b - 1;
      assert.ok(!overlap, `'${a.s}' overlaps '${b.s}'`);
    }
  }
  mkdirSync(SHOTS, { recursive: true });
  const shot = await page.locator('svg').screenshot({ path: join(SHOTS, 'plot.png') });
  await page.setContent(`<body style="margin:0"><svg xmlns="http://www.w3.org/2000/svg" width="${boxes.w}" height="${boxes.h}"><rect width="100%" height="100%" fill="white"/></svg></body>`);
  const blank = await page.locator('svg').screenshot();
  assert.ok(!shot.equals(blank), 'the plot renders as a blank picture');
});
