import test from 'ava';
import { plane } from '../../../core/image.ts';
import { stitchWell, stitchWellFrom, type StitchReport } from '../../../transforms/stitch/well.ts';
import { synthWell, type SynthTile } from './synth.ts';

/** Per-tile errors after removing the best (mean) translation between our frame and the truth, over `align` tiles. */
function errors(rep: StitchReport, tiles: readonly SynthTile[], align = (_: SynthTile) => true) {
  const pairs = tiles.map((s) => ({ s, r: rep.tiles.find((r) => r.row === s.tileRow && r.col === s.tileCol)! }));
  const use = pairs.filter((p) => align(p.s));
  const ox = use.reduce((t, p) => t + p.s.x - p.r.x, 0) / use.length;
  const oy = use.reduce((t, p) => t + p.s.y - p.r.y, 0) / use.length;
  return pairs.map((p) => ({ row: p.s.tileRow, col: p.s.tileCol, ex: p.r.x + ox - p.s.x, ey: p.r.y + oy - p.s.y, placedBy: p.r.placedBy }));
}
const rms = (e: { ex: number; ey: number }[]) => Math.sqrt(e.reduce((t, v) => t + v.ex ** 2 + v.ey ** 2, 0) / e.length);

test('dense well: RMS position error <= 0.3 px, every pair trusted, report complete', (t) => {
  const { tiles } = synthWell({ rows: 3, cols: 3, tile: 256, overlap: 48, jitter: 6, seed: 21, noise: 3 });
  const rep = stitchWell(tiles.map((s) => ({ tileRow: s.tileRow, tileCol: s.tileCol, plane: s.plane })), { overlap: 48, well: 'D1', searchRadius: 16 });
  const e = errors(rep, tiles);
  t.log(`RMS ${rms(e).toFixed(3)} px, threshold ${rep.nccThreshold.threshold.toFixed(3)} (null max ${rep.nccThreshold.nullMax.toFixed(3)}), residual RMS ${rep.residualRms.toFixed(3)}`);
  t.true(rms(e) <= 0.3, `RMS ${rms(e)}`);
  t.is(rep.pairs.length, 12);
  t.true(rep.pairs.every((p) => p.trusted && p.used));
  t.is(rep.faults.length, 0);
  t.is(rep.nccThreshold.method === 'null' || rep.nccThreshold.method === 'floor', true);
  t.is(Math.min(...rep.tiles.map((x) => x.x)), 0);
  t.is(rep.canvas.width, Math.max(...rep.tiles.map((x) => Math.round(x.x))) + 256);
  t.deepEqual(JSON.parse(JSON.stringify(rep)).tiles.length, 9);
});

test('dense well with stage positions and uint16 input', (t) => {
  const { tiles } = synthWell({ rows: 3, cols: 4, tile: 200, overlap: 40, jitter: 5, seed: 22, noise: 2 });
  const u16 = tiles.map((s) => ({ tileRow: s.tileRow, tileCol: s.tileCol, stageX: s.stageX, stageY: s.stageY, plane: plane('uint16', 200, 200, Uint16Array.from(s.plane.data, (v) => Math.round(v))) }));
  const rep = stitchWell(u16, { searchRadius: 12 });
  t.deepEqual(rep.overlap, { x: 40, y: 40 });
  const e = errors(rep, tiles);
  t.log(`RMS ${rms(e).toFixed(3)} px`);
  t.true(rms(e) <= 0.3, `RMS ${rms(e)}`);
});

