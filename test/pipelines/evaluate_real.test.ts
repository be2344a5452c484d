/**
 * The pipeline on a real, published ISL well (../shared/data/isl-condition-b-top: DAPI, MAP2 and
 * NFH confocal targets), with a degraded copy of the truth standing in for a prediction. Skips
 * when the shared data is absent.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withShared, sharedDataset } from '../helpers/shared.ts';
import { readCanonicalWell } from '../../io/canonical.ts';
import type { Plane } from '../../core/image.ts';
import { rng } from '../../core/random.ts';
import { evaluate } from '../../pipelines/evaluate.ts';
import { gaussianBlur, pearson } from '../../transforms/evaluate/index.ts';
import { writeWell } from '../helpers/wells.ts';

const DATA = 'isl-condition-b-top';

withShared(test, DATA)('evaluate on a real ISL well: r matches an independent computation, nuclei survive a mild blur', async (t) => {
  const truthDir = sharedDataset(DATA)!;
  const dir = await mkdtemp(join(tmpdir(), 'isl-real-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const well = await readCanonicalWell(truthDir);
  const g = rng(4);
  const degraded: Record<string, Plane<'float32'>> = {};
  for (const [label, p] of well.labels) {
    const b = gaussianBlur(p, 1.5);
    for (let i = 0; i < b.data.length; i++) b.data[i] = Math.min(1, Math.max(0, b.data[i] + 0.02 * g.normal()));
    degraded[label] = b;
  }
  await writeWell(join(dir, 'pred'), well.well, degraded, 'pred');
  const res = await evaluate({ pred: join(dir, 'pred'), truth: truthDir, out: join(dir, 'report'), samples: 200_000 });
  const w = res.metrics.wells[0];
  t.deepEqual(w.labels.map((l) => l.label), ['DAPI_CONFOCAL', 'MAP2_CONFOCAL', 'NFH_CONFOCAL']);
  for (const l of w.labels) {
    const q = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 65535) / 65535;
    const expected = pearson(well.labels.get(l.label)!.data, Float32Array.from(degraded[l.label].data, q));
    t.true(Math.abs(l.rWhole - expected) < 1e-6, `${l.label}: ${l.rWhole} vs ${expected}`);
    t.true(l.r > 0.5 && l.r < 1, `${l.label}: r = ${l.r}`);
    t.log(`${l.label}: r = ${l.r.toFixed(4)}, whole ${l.rWhole.toFixed(4)}`);
  }
  const o = w.objects!;
  t.is(o.label, 'DAPI_CONFOCAL');
  t.true(o.match.trueObjects >= 20, `${o.match.trueObjects} true nuclei`);
  t.true(o.match.accuracy > 0.7, JSON.stringify(o.match));
  t.log(`nuclei: ${JSON.stringify(o.match)}`);
});
