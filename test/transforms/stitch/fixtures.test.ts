/**
 * Stitching on the synthetic dumps of fixtures/generate.ts (ci preset geometry: 3x3 tiles of
 * 256 px, 15 % overlap, stage jitter sigma 1.5 px clipped at 3 sigma): a normal well, a well with
 * one stage-fault tile (25-45 px off its stage position) and a sparse well (no cells in overlaps).
 */
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDump, type TruePosition } from '../../../fixtures/generate.ts';
import { readPlane } from '../../../io/read.ts';
import { stitchWell, type StitchReport } from '../../../transforms/stitch/well.ts';

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stitch-fixtures-'));
  await generateDump({ out: dir, preset: 'ci', seed: 5, wells: 3, z: 1, labels: ['DAPI'], sparseWell: true, stageFaultWell: true, truthCanvases: 'none' });
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function stitch(well: string, searchRadius?: number): Promise<{ rep: StitchReport; truth: TruePosition[]; jitterClip: number }> {
  const rows = (await readFile(join(dir, 'manifest.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
  const mine = rows.filter((r) => r[1] === well && r[5] === 'PHASE_CONTRAST' && r[4] === '0');
  const tiles = await Promise.all(
    mine.map(async (r) => ({ tileRow: Number(r[2]), tileCol: Number(r[3]), stageX: Number(r[6]), stageY: Number(r[7]), plane: await readPlane(join(dir, r[0])), path: r[0] })),
  );
  const rep = stitchWell(tiles, { well, ...(searchRadius ? { searchRadius } : {}) });
  const truth = JSON.parse(await readFile(join(dir, 'truth', well, 'positions.json'), 'utf8')).tiles as TruePosition[];
  const summary = JSON.parse(await readFile(join(dir, 'truth', 'summary.json'), 'utf8'));
  return { rep, truth, jitterClip: Math.ceil(3 * summary.options.jitterPx) };
}

function errors(rep: StitchReport, truth: TruePosition[]) {
  const pairs = truth.map((t) => ({ t, r: rep.tiles.find((x) => x.row === t.row && x.col === t.col)! }));
  const ox = pairs.reduce((s, p) => s + p.t.x - p.r.x, 0) / pairs.length, oy = pairs.reduce((s, p) => s + p.t.y - p.r.y, 0) / pairs.length;
  return pairs.map((p) => ({ row: p.t.row, col: p.t.col, ex: p.r.x + ox - p.t.x, ey: p.r.y + oy - p.t.y }));
}
const rms = (e: { ex: number; ey: number }[]) => Math.sqrt(e.reduce((s, v) => s + v.ex ** 2 + v.ey ** 2, 0) / e.length);

test('normal well: RMS position error <= 0.3 px, no fault', async (t) => {
  const { rep, truth } = await stitch('A1');
  const e = errors(rep, truth);
  t.log(`RMS ${rms(e).toFixed(3)} px; pairs used ${rep.pairs.filter((p) => p.used).length}/${rep.pairs.length}; threshold ${rep.nccThreshold.threshold.toFixed(3)}`);
  t.true(rms(e) <= 0.3, `RMS ${rms(e)}`);
  t.is(rep.faults.length, 0);
});

test('stage-fault well: the displaced tile is detected and reported, positions still <= 0.3 px RMS', async (t) => {
  // The fault (25-45 px) exceeds the default search radius (10 % of 256 px): configure it.
  const { rep, truth } = await stitch('A2', 48);
  const faulty = truth.filter((x) => x.stageFault).map((x) => [x.row, x.col]);
  t.is(faulty.length, 1);
  t.deepEqual(rep.faults.map((f) => [f.row, f.col]), faulty);
  const e = errors(rep, truth);
  t.log(`fault at ${JSON.stringify(faulty[0])} ${rep.faults[0]?.distancePx.toFixed(1)} px from its stage position (threshold ${rep.faultPx.toFixed(1)} px); RMS ${rms(e).toFixed(3)} px`);
  t.true(rms(e) <= 0.3, `RMS ${rms(e)}`);
});

test('sparse well (empty overlaps): no pair trusted, no tile off by more than the stage jitter', async (t) => {
  const { rep, truth, jitterClip } = await stitch('A3');
  t.log(`best pair NCC ${Math.max(...rep.pairs.map((p) => p.ncc)).toFixed(3)} vs threshold ${rep.nccThreshold.threshold.toFixed(3)}`);
  t.true(rep.pairs.every((p) => !p.trusted), JSON.stringify(rep.pairs.filter((p) => p.trusted)));
  t.true(rep.tiles.every((x) => x.placedBy === 'stage'));
  // With every tile on the stage model, frames align on the stage: the mean stage error of the
  // well is the only offset between them.
  const mx = Math.abs(truth.reduce((s, p) => s + p.x - p.stageX, 0) / truth.length - truth[0].x + truth[0].stageX);
  const e = errors(rep, truth);
  for (const v of e) t.true(Math.abs(v.ex) <= jitterClip + mx && Math.abs(v.ey) <= jitterClip + mx, `tile (${v.row},${v.col}) off by ${v.ex.toFixed(2)}, ${v.ey.toFixed(2)}`);
  t.log(`max error ${Math.max(...e.map((v) => Math.max(Math.abs(v.ex), Math.abs(v.ey)))).toFixed(2)} px (jitter clip ${jitterClip} px)`);
});
