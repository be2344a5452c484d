import test from 'ava';
import { rng } from '../../../core/random.ts';
import { plane, type Plane } from '../../../core/image.ts';
import { Compositor, compositePlane, layoutOf, type CompositeLayout } from '../../../transforms/stitch/composite.ts';
import { stitchWell } from '../../../transforms/stitch/well.ts';
import { texture } from './synth.ts';

/** 2x3 tiles of 96 px cut at integer jittered positions from a textured canvas, each tile scaled by its gain. */
function cut(gains: number[] = [1, 1, 1, 1, 1, 1]) {
  const T = 96, step = 72, cw = 2 * step + T + 10, ch = step + T + 10;
  const tex = texture(cw, ch, 31);
  const r = rng(32);
  const tiles: { row: number; col: number; x: number; y: number; plane: Plane<'float32'> }[] = [];
  for (let row = 0; row < 2; row++)
    for (let col = 0; col < 3; col++) {
      const x = 5 + col * step + r.int(7) - 3, y = 5 + row * step + r.int(7) - 3;
      const p = plane('float32', T, T);
      const g = gains[row * 3 + col];
      for (let v = 0; v < T; v++) for (let u = 0; u < T; u++) p.data[v * T + u] = g * tex[(y + v) * cw + x + u];
      tiles.push({ row, col, x, y, plane: p });
    }
  const ox = Math.min(...tiles.map((t) => t.x)), oy = Math.min(...tiles.map((t) => t.y));
  const layout: CompositeLayout = {
    width: Math.max(...tiles.map((t) => t.x)) - ox + T,
    height: Math.max(...tiles.map((t) => t.y)) - oy + T,
    tileWidth: T,
    tileHeight: T,
    tiles: tiles.map((t) => ({ row: t.row, col: t.col, x: t.x - ox, y: t.y - oy })),
    ramp: { x: 24, y: 24 },
  };
  return { tiles, layout, tex, cw, ox, oy };
}

test('compositing registered tiles reproduces the canvas exactly where covered (registration -> layout)', async (t) => {
  const { tiles, tex, cw } = cut();
  const rep = stitchWell(tiles.map((s) => ({ tileRow: s.row, tileCol: s.col, plane: s.plane })), { overlap: 24, searchRadius: 6 });
  const layout = layoutOf(rep);
  // Registration recovers the integer offsets exactly, so rounding loses nothing.
  for (const lt of layout.tiles) {
    const s = tiles.find((x) => x.row === lt.row && x.col === lt.col)!;
    const s0 = tiles.find((x) => x.row === rep.tiles[0].row && x.col === rep.tiles[0].col)!;
    t.is(lt.x - layout.tiles[0].x, s.x - s0.x);
    t.is(lt.y - layout.tiles[0].y, s.y - s0.y);
  }
  const out = await compositePlane(layout, (row, col) => tiles.find((s) => s.row === row && s.col === col)!.plane);
  const ox = Math.min(...tiles.map((s) => s.x)), oy = Math.min(...tiles.map((s) => s.y));
  let worst = 0, covered = 0;
  for (let y = 0; y < out.height; y++)
    for (let x = 0; x < out.width; x++) {
      const inside = layout.tiles.some((lt) => x >= lt.x && x < lt.x + 96 && y >= lt.y && y < lt.y + 96);
      if (!inside) {
        t.is(out.data[y * out.width + x], 0);
        continue;
      }
      covered++;
      worst = Math.max(worst, Math.abs(out.data[y * out.width + x] - tex[(y + oy) * cw + x + ox]));
    }
  t.true(covered > 0.9 * out.width * out.height);
  t.true(worst < 1e-3, `worst ${worst}`);
});

test('overlaps blend with linear ramps (weights sum to 1), and iterable and callback sources agree', async (t) => {
  const gains = [1, 2, 1, 1, 1, 1];
  const { tiles, layout, tex, cw, ox, oy } = cut(gains);
  const a = await compositePlane(layout, tiles.map((s) => ({ tileRow: s.row, tileCol: s.col, plane: s.plane })).reverse());
  async function* gen() {
    for (const s of tiles) yield { tileRow: s.row, tileCol: s.col, plane: s.plane };
  }
  const into = plane('float32', layout.width, layout.height);
  into.data.fill(7);
  const b = await compositePlane(layout, gen(), into);
  t.is(b, into);
  // Same result in any tile order (up to float32 summation order).
  t.true(a.data.every((v, i) => Math.abs(v - b.data[i]) <= 1e-4 * Math.abs(v) + 1e-6));
  // Tiles (0,0) (gain 1) and (0,1) (gain 2): on a row inside only those two, the effective gain
  // out/tex ramps from 1 to 2 across the overlap, monotonically, and is 1.5 where both ramps are equal.
  const t0 = layout.tiles[0], t1 = layout.tiles[1];
  const y = Math.max(t0.y, t1.y) + 30;
  const x0 = t1.x, x1 = t0.x + 96;
  const gain = (x: number) => a.data[y * a.width + x] / tex[(y + oy) * cw + x + ox];
  t.true(Math.abs(gain(x0 - 1) - 1) < 1e-4);
  t.true(Math.abs(gain(x1) - 2) < 1e-4);
  for (let x = x0; x < x1 - 1; x++) t.true(gain(x + 1) >= gain(x) - 1e-5);
  const mid = x0 + (x1 - x0 - 1) / 2;
  if (Number.isInteger(mid)) t.true(Math.abs(gain(mid) - 1.5) < 1e-3);
  else t.true(Math.abs((gain(Math.floor(mid)) + gain(Math.ceil(mid))) / 2 - 1.5) < 0.02);
});

