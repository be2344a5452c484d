/**
 * `npm start` (pipelines/demo.ts), reduced: its own chain on a 2-well dump of 2x2 tiles of 160 px
 * with the tiny network. Checks the files README promises and that the held-out well's nuclei
 * (DAPI) r shows real learning: seeded, 150 steps gave 0.61, 15 steps 0.14, and 1 step a blank
 * prediction that evaluate rejects.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demo } from '../../pipelines/demo.ts';
import { demoOut, preprocessOut } from '../../io/out_layout.ts';

test('npm start, reduced: every promised output exists and the held-out nuclei r is above what an untrained network reaches', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'isl-demo-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const html = await demo({ out, seed: 1, steps: 150, config: 'tiny', dump: { wells: 2, grid: 2, tile: 160 } });
  const d = demoOut(out);
  t.is(html, join(d.report, 'index.html'));
  for (const f of [join(d.dump, 'manifest.csv'), join(d.dump, 'truth', 'summary.json'), preprocessOut.runJson(d.pre), preprocessOut.split(d.pre), join(d.model, 'model.json'), join(d.model, 'weights.bin'), html]) t.true(existsSync(f), f);

  // Only the test split is predicted and judged; the training well is listed as skipped.
  const split = JSON.parse(await readFile(preprocessOut.split(d.pre), 'utf8')) as { train: string[]; test: string[] };
  t.deepEqual(split.test, ['A2']);
  t.deepEqual(readdirSync(d.heldOut), split.test);
  t.deepEqual(readdirSync(join(d.pred, 'A2')).filter((f) => f.endsWith('.png')).sort(), ['CELLMASK', 'DAPI', 'MAP2', 'PROPIDIUM_IODIDE'].map((c) => `well-A2,channel-${c},statistic-MEDIAN,is_mask-false.png`));
  const metrics = JSON.parse(await readFile(join(d.report, 'metrics.json'), 'utf8'));
  t.deepEqual(metrics.skippedWells, split.train);
  t.deepEqual(metrics.wells.map((w: { well: string }) => w.well), ['A2']);
  const dapi = metrics.wells[0].labels.find((l: { label: string }) => l.label === 'DAPI');
  t.log(`held-out A2 nuclei (DAPI) r = ${dapi.r.toFixed(3)}`);
  t.true(dapi.r > 0.45, `held-out nuclei r ${dapi.r}`);
  t.true(existsSync(join(d.report, 'A2', 'DAPI_nuclei.png')), 'nuclei outline image');
});
