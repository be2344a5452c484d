import test from 'ava';
import { mkdtemp, mkdir, rm, writeFile, readFile, symlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { plane, type Plane } from '../../core/image.ts';
import { writeTiff, writePng, writeOmeTiff } from '../../io/write.ts';
import { readPlane } from '../../io/read.ts';
import { readDump } from '../../io/manifest.ts';
import { discover, compileTemplate, parseTileConfiguration } from '../../io/discover.ts';
import { sharedDataset, withShared } from '../helpers/shared.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function tile(v: number, w = 8, h = 6): Plane<'uint16'> {
  const p = plane('uint16', w, h);
  p.data.fill(v);
  return p;
}
const tmp = () => mkdtemp(join(tmpdir(), 'isl-discover-'));

test('template {well}_r{row}_c{col}_z{z}_{channel}.tif: rows, dump.json, readDump accepts it', async (t) => {
  const root = await tmp();
  await mkdir(join(root, 'raw'));
  const writes: Promise<void>[] = [];
  for (const well of ['A1', 'A2'])
    for (const r of [0, 1])
      for (const c of [0, 1])
        for (const [ch, depth] of [['BRIGHTFIELD', 3], ['DAPI', 1]] as const)
          for (let z = 0; z < depth; z++) writes.push(writeTiff(join(root, 'raw', `${well}_r${r}_c${c}_z${z}_${ch}.tif`), tile(r * 100 + c * 10 + z), { compression: 'deflate' }));
  await Promise.all(writes);
  await writeFile(join(root, 'raw', 'notes.png.txt'), 'not an image');
  const d = await discover(root, { template: 'raw/{well}_r{row}_c{col}_z{z}_{channel}.tif', overlap: 0.15 });
  t.is(d.layout, 'template');
  t.is(d.entries.length, 2 * 4 * 4);
  t.deepEqual(d.entries[0], { path: 'raw/A1_r0_c0_z0_BRIGHTFIELD.tif', well: 'A1', tileRow: 0, tileCol: 0, channel: 'BRIGHTFIELD', z: 0 });
  t.deepEqual(d.config, { transmitted: ['BRIGHTFIELD'], labels: ['DAPI'], overlap: 0.15 });
  t.true(d.wroteConfig);
  const csv = await readFile(join(root, 'manifest.csv'), 'utf8');
  t.is(csv.split('\n')[0], 'path,well,tile_row,tile_col,z,channel');
  t.is(csv.split('\n')[1], 'raw/A1_r0_c0_z0_BRIGHTFIELD.tif,A1,0,0,0,BRIGHTFIELD');
  const dump = await readDump(root);
  t.deepEqual([...dump.wells.keys()], ['A1', 'A2']);
  t.is(dump.badWells.size, 0);
  const pos = dump.wells.get('A2')!.positions[3];
  t.deepEqual([pos.tileRow, pos.tileCol], [1, 1]);
  t.is((await readPlane(pos.channels.get('BRIGHTFIELD')![2].file)).data[0], 112);
  t.deepEqual((await readdir(root)).sort(), ['dump.json', 'manifest.csv', 'raw']);
  // A second run keeps the existing dump.json.
  const again = await discover(root, { template: 'raw/{well}_r{row}_c{col}_z{z}_{channel}.tif', overlap: 0.3 });
  t.false(again.wroteConfig);
  t.is(JSON.parse(await readFile(join(root, 'dump.json'), 'utf8')).overlap, 0.15);
  await rm(root, { recursive: true });
});