test('sparse well with empty overlaps: no tile off by more than the stage jitter', (t) => {
  const J = 4, tile = 160, ov = 32, step = tile - ov, m = Math.ceil(J) + 2;
  // Content everywhere except: tiles (0,3) and (3,3) entirely empty, and tile (2,1) with content
  // only in its centre (all four of its overlaps empty).
  const inTile = (x: number, y: number, r: number, c: number, pad: number) =>
    x >= m + c * step - J + pad && x < m + c * step + tile + J - pad && y >= m + r * step - J + pad && y < m + r * step + tile + J - pad;
  const nearTile21 = (x: number, y: number) => inTile(x, y, 2, 1, -ov - J) && !inTile(x, y, 2, 1, ov + J);
  const empty = (x: number, y: number) => inTile(x, y, 0, 3, -J - ov) || inTile(x, y, 3, 3, -J - ov) || nearTile21(x, y);
  const { tiles } = synthWell({ rows: 4, cols: 4, tile, overlap: ov, jitter: J, seed: 23, noise: 2, empty });
  const rep = stitchWell(tiles.map((s) => ({ tileRow: s.tileRow, tileCol: s.tileCol, plane: s.plane })), { overlap: ov });
  const linked = (s: SynthTile) => rep.tiles.find((r) => r.row === s.tileRow && r.col === s.tileCol)!.placedBy === 'links';
  const e = errors(rep, tiles, linked);
  const stagePlaced = e.filter((v) => v.placedBy === 'stage');
  t.log(`threshold ${rep.nccThreshold.threshold.toFixed(3)}; stage-placed ${stagePlaced.map((v) => `(${v.row},${v.col}) ${v.ex.toFixed(2)},${v.ey.toFixed(2)}`).join(' ')}`);
  t.deepEqual(stagePlaced.map((v) => `${v.row},${v.col}`).sort(), ['0,3', '2,1', '3,3']);
  // No pair touching an empty overlap may be trusted.
  const emptyPairs = rep.pairs.filter((p) => [p.a, p.b].some((q) => (q.row === 2 && q.col === 1) || (q.col === 3 && (q.row === 0 || q.row === 3))));
  t.true(emptyPairs.every((p) => !p.trusted), JSON.stringify(emptyPairs.filter((p) => p.trusted)));
  // Frames are aligned on the linked tiles, whose own mean stage error (jx, jy) therefore shifts
  // every stage-placed tile: that much is the stage's, not the stitcher's.
  const lt = tiles.filter(linked);
  const jx = Math.abs(lt.reduce((s, v) => s + v.x - v.stageX, 0) / lt.length), jy = Math.abs(lt.reduce((s, v) => s + v.y - v.stageY, 0) / lt.length);
  t.log(`linked tiles' mean stage error ${jx.toFixed(2)}, ${jy.toFixed(2)} px`);
  for (const v of e) t.true(Math.abs(v.ex) <= J + jx && Math.abs(v.ey) <= J + jy, `tile (${v.row},${v.col}) off by ${v.ex.toFixed(2)}, ${v.ey.toFixed(2)}`);
  t.true(rms(e.filter((v) => v.placedBy === 'links')) <= 0.3);
  t.is(rep.faults.length, 0);
});

test('a stage-fault tile is detected, reported, and still placed by its links', (t) => {
  const fault = { row: 1, col: 2, dx: 22, dy: -17 };
  const { tiles } = synthWell({ rows: 3, cols: 4, tile: 192, overlap: 48, jitter: 3, seed: 24, noise: 2, fault });
  const rep = stitchWell(tiles.map((s) => ({ tileRow: s.tileRow, tileCol: s.tileCol, plane: s.plane, stageX: s.stageX, stageY: s.stageY })), { searchRadius: 32 });
  t.deepEqual(rep.faults.map((f) => [f.row, f.col]), [[1, 2]]);
  t.true(rep.faults[0].distancePx > 20, `distance ${rep.faults[0].distancePx}`);
  t.true(rep.tiles.find((x) => x.row === 1 && x.col === 2)!.fault);
  const e = errors(rep, tiles);
  t.true(rms(e) <= 0.3, `RMS ${rms(e)}`);
});

