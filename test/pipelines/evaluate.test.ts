import test from 'ava';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { plane, type Plane } from '../../core/image.ts';
import { evaluate } from '../../pipelines/evaluate.ts';
import type { Metrics } from '../../pipelines/report/metrics.ts';
import { pearson } from '../../transforms/evaluate/index.ts';
import { diskImage, predictionWithErrors, TRUE_DISKS, W, H } from '../transforms/evaluate/synth.ts';
import { writeWell } from '../helpers/wells.ts';

/** What a canonical 16-bit PNG round trip does to intensities. */
function quantised(p: Plane<'float32'>): Float32Array {
  return Float32Array.from(p.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 65535) / 65535);
}

/** Truth: 24 nuclei (every third dead, with smaller nuclei), DAPI + PROPIDIUM_IODIDE + MAP2. */
function scene() {
  const dead = new Set([2, 5, 8, 11, 14, 17, 20, 23].filter((i) => i !== 5 && i !== 8)); // 5 and 8 carry injected errors
  const nuclei = TRUE_DISKS.map((d, i) => (dead.has(i) ? { ...d, r: 7 } : d));
  const dapiT = diskImage(W, H, nuclei, { noise: 0.03, seed: 1 });
  const piT = diskImage(W, H, nuclei.filter((_, i) => dead.has(i)).map((d) => ({ ...d, r: d.r + 1, v: 0.9 })), { noise: 0.02, seed: 2 });
  const map2T = diskImage(W, H, TRUE_DISKS.map((d) => ({ ...d, r: 16, v: 0.5 })), { noise: 0.03, seed: 3 });
  const dapiP = predictionWithErrors(0.03, 4);
  const piP = diskImage(W, H, nuclei.filter((_, i) => dead.has(i)).map((d) => ({ ...d, r: d.r + 1, v: 0.8 })), { noise: 0.05, seed: 5 });
  const map2P = diskImage(W, H, TRUE_DISKS.map((d) => ({ ...d, r: 15, v: 0.45 })), { noise: 0.05, seed: 6 });
  return { truth: { DAPI: dapiT, PROPIDIUM_IODIDE: piT, MAP2: map2T }, pred: { DAPI: dapiP, PROPIDIUM_IODIDE: piP, MAP2: map2P }, deadCount: dead.size };
}

async function tmp(t: { teardown: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'isl-evaluate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('evaluate: metrics.json matches independent computation; images and page written', async (t) => {
  const dir = await tmp(t);
  const s = scene();
  await writeWell(join(dir, 'truth'), 'A1', s.truth, 'truth');
  await writeWell(join(dir, 'truth'), 'B2', s.truth, 'truth'); // no prediction: skipped, listed
  await writeWell(join(dir, 'pred'), 'A1', s.pred, 'pred');
  const res = await evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'report'), seed: 3, noiseSd: { MAP2: 0.03 } });
  const m = JSON.parse(await readFile(res.metricsJson, 'utf8')) as Metrics;
  t.deepEqual(m.skippedWells, ['B2']);
  t.is(m.wells.length, 1);
  const w = m.wells[0];
  t.deepEqual([w.well, w.width, w.height], ['A1', W, H]);
  t.deepEqual(w.labels.map((l) => l.label), ['DAPI', 'MAP2', 'PROPIDIUM_IODIDE']);
  for (const l of w.labels) {
    const key = l.label as keyof typeof s.truth;
    const expected = pearson(quantised(s.truth[key]), quantised(s.pred[key]));
    t.true(Math.abs(l.rWhole - expected) < 1e-9, `${l.label} whole r ${l.rWhole} vs ${expected}`);
    t.true(Math.abs(l.r - l.rWhole) < 0.01, `${l.label} sampled r ${l.r}`);
    t.is(l.samples, 1_000_000);
    t.is(Math.round(l.heatmap.perThousand.reduce((a, b) => a + b, 0)), 1000);
    for (const f of Object.values(l.images)) t.is((await sharp(join(res.indexHtml, '..', f)).metadata()).format, 'png');
    t.deepEqual(l.crop.width, 240);
  }
  t.is(w.labels[1].ceiling?.method, 'noise-sd');
  t.true(w.labels[1].ceiling!.r > 0.9 && w.labels[1].ceiling!.r < 1);
  // Object level: exactly the injected errors (2 missed, 1 split, 1 merge, 2 added).
  t.like(w.objects!.match, { trueObjects: 24, missed: 2, split: 1, merged: 1, added: 2, errors: 6, accuracy: 0.75 });
  // Dead nuclei (PI-positive) are smaller: the true size distributions separate completely.
  const ld = w.objects!.liveDead!;
  t.is(ld.deadLabel, 'PROPIDIUM_IODIDE');
  t.is(ld.truth.deadAreas.length, s.deadCount);
  t.is(ld.truth.liveAreas.length, 24 - s.deadCount);
  t.is(ld.truth.ks!.statistic, 1);
  t.true(ld.truth.ks!.pValue < 1e-3);
  const html = await readFile(res.indexHtml, 'utf8');
  t.true(html.includes('id="metrics-table"') && html.includes('id="objects-table"') && html.includes('id="live-dead-table"'));
  t.false(/https?:\/\//.test(html.replace(/Christiansen[^<]*/g, '')), 'no network URL in the page');
});

