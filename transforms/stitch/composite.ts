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
 * @param tiles the planes to composite when they are smaller than the registered ones by an integer
 *   factor (registered at raw resolution, composited after a 2x downscale: factor 2). Positions
 *   are divided by the factor before rounding; a 2x2 mean maps output px u to raw px 2u..2u+1, so
 *   the factor is exact even when an odd last column was dropped.
 */
export function layoutOf(report: StitchReport, tiles?: { readonly factor: number; readonly tileWidth: number; readonly tileHeight: number }): CompositeLayout {
  const f = tiles?.factor ?? 1;
  if (!(Number.isInteger(f) && f >= 1)) throw badOption('tiles.factor', 'a positive integer (registered px per composited px)', f);
  const W = tiles?.tileWidth ?? report.tileWidth;
  const H = tiles?.tileHeight ?? report.tileHeight;
  const placed = report.tiles.map((t) => ({ row: t.row, col: t.col, x: Math.round(t.x / f), y: Math.round(t.y / f) }));
  return {
    width: Math.max(...placed.map((t) => t.x)) + W,
    height: Math.max(...placed.map((t) => t.y)) + H,
    tileWidth: W,
    tileHeight: H,
    tiles: placed,
    ramp: { x: Math.max(1, Math.round(report.overlap.x / f)), y: Math.max(1, Math.round(report.overlap.y / f)) },
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

/** Canvas rows [y0, y1) of a layout. */
export interface CanvasBand {
  readonly y0: number;
  readonly y1: number;
}

/**
 * Blends one plane (one channel, one z) of the layout's tiles into a float32 canvas, or into one
 * band of canvas rows, one tile at a time as they arrive (`add`). A band needs only the rows of
 * the tiles that cross it (`tileRows`), so a well of any size is composited in bounded memory;
 * bands blended in layout order are bit-identical to the rows of the whole canvas blended in
 * layout order (each pixel sums the same terms in the same order).
 * Canvas pixels no tile covers (missing grid slots) are 0.
 */
export class Compositor {
  /** The band's pixels: rows y0..y1 of the canvas (the whole canvas by default). */
  readonly canvas: Plane<'float32'>;
  readonly band: CanvasBand;
  private readonly rx: Float32Array;
  private readonly ry: Float32Array;
  private readonly index: Map<string, number>;
  private readonly done: boolean[];
  // Per tile: the other tiles overlapping it. Per row: the normalising sum of every covering
  // tile's weight, built in a row buffer, so no weight image is ever held.
  private readonly neighbours: CompositeLayout['tiles'][number][][];
  private readonly total: Float32Array;

  /**
   * @param band canvas rows to blend (default: all)
   * @param into optional float32 plane of the band's size to overwrite (zeroed first), so a loop
   *   over a well's planes reuses one buffer instead of waiting for the garbage collector
   * @throws IslError BAD_OPTION for an inconsistent layout, a band outside it or a mis-sized `into`
   */
  constructor(readonly layout: CompositeLayout, band?: CanvasBand, into?: Plane<'float32'>) {
    checkLayout(layout);
    const { width: CW, height: CH, tileWidth: W, tileHeight: H } = layout;
    this.band = band ?? { y0: 0, y1: CH };
    const { y0, y1 } = this.band;
    if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 < y1 && y1 <= CH)) throw badOption('band', `canvas rows 0 <= y0 < y1 <= ${CH}`, `${y0}..${y1}`);
    if (into && (into.width !== CW || into.height !== y1 - y0 || into.dtype !== 'float32')) throw badOption('into', `a float32 canvas of ${CW}x${y1 - y0}`, `${into.dtype} ${into.width}x${into.height}`);
    this.canvas = into ?? plane('float32', CW, y1 - y0);
    if (into) this.canvas.data.fill(0);
    this.rx = ramp(W, layout.ramp.x);
    this.ry = ramp(H, layout.ramp.y);
    this.index = new Map(layout.tiles.map((t, i) => [`${t.row},${t.col}`, i]));
    this.done = layout.tiles.map((t) => !this.crosses(t));
    this.neighbours = layout.tiles.map((t) => layout.tiles.filter((o) => o !== t && Math.abs(o.x - t.x) < W && Math.abs(o.y - t.y) < H));
    this.total = new Float32Array(W);
  }

  private crosses(t: { y: number }): boolean {
    return t.y < this.band.y1 && t.y + this.layout.tileHeight > this.band.y0;
  }

  /** The rows [v0, v1) of the tile at grid slot (row, col) this band needs, or undefined when it misses the band. */
  tileRows(row: number, col: number): { v0: number; v1: number } | undefined {
    const t = this.layout.tiles[this.index.get(`${row},${col}`) ?? -1];
    if (!t || !this.crosses(t)) return undefined;
    return { v0: Math.max(0, this.band.y0 - t.y), v1: Math.min(this.layout.tileHeight, this.band.y1 - t.y) };
  }

  /**
   * Adds the tile at grid slot (row, col) (any dtype, the layout's tile width): the whole tile,
   * or only its rows v0..v0 + p.height, which must hold every row `tileRows` asks for. A tile that
   * misses the band is ignored.
   * @throws IslError BAD_INPUT for a tile of the wrong size, not in the layout, given twice, or too few rows
   */
  add(row: number, col: number, p: Plane, v0 = 0): void {
    const { width: CW, tileWidth: W, tileHeight: H } = this.layout;
    const { rx, ry, total } = this;
    const i = this.index.get(`${row},${col}`);
    if (i === undefined) throw badInput(`tile (${row}, ${col})`, 'tile is not in the stitch layout');
    const t = this.layout.tiles[i];
    if (!this.crosses(t)) return;
    if (this.done[i]) throw badInput(`tile (${row}, ${col})`, 'tile given twice for one plane');
    const need = this.tileRows(row, col)!;
    if (p.width !== W || p.height > H) throw badInput(`tile (${row}, ${col})`, `tile is ${p.width}x${p.height} but the layout expects ${W}x${H}`);
    if (v0 > need.v0 || v0 + p.height < need.v1) throw badInput(`tile (${row}, ${col})`, `tile rows ${v0}..${v0 + p.height} given, but this band needs rows ${need.v0}..${need.v1}`);
    this.done[i] = true;
    const src = p.data;
    const dst = this.canvas.data;
    for (let v = need.v0; v < need.v1; v++) {
      const Y = t.y + v;
      const c = (Y - this.band.y0) * CW + t.x;
      const r = (v - v0) * W;
      const covering = this.neighbours[i].filter((o) => Y >= o.y && Y < o.y + H);
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
  }

  /**
   * The blended band, once every layout tile crossing it was added.
   * @throws IslError BAD_INPUT when a layout tile is missing (the blend weights assume every one)
   */
  finish(): Plane<'float32'> {
    const missing = this.layout.tiles.filter((_, i) => !this.done[i]);
    if (missing.length) throw badInput(`tile (${missing[0].row}, ${missing[0].col})`, `${missing.length} tile(s) of the layout were not supplied: the blend weights assume every layout tile`);
    return this.canvas;
  }
}

/**
 * Blends one plane (one channel, one z) of every tile of the layout into a float32 canvas
 * (`Compositor` over a tile source).
 * @param source tiles of the layout, each exactly once, of the layout's tile size (any dtype)
 * @param into as for `Compositor`
 * @throws IslError BAD_INPUT for a tile of the wrong size, not in the layout, given twice, or missing
 * @throws IslError BAD_OPTION for an inconsistent layout or a mis-sized `into`
 */
export async function compositePlane(layout: CompositeLayout, source: TileSource, into?: Plane<'float32'>): Promise<Plane<'float32'>> {
  const c = new Compositor(layout, undefined, into);
  if (typeof source === 'function') {
    for (const t of layout.tiles) c.add(t.row, t.col, await source(t.row, t.col));
  } else {
    for await (const s of source) c.add(s.tileRow, s.tileCol, s.plane);
  }
  return c.finish();
}