test('bad input: missing tile is documented (gap), single tile, sizes, overlap, duplicates, partial stage', (t) => {
  const { tiles } = synthWell({ rows: 2, cols: 3, tile: 128, overlap: 32, jitter: 2, seed: 25 });
  const grid = tiles.map((s) => ({ tileRow: s.tileRow, tileCol: s.tileCol, plane: s.plane }));
  // Missing (1,1): listed, no pairs to it, the others still registered.
  const rep = stitchWell(grid.filter((g) => !(g.tileRow === 1 && g.tileCol === 1)), { overlap: 32, rows: 2, cols: 3 });
  t.deepEqual(rep.missing, [{ row: 1, col: 1 }]);
  t.is(rep.tiles.length, 5);
  t.false(rep.pairs.some((p) => (p.a.row === 1 && p.a.col === 1) || (p.b.row === 1 && p.b.col === 1)));
  const e = errors(rep, tiles.filter((s) => !(s.tileRow === 1 && s.tileCol === 1)));
  t.true(rms(e) <= 0.3, `RMS ${rms(e)}`);
  // Single tile: at the origin, no pairs; overlap not even needed.
  const one = stitchWell([grid[0]], { well: 'A1' });
  t.deepEqual([one.tiles[0].x, one.tiles[0].y, one.pairs.length], [0, 0, 0]);
  t.deepEqual(one.canvas, { width: 128, height: 128 });
  t.throws(() => stitchWell([], { well: 'A1' }), { message: /no tiles to stitch/ });
  const small = { tileRow: 0, tileCol: 3, plane: plane('float32', 100, 128), path: 'r0c3.tif' };
  t.throws(() => stitchWell([...grid, small], { overlap: 32 }), { message: /r0c3\.tif: tile is 100x128 but .* is 128x128: all tiles of a well must have one size/ });
  t.throws(() => stitchWell(grid, { overlap: 128 }), { message: /Expected an overlap >= 0 and smaller than the tile width 128 px .* for overlap\.x but received 128/ });
  t.throws(() => stitchWell(grid, { overlap: { x: 0.2, y: 1.5e3 } }), { message: /for overlap\.y/ });
  t.throws(() => stitchWell(grid), { message: /Expected the nominal tile overlap .* for overlap/ });
  t.throws(() => stitchWell([...grid, grid[0]], { overlap: 32 }), { message: /two tiles at grid slot \(0, 0\)/ });
  t.throws(() => stitchWell([{ ...grid[0], stageX: 0, stageY: 0 }, ...grid.slice(1)], { overlap: 32 }), { message: /1 of 6 tiles have stage positions/ });
  t.throws(() => stitchWell(grid, { overlap: 32, rows: 1 }), { message: /lies outside the 1x3 grid/ });
});

test('stitchWellFrom reads each tile once, row by row, and gives the same report as stitchWell', async (t) => {
  const { tiles } = synthWell({ rows: 3, cols: 4, tile: 160, overlap: 32, jitter: 4, seed: 27, noise: 2 });
  const grid = tiles.filter((s) => !(s.tileRow === 1 && s.tileCol === 2)).map((s) => ({ tileRow: s.tileRow, tileCol: s.tileCol, stageX: s.stageX, stageY: s.stageY, path: `r${s.tileRow}c${s.tileCol}` }));
  const planes = new Map(tiles.map((s) => [`${s.tileRow},${s.tileCol}`, s.plane]));
  const reads: string[] = [];
  const load = async (r: number, c: number) => {
    reads.push(`${r},${c}`);
    return planes.get(`${r},${c}`)!;
  };
  for (const opts of [{ rows: 3, cols: 4, well: 'B2' }, { overlap: 32, nullSamples: 40, seed: 3 }]) {
    reads.length = 0;
    const streamed = await stitchWellFrom(grid, load, opts);
    t.deepEqual(reads, grid.map((g) => `${g.tileRow},${g.tileCol}`), 'each tile once, row-major');
    t.deepEqual(streamed, stitchWell(grid.map((g) => ({ ...g, plane: planes.get(`${g.tileRow},${g.tileCol}`)! })), opts));
  }
  // A tile of another size is reported when it is read.
  const odd = async (r: number, c: number) => (r === 2 && c === 0 ? plane('uint16', 160, 150) : planes.get(`${r},${c}`)!);
  await t.throwsAsync(stitchWellFrom(grid, odd, { overlap: 32 }), { message: /r2c0: tile is 160x150 but r0c0 is 160x160/ });
});
