import test from 'ava';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cellListLabels, parseCellList, type NucleusRecord, alignCellList, objectAreas, segmentNuclei, pearson } from '../../../transforms/evaluate/index.ts';
import { evaluate } from '../../../pipelines/evaluate.ts';
import { diskImage, predictionWithErrors, TRUE_DISKS, W, H } from './synth.ts';
import { writeWell } from '../../helpers/wells.ts';
import { writeTiff } from '../../../io/write.ts';

/** The generator's canvas has a margin: canvas px = image px + (ORIGIN_X, ORIGIN_Y). */
const ORIGIN_X = 40;
const ORIGIN_Y = 25;
const DEAD = new Set([3, 10, 16, 22]);
const CELLS: NucleusRecord[] = TRUE_DISKS.map((d, i) => ({ nucleus: { x: d.x + ORIGIN_X, y: d.y + ORIGIN_Y, rx: d.r, ry: d.r, angle: 0 }, alive: !DEAD.has(i) }));

test('cellListLabels: ellipses rasterised with their area, in the given frame', (t) => {
  const l = cellListLabels([{ nucleus: { x: 50, y: 40, rx: 12, ry: 6, angle: Math.PI / 6 }, alive: true }], 100, 80);
  t.is(l.count, 1);
  t.true(Math.abs(objectAreas(l)[1] - Math.PI * 72) < 0.04 * Math.PI * 72);
  t.is(l.data[40 * 100 + 50], 1);
  const shifted = cellListLabels(CELLS, W, H, { originX: ORIGIN_X, originY: ORIGIN_Y, scale: 1 });
  t.is(shifted.data[20 * W + 20], 1); // disk 0 at image (20, 20)
  const half = cellListLabels(CELLS, W / 2, H / 2, { originX: ORIGIN_X, originY: ORIGIN_Y, scale: 0.5 });
  t.is(half.data[10 * (W / 2) + 10], 1);
  t.true(Math.abs(objectAreas(half)[1] - Math.PI * 25) < 0.15 * Math.PI * 25);
});

test('alignCellList: recovers the stitched origin from a guess a few px off', (t) => {
  const truth = segmentNuclei(diskImage(W, H, TRUE_DISKS, { noise: 0.03, seed: 1 }));
  const a = alignCellList(CELLS, truth.labels, { originX: ORIGIN_X - 3, originY: ORIGIN_Y + 5, scale: 1 });
  t.deepEqual([a.originX, a.originY], [ORIGIN_X, ORIGIN_Y]);
  t.deepEqual(a.shift, [-3, 5]);
  t.true(a.overlap > 0.97);
});

test('parseCellList: accepts the generator\'s {cells} and bare arrays; clear error otherwise', (t) => {
  t.is(parseCellList(JSON.stringify({ cells: CELLS, debris: [] }), 'c.json').length, 24);
  t.is(parseCellList(JSON.stringify(CELLS), 'c.json').length, 24);
  t.throws(() => parseCellList('{"cells": [{"alive": true}]}', 'c.json'), { message: 'c.json: element 0 of cells: expected {nucleus: {x, y, rx, ry, angle}, alive: boolean}' });
  t.throws(() => parseCellList('nope', 'c.json'), { message: 'c.json: expected a JSON cell list ({"cells": [...]})' });
});

test('evaluate: object metrics checked against the true cell list (cells.json + positions.json in the truth well)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'isl-cells-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const noisy = diskImage(W, H, TRUE_DISKS, { noise: 0.03, seed: 1 });
  const truthDir = await writeWell(join(dir, 'truth'), 'A1', { DAPI: noisy }, 'truth');
  // The generator's noise-free canvas (in counts, with its margin): gives the noise ceiling.
  const canvas = diskImage(W + 100, H + 60, TRUE_DISKS.map((d) => ({ ...d, x: d.x + ORIGIN_X, y: d.y + ORIGIN_Y, v: 0.8 * 3000 })), { bg: 0.1 * 3000 });
  await writeTiff(join(truthDir, 'clean_DAPI.tif'), canvas, { compression: 'deflate' });
  await writeWell(join(dir, 'pred'), 'A1', { DAPI: predictionWithErrors(0.03, 2) }, 'pred');
  await writeFile(join(truthDir, 'cells.json'), JSON.stringify({ cells: CELLS, debris: [] }));
  // Tile positions as the generator writes them; the top-left tile is 2 px off the true origin
  // (a stitching error), which the overlap search corrects.
  await writeFile(join(truthDir, 'positions.json'), JSON.stringify({ tileSize: [128, 128], tiles: [{ x: ORIGIN_X + 2, y: ORIGIN_Y, row: 0, col: 0 }, { x: ORIGIN_X + 2 + W - 128, y: ORIGIN_Y + H - 128, row: 1, col: 1 }] }));
  const res = await evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'report'), samples: 1000 });
  const o = res.metrics.wells[0].objects!;
  t.like(o.cellFrame, { originX: ORIGIN_X, originY: ORIGIN_Y, scale: 1 });
  const c = res.metrics.wells[0].labels[0].ceiling!;
  t.is(c.method, 'clean');
  const clean = diskImage(W, H, TRUE_DISKS);
  const expected = pearson(clean.data, Float32Array.from(noisy.data, (v) => Math.round(v * 65535) / 65535));
  t.true(Math.abs(c.r - expected) < 1e-6, `${c.r} vs ${expected}`);
  t.true(c.r > res.metrics.wells[0].labels[0].r);
  t.like(o.truthVsCells, { trueObjects: 24, matched: 24, errors: 0, accuracy: 1 });
  t.like(o.predVsCells, { trueObjects: 24, missed: 2, split: 1, merged: 1, added: 2, errors: 6, accuracy: 0.75 });
  // No dead-cell stain: live/dead comes from the list's alive flags (4 dead, none of them missed or merged).
  t.is(o.liveDead?.deadLabel, 'cell list (alive flag)');
  t.is(o.liveDead?.truth.deadAreas.length, 4);
  t.is(o.liveDead?.truth.liveAreas.length, 20);
  const html = await readFile(res.indexHtml, 'utf8');
  t.true(html.includes('A1: true image vs cell list') && html.includes('A1: prediction vs cell list'));
  // The same lists from a generated dump's truth/ folder (cells/<well>/cells.json).
  const dump = join(dir, 'dump', 'truth', 'A1');
  await mkdir(dump, { recursive: true });
  for (const f of ['cells.json', 'positions.json']) await copyFile(join(truthDir, f), join(dump, f));
  await rm(join(truthDir, 'cells.json'));
  const fromDump = await evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'r3'), samples: 1000, cells: join(dir, 'dump', 'truth') });
  t.deepEqual(fromDump.metrics.wells[0].objects!.predVsCells, o.predVsCells);
  // An explicit --cells file that does not exist is an error.
  await t.throwsAsync(evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'r2'), samples: 1000, cells: join(dir, 'missing.json') }), { message: /missing\.json: cell list of well A1 not found/ });
});
