/**
 * Renders the evaluation report in headless Chromium (Debian `chromium`, installed by .ci/run) and
 * checks what a person would see: every image loaded, the metrics table present, no console
 * errors and no network request. Chromium or playwright-core absent: skipped with a clear message,
 * or failing under CI=true (test/helpers/prerequisite.ts).
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { evaluate } from '../../../pipelines/evaluate.ts';
import { diskImage, predictionWithErrors, TRUE_DISKS, W, H } from '../../transforms/evaluate/synth.ts';
import { writeWell } from '../../helpers/wells.ts';
import { requirePrerequisite } from '../../helpers/prerequisite.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

type Playwright = typeof import('playwright-core');
const playwright: Playwright | undefined = await import('playwright-core').catch(() => undefined);
const browserTest = requirePrerequisite(requirePrerequisite(test, CHROMIUM, existsSync(CHROMIUM), 'apt-get install chromium'), 'playwright-core', playwright !== undefined, 'npm install --save-dev playwright-core');

browserTest(`report: index.html shows every image and the metrics table in Chromium, offline and without console errors`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'isl-report-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const truth = {
    DAPI: diskImage(W, H, TRUE_DISKS, { noise: 0.03, seed: 1 }),
    MAP2: diskImage(W, H, TRUE_DISKS.map((d) => ({ ...d, r: 16, v: 0.5 })), { noise: 0.03, seed: 3 }),
  };
  const pred = { DAPI: predictionWithErrors(0.03, 2), MAP2: diskImage(W, H, TRUE_DISKS.map((d) => ({ ...d, r: 15, v: 0.45 })), { noise: 0.05, seed: 6 }) };
  await writeWell(join(dir, 'truth'), 'A1', truth, 'truth');
  await writeWell(join(dir, 'pred'), 'A1', pred, 'pred');
  await writeFile(join(dir, 'train.jsonl'), Array.from({ length: 40 }, (_, i) => JSON.stringify({ step: i * 25, loss: 1.5 * Math.exp(-i / 8) + 0.05 })).join('\n'));
  await writeFile(join(dir, 'qc.html'), '<!doctype html><title>QC</title><p>QC</p>');
  const res = await evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'report'), samples: 100_000, trainLog: join(dir, 'train.jsonl'), qcReport: join(dir, 'qc.html') });

  const browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors: string[] = [];
  const offline: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    offline.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(res.indexHtml).href, { waitUntil: 'load' });
  const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth })));
  // 2 labels x (heatmap, true, predicted, error) + the nuclear outlines.
  t.is(images.length, 9);
  for (const img of images) t.true(img.ok, `image ${img.src} did not load`);
  const rows = await page.$$eval('#metrics-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  t.deepEqual(rows.map((r) => r.slice(0, 2)), [['A1', 'DAPI'], ['A1', 'MAP2']]);
  for (const r of rows) t.regex(r[2] ?? '', /^0\.\d{3}$/);
  t.true(await page.isVisible('#metrics-table'));
  t.true(await page.isVisible('#objects-table'));
  t.true(await page.isVisible('#training svg path'));
  t.is(await page.getAttribute('a[href="../qc.html"]', 'href'), '../qc.html');
  // Every local link resolves to a file (the page must work when the folder is opened offline).
  const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')!).filter((h) => !h.startsWith('#')));
  t.deepEqual(hrefs, ['../qc.html', '../train.jsonl', 'metrics.json']);
  for (const h of hrefs) t.true(existsSync(join(dir, 'report', h)), `link ${h}`);
  t.deepEqual(consoleErrors, []);
  t.deepEqual(offline, []);
  const shot = join(dir, 'report', 'screenshot.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.true(existsSync(shot));
});