test('evaluate: sampled r is reproducible for a seed and changes with it', async (t) => {
  const dir = await tmp(t);
  const s = scene();
  await writeWell(join(dir, 'truth'), 'A1', { MAP2: s.truth.MAP2 }, 'truth');
  await writeWell(join(dir, 'pred'), 'A1', { MAP2: s.pred.MAP2 }, 'pred');
  const run = (seed: number, out: string) => evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, out), seed, samples: 10_000 });
  const [a, b, c] = [await run(1, 'a'), await run(1, 'b'), await run(2, 'c')];
  t.is(a.metrics.wells[0].labels[0].r, b.metrics.wells[0].labels[0].r);
  t.not(a.metrics.wells[0].labels[0].r, c.metrics.wells[0].labels[0].r);
  t.is(a.metrics.wells[0].objects, undefined); // no nuclear label: no object metrics
});

test('evaluate: replicate true wells give the noise ceiling; training log and QC report are linked', async (t) => {
  const dir = await tmp(t);
  const s = scene();
  await writeWell(join(dir, 'truth'), 'A1', { MAP2: s.truth.MAP2 }, 'truth');
  await writeWell(join(dir, 'rep'), 'A1', { MAP2: diskImage(W, H, TRUE_DISKS.map((d) => ({ ...d, r: 16, v: 0.5 })), { noise: 0.03, seed: 33 }) }, 'truth');
  await writeWell(join(dir, 'pred'), 'A1', { MAP2: s.pred.MAP2 }, 'pred');
  await writeFile(join(dir, 'train.jsonl'), [0, 10, 20].map((step) => JSON.stringify({ step, loss: 1 / (step + 1) })).join('\n'));
  await mkdir(join(dir, 'qc'));
  await writeFile(join(dir, 'qc', 'index.html'), '<p>qc</p>');
  const res = await evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'report'), replicate: join(dir, 'rep'), trainLog: join(dir, 'train.jsonl'), qcReport: join(dir, 'qc'), samples: 1000 });
  const l = res.metrics.wells[0].labels[0];
  t.is(l.ceiling?.method, 'replicates');
  t.true(l.ceiling!.r > l.r, 'the ceiling bounds the prediction');
  t.deepEqual(res.metrics.links, { qcReport: '../qc/index.html', trainLog: '../train.jsonl' });
  const html = await readFile(res.indexHtml, 'utf8');
  t.true(html.includes('href="../qc/index.html"') && html.includes('<svg') && html.includes('loss (log scale)'));
});

