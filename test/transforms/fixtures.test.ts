/**
 * Transforms on a synthetic microscope dump from fixtures/generate.ts, against its truth:
 * flat-field and dust fields of the microscope, and the clean canvases tiles were cut from.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedDump, readDefects, readPositions, readSummary, readTruthPlane } from '../../fixtures/truth.ts';
import { toFloat32, type Plane } from '../../core/image.ts';
import { readPlane } from '../../io/read.ts';
import { FlatFieldEstimator } from '../../transforms/flat_field.ts';
import { gaussianBlur } from '../../transforms/gaussian.ts';
import { FluorescenceDustEstimator, subtractDust } from '../../transforms/fluorescence_dust.ts';
import { removeSaltAndPepper } from '../../transforms/median.ts';
import { correctTransmittedDust, TransmittedDustEstimator } from '../../transforms/transmitted_dust.ts';
import { iou, meanRelError, pearson, rmse } from './synth.ts';

interface Tile {
  well: string;
  row: number;
  col: number;
  z: number;
  /** Raw counts minus the sensor offset. */
  plane: Plane<'float32'>;
}

const OFFSET = 100;
// 3 wells x 9 positions x 2 z: the per-pixel median needs many positions (cells at random places).
// Generated once per machine (OS temp dir), shared read-only.
const dump = () => cachedDump({ wells: 3, z: 2, labels: ['MAP2'], seed: 7, threads: 1 });

/** Hot and cold sensor pixels (excluded from RMSE: no transform here is meant to fix them). */
async function defects(): Promise<Set<number>> {
  const d = await readDefects(await dump(), 'A1');
  return new Set([...d.hot, ...d.cold]);
}

function rmseExcept(a: ArrayLike<number>, b: ArrayLike<number>, skip: Set<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!skip.has(i)) (s += (a[i] - b[i]) ** 2), n++;
  return Math.sqrt(s / n);
}

