import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zarr from 'zarrita';
import { plane, stackPlane, zStack, type Well } from '../../core/image.ts';
import { mulberry32 } from '../../core/random.ts';
import { canonicalImage, FALLBACK_ROW, isOmeZarr, listZarrWells, planesImage, plateGrid, pyramidSizes, readZarrWell, wellPosition, writePlateMetadata, writePlateWell, zarrWellHeader } from '../../io/zarr/index.ts';
import { openArray } from '../../io/zarr/store.ts';
import { canonicalLevel0, pythonPlateSummary, sha256Of, validatePlate, withNgffTools } from '../helpers/ngff.ts';

function syntheticWell(name: string, w: number, h: number, depth: number, seed: number): Well {
  const u = mulberry32(seed);
  const planes = Array.from({ length: depth }, (_, z) => plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => Math.min(1, Math.max(0, 0.5 + 0.3 * Math.sin((i % w) / 7 + z) * Math.cos(Math.floor(i / w) / 5) + 0.1 * u())))));
  const label = (k: number) => plane('float32', w, h, Float32Array.from({ length: w * h }, () => u() * 0.5 + 0.1 * k));
  return { well: name, width: w, height: h, transmitted: { channel: 'BRIGHTFIELD', stack: zStack(planes) }, labels: new Map([['DAPI', label(0)], ['TUJ1', label(1)]]) };
}

/** The test's own 2x2 mean (rounded), plane by plane: the definition level 1 must follow. */
function halve(src: Uint16Array, planes: number, w: number, h: number): Uint16Array {
  const w2 = Math.ceil(w / 2);
  const h2 = Math.ceil(h / 2);
  const out = new Uint16Array(planes * w2 * h2);
  for (let p = 0; p < planes; p++)
    for (let y = 0; y < h2; y++)
      for (let x = 0; x < w2; x++) {
        let s = 0;
        let n = 0;
        for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) if (2 * y + dy < h && 2 * x + dx < w) { s += src[p * w * h + (2 * y + dy) * w + 2 * x + dx]; n++; }
        out[p * w2 * h2 + y * w2 + x] = Math.round(s / n);
      }
  return out;
}

const sha = sha256Of;

async function writePlate() {
  const dir = mkdtempSync(join(tmpdir(), 'isl-zarr-'));
  const plate = join(dir, 'plate.zarr');
  // 1100 x 530: two levels (1100 > 1024), 3 x 2 chunks at level 0 with partial edge chunks.
  const wells = [syntheticWell('A4', 1100, 530, 3, 1), syntheticWell('B12', 40, 30, 2, 2), syntheticWell('ctrl_3', 33, 21, 1, 3)];
  for (const w of wells) await writePlateWell(plate, canonicalImage(w, { pixelSizeUm: 0.65 }));
  await writePlateMetadata(plate, { acquisition: 'test' });
  return { dir, plate, wells };
}

test('layout: plate positions, fallback for other names, grids listing every row and column up to the last', (t) => {
  t.deepEqual(wellPosition('A4'), { row: 'A', column: '4', path: 'A/4' });
  t.deepEqual(wellPosition('B07'), { row: 'B', column: '7', path: 'B/7' });
  t.deepEqual(wellPosition('AF48'), { row: 'AF', column: '48', path: 'AF/48' });
  t.deepEqual(wellPosition('ctrl_3'), { row: FALLBACK_ROW, column: 'ctrl3', path: `${FALLBACK_ROW}/ctrl3` });
  t.deepEqual(wellPosition('well-12'), { row: FALLBACK_ROW, column: 'well12', path: `${FALLBACK_ROW}/well12` });
  t.throws(() => wellPosition('__'), { message: /Expected a well name with at least one letter or digit/ });
  t.deepEqual(plateGrid([wellPosition('C5'), wellPosition('A2')]), { rows: ['A', 'B', 'C'], columns: ['1', '2', '3', '4', '5'] });
  t.deepEqual(plateGrid([wellPosition('B2'), wellPosition('x_1')]), { rows: ['A', 'B', FALLBACK_ROW], columns: ['1', '2', 'x1'] });
  t.deepEqual(pyramidSizes(1100, 530), [{ width: 1100, height: 530 }, { width: 550, height: 265 }]);
  t.deepEqual(pyramidSizes(4097, 100).map((s) => s.width), [4097, 2049, 1025, 513]);
  t.deepEqual(pyramidSizes(1024, 1024).length, 1);
});

