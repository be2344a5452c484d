/** Real data from ../shared/data (skipped when absent): wsi-brain flat-field vs BaSiC, brightfield dust. */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFloat32, type Plane } from '../../core/image.ts';
import { readPlane } from '../../io/read.ts';
import { FlatFieldEstimator } from '../../transforms/flat_field.ts';
import { TransmittedDustEstimator } from '../../transforms/transmitted_dust.ts';
import { gaussianBlur } from '../../transforms/gaussian.ts';
import { flatField, fieldPath } from '../../pipelines/stages/fields.ts';
import { newContext } from '../../pipelines/stages/items.ts';
import { sharedDataset, withShared } from '../helpers/shared.ts';
import { pearson } from './synth.ts';

/** Mean over n x n blocks to an out x out image (the 128x128 grid of BaSiC's reference). */
function blockMean(p: Plane<'float32'>, out: number): Float32Array {
  const fx = p.width / out;
  const fy = p.height / out;
  const o = new Float32Array(out * out);
  for (let y = 0; y < p.height; y++) for (let x = 0; x < p.width; x++) o[Math.floor(y / fy) * out + Math.floor(x / fx)] += p.data[y * p.width + x] / (fx * fy);
  return o;
}

const mean = (p: Plane<'float32'>) => p.data.reduce((a, b) => a + b, 0) / p.data.length;

withShared(test, 'wsi-brain')('wsi-brain: the flat_field stage selects background tiles itself; r >= 0.97 with BaSiC (128x128)', async (t) => {
  const dir = sharedDataset('wsi-brain')!;
  const files = readdirSync(dir).filter((f) => /^C3-BrainSection\d+\.tif$/.test(f)).sort();
  const tiles = await Promise.all(files.map(async (f) => toFloat32(await readPlane(join(dir, f)))));
  const ref = toFloat32(await readPlane(join(dir, 'basic-reference-flatfield-flatonly.tif')));
  // Through the pipeline stage with its default params (an estimation-pass sink), as
  // pipelines/preprocess.ts runs it: tissue covers whole tiles, and the stage must find the
  // background tiles from the data.
  const out = await mkdtemp(join(tmpdir(), 'isl-wsi-'));
  try {
    const ctx = newContext({ mode: 'training', wells: ['W'], output: out, estimating: 'flat_field' });
    const sink = flatField.create(flatField.params.parse({}), ctx, 'flat_field');
    if (sink.type !== 'sink') throw new Error('expected a sink in an estimation pass');
    for (const [i, p] of tiles.entries()) await sink.write({ well: 'W', tileRow: 0, tileCol: i, channel: 'C3', z: 0, path: files[i], modality: 'fluorescence', plane: p });
    await sink.final!();
    const field = toFloat32(await readPlane(fieldPath(out, 'flat_field', 'C3')));
    const info = JSON.parse(await readFile(join(out, 'fields', 'flat_field.json'), 'utf8')).channels.C3;
    const r = pearson(blockMean(field, 128), ref.data);
    // the same tiles without selection (the streaming histogram median over all 63)
    const all = new FlatFieldEstimator({ modality: 'fluorescence', selectBackground: false });
    for (const p of tiles) all.add(p);
    const rAll = pearson(blockMean(all.finish().field, 128), ref.data);
    t.log(`r vs BaSiC flat-only: ${r.toFixed(4)} from the ${info.images} tiles the stage kept (${info.rejected} rejected), ${rAll.toFixed(4)} from all ${tiles.length} without selection`);
    t.is(info.images + info.rejected, tiles.length);
    t.is(info.selection, 'background');
    t.true(info.rejected > 0 && info.images >= 10, `${info.images} kept`);
    t.true(r >= 0.97, `r ${r}`);
    // a kept tile is a background one: no kept tile is brighter than 1.5x the dimmest tile
    const means = tiles.map(mean);
    t.true(means.filter((m) => m < 1.5 * Math.min(...means)).length >= info.images, 'kept no more tiles than the dim (background) ones');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

withShared(test, 'brightfield-timelapse')('brightfield-timelapse: the dust pattern is the same in two disjoint halves of the frames', async (t) => {
  const dir = sharedDataset('brightfield-timelapse')!;
  const files = readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
  const frames = await Promise.all(files.map(async (f) => toFloat32(await readPlane(join(dir, f)))));
  const halves = [new TransmittedDustEstimator(), new TransmittedDustEstimator()];
  frames.forEach((p, i) => halves[i % 2].add(p, files[i]));
  const [a, b] = halves.map((h) => h.finish().field);
  // fine structure (specks): the field minus its own slow illumination component
  const fine = (p: Plane<'float32'>) => {
    const slow = gaussianBlur(p, 8).data;
    return Float32Array.from(p.data, (v, i) => v - slow[i]);
  };
  const r = pearson(fine(a), fine(b));
  // cells move between frames: a single frame's fine structure does not match the other half's field
  const single = pearson(fine(frames[0]), fine(b));
  t.log(`fine structure of the dust field, odd vs even frames: r = ${r.toFixed(3)}; one frame vs the field: r = ${single.toFixed(3)}`);
  t.true(r > 0.7, `split-half r ${r}`);
  t.true(r > single + 0.2, `${r} vs ${single}`);
});