test('template with {tile} and --grid-cols, row-major and snake', async (t) => {
  const root = await tmp();
  await Promise.all([1, 2, 3, 4, 5, 6].map((i) => writePng(join(root, `B3_s${i}_GFP.png`), tile(i))));
  const d = await discover(root, { template: '{well}_s{tile}_{channel}.png', gridCols: 3, tileBase: 1, dryRun: true });
  t.deepEqual(d.entries.map((e) => [e.path, e.tileRow, e.tileCol]), [
    ['B3_s1_GFP.png', 0, 0], ['B3_s2_GFP.png', 0, 1], ['B3_s3_GFP.png', 0, 2],
    ['B3_s4_GFP.png', 1, 0], ['B3_s5_GFP.png', 1, 1], ['B3_s6_GFP.png', 1, 2],
  ]);
  const s = await discover(root, { template: '{well}_s{tile}_{channel}.png', gridCols: 3, tileBase: 1, snake: true, dryRun: true });
  t.deepEqual(s.entries.map((e) => [e.path, e.tileRow, e.tileCol]).slice(3), [['B3_s6_GFP.png', 1, 0], ['B3_s5_GFP.png', 1, 1], ['B3_s4_GFP.png', 1, 2]]);
  t.deepEqual(await readdir(root), ['B3_s1_GFP.png', 'B3_s2_GFP.png', 'B3_s3_GFP.png', 'B3_s4_GFP.png', 'B3_s5_GFP.png', 'B3_s6_GFP.png'], 'dry run writes nothing');
  await t.throwsAsync(discover(root, { template: '{well}_s{tile}_{channel}.png' }), { message: 'Expected the number of grid columns (or gridRows) when the template has {tile} for gridCols but received undefined (undefined)' });
  await t.throwsAsync(discover(root, { template: '{well}_{stage}.png' }), { message: 'Expected placeholders among {well}, {row}, {col}, {z}, {channel}, {tile} for template but received "{well}_{stage}.png" (string)' });
  await t.throwsAsync(discover(root, { template: '{well}_r{row}_c{col}.tif' }), { message: `${root}: no image file matches the template "{well}_r{row}_c{col}.tif" (6 image files found, e.g. B3_s1_GFP.png)` });
  await t.throwsAsync(discover(root, { template: '{well}_s{tile}_GFP.png', gridCols: 3 }), { message: `B3_s1_GFP.png: the layout gives no channel names: pass --channel NAME (e.g. --channel DAPI)` });
  await rm(root, { recursive: true });
});

test('compileTemplate escapes literal text and matches whole relative paths', (t) => {
  const c = compileTemplate('plate.1/{well}/z{z}+{channel}.tif');
  t.deepEqual(c.fields, ['well', 'z', 'channel']);
  t.deepEqual(c.regex.exec('plate.1/C4/z07+DAPI.tif')?.slice(1), ['C4', '07', 'DAPI']);
  t.is(c.regex.exec('plateX1/C4/z07+DAPI.tif'), null);
  t.is(c.regex.exec('sub/plate.1/C4/z07+DAPI.tif'), null);
});

test('multi-page TIFF z-stacks become one row per page with page = z', async (t) => {
  const root = await tmp();
  for (const c of [0, 1]) {
    await writeOmeTiff(join(root, `W1_r0_c${c}_PHASE_CONTRAST.tif`), [0, 1, 2, 3].map((z) => ({ name: 'PC', plane: tile(c * 10 + z) })));
    await writeTiff(join(root, `W1_r0_c${c}_DAPI.tif`), tile(500 + c));
  }
  const d = await discover(root, { template: '{well}_r{row}_c{col}_{channel}.tif', overlapPx: 2 });
  t.deepEqual(d.entries.filter((e) => e.tileCol === 1).map((e) => [e.channel, e.z, e.page]), [['DAPI', 0, undefined], ['PHASE_CONTRAST', 0, 0], ['PHASE_CONTRAST', 1, 1], ['PHASE_CONTRAST', 2, 2], ['PHASE_CONTRAST', 3, 3]]);
  const csv = (await readFile(join(root, 'manifest.csv'), 'utf8')).split('\n');
  t.is(csv[0], 'path,well,tile_row,tile_col,z,channel,page');
  t.is(csv[1], 'W1_r0_c0_DAPI.tif,W1,0,0,0,DAPI,');
  t.is(csv[3], 'W1_r0_c0_PHASE_CONTRAST.tif,W1,0,0,1,PHASE_CONTRAST,1');
  const dump = await readDump(root);
  t.is(dump.badWells.size, 0);
  const row = dump.wells.get('W1')!.positions[1].channels.get('PHASE_CONTRAST')![2];
  t.is((await readPlane(row.file, { page: row.page })).data[0], 12);
  await rm(root, { recursive: true });
});

test('ISL-convention tiles (tile_row/tile_col) and stitched names', async (t) => {
  const root = await tmp();
  const name = (r: number, c: number, rest: string) => `lab-L,well-D2,tile_row-${r},tile_col-${c},${rest},is_mask-false.png`;
  const files = [];
  for (const r of [0, 1]) for (const c of [0, 1]) files.push(name(r, c, 'z_depth-0,channel-DIC'), name(r, c, 'z_depth-1,channel-DIC'), name(r, c, 'depth_computation-MAXPROJECT,channel-TUJ1'));
  files.push('lab-L,well-D2,tile_row-0,tile_col-0,z_depth-0,channel-DIC,is_mask-true.png', 'lab-L,well-D2,z_depth-0,channel-DIC,statistic-MEDIAN,is_mask-false.png');
  await Promise.all(files.map((f, i) => writePng(join(root, f), tile(i))));
  const d = await discover(root, {});
  t.is(d.layout, 'isl');
  t.is(d.entries.length, 12);
  t.deepEqual(d.ignored.length, 2, 'mask and prediction ignored');
  t.deepEqual(d.config, { transmitted: ['DIC'], labels: ['TUJ1'] });
  const dump = await readDump(root);
  t.is(dump.badWells.size, 0);
  t.deepEqual([...dump.wells.get('D2')!.depth], [['DIC', 2], ['TUJ1', 1]]);
  await rm(root, { recursive: true });
});

