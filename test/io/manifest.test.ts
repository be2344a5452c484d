import test from 'ava';
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plane, type Plane } from '../../core/image.ts';
import { writeTiff } from '../../io/write.ts';
import { readDump, readTile, formatManifest, type ManifestEntry } from '../../io/manifest.ts';
import { IslError } from '../../core/errors.ts';

const SIZE = 16;
function tile(dtype: 'uint8' | 'uint16' = 'uint16', w = SIZE, h = SIZE): Plane {
  const p = plane(dtype, w, h);
  for (let i = 0; i < p.data.length; i++) p.data[i] = i % 200;
  return p;
}

/** A dump of wells A1 and B2, 1x2 tiles, PHASE_CONTRAST at z 0..1 and DAPI at z 0. */
async function makeDump(config: object = { transmitted: ['PHASE_CONTRAST'], labels: ['DAPI'], overlap: 0.1 }): Promise<{ root: string; entries: ManifestEntry[] }> {
  const root = await mkdtemp(join(tmpdir(), 'isl-dump-'));
  const entries: ManifestEntry[] = [];
  for (const well of ['A1', 'B2'])
    for (const tileCol of [0, 1])
      for (const [channel, depth] of [['PHASE_CONTRAST', 2], ['DAPI', 1]] as const)
        for (let z = 0; z < depth; z++) {
          const path = `raw/${well}_c${tileCol}_z${z}_${channel}.tif`;
          entries.push({ path, well, tileRow: 0, tileCol, z, channel, stageX: tileCol * 14, stageY: 0 });
        }
  await mkdir(join(root, 'raw'));
  await Promise.all(entries.map((e) => writeTiff(join(root, e.path), tile(), { compression: 'none' })));
  await writeFile(join(root, 'manifest.csv'), formatManifest(entries));
  await writeFile(join(root, 'dump.json'), JSON.stringify(config));
  return { root, entries };
}

async function setManifest(root: string, entries: ManifestEntry[]): Promise<void> {
  await writeFile(join(root, 'manifest.csv'), formatManifest(entries));
}

/** manifest.csv line of an entry (header is line 1). */
const lineOf = (entries: ManifestEntry[], path: string) => entries.findIndex((e) => e.path === path) + 2;

test('a valid dump: wells, positions sorted, depth per channel, header facts', async (t) => {
  const { root } = await makeDump();
  const d = await readDump(root);
  t.deepEqual([...d.wells.keys()], ['A1', 'B2']);
  t.is(d.badWells.size, 0);
  const a1 = d.wells.get('A1')!;
  t.is(a1.rows.length, 6);
  t.deepEqual(a1.positions.map((p) => [p.tileRow, p.tileCol, p.stageX, p.stageY]), [[0, 0, 0, 0], [0, 1, 14, 0]]);
  t.deepEqual([...a1.depth], [['PHASE_CONTRAST', 2], ['DAPI', 1]]);
  t.is(a1.positions[1].channels.get('PHASE_CONTRAST')![1].path, 'raw/A1_c1_z1_PHASE_CONTRAST.tif');
  t.is(a1.positions[1].channels.get('PHASE_CONTRAST')![1].file, join(root, 'raw/A1_c1_z1_PHASE_CONTRAST.tif'));
  t.is(a1.width, SIZE);
  t.is(a1.dtype, 'uint16');
  t.deepEqual(d.config, { transmitted: ['PHASE_CONTRAST'], labels: ['DAPI'], overlap: 0.1 });
  await rm(root, { recursive: true });
});

