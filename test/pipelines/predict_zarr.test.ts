import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCanonicalWell } from '../../io/canonical.ts';
import { readPlane } from '../../io/read.ts';
import { buildPlan, tiny, type ModelConfig } from '../../model/plan.ts';
import { writeModelDir } from '../../model/onnx/model_dir.ts';
import { listWells, predict } from '../../pipelines/predict.ts';
import { canonicalImage, writePlateMetadata, writePlateWell } from '../../io/zarr/index.ts';
import { randomWeights } from '../helpers/weights.ts';
import { pythonPlateSummary, validatePlate, withNgffTools } from '../helpers/ngff.ts';
import { syntheticWell } from '../helpers/synthetic_well.ts';

const config: ModelConfig = { ...structuredClone(tiny), heads: { autoencoding: 0, labels: ['DAPI', 'TUJ1'] } };

withNgffTools(test)('predict from an OME-Zarr plate gives the same PNGs as from the canonical PNGs; PRED/plate.zarr is valid and python3-zarr reads it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'isl-predict-zarr-'));
  await writeModelDir(join(dir, 'model'), config, randomWeights(buildPlan(config), 4));
  const wells = [syntheticWell('A01', 37, 30, 1), syntheticWell('B07', 45, 33, 3)];
  for (const w of wells) {
    await writeCanonicalWell(join(dir, 'wells', w.well), w);
    await writePlateWell(join(dir, 'in.zarr'), canonicalImage(w));
  }
  await writePlateMetadata(join(dir, 'in.zarr'));
  t.deepEqual(listWells(join(dir, 'in.zarr')).map((id) => id.split('#')[1]), ['A01', 'B07']);
  const opts = { model: join(dir, 'model'), stats: ['median', 'entropy'] as ('median' | 'entropy')[], workers: 1, progress: false };
  const a = await predict({ ...opts, input: join(dir, 'wells'), output: join(dir, 'from-png') });
  const b = await predict({ ...opts, input: join(dir, 'in.zarr'), output: join(dir, 'from-zarr') });
  t.deepEqual(a.failed, []);
  t.deepEqual(b.failed, []);
  for (const w of ['A01', 'B07'])
    for (const l of ['DAPI', 'TUJ1'])
      for (const s of ['MEDIAN', 'ENTROPY']) {
        const f = `well-${w},channel-${l},statistic-${s},is_mask-false.png`;
        const [p, q] = await Promise.all([readPlane(join(dir, 'from-png', w, f)), readPlane(join(dir, 'from-zarr', w, f))]);
        t.deepEqual(Array.from(q.data), Array.from(p.data), `${w} ${l} ${s}`);
      }
  const pred = join(dir, 'from-zarr', 'plate.zarr');
  t.deepEqual(validatePlate(pred), []);
  const py = pythonPlateSummary(pred);
  t.deepEqual(py.wells, ['A/1', 'B/7']);
  t.deepEqual(py.images['B/7/0'][0].shape, [4, 33, 45]);
  t.is(py.images['B/7/0'][0].dtype, 'float32');
  const attrs = JSON.parse(readFileSync(join(pred, 'A', '1', '0', '.zattrs'), 'utf8'));
  t.deepEqual(attrs.omero.channels.map((c: { label: string }) => c.label), ['DAPI:MEDIAN', 'DAPI:ENTROPY', 'TUJ1:MEDIAN', 'TUJ1:ENTROPY']);
  // The MEDIAN channel holds the PNG's values (before x 65535 rounding).
  const png = (await readPlane(join(dir, 'from-png', 'A01', 'well-A01,channel-DAPI,statistic-MEDIAN,is_mask-false.png'))).data;
  const sum = Array.from(png).reduce((s, v) => s + v / 65535, 0);
  const zsum = py.images['A/1/0'][0].sum; // all 4 channels; compare the median's share through our own read below
  t.true(zsum > 0);
  const { openArray } = await import('../../io/zarr/store.ts');
  const zarr = await import('zarrita');
  const got = (await zarr.get(await openArray(join(pred, 'A', '1', '0', '0')), [0, null, null])).data as Float32Array;
  t.true(Math.abs(got.reduce((s, v) => s + v, 0) - sum) <= (0.5 / 65535) * png.length, 'median channel sum equals the PNG sum within rounding');
});