test('round trip: our reader returns the pixels written (uint16 value x 65535), labels at their z, region reads, names', async (t) => {
  const { plate, wells } = await writePlate();
  t.true(isOmeZarr(plate));
  t.deepEqual(listZarrWells(plate).map((e) => e.well), ['A4', 'B12', 'ctrl_3']);
  for (const w of wells) {
    const r = await readZarrWell(plate, { well: w.well });
    t.is(r.well, w.well);
    t.is(r.transmitted.channel, 'BRIGHTFIELD');
    t.deepEqual([r.width, r.height, r.transmitted.stack.depth], [w.width, w.height, w.transmitted.stack.depth]);
    // Exactly the PNG convention: round(v * 65535) / 65535.
    const want = Float32Array.from(w.transmitted.stack.data, (v) => Math.round(v * 65535) / 65535);
    t.is(sha(r.transmitted.stack.data), sha(want), `${w.well} transmitted`);
    t.deepEqual([...r.labels.keys()], ['DAPI', 'TUJ1']);
    for (const [l, p] of w.labels) t.is(sha(r.labels.get(l)!.data), sha(Float32Array.from(p.data, (v) => Math.round(v * 65535) / 65535)), `${w.well} ${l}`);
  }
  // A region crossing chunk borders (chunks are 512 px).
  const region = { x: 500, y: 300, width: 30, height: 220 };
  const part = await readZarrWell(plate, { well: 'A4', region });
  const full = wells[0];
  for (let y = 0; y < region.height; y += 37)
    for (let x = 0; x < region.width; x += 7)
      t.is(part.transmitted.stack.data[(2 * region.height + y) * region.width + x], Math.fround(Math.round(full.transmitted.stack.data[(2 * full.height + region.y + y) * full.width + region.x + x] * 65535) / 65535));
  t.deepEqual(await zarrWellHeader(plate, 'A4'), { well: 'A4', width: 1100, height: 530 });
  // The fallback well sits at other/ctrl3 and keeps its name.
  t.true(existsSync(join(plate, FALLBACK_ROW, 'ctrl3', '0', '.zattrs')));
  // A single image opens as one well.
  t.deepEqual(listZarrWells(join(plate, 'B', '12', '0')).map((e) => e.well), ['B12']);
});

test('pyramid: level 1 is the 2x2 mean of level 0 (partial blocks at the odd edge), chunks (1, 1, 512, 512)', async (t) => {
  const { plate, wells } = await writePlate();
  const l0 = await openArray(join(plate, 'A', '4', '0', '0'));
  const l1 = await openArray(join(plate, 'A', '4', '0', '1'));
  t.deepEqual(l0.shape, [3, 3, 530, 1100]);
  t.deepEqual(l0.chunks, [1, 1, 512, 512]);
  t.deepEqual(l1.shape, [3, 3, 265, 550]);
  const got0 = (await zarr.get(l0)).data as Uint16Array;
  const got1 = (await zarr.get(l1)).data as Uint16Array;
  const want0 = canonicalLevel0(wells[0]);
  t.is(sha(got0), sha(want0));
  t.is(sha(got1), sha(halve(want0, 9, 1100, 530)));
  // 33 x 21 (odd): one level, chunks clamped to the image.
  const small = await openArray(join(plate, FALLBACK_ROW, 'ctrl3', '0', '0'));
  t.deepEqual(small.chunks, [1, 1, 21, 33]);
});