test('dump-wide problems throw BAD_MANIFEST naming manifest.csv or dump.json', async (t) => {
  const { root, entries } = await makeDump();
  const csv = await readFile(join(root, 'manifest.csv'), 'utf8');
  await rm(join(root, 'manifest.csv'));
  await t.throwsAsync(readDump(root), { message: `manifest.csv: missing manifest.csv in ${root} (run \`npm run discover -- --input ${root}\` to write one)` });
  await writeFile(join(root, 'manifest.csv'), '');
  await t.throwsAsync(readDump(root), { message: 'manifest.csv: empty manifest: expected a header path,well,tile_row,tile_col,z,channel and one row per image' });
  await writeFile(join(root, 'manifest.csv'), 'path,well,tile_row,tile_col,z,channel\n');
  const empty = await t.throwsAsync(readDump(root), { instanceOf: IslError });
  t.is(empty?.message, 'manifest.csv: empty dump: the manifest has a header but no rows');
  t.is(empty?.code, 'BAD_MANIFEST');
  await writeFile(join(root, 'manifest.csv'), csv.replace('tile_col', 'col'));
  await t.throwsAsync(readDump(root), { message: 'manifest.csv:1: header lacks column tile_col (expected path,well,tile_row,tile_col,z,channel[,stage_x,stage_y][,page]; found path,well,tile_row,col,z,channel,stage_x,stage_y)' });
  await setManifest(root, [...entries.slice(0, 3), { ...entries[3], path: '../outside.tif' }]);
  await t.throwsAsync(readDump(root), { message: 'manifest.csv:5: path "../outside.tif" escapes the dump root' });
  await setManifest(root, [{ ...entries[0], path: 'raw/../../x/y.tif' }]);
  await t.throwsAsync(readDump(root), { message: 'manifest.csv:2: path "raw/../../x/y.tif" escapes the dump root' });
  await setManifest(root, [entries[0], { ...entries[1], path: '/etc/passwd' }]);
  await t.throwsAsync(readDump(root), { message: 'manifest.csv:3: path "/etc/passwd" is absolute; manifest paths must be relative to the dump root' });
  await writeFile(join(root, 'manifest.csv'), csv);
  await writeFile(join(root, 'dump.json'), JSON.stringify({ transmitted: ['PHASE_CONTRAST'], labels: ['DAPI'], overlap: 0.1, overlapPx: 30 }));
  await t.throwsAsync(readDump(root), { message: 'dump.json: give either overlap (fraction) or overlapPx (pixels), not both' });
  await writeFile(join(root, 'dump.json'), JSON.stringify({ transmitted: ['PHASE_CONTRAST'], overlap: 1.5, bitDepth: 12 }));
  await t.throwsAsync(readDump(root), { message: /^dump\.json: overlap: .*; bitDepth: / });
  await rm(join(root, 'dump.json'));
  await t.throwsAsync(readDump(root), { message: `dump.json: missing dump.json in ${root} (run \`npm run discover -- --input ${root}\` to write one)` });
  await rm(root, { recursive: true });
});

test('missing file: that well fails naming manifest.csv:LINE and the file; the other well is fine', async (t) => {
  const { root, entries } = await makeDump();
  const victim = 'raw/A1_c1_z0_PHASE_CONTRAST.tif';
  await rm(join(root, victim));
  const d = await readDump(root);
  t.deepEqual([...d.wells.keys()], ['B2']);
  const e = d.badWells.get('A1')!;
  t.is(e.message, `manifest.csv:${lineOf(entries, victim)}: file not found: ${victim}`);
  t.is(e.code, 'BAD_INPUT');
  t.is(e.well, 'A1');
  await rm(root, { recursive: true });
});

test('duplicate (well,row,col,z,channel) fails the well', async (t) => {
  const { root, entries } = await makeDump();
  const dup = { ...entries[0], path: 'raw/A1_c1_z1_PHASE_CONTRAST.tif' };
  await setManifest(root, [...entries, dup]);
  const d = await readDump(root);
  t.true(d.wells.has('B2'));
  t.is(d.badWells.get('A1')!.message, `manifest.csv:${entries.length + 2}: duplicate (well A1, tile_row 0, tile_col 0, z 0, channel PHASE_CONTRAST): raw/A1_c1_z1_PHASE_CONTRAST.tif and raw/A1_c0_z0_PHASE_CONTRAST.tif (manifest.csv:2)`);
  await rm(root, { recursive: true });
});

test('missing z-plane and missing channel at a position fail the well', async (t) => {
  const { root, entries } = await makeDump();
  await setManifest(root, entries.filter((e) => e.path !== 'raw/B2_c1_z0_PHASE_CONTRAST.tif'));
  let d = await readDump(root);
  t.true(d.wells.has('A1'));
  t.is(d.badWells.get('B2')!.message, 'manifest.csv: well B2, tile_row 0, tile_col 1: missing z-plane 0 of channel PHASE_CONTRAST (expected z 0..1)');
  await setManifest(root, entries.filter((e) => e.path !== 'raw/B2_c0_z0_DAPI.tif'));
  d = await readDump(root);
  t.is(d.badWells.get('B2')!.message, 'manifest.csv: well B2, tile_row 0, tile_col 0: channel DAPI has no images (other positions have 1 z-plane)');
  await rm(root, { recursive: true });
});

test('unknown channel fails the well and lists the configured channels', async (t) => {
  const { root, entries } = await makeDump();
  const odd = entries.map((e) => (e.path === 'raw/A1_c0_z0_DAPI.tif' ? { ...e, channel: 'GFP' } : e));
  await setManifest(root, odd);
  const d = await readDump(root);
  t.true(d.wells.has('B2'));
  t.regex(d.badWells.get('A1')!.message, new RegExp(`^manifest\\.csv:${lineOf(entries, 'raw/A1_c0_z0_DAPI.tif')}: unknown channel GFP \\(raw/A1_c0_z0_DAPI\\.tif\\); dump\\.json names transmitted \\[PHASE_CONTRAST\\] and labels \\[DAPI\\] \\(and 1 more problem`));
  await rm(root, { recursive: true });
});

