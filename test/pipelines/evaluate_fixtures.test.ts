/**
 * Object-level metrics against the synthetic-data generator's own cell list: cells laid out and
 * rendered by fixtures/ (cells.ts, render.ts), one stitched-well-sized region cut from the canvas
 * as the "true image", and the list given to evaluate() exactly as fixtures/generate.ts writes it
 * (truth/<well>/cells.json + positions.json).
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plane, type Plane } from '../../core/image.ts';
import { rng } from '../../core/random.ts';
import { layoutCells } from '../../fixtures/cells.ts';
import { renderRegion, type Optics } from '../../fixtures/render.ts';
import { evaluate } from '../../pipelines/evaluate.ts';
import { gaussianBlur } from '../../transforms/evaluate/index.ts';
import { writeWell } from '../helpers/wells.ts';

const CANVAS = 420;
const X0 = 48;
const Y0 = 52;
const SIZE = 320;

test('evaluate on generator cells: segmentation of the true image agrees with the cell list', async (t) => {
  const list = layoutCells({ seed: 5, well: 'A1', width: CANVAS, height: CANVAS, pixelSizeUm: 0.5, density: 1500, deadFraction: 0.25, neuronFraction: 0.5, debrisDensity: 300 });
  const optics: Optics = { pixelSizeUm: 0.5, modality: 'phase', zUm: [-2, 0, 2], layerStepUm: 1.5 };
  const region = renderRegion(list, optics, X0, Y0, SIZE, SIZE, { transmitted: false, labels: ['DAPI', 'PROPIDIUM_IODIDE'] });
  const g = rng(8);
  const image = (label: 'DAPI' | 'PROPIDIUM_IODIDE'): Plane<'float32'> => {
    const planes = [...region.labels.get(label)!.values()];
    const p = plane('float32', SIZE, SIZE);
    let max = 0;
    for (let i = 0; i < p.data.length; i++) {
      p.data[i] = Math.max(...planes.map((z) => z[i]));
      max = Math.max(max, p.data[i]);
    }
    for (let i = 0; i < p.data.length; i++) p.data[i] = Math.min(1, Math.max(0, 0.1 + (0.8 * p.data[i]) / max + 0.02 * g.normal()));
    return p;
  };
  const truth = { DAPI: image('DAPI'), PROPIDIUM_IODIDE: image('PROPIDIUM_IODIDE') };
  const pred = { DAPI: gaussianBlur(truth.DAPI, 1.5), PROPIDIUM_IODIDE: gaussianBlur(truth.PROPIDIUM_IODIDE, 1.5) };
  const dir = await mkdtemp(join(tmpdir(), 'isl-fixture-cells-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const truthDir = await writeWell(join(dir, 'truth'), 'A1', truth, 'truth');
  await writeWell(join(dir, 'pred'), 'A1', pred, 'pred');
  await writeFile(join(truthDir, 'cells.json'), JSON.stringify(list));
  // The top-left tile's recorded position is 1 px off the region's origin (a stitching error).
  await writeFile(join(truthDir, 'positions.json'), JSON.stringify({ well: 'A1', tileSize: [SIZE / 2, SIZE / 2], tiles: [{ row: 0, col: 0, x: X0 + 1, y: Y0 }, { row: 1, col: 1, x: X0 + 1 + SIZE / 2, y: Y0 + SIZE / 2 }] }));
  const res = await evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'report'), samples: 10_000 });
  const o = res.metrics.wells[0].objects!;
  t.like(o.cellFrame, { originX: X0, originY: Y0, scale: 1 });
  const inside = list.cells.filter((c) => c.nucleus.x - X0 > 20 && c.nucleus.x - X0 < SIZE - 20 && c.nucleus.y - Y0 > 20 && c.nucleus.y - Y0 < SIZE - 20).length;
  t.log(`cells well inside the region: ${inside}; true image vs list: ${JSON.stringify(o.truthVsCells)}; prediction vs list: ${JSON.stringify(o.predVsCells)}`);
  t.true(o.truthVsCells!.trueObjects >= inside, 'every nucleus clear of the border is counted');
  t.true(o.truthVsCells!.accuracy >= 0.95, JSON.stringify(o.truthVsCells));
  t.true(o.predVsCells!.accuracy >= 0.9, JSON.stringify(o.predVsCells));
  // Dead cells (PI-positive in the generator) are classified from the PI image.
  // Dead cells (PI-positive in the generator) are classified from the PI image; the segmentation
  // includes nuclei cut by the border, so compare with listed cells whose centre is in the image.
  const centred = list.cells.filter((c) => c.nucleus.x >= X0 && c.nucleus.x < X0 + SIZE && c.nucleus.y >= Y0 && c.nucleus.y < Y0 + SIZE);
  const dead = centred.filter((c) => !c.alive).length;
  const ld = o.liveDead!.truth;
  t.log(`listed nuclei centred in the image: ${centred.length} (${dead} dead); segmented: ${ld.liveAreas.length} live, ${ld.deadAreas.length} dead`);
  t.true(Math.abs(ld.deadAreas.length - dead) <= 2);
});