withShared(test, 'isl-condition-b-top')('ISL convention on the published well: 13 z-planes of PHASE_CONTRAST + 3 labels', async (t) => {
  const d = await discover(sharedDataset('isl-condition-b-top')!, { dryRun: true });
  t.is(d.layout, 'isl');
  t.deepEqual(d.entries.filter((e) => e.channel === 'PHASE_CONTRAST').map((e) => e.z), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  t.deepEqual(d.config, { transmitted: ['PHASE_CONTRAST'], labels: ['DAPI_CONFOCAL', 'MAP2_CONFOCAL', 'NFH_CONFOCAL'] });
  t.true(d.entries.every((e) => e.well === 'A4' && e.tileRow === 0 && e.tileCol === 0));
});

test('an empty dump folder: no layout recognised, nothing written', async (t) => {
  const root = await tmp();
  await t.throwsAsync(discover(root), { message: `${root}: no layout recognised: no TileConfiguration.txt and no ISL-convention names among 0 image files; pass --template (e.g. '{well}_r{row}_c{col}_z{z}_{channel}.tif') or --tile-config` });
  t.deepEqual(await readdir(root), []);
  await rm(root, { recursive: true });
});

test('parseTileConfiguration: 2-D and 3-D lines, comments; malformed line names file:line', (t) => {
  const ok = parseTileConfiguration('# c\ndim = 2\n\na.tif; ; (0.0, 0.0)\nb.tif; ; (460.5, -3.25)\nc.tif; ; (1, 2, 3)\n');
  t.deepEqual(ok, [{ name: 'a.tif', x: 0, y: 0 }, { name: 'b.tif', x: 460.5, y: -3.25 }, { name: 'c.tif', x: 1, y: 2 }]);
  t.throws(() => parseTileConfiguration('dim = 2\na.tif; (0, 0)\n', 'TC.txt'), { message: 'TC.txt:2: expected "file; ; (x, y)" but found "a.tif; (0, 0)"' });
  t.throws(() => parseTileConfiguration('dim = 2\n', 'TC.txt'), { message: 'TC.txt: no tile lines ("file; ; (x, y)") found' });
});

test('TileConfiguration naming a missing file fails with the file named', async (t) => {
  const root = await tmp();
  await writePng(join(root, 'a.png'), tile(1));
  await writeFile(join(root, 'TileConfiguration.txt'), 'dim = 2\na.png; ; (0, 0)\nb.png; ; (6, 0)\n');
  await t.throwsAsync(discover(root, { channel: 'X' }), { message: `${join(root, 'TileConfiguration.txt')}: names 1 file not found under ${root}: b.png` });
  t.deepEqual((await readdir(root)).sort(), ['TileConfiguration.txt', 'a.png'], 'no partial output');
  await rm(root, { recursive: true });
});

test('TileConfiguration without a nominal file: jittered positions are rounded to grid cells', async (t) => {
  const root = await tmp();
  const lines = ['dim = 2'];
  const jitter = [0, 1.5, -2, 2.5, -1, 1];
  for (let i = 0; i < 6; i++) {
    await writePng(join(root, `t${i}.png`), tile(i, 40, 30));
    const r = Math.floor(i / 3);
    const c = i % 3;
    lines.push(`t${i}.png; ; (${c * 34 + jitter[i]}, ${r * 26 - jitter[5 - i] * 4})`);
  }
  await writeFile(join(root, 'Registered.txt'), lines.join('\n'));
  const d = await discover(root, { channel: 'BF', tileConfig: join(root, 'Registered.txt'), dryRun: true });
  t.deepEqual(d.entries.map((e) => `${e.path}@${e.tileRow},${e.tileCol}`), ['t0.png@0,0', 't1.png@0,1', 't2.png@0,2', 't3.png@1,0', 't4.png@1,1', 't5.png@1,2']);
  // Median step between horizontal neighbours 35.5 px (steps 35.5, 30.5, 30.5, 36) on 40 px tiles.
  t.deepEqual(d.config, { transmitted: [], labels: ['BF'], overlapPx: 5 });
  await rm(root, { recursive: true });
});

/** A scratch dump of symlinks to a shared dataset (discover writes beside the files; the shared data is read-only). */
async function linkDump(name: string): Promise<string> {
  const src = sharedDataset(name)!;
  const root = await mkdtemp(join(tmpdir(), `isl-${name}-`));
  for (const f of await readdir(src)) await symlink(join(src, f), join(root, f));
  return root;
}

withShared(test, 'wsi-brain')('Fiji TileConfiguration of wsi-brain: 54 tiles on a 9x6 grid, stage positions, 52 px overlap; readDump accepts it', async (t) => {
  const root = await linkDump('wsi-brain');
  const d = await discover(root, { channel: 'C3', well: 'brain' });
  t.is(d.layout, 'tile-config');
  t.is(d.entries.length, 54);
  t.is(new Set(d.entries.map((e) => e.tileCol)).size, 9);
  t.is(new Set(d.entries.map((e) => e.tileRow)).size, 6);
  t.deepEqual(d.entries[0], { path: 'C3-BrainSection0009.tif', well: 'brain', tileRow: 0, tileCol: 0, channel: 'C3', stageX: 0, stageY: 0, z: 0 });
  t.deepEqual(d.entries.find((e) => e.path === 'C3-BrainSection0011.tif'), { path: 'C3-BrainSection0011.tif', well: 'brain', tileRow: 1, tileCol: 1, channel: 'C3', stageX: 460, stageY: 460, z: 0 });
  t.deepEqual(d.config, { transmitted: [], labels: ['C3'], overlapPx: 52 });
  const dump = await readDump(root);
  t.is(dump.badWells.size, 0);
  const w = dump.wells.get('brain')!;
  t.deepEqual([w.width, w.height, w.dtype, w.positions.length], [512, 512, 'uint16', 54]);
  // Registered positions (Fiji moved empty tiles by up to ~220 px): grid cells still come from the nominal file beside it.
  const reg = await discover(root, { channel: 'C3', tileConfig: join(root, 'TileConfiguration.registered.txt'), dryRun: true });
  const cell = (e: { path: string; tileRow: number; tileCol: number }) => `${e.path}@${e.tileRow},${e.tileCol}`;
  t.deepEqual(reg.entries.map(cell).sort(), d.entries.map(cell).sort());
  t.is(reg.entries.find((e) => e.path === 'C3-BrainSection0008.tif')!.stageX, 467.8550018939491);
  await rm(root, { recursive: true });
});

withShared(test, 'lscm-speckle')('Fiji TileConfiguration of lscm-speckle: 4x3 serpentine grid, 103 px overlap, RGB-stored grey tiles read', async (t) => {
  const root = await linkDump('lscm-speckle');
  const d = await discover(root, { channel: 'SPECKLE' });
  t.is(d.entries.length, 12);
  const at = (r: number, c: number) => d.entries.find((e) => e.tileRow === r && e.tileCol === c)!.path;
  t.is(at(0, 3), 'x100_epr-jerem_10pct_001_A004_I.tif');
  t.is(at(1, 0), 'x100_epr-jerem_10pct_001_A008_I.tif');
  t.is(at(2, 3), 'x100_epr-jerem_10pct_001_A012_I.tif');
  t.is(d.config.overlapPx, 103);
  const dump = await readDump(root);
  t.is(dump.badWells.size, 0);
  const p = await readPlane(join(root, at(1, 0)));
  t.deepEqual([p.dtype, p.width, p.height], ['uint8', 1024, 1024]);
  await rm(root, { recursive: true });
});

test('CLI: --help exits 0; a failure exits 1 with a one-line reason', (t) => {
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/discover.ts', '--help'], { cwd: REPO, encoding: 'utf8' });
  t.is(help.status, 0);
  t.regex(help.stdout, /Usage: discover \[options\]/);
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/discover.ts', '--input', '/nonexistent/dump'], { cwd: REPO, encoding: 'utf8' });
  t.is(bad.status, 1);
  t.is(bad.stderr, 'discover: /nonexistent/dump: input folder not found\n');
  const usage = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/discover.ts'], { cwd: REPO, encoding: 'utf8' });
  t.is(usage.status, 2);
  t.regex(usage.stderr, /required option '--input <dir>' not specified/);
});
