import test from 'ava';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedDump } from '../../fixtures/truth.ts';
import { discover } from '../../io/discover.ts';
import { readDump } from '../../io/manifest.ts';
import { TILE_ORDERS, TILE_ORIGINS, tileNumbering, tilePosition, type TileOrder, type TileOrigin } from '../../io/tile_numbering.ts';
import { preprocess } from '../../pipelines/preprocess.ts';

/**
 * The stage path a microscope drives, written as a walk (independent of tilePosition's index
 * arithmetic): the sequence of [row, col] in acquisition order.
 */
function walk(rows: number, cols: number, order: TileOrder, origin: TileOrigin, snake: boolean): [number, number][] {
  const rowsFromOrigin = [...Array(rows).keys()];
  const colsFromOrigin = [...Array(cols).keys()];
  if (origin[0] === 'L') rowsFromOrigin.reverse();
  if (origin[1] === 'R') colsFromOrigin.reverse();
  const out: [number, number][] = [];
  const [outer, inner] = order === 'row' ? [rowsFromOrigin, colsFromOrigin] : [colsFromOrigin, rowsFromOrigin];
  outer.forEach((a, k) => {
    const line = snake && k % 2 === 1 ? [...inner].reverse() : inner;
    for (const b of line) out.push(order === 'row' ? [a, b] : [b, a]);
  });
  return out;
}

const LAYOUTS = TILE_ORDERS.flatMap((order) => TILE_ORIGINS.flatMap((origin) => [false, true].map((snake) => ({ order, origin, snake }))));

test('tilePosition follows the stage path for every order, origin and snake, on non-square grids', (t) => {
  t.is(LAYOUTS.length, 16);
  for (const [rows, cols] of [[3, 4], [4, 3], [1, 5], [2, 2]]) {
    for (const l of LAYOUTS) {
      const g = tileNumbering({ rows, cols, ...l });
      const got = walk(rows, cols, l.order, l.origin, l.snake).map((_, i) => {
        const p = tilePosition(i, g);
        return [p.tileRow, p.tileCol];
      });
      t.deepEqual(got, walk(rows, cols, l.order, l.origin, l.snake), `${rows}x${cols} ${JSON.stringify(l)}`);
    }
  }
});

test('tilePosition: hand-written examples (MIST "vertical, lower right, continuous" on 2 rows x 3 cols)', (t) => {
  const g = tileNumbering({ rows: 2, cols: 3, order: 'column', origin: 'LR', snake: true });
  // Column 2 bottom-up, column 1 top-down, column 0 bottom-up.
  t.deepEqual([0, 1, 2, 3, 4, 5].map((i) => Object.values(tilePosition(i, g))), [[1, 2], [0, 2], [0, 1], [1, 1], [1, 0], [0, 0]]);
  const h = tileNumbering({ rows: 2, cols: 3, order: 'row', origin: 'UR' });
  t.deepEqual([0, 1, 2, 3].map((i) => Object.values(tilePosition(i, h))), [[0, 2], [0, 1], [0, 0], [1, 2]]);
});

test('tileNumbering and tilePosition reject what does not fit', (t) => {
  t.throws(() => tileNumbering({ rows: 2, cols: 2, order: 'diagonal' }), { code: 'BAD_OPTION', message: /tileOrder/ } as any);
  t.throws(() => tileNumbering({ rows: 2, cols: 2, origin: 'middle' }), { code: 'BAD_OPTION', message: /tileOrigin/ } as any);
  t.throws(() => tileNumbering({ rows: 0, cols: 2 }), { code: 'BAD_OPTION', message: /gridRows/ } as any);
  t.is(tileNumbering({ rows: 1, cols: 1, origin: 'lr' }).origin, 'LR');
  const g = tileNumbering({ rows: 2, cols: 2 });
  t.throws(() => tilePosition(4, g), { code: 'BAD_INPUT', message: 'tile index 4 is outside a 2x2 grid (0..3 after the tile base)' } as any);
  t.throws(() => tilePosition(-1, g), { code: 'BAD_INPUT' } as any);
});

// One 3x3-tile well renamed to {tile} numbers in several layouts: discover must give each tile its
// true grid position back, and preprocess the same stitched well, byte for byte.
let root: string;
let dump: string;
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'isl-tile-numbering-'));
  dump = await cachedDump({ preset: 'ci', seed: 11, wells: 1, grid: 3, tile: 128, z: 3, labels: ['DAPI'], truthCanvases: 'none' });
});
test.after.always(() => rm(root, { recursive: true, force: true }));

async function wellFiles(out: string): Promise<Map<string, Buffer>> {
  const dir = join(out, 'wells', 'A1');
  const names = (await readdir(dir)).filter((n) => n.endsWith('.png')).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n))] as [string, Buffer])));
}

test.serial('discover --tile-order/--tile-origin/--snake: true positions and the same stitched well', async (t) => {
  const d = await readDump(dump);
  const well = d.wells.get('A1')!;
  const ref = join(root, 'ref');
  await preprocess({ input: dump, output: ref, workers: 1, progress: false, shards: false });
  const refFiles = await wellFiles(ref);
  t.true(refFiles.size >= 4, 'reference well has its planes');
  for (const l of [{ order: 'column', origin: 'LR', snake: true }, { order: 'row', origin: 'UR', snake: true }, { order: 'column', origin: 'LL', snake: false }] as const) {
    const name = `${l.order}-${l.origin}-${l.snake}`;
    const dir = join(root, name);
    await mkdir(dir);
    await copyFile(join(dump, 'dump.json'), join(dir, 'dump.json'));
    const seq = walk(3, 3, l.order, l.origin, l.snake);
    const truth = new Map<string, [number, number]>();
    for (const pos of well.positions) {
      const index = seq.findIndex(([r, c]) => r === pos.tileRow && c === pos.tileCol) + 1; // 1-based, as most software numbers
      for (const [channel, rows] of pos.channels)
        for (const row of rows) {
          const file = `A1_s${String(index).padStart(2, '0')}_z${row.z}_${channel}.tif`;
          await symlink(row.file, join(dir, file));
          truth.set(file, [pos.tileRow, pos.tileCol]);
        }
    }
    const found = await discover(dir, { template: '{well}_s{tile}_z{z}_{channel}.tif', gridRows: 3, tileBase: 1, tileOrder: l.order, tileOrigin: l.origin, snake: l.snake });
    t.is(found.entries.length, truth.size, name);
    for (const e of found.entries) t.deepEqual([e.tileRow, e.tileCol], truth.get(e.path), `${name}: ${e.path}`);
    const out = join(root, `${name}-out`);
    await preprocess({ input: dir, output: out, workers: 1, progress: false, shards: false });
    const files = await wellFiles(out);
    t.deepEqual([...files.keys()], [...refFiles.keys()], name);
    for (const [n, b] of files) t.true(b.equals(refFiles.get(n)!), `${name}: ${n} differs from the row-major well`);
  }
});

test('discover: a {tile} beyond --grid-rows x --grid-cols names the file', async (t) => {
  const dir = join(root, 'beyond');
  await mkdir(dir);
  const d = await readDump(dump);
  const row = d.wells.get('A1')!.positions[0].channels.get('DAPI')![0];
  await symlink(row.file, join(dir, 'A1_s10_DAPI.tif'));
  await t.throwsAsync(discover(dir, { template: '{well}_s{tile}_{channel}.tif', gridRows: 3, gridCols: 3, tileBase: 1, dryRun: true }), {
    message: 'A1_s10_DAPI.tif: tile index 9 is outside a 3x3 grid (0..8 after the tile base): check --grid-rows/--grid-cols and --tile-base',
  });
});
