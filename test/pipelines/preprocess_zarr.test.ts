import test from 'ava';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedDump } from '../../fixtures/truth.ts';
import { readCanonicalWell } from '../../io/canonical.ts';
import { preprocess } from '../../pipelines/preprocess.ts';
import { canonicalLevel0, pythonPlateSummary, sha256Of, validatePlate, withNgffTools } from '../helpers/ngff.ts';

withNgffTools(test)('preprocess --zarr: OUT/plate.zarr holds the canonical wells (python3-zarr reads the PNG pixels), valid metadata, pixel size from dump.json; the plate is accepted as input', async (t) => {
  const dump = await cachedDump({ preset: 'ci', seed: 7, wells: 2, labels: ['DAPI', 'MAP2'], truthCanvases: 'projection' });
  const out = await mkdtemp(join(tmpdir(), 'isl-preprocess-zarr-'));
  const s = await preprocess({ input: dump, output: out, workers: 2, progress: false, shards: false, zarr: true });
  t.deepEqual(s.wells.failed, []);
  const plate = join(out, 'plate.zarr');
  t.deepEqual(validatePlate(plate), []);
  const py = pythonPlateSummary(plate);
  t.deepEqual(py.wells, ['A/1', 'A/2']);
  const px = JSON.parse(await readFile(join(dump, 'dump.json'), 'utf8')).pixelSizeUm;
  for (const w of ['A1', 'A2']) {
    const png = await readCanonicalWell(join(out, 'wells', w));
    t.is(py.images[`A/${w.slice(1)}/0`][0].sha256, sha256Of(canonicalLevel0(png)), `${w}: level 0 equals the canonical PNGs`);
    const attrs = JSON.parse(await readFile(join(plate, 'A', w.slice(1), '0', '.zattrs'), 'utf8'));
    t.is(attrs.multiscales[0].datasets[0].coordinateTransformations[0].scale[2], px * 2, 'pixel size after the 2x downscale');
  }
  // The plate as input of an inference run: same wells, same transmitted pixels (already normalized).
  const again = await preprocess({ input: plate, output: join(out, 'again'), mode: 'inference', progress: false, shards: false });
  t.deepEqual(again.wells.failed, []);
  t.deepEqual([...again.wells.done].sort(), ['A1', 'A2']);
});
