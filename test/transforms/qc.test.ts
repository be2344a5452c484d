/**
 * QC on a preprocessed fixture well: the healthy well passes; each injected defect (focus offset,
 * saturated blobs, empty tiles, a failed stain) fails it with its reason
 * and the metric computed independently here.
 */
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedDump } from '../../fixtures/truth.ts';
import { plane, zStack, stackPlane, type Plane, type ZStack } from '../../core/image.ts';
import { rng } from '../../core/random.ts';
import { readCanonicalWell } from '../../io/canonical.ts';
import { readPlane } from '../../io/read.ts';
import { preprocess } from '../../pipelines/preprocess.ts';
import { assessWell, type QcInput } from '../../transforms/qc.ts';

let root: string;
let dump: string;
/** A well held in memory; QC itself reads planes one at a time ({@link check} adapts). */
type Case = Omit<QcInput, 'transmitted' | 'labels'> & { transmitted: ZStack; labels: ReadonlyMap<string, Plane<'float32'>> };
const check = (c: Case) =>
  assessWell({ ...c, transmitted: { depth: c.transmitted.depth, plane: (z: number) => stackPlane(c.transmitted, z) }, labels: new Map([...c.labels].map(([k, p]) => [k, () => p])) });
let healthy: Case;
let report: { composite: { tileWidth: number; tileHeight: number; tiles: { row: number; col: number; x: number; y: number }[] }; residualRms: number; tileWidth: number; tileHeight: number; rows: number; cols: number; tiles: { row: number; col: number; x: number; y: number; stageX: number; stageY: number }[]; pairs: { a: { row: number; col: number }; b: { row: number; col: number }; dx: number; dy: number; ncc: number; used: boolean; nominalDx: number; nominalDy: number }[] };
/** Raw planes of well A1 per channel (for the saturation counts). */
const raw = new Map<string, Plane[]>();

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'isl-qc-'));
  dump = await cachedDump({ preset: 'ci', seed: 7, wells: 2, labels: ['DAPI', 'MAP2'], truthCanvases: 'projection' });
  const out = join(root, 'out');
  await preprocess({ input: dump, output: out, workers: 2, progress: false, shards: false });
  const w = await readCanonicalWell(join(out, 'wells', 'A1'), { well: 'A1' });
  report = JSON.parse(await readFile(join(out, 'stitch', 'A1.json'), 'utf8'));
  for (const line of (await readFile(join(dump, 'manifest.csv'), 'utf8')).trim().split('\n').slice(1)) {
    const [path, well, , , , channel] = line.split(',');
    if (well !== 'A1') continue;
    raw.set(channel, [...(raw.get(channel) ?? []), await readPlane(join(dump, path))]);
  }
  healthy = {
    transmitted: w.transmitted.stack,
    labels: w.labels,
    expectedLabels: ['DAPI', 'MAP2'],
    // Tile rectangles on the composited canvas (report.tiles are in raw px).
    tiles: report.composite.tiles.map((t) => ({ row: t.row, col: t.col, x: t.x, y: t.y, width: report.composite.tileWidth, height: report.composite.tileHeight })),
    stitch: { residualRms: report.residualRms, faults: [] },
    saturatedFraction: saturated(raw),
  };
});
test.after.always(() => rm(root, { recursive: true, force: true }));

/** Fraction of raw pixels at the 16-bit maximum, per channel. */
function saturated(planes: ReadonlyMap<string, Plane[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [ch, ps] of planes) {
    let n = 0, total = 0;
    for (const p of ps) for (const v of p.data) (total++, v === 65535 && n++);
    out[ch] = n / total;
  }
  return out;
}

test('the healthy fixture well passes every check', async (t) => {
  const v = await check(healthy);
  t.deepEqual(v.reasons, []);
  t.true(v.pass);
  t.is(v.metrics.sharpestPlane, 2);
  t.is(v.metrics.residualRmsPx, report.residualRms);
  t.true(report.residualRms < 0.5);
  t.deepEqual(v.metrics.emptyTiles, []);
  t.true((v.metrics.snr_DAPI as number) > 50 && (v.metrics.snr_MAP2 as number) > 20);
});

test('focus: a stack acquired off-centre (the sharp plane at z=0) fails', async (t) => {
  const st = healthy.transmitted;
  const planes = Array.from({ length: st.depth }, (_, z) => stackPlane(st, (z + 2) % st.depth));
  const v = await check({ ...healthy, transmitted: zStack(planes) });
  t.false(v.pass);
  t.is(v.metrics.sharpestPlane, 0);
  t.deepEqual(v.reasons, ['out of focus: the sharpest transmitted plane is z=0, more than 1.25 planes from the centre z=2']);
});

test('saturation: a saturated blob in every raw DAPI tile fails with its fraction', async (t) => {
  const dapi = raw.get('DAPI')!.map((p) => {
    const q = plane('uint16', p.width, p.height, Uint16Array.from(p.data));
    for (let y = 100; y < 140; y++) for (let x = 100; x < 140; x++) if ((x - 120) ** 2 + (y - 120) ** 2 < 400) q.data[y * p.width + x] = 65535;
    return q;
  });
  const fractions = saturated(new Map([...raw, ['DAPI', dapi]]));
  t.true(fractions.DAPI > 0.018 && fractions.DAPI < 0.02, `${fractions.DAPI}`);
  const v = await check({ ...healthy, saturatedFraction: fractions });
  t.false(v.pass);
  t.is(v.metrics.saturated_DAPI, fractions.DAPI);
  t.deepEqual(v.reasons, [`saturated: ${(100 * fractions.DAPI).toFixed(2)}% of raw DAPI pixels are at the sensor's maximum`]);
});

test('empty tiles: six of nine tiles with no cells (flat background + noise) make the well near-empty', async (t) => {
  const st = healthy.transmitted;
  const data = Float32Array.from(st.data);
  const r = rng(5);
  const emptied = healthy.tiles!.slice(0, 6);
  for (let z = 0; z < st.depth; z++)
    for (const tile of emptied)
      for (let y = Math.round(tile.y); y < Math.min(st.height, Math.round(tile.y + tile.height)); y++)
        for (let x = Math.round(tile.x); x < Math.min(st.width, Math.round(tile.x + tile.width)); x++) data[(z * st.height + y) * st.width + x] = 0.5 + 0.005 * r.normal();
  const v = await check({ ...healthy, transmitted: { ...st, data } });
  t.false(v.pass);
  t.deepEqual([...(v.metrics.emptyTiles as string[])].sort(), emptied.map((e) => `r${e.row}c${e.col}`).sort());
  t.deepEqual(v.reasons, ['near-empty: 6 of 9 tiles have almost no contrast']);
});

test('label signal: a failed DAPI stain (normalized background noise only) fails; MAP2 still passes', async (t) => {
  const d = healthy.labels.get('DAPI')!;
  const r = rng(9);
  const noise = plane('float32', d.width, d.height, Float32Array.from(d.data, () => 0.25 + 0.125 * r.normal()));
  const v = await check({ ...healthy, labels: new Map([...healthy.labels, ['DAPI', noise]]) });
  t.false(v.pass);
  t.true((v.metrics.snr_DAPI as number) > 3 && (v.metrics.snr_DAPI as number) < 4.5, `pure noise SNR ${v.metrics.snr_DAPI}`);
  t.is(v.reasons.length, 1);
  t.regex(v.reasons[0], /^label DAPI has no signal above background \(SNR 3\.\d\d < 5\)$/);
});
