/** Real data from ../shared/data (skipped when absent): wsi-brain flat-field vs BaSiC, brightfield dust. */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { toFloat32, type Plane } from '../../io/image.ts';
import { readPlane } from '../../io/read.ts';
import { FlatFieldEstimator } from '../../transforms/flat_field.ts';
import { TransmittedDustEstimator } from '../../transforms/transmitted_dust.ts';
import { gaussianBlur } from '../../transforms/gaussian.ts';
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

withShared(test, 'wsi-brain')('wsi-brain: flat-field from background tiles correlates >= 0.97 with BaSiC (128x128)', async (t) => {
  const dir = sharedDataset('wsi-brain')!;
  const files = readdirSync(dir).filter((f) => /^C3-BrainSection\d+\.tif$/.test(f)).sort();
  const tiles = await Promise.all(files.map(async (f) => toFloat32(await readPlane(join(dir, f)))));
  const ref = toFloat32(await readPlane(join(dir, 'basic-reference-flatfield-flatonly.tif')));
  // Tissue covers whole tiles and its borders are not at random positions, which the per-pixel
  // median assumes: estimate from background tiles (mean below 1.5x the dimmest tile's), the
  // documented use for whole-slide tissue.
  const means = tiles.map(mean);
  const cut = 1.5 * Math.min(...means);
  const all = new FlatFieldEstimator({ modality: 'fluorescence' });
  const background = new FlatFieldEstimator({ modality: 'fluorescence' });
  tiles.forEach((p, i) => {
    all.add(p, files[i]);
    if (means[i] < cut) background.add(p, files[i]);
  });
  const bg = background.finish();
  const rBg = pearson(blockMean(bg.field, 128), ref.data);
  const rAll = pearson(blockMean(all.finish().field, 128), ref.data);
  t.log(`r vs BaSiC flat-only: ${rBg.toFixed(4)} from the ${bg.images} background tiles, ${rAll.toFixed(4)} from all ${tiles.length} (tissue structure leaks in)`);
  t.true(rBg >= 0.97, `r ${rBg}`);
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