async function tiles(channel: string): Promise<Tile[]> {
  const dir = await dump();
  const rows = readFileSync(join(dir, 'manifest.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  return Promise.all(
    rows
      .filter((r) => r[5] === channel)
      .map(async (r) => {
        const p = toFloat32(await readPlane(join(dir, r[0])));
        for (let i = 0; i < p.data.length; i++) p.data[i] -= OFFSET;
        return { well: r[1], row: Number(r[2]), col: Number(r[3]), z: Number(r[4]), plane: p };
      }),
  );
}

const truth = async (stem: string, well = 'A1') => readTruthPlane(await dump(), well, stem);

/** The clean canvas region a tile shows (true position from truth/positions.json). */
async function crop(canvas: Plane<'float32'>, t: Tile): Promise<Float32Array> {
  const pos = await readPositions(await dump(), t.well);
  const { x, y } = pos.tiles.find((p) => p.row === t.row && p.col === t.col)!;
  const { width: W, height: H } = t.plane;
  const out = new Float32Array(W * H);
  for (let j = 0; j < H; j++) out.set(canvas.data.subarray((y + j) * canvas.width + x, (y + j) * canvas.width + x + W), j * W);
  return out;
}

test('fixture, transmitted: dust pattern finds the specks; flat-field r >= 0.99, error <= 2%; tiles closer to clean', async (t) => {
  const ts = await tiles('PHASE_CONTRAST');
  const F = await truth('flatfield_PHASE_CONTRAST');
  const D = await truth('dust_PHASE_CONTRAST');
  const dust = new TransmittedDustEstimator();
  const flat = new FlatFieldEstimator({ modality: 'transmitted' });
  for (const x of ts) dust.add(x.plane), flat.add(x.plane);
  const pattern = dust.finish();
  const ff = flat.finish();
  const FD = Float32Array.from(F.data, (v, i) => v * D.data[i]);
  const rDust = pearson(pattern.field.data, FD);
  // the specks: the pattern relative to its own smooth part vs the truth transmission D, away from
  // the hot/cold sensor pixels (fixed too, so also in the pattern, at extreme ratios)
  const skip = await defects();
  const keep = (a: Float32Array) => a.filter((_, i) => !skip.has(i));
  const smooth = gaussianBlur(pattern.field, 4).data;
  const rSpecks = pearson(keep(Float32Array.from(pattern.field.data, (v, i) => v / smooth[i])), keep(D.data));
  const rFlat = pearson(ff.field.data, F.data);
  const mre = meanRelError(ff.field.data, F.data);
  t.log(`${pattern.images} tiles: dust pattern vs F x D r = ${rDust.toFixed(4)}, its fine structure vs D r = ${rSpecks.toFixed(4)} (cells left in the median of 27 positions lower the first); flat-field vs F r = ${rFlat.toFixed(4)}, mean relative error ${(100 * mre).toFixed(2)}%`);
  t.true(rSpecks >= 0.8, `${rSpecks}`);
  t.true(rFlat >= 0.99, `${rFlat}`);
  t.true(mre <= 0.02, `${mre}`);
  // tiles divided by the pattern vs the clean canvas they were cut from (scaled to the same mean)
  let before = 0;
  let after = 0;
  const some = ts.filter((x) => x.z === 1 && x.well === 'A1');
  for (const x of some) {
    const clean = await crop(await truth(`clean_PHASE_CONTRAST_z${x.z}`), x);
    const corrected = correctTransmittedDust(x.plane, pattern.field).data;
    const scale = (a: Float32Array) => clean.reduce((s, v) => s + v, 0) / a.reduce((s, v) => s + v, 0);
    const k0 = scale(x.plane.data);
    const k1 = scale(corrected);
    before += rmseExcept(Float32Array.from(x.plane.data, (v) => v * k0), clean, skip) / some.length;
    after += rmseExcept(Float32Array.from(corrected, (v) => v * k1), clean, skip) / some.length;
  }
  t.log(`RMSE vs clean canvas (counts): ${before.toFixed(1)} raw -> ${after.toFixed(1)} divided by the dust pattern`);
  t.true(after < before * 0.8, `${before} -> ${after}`);
});

test('fixture, fluorescence: dust mask IoU >= 0.8 vs truth; subtracting the artifact brings tiles closer to flat-field x (clean + autofluorescence)', async (t) => {
  const ts = await tiles('MAP2');
  const F = await truth('flatfield_MAP2');
  const D = await truth('dust_MAP2');
  let dmax = 0;
  for (const v of D.data) dmax = Math.max(dmax, v);
  const truthMask = Uint8Array.from(D.data, (v) => (v > 0.25 * dmax ? 1 : 0));
  // the paper's order: salt-and-pepper removal first (hot pixels would otherwise dominate)
  for (const x of ts) x.plane = removeSaltAndPepper(x.plane).plane;
  const est = new FluorescenceDustEstimator();
  for (const x of ts) est.add(x.plane);
  const dust = est.finish();
  const j = iou(dust.mask.data, truthMask);
  let before = 0;
  let after = 0;
  const some = ts.filter((x) => x.z === 1 && x.well === 'A1');
  const A = (await readSummary(await dump())).autofluorescence.MAP2;
  for (const x of some) {
    const clean = await crop(await truth(`clean_MAP2_z${x.z}`), x);
    const expected = Float32Array.from(clean, (v, i) => (v + A) * F.data[i]);
    before += rmse(x.plane.data, expected) / some.length;
    after += rmse(subtractDust(x.plane, dust.artifact, -Infinity).data, expected) / some.length;
  }
  t.log(`${dust.images} tiles: dust mask IoU ${j.toFixed(3)} (truth: dust > 25% of its max ${dmax.toFixed(0)} counts); RMSE vs F x (clean + A) ${before.toFixed(1)} -> ${after.toFixed(1)} counts after subtraction`);
  t.true(j >= 0.8, `${j}`);
  t.true(after < before, `${before} -> ${after}`);
});

// The preprocess test's dump (same options: one cached copy): 2 wells x 9 positions x 5 z, DAPI + MAP2.
const labelDump = () => cachedDump({ preset: 'ci', seed: 7, wells: 2, labels: ['DAPI', 'MAP2'], truthCanvases: 'projection' });

test('fixture, fluorescence: the flat-field estimated from the label background (autofluorescence) matches the true vignetting', async (t) => {
  const dir = await labelDump();
  const { autofluorescence } = await readSummary(dir);
  const rows = readFileSync(join(dir, 'manifest.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  // Measured r 0.969 (DAPI), 0.902 (MAP2); before the fixture had autofluorescence, 0.02-0.14.
  // Nuclei cover little of a tile, so the background dominates the median; MAP2's neurites cover
  // about a quarter of it and bias the median of 18 positions where they happen to be.
  for (const [label, minR] of [['DAPI', 0.95], ['MAP2', 0.85]] as const) {
    // The pipeline's order: offset subtracted, salt-and-pepper median, dust subtracted, flat-field.
    const planes: Plane<'float32'>[] = [];
    const dust = new FluorescenceDustEstimator({ sensorOffset: 0 });
    for (const r of rows.filter((x) => x[5] === label)) {
      const p = toFloat32(await readPlane(join(dir, r[0])));
      for (let i = 0; i < p.data.length; i++) p.data[i] -= OFFSET;
      const q = removeSaltAndPepper(p).plane;
      planes.push(q);
      dust.add(q);
    }
    const artifact = dust.finish().artifact;
    const est = new FlatFieldEstimator({ modality: 'fluorescence' });
    for (const q of planes) est.add(subtractDust(q, artifact));
    const ff = est.finish();
    const r = pearson(ff.field.data, (await readTruthPlane(dir, 'A1', `flatfield_${label}`)).data);
    t.log(`${label}: autofluorescence ${autofluorescence[label]} counts; flat-field from ${ff.images} tiles (${ff.rejected} rejected, ${ff.selection}) vs the true vignetting r = ${r.toFixed(4)}`);
    t.true(r >= minR, `${label} r ${r}`);
  }
});