test('evaluate: clear errors for mismatched sizes, one-sided labels or wells, empty and blank images', async (t) => {
  const dir = await tmp(t);
  const s = scene();
  const truth = join(dir, 'truth');
  await writeWell(truth, 'A1', { DAPI: s.truth.DAPI, MAP2: s.truth.MAP2 }, 'truth');
  const go = (pred: string, extra: object = {}) => evaluate({ pred: join(dir, pred), truth, out: join(dir, 'r'), samples: 100, ...extra });

  await writeWell(join(dir, 'p1'), 'A1', { DAPI: plane('float32', W, H - 10, s.pred.DAPI.data.slice(0, W * (H - 10))), MAP2: s.pred.MAP2 }, 'pred');
  await t.throwsAsync(go('p1'), { message: /prediction of DAPI is 240x150 but the true image is 240x160/ });

  await writeWell(join(dir, 'p2'), 'A1', { DAPI: s.pred.DAPI, MAP2: s.pred.MAP2, CELLMASK: s.pred.MAP2 }, 'pred');
  await t.throwsAsync(go('p2'), { message: /well A1: label CELLMASK is predicted but has no true image \(true labels: DAPI, MAP2\)/ });

  await writeWell(join(dir, 'p3'), 'A1', { DAPI: s.pred.DAPI }, 'pred');
  await t.throwsAsync(go('p3'), { message: /well A1: true label MAP2 has no prediction \(predicted: DAPI\); pass labels\/--labels to evaluate a subset/ });
  const subset = await go('p3', { labels: ['DAPI'] });
  t.deepEqual(subset.metrics.wells[0].labels.map((l) => l.label), ['DAPI']);

  await writeWell(join(dir, 'p4'), 'C3', { DAPI: s.pred.DAPI, MAP2: s.pred.MAP2 }, 'pred');
  await t.throwsAsync(go('p4'), { message: /well C3 has predictions but no true images in .* \(true wells: A1\)/ });

  await mkdir(join(dir, 'p5'));
  await t.throwsAsync(go('p5'), { message: /no predictions found; expected 16-bit PNGs named like/ });

  await writeWell(join(dir, 'p6'), 'A1', { DAPI: plane('float32', W, H), MAP2: s.pred.MAP2 }, 'pred');
  await t.throwsAsync(go('p6'), { message: /prediction of DAPI is blank: all 240x160 pixels equal 0 \(an empty image/ });

  await t.throwsAsync(go('nowhere'), { message: /cannot read the folder of predictions \(does it exist\?\)/ });
  await t.throwsAsync(go('p3', { samples: -1 }), { message: 'Expected a positive integer for samples but received -1 (number)' });
});

test('CLI: prints the path of index.html; bad usage exits 2 with one line', async (t) => {
  const dir = await tmp(t);
  const s = scene();
  await writeWell(join(dir, 'truth'), 'A1', { MAP2: s.truth.MAP2 }, 'truth');
  await writeWell(join(dir, 'pred'), 'A1', { MAP2: s.pred.MAP2 }, 'pred');
  const run = promisify(execFile);
  const { stdout, stderr } = await run(process.execPath, ['--import=tsx', 'pipelines/evaluate.ts', '--pred', join(dir, 'pred'), '--truth', join(dir, 'truth'), '--out', join(dir, 'report'), '--samples', '5000']);
  t.is(stdout.trim(), join(dir, 'report', 'index.html'));
  t.regex(stderr, /A1 MAP2: r = 0\.\d{3} \(whole image 0\.\d{3}\)/);
  const bad = await run(process.execPath, ['--import=tsx', 'pipelines/evaluate.ts', '--pred', join(dir, 'pred'), '--truth', join(dir, 'truth'), '--out', join(dir, 'r2'), '--noise-sd', 'MAP2'], {}).catch((e) => e);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /Expected LABEL=SD with SD >= 0 in canonical units \(e\.g\. DAPI_CONFOCAL=0\.02\) but received "MAP2"/);
});