test('compositePlane rejects missing, duplicate, unknown and mis-sized tiles', async (t) => {
  const { tiles, layout } = cut();
  const src = tiles.map((s) => ({ tileRow: s.row, tileCol: s.col, plane: s.plane }));
  await t.throwsAsync(compositePlane(layout, src.slice(1)), { message: /1 tile\(s\) of the layout were not supplied/ });
  await t.throwsAsync(compositePlane(layout, [...src, src[0]]), { message: /tile given twice/ });
  await t.throwsAsync(compositePlane(layout, [...src, { tileRow: 5, tileCol: 5, plane: src[0].plane }]), { message: /not in the stitch layout/ });
  await t.throwsAsync(compositePlane(layout, [{ ...src[0], plane: plane('uint16', 10, 96) }]), { message: /tile is 10x96 but the layout expects 96x96/ });
  await t.throwsAsync(compositePlane({ ...layout, ramp: { x: 0, y: 4 } }, src), { message: /ramp widths >= 1 px/ });
  await t.throwsAsync(compositePlane(layout, src, plane('float32', 5, 5)), { message: /Expected a float32 canvas of .* for into but received "float32 5x5"/ });
});

test('bad input through the whole stitch: a missing grid slot stays empty (0) on the canvas, a single-tile well is the tile itself', async (t) => {
  const { tiles, tex, cw } = cut();
  const present = tiles.filter((s) => !(s.row === 1 && s.col === 1));
  const rep = stitchWell(present.map((s) => ({ tileRow: s.row, tileCol: s.col, plane: s.plane })), { overlap: 24, searchRadius: 6, rows: 2, cols: 3 });
  t.deepEqual(rep.missing, [{ row: 1, col: 1 }]);
  const layout = layoutOf(rep);
  t.is(layout.tiles.length, 5);
  const out = await compositePlane(layout, (row, col) => present.find((s) => s.row === row && s.col === col)!.plane);
  const ox = Math.min(...present.map((s) => s.x)), oy = Math.min(...present.map((s) => s.y));
  let gap = 0, worst = 0;
  for (let y = 0; y < out.height; y++)
    for (let x = 0; x < out.width; x++) {
      const inside = layout.tiles.some((lt) => x >= lt.x && x < lt.x + 96 && y >= lt.y && y < lt.y + 96);
      if (!inside) {
        gap++;
        t.is(out.data[y * out.width + x], 0);
      } else worst = Math.max(worst, Math.abs(out.data[y * out.width + x] - tex[(y + oy) * cw + x + ox]));
    }
  t.true(gap > 40 * 40, `uncovered px ${gap}`);
  t.true(worst < 1e-3, `worst ${worst}`);
  // A single-tile well: position (0, 0), a canvas of the tile's size equal to the tile.
  const one = stitchWell([{ tileRow: 0, tileCol: 0, plane: tiles[0].plane }]);
  const single = await compositePlane(layoutOf(one), () => tiles[0].plane);
  t.deepEqual([single.width, single.height], [96, 96]);
  t.deepEqual(single.data, tiles[0].plane.data);
});

test('Compositor: bands of canvas rows fed only the tile rows they need are bit-identical to the whole canvas', async (t) => {
  const { tiles, layout } = cut();
  const whole = await compositePlane(layout, (r, c) => tiles.find((x) => x.row === r && x.col === c)!.plane);
  for (const rows of [1, 7, 40, layout.height]) {
    const out = new Float32Array(whole.data.length);
    for (let y0 = 0; y0 < layout.height; y0 += rows) {
      const c = new Compositor(layout, { y0, y1: Math.min(layout.height, y0 + rows) });
      for (const lt of layout.tiles) {
        const need = c.tileRows(lt.row, lt.col);
        if (!need) continue;
        const p = tiles.find((x) => x.row === lt.row && x.col === lt.col)!.plane;
        c.add(lt.row, lt.col, plane('float32', p.width, need.v1 - need.v0, p.data.slice(need.v0 * p.width, need.v1 * p.width)), need.v0);
      }
      out.set(c.finish().data, y0 * layout.width);
    }
    t.deepEqual(out, whole.data, `bands of ${rows} rows`);
  }
  const c = new Compositor(layout, { y0: 0, y1: 10 });
  const p = tiles[0].plane;
  t.throws(() => c.add(0, 0, plane('float32', p.width, 5, p.data.slice(0, 5 * p.width))), { message: /tile rows 0\.\.5 given, but this band needs rows 0\.\.\d+/ });
  t.throws(() => c.finish(), { message: /were not supplied/ });
});