withNgffTools(test)('independent reader: python3-zarr 2.13 reads the same pixels; metadata passes the strict NGFF 0.4 schemas', async (t) => {
  const { plate, wells } = await writePlate();
  const py = pythonPlateSummary(plate);
  t.deepEqual(py.wells, ['A/4', 'B/12', `${FALLBACK_ROW}/ctrl3`]);
  for (const [w, path] of [[wells[0], 'A/4/0'], [wells[1], 'B/12/0'], [wells[2], `${FALLBACK_ROW}/ctrl3/0`]] as const) {
    const levels = py.images[path];
    const want0 = canonicalLevel0(w);
    const planes = 3 * w.transmitted.stack.depth;
    t.deepEqual(levels[0].shape, [3, w.transmitted.stack.depth, w.height, w.width]);
    t.is(levels[0].dtype, 'uint16');
    t.is(levels[0].compressor, 'gzip');
    t.is(levels[0].sha256, sha(want0), `${path} level 0 bytes`);
    t.is(levels[0].sum, want0.reduce((a, v) => a + v, 0));
    if (levels.length > 1) t.is(levels[1].sha256, sha(halve(want0, planes, w.width, w.height)), `${path} level 1 bytes`);
  }
  t.deepEqual(validatePlate(plate), []);
  const attrs = JSON.parse(readFileSync(join(plate, 'A', '4', '0', '.zattrs'), 'utf8'));
  t.deepEqual(attrs.multiscales[0].axes, [{ name: 'c', type: 'channel' }, { name: 'z', type: 'space' }, { name: 'y', type: 'space', unit: 'micrometer' }, { name: 'x', type: 'space', unit: 'micrometer' }]);
  t.deepEqual(attrs.multiscales[0].datasets.map((d: any) => d.coordinateTransformations[0].scale), [[1, 1, 0.65, 0.65], [1, 1, 1.3, 1.3]]);
  t.deepEqual(attrs.omero.channels.map((c: any) => c.label), ['BRIGHTFIELD', 'DAPI', 'TUJ1']);
  t.is(attrs.omero.rdefs.defaultZ, 1);
  // The display window brackets the data: 0.1th..99.9th percentile of the transmitted counts.
  const counts = Array.from(canonicalLevel0(wells[0]).subarray(0, 3 * 1100 * 530)).sort((a, b) => a - b);
  t.true(Math.abs(attrs.omero.channels[0].window.start - counts[Math.floor(0.001 * counts.length)]) <= 1);
  t.true(Math.abs(attrs.omero.channels[0].window.end - counts[Math.ceil(0.999 * counts.length) - 1]) <= 1);

  // A 2-D float32 image (predict's statistics) also passes and reads back.
  const pred = planesImage('C2', [{ name: 'DAPI:MEDIAN', plane: stackPlane(wells[1].transmitted.stack, 0) }, { name: 'DAPI:STD', plane: wells[1].labels.get('TUJ1')! }]);
  await writePlateWell(plate, pred);
  await writePlateMetadata(plate);
  t.deepEqual(validatePlate(plate), []);
  const py2 = pythonPlateSummary(plate);
  t.deepEqual(py2.images['C/2/0'][0].shape, [2, 30, 40]);
  t.is(py2.images['C/2/0'][0].dtype, 'float32');
  const want = new Float32Array(2 * 1200);
  want.set(stackPlane(wells[1].transmitted.stack, 0).data, 0);
  want.set(wells[1].labels.get('TUJ1')!.data, 1200);
  t.is(py2.images['C/2/0'][0].sha256, sha(want));
});

test('rerun overwrites a well cleanly; a second well on the same plate path is refused; no temp folders stay', async (t) => {
  const { plate } = await writePlate();
  const other = syntheticWell('B12', 40, 30, 2, 99);
  await writePlateWell(plate, canonicalImage(other));
  const r = await readZarrWell(plate, { well: 'B12' });
  t.deepEqual(r.transmitted.stack.data, Float32Array.from(other.transmitted.stack.data, (v) => Math.round(v * 65535) / 65535));
  await t.throwsAsync(writePlateWell(plate, canonicalImage(syntheticWell('B012', 40, 30, 2, 5))), { message: /well B012 maps to plate path B\/12, which already holds well B12: rename one of them/ });
  t.deepEqual(readdirSync(join(plate, 'B', '12')).filter((f) => f.startsWith('.') && f.endsWith('.tmp')), []);
});

test('reader errors name the file and the problem', async (t) => {
  const { dir, plate } = await writePlate();
  t.throws(() => listZarrWells(dir), { message: /not an OME-Zarr plate or image/ });
  await t.throwsAsync(readZarrWell(plate), { message: /Expected one of A4, B12, ctrl_3 \(the plate holds several wells\) for well/ });
  await t.throwsAsync(readZarrWell(plate, { well: 'Z9' }), { message: /Expected one of A4, B12, ctrl_3 for well but received "Z9"/ });
  await t.throwsAsync(readZarrWell(plate, { well: 'B12', region: { x: 30, y: 0, width: 20, height: 5 } }), { message: /inside the 40x30 image/ });
});
