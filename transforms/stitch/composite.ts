/**
 * Alpha compositing of registered tiles into one canvas with linear-ramp blending in overlaps.
 *
 * Each tile pixel gets weight rx(u) * ry(v), a ramp rising linearly over `ramp` px from each tile
 * edge; a canvas pixel is the weighted mean of the tiles covering it. The normalising sum is
 * evaluated from the layout row by row as each tile arrives, so no weight image is kept: memory is
 * the canvas plus the tile being added, whatever the number of tiles, and the same layout is
 * applied to every z-plane and channel of the well.
 */
import { badInput, badOption } from '../../core/errors.ts';
import { plane, type Plane } from '../../core/image.ts';
import type { StitchReport } from './well.ts';

/** Where each tile goes on the canvas (integer px) and how wide the blending ramps are. */
export interface CompositeLayout {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly tiles: readonly { readonly row: number; readonly col: number; readonly x: number; readonly y: number }[];
  /** Ramp widths in px (>= 1); usually the nominal overlap. */
  readonly ramp: { readonly x: number; readonly y: number };
}

/** A tile of any dtype at its grid slot. */
export interface SlotPlane {
  readonly tileRow: number;
  readonly tileCol: number;
  readonly plane: Plane;
}

/** Tiles for one plane: a callback asked once per layout tile, or an (async) iterable in any order. */
export type TileSource = ((row: number, col: number) => Plane | Promise<Plane>) | AsyncIterable<SlotPlane> | Iterable<SlotPlane>;

/**
 * The layout of a stitch report: tile positions rounded to whole px (subpixel placement would blur
 * every plane by interpolation), ramps as wide as the overlap.
 */
export function layoutOf(report: StitchReport): CompositeLayout {
  return {
    width: report.canvas.width,
    height: report.canvas.height,
    tileWidth: report.tileWidth,
    tileHeight: report.tileHeight,
    tiles: report.tiles.map((t) => ({ row: t.row, col: t.col, x: Math.round(t.x), y: Math.round(t.y) })),
    ramp: { x: Math.max(1, Math.round(report.overlap.x)), y: Math.max(1, Math.round(report.overlap.y)) },
  };
}

function ramp(n: number, width: number): Float32Array {
  const r = new Float32Array(n);
  for (let i = 0; i < n; i++) r[i] = Math.min(1, (Math.min(i, n - 1 - i) + 0.5) / width);
  return r;
}

function checkLayout(l: CompositeLayout): void {
  for (const [k, v] of [['width', l.width], ['height', l.height], ['tileWidth', l.tileWidth], ['tileHeight', l.tileHeight]] as const)
    if (!Number.isInteger(v) || v < 1) throw badOption(`layout.${k}`, 'a positive integer (px)', v);
  if (!(l.ramp.x >= 1 && l.ramp.y >= 1)) throw badOption('layout.ramp', 'ramp widths >= 1 px', `${l.ramp.x}, ${l.ramp.y}`);
  for (const t of l.tiles)
    if (!Number.isInteger(t.x) || !Number.isInteger(t.y) || t.x < 0 || t.y < 0 || t.x + l.tileWidth > l.width || t.y + l.tileHeight > l.height)
      throw badOption(`layout tile (${t.row}, ${t.col})`, `an integer position inside the ${l.width}x${l.height} canvas`, `${t.x}, ${t.y}`);
}

/**
 * Blends one plane (one channel, one z) of every tile of the layout into a float32 canvas.
 * Canvas pixels no tile covers (missing grid slots) are 0.
 * @param source tiles of the layout, each exactly once, of the layout's tile size (any dtype)
 * @param into optional canvas of the layout's size to overwrite (zeroed first), so a loop over a
 *   well's planes reuses one canvas instead of waiting for the garbage collector to free the last
 * @throws IslError BAD_INPUT for a tile of the wrong size, not in the layout, given twice, or missing
 * @throws IslError BAD_OPTION for an inconsistent layout or a mis-sized `into`
 */
export async function compositePlane(layout: CompositeLayout, source: TileSource, into?: Plane<'float32'>): Promise<Plane<'float32'>> {
  checkLayout(layout);
  const { width: CW, height: CH, tileWidth: W, tileHeight: H } = layout;
  if (into && (into.width !== CW || into.height !== CH || into.dtype !== 'float32')) throw badOption('into', `a float32 canvas of ${CW}x${CH}`, `${into.dtype} ${into.width}x${into.height}`);
  const canvas = into ?? plane('float32', CW, CH);
  if (into) canvas.data.fill(0);
  const rx = ramp(W, layout.ramp.x);
  const ry = ramp(H, layout.ramp.y);
  const index = new Map(layout.tiles.map((t, i) => [`${t.row},${t.col}`, i]));
  const done = new Array<boolean>(layout.tiles.length).fill(false);
  // Per tile: the other tiles overlapping it. Per row: the normalising sum of every covering
  // tile's weight, built in a row buffer, so no weight image is ever held.
  const neighbours = layout.tiles.map((t) => layout.tiles.filter((o) => o !== t && Math.abs(o.x - t.x) < W && Math.abs(o.y - t.y) < H));
  const total = new Float32Array(W);

  const add = (row: number, col: number, p: Plane) => {
    const i = index.get(`${row},${col}`);
    if (i === undefined) throw badInput(`tile (${row}, ${col})`, 'tile is not in the stitch layout');
    if (done[i]) throw badInput(`tile (${row}, ${col})`, 'tile given twice for one plane');
    if (p.width !== W || p.height !== H) throw badInput(`tile (${row}, ${col})`, `tile is ${p.width}x${p.height} but the layout expects ${W}x${H}`);
    done[i] = true;
    const t = layout.tiles[i];
    const src = p.data;
    const dst = canvas.data;
    for (let v = 0; v < H; v++) {
      const Y = t.y + v;
      const c = Y * CW + t.x;
      const r = v * W;
      const covering = neighbours[i].filter((o) => Y >= o.y && Y < o.y + H);
      if (covering.length === 0) {
        // Only this tile here: its normalised weight is 1 whatever its ramp.
        for (let u = 0; u < W; u++) dst[c + u] += src[r + u];
        continue;
      }
      const wy = ry[v];
      for (let u = 0; u < W; u++) total[u] = rx[u] * wy;
      for (const o of covering) {
        const oy = ry[Y - o.y];
        const x0 = Math.max(t.x, o.x), x1 = Math.min(t.x, o.x) + W;
        for (let x = x0; x < x1; x++) total[x - t.x] += rx[x - o.x] * oy;
      }
      for (let u = 0; u < W; u++) dst[c + u] += (src[r + u] * rx[u] * wy) / total[u];
    }
  };

  if (typeof source === 'function') {
    for (const t of layout.tiles) add(t.row, t.col, await source(t.row, t.col));
  } else {
    for await (const s of source) add(s.tileRow, s.tileCol, s.plane);
  }
  const missing = layout.tiles.filter((_, i) => !done[i]);
  if (missing.length) throw badInput(`tile (${missing[0].row}, ${missing[0].col})`, `${missing.length} tile(s) of the layout were not supplied: the blend weights assume every layout tile`);
  return canvas;
}
