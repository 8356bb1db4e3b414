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

  await page.setInputFiles('#file', b);
  await waitState('ready');
  assert.match((await page.textContent('#status')) ?? '', /b\.gguf/);
  const r2 = await run();
  assert.equal(r2.text, wantB);
  await page.screenshot({ path: join(SHOTS, 'web-picked.png') });
  assert.deepEqual(errors, []);
});