test('wrong bit depth and size mismatch within a well fail that well', async (t) => {
  const { root, entries } = await makeDump();
  const p8 = 'raw/A1_c1_z1_PHASE_CONTRAST.tif';
  await writeTiff(join(root, p8), tile('uint8'), { compression: 'none' });
  const small = 'raw/B2_c1_z0_DAPI.tif';
  await writeTiff(join(root, small), tile('uint16', SIZE, SIZE - 2), { compression: 'none' });
  let d = await readDump(root);
  t.is(d.wells.size, 0);
  t.is(d.badWells.get('A1')!.message, `manifest.csv:${lineOf(entries, p8)}: ${p8} is 8-bit but other PHASE_CONTRAST images of well A1 are 16-bit (e.g. raw/A1_c0_z0_PHASE_CONTRAST.tif, manifest.csv:2)`);
  t.is(d.badWells.get('B2')!.message, `manifest.csv:${lineOf(entries, small)}: ${small} is 16x14 but the other images of well B2 are 16x16 (e.g. raw/B2_c0_z0_PHASE_CONTRAST.tif, manifest.csv:${lineOf(entries, 'raw/B2_c0_z0_PHASE_CONTRAST.tif')})`);
  await writeFile(join(root, 'dump.json'), JSON.stringify({ transmitted: ['PHASE_CONTRAST'], labels: ['DAPI'], bitDepth: 8 }));
  d = await readDump(root);
  t.regex(d.badWells.get('A1')!.message, /^manifest\.csv:2: raw\/A1_c0_z0_PHASE_CONTRAST\.tif is 16-bit but dump\.json says bitDepth 8 \(and 4 more problems/);
  await rm(root, { recursive: true });
});

test('truncated or corrupt file fails its well with the decode reason; page out of range too', async (t) => {
  const { root, entries } = await makeDump();
  const f = 'raw/B2_c0_z1_PHASE_CONTRAST.tif';
  await writeFile(join(root, f), Buffer.from('II*\0garbage'));
  await setManifest(root, entries.map((e) => (e.path === 'raw/A1_c0_z0_DAPI.tif' ? { ...e, page: 3 } : e)));
  const d = await readDump(root);
  t.is(d.wells.size, 0);
  t.regex(d.badWells.get('B2')!.message, new RegExp(`^manifest\\.csv:${lineOf(entries, f)}: raw/B2_c0_z1_PHASE_CONTRAST\\.tif: cannot decode image \\(corrupt or truncated\\?\\): `));
  t.is(d.badWells.get('A1')!.message, `manifest.csv:${lineOf(entries, 'raw/A1_c0_z0_DAPI.tif')}: raw/A1_c0_z0_DAPI.tif has 1 page; page 3 does not exist`);
  await rm(root, { recursive: true });
});

test('a malformed number fails only its well', async (t) => {
  const { root, entries } = await makeDump();
  const csv = formatManifest(entries).split('\n');
  csv[2] = csv[2].replace(/,0,1,PHASE/, ',0,x,PHASE');
  await writeFile(join(root, 'manifest.csv'), csv.join('\n'));
  const d = await readDump(root);
  t.true(d.wells.has('B2'));
  t.regex(d.badWells.get('A1')!.message, /^manifest\.csv:3: z must be a non-negative integer but is "x" \(raw\/A1_c0_z1_PHASE_CONTRAST\.tif\)/);
  await rm(root, { recursive: true });
});

test('readTile decodes a row as a Tile and names manifest.csv:LINE when the file went bad later', async (t) => {
  const { root, entries } = await makeDump();
  const d = await readDump(root);
  const row = d.wells.get('B2')!.positions[1].channels.get('PHASE_CONTRAST')![1];
  const tl = await readTile(row);
  t.like(tl, { well: 'B2', tileRow: 0, tileCol: 1, channel: 'PHASE_CONTRAST', z: 1, stageX: 14, stageY: 0, path: row.file });
  t.is(tl.plane.dtype, 'uint16');
  t.is(tl.plane.data[17], 17);
  await rm(row.file);
  const e = await t.throwsAsync(readTile(row), { instanceOf: IslError });
  t.is(e?.message, `manifest.csv:${lineOf(entries, row.path)}: ${row.path}: file not found`);
  t.is(e?.well, 'B2');
  await rm(root, { recursive: true });
});
