/**
 * Registration of one well's tile grid: pairwise offsets between grid neighbours, a data-driven
 * trust threshold, global positions, and the `stitch/<well>.json` report.
 */
import { badInput, badOption } from '../../core/errors.ts';
import { plane, type Plane } from '../../core/image.ts';
import { detail } from './detail.ts';
import { solvePositions, type Affine, type Link, type Point } from './lsq.ts';
import { pairOffset, pairWindows, type Rect, type TileOffset } from './ncc.ts';
import { nccThreshold, nullPairs, type NccThreshold } from './trust.ts';

/** A grid slot of the well, without its pixels. */
export interface GridSlot {
  readonly tileRow: number;
  readonly tileCol: number;
  /** Stage position of the top-left corner in raw-tile px; give it for every tile or for none. */
  readonly stageX?: number;
  readonly stageY?: number;
  readonly path?: string;
}

/** One tile of the registration reference (one channel, one z) at its grid slot. `Tile` from core/image.ts fits. */
export interface GridTile extends GridSlot {
  readonly plane: Plane;
}

export interface StitchOptions {
  /** Well name for the report and errors. */
  readonly well?: string;
  /** Grid size; default: the largest tileRow / tileCol + 1. */
  readonly rows?: number;
  readonly cols?: number;
  /**
   * Nominal overlap between neighbours: a fraction of the tile size if < 1, else px; one value or
   * per axis. Required unless every tile has a stage position (then the median stage step is used).
   */
  readonly overlap?: number | { readonly x: number; readonly y: number };
  /** Largest deviation of a pair from its nominal offset searched (px). Default max(8, 10 % of the tile size) per axis; the NCC threshold adapts to it (null pairs use the same search). */
  readonly searchRadius?: number | { readonly x: number; readonly y: number };
  /**
   * Registration works on tile - boxMean(tile, highPass) (detail.ts) to cancel vignetting and uneven
   * background; box half-width in px, default max(2, 2 % of the tile size); 0 registers raw tiles.
   */
  readonly highPass?: number;
  /** Small box half-width (px) averaged first to suppress pixel noise (detail.ts); default 1, 0 keeps single pixels. */
  readonly smooth?: number;
  /** Clip the detail image at this many robust standard deviations (hot pixels, debris); default 4, 0 disables. */
  readonly clip?: number;
  /** A fixed NCC threshold instead of the data-driven one. */
  readonly nccThreshold?: number;
  /** Null pairs registered for the threshold (default 16) and their seed (default 0). */
  readonly nullSamples?: number;
  readonly seed?: number;
  /** Passed to solvePositions (lsq.ts). */
  readonly faultPx?: number;
  readonly dropFactor?: number;
  readonly minDropPx?: number;
}

export interface TileReport {
  readonly row: number;
  readonly col: number;
  /** Top-left corner on the stitched canvas, raw-tile px (subpixel; the smallest x and y are 0). */
  readonly x: number;
  readonly y: number;
  /** The stage (or nominal grid) position registration started from, px. */
  readonly stageX: number;
  readonly stageY: number;
  readonly placedBy: 'links' | 'stage';
  readonly group: number;
  /** Distance from the fitted stage -> canvas model (px) and whether it exceeds faultPx. */
  readonly stageDistancePx: number;
  readonly fault: boolean;
  readonly path?: string;
}

export interface PairReport {
  readonly a: { readonly row: number; readonly col: number };
  readonly b: { readonly row: number; readonly col: number };
  readonly axis: 'x' | 'y';
  readonly nominalDx: number;
  readonly nominalDy: number;
  /** Measured offset of b relative to a (px). */
  readonly dx: number;
  readonly dy: number;
  readonly ncc: number;
  readonly overlapPx: number;
  /** NCC >= threshold. */
  readonly trusted: boolean;
  /** Trusted and kept by the least-squares solve (not dropped as inconsistent). */
  readonly used: boolean;
  /** |final offset - measured offset| (px). */
  readonly residualPx: number;
}

/** The content of `stitch/<well>.json`. */
export interface StitchReport {
  readonly well: string;
  readonly rows: number;
  readonly cols: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  /** Overlap (px) used for nominal offsets and blending ramps. */
  readonly overlap: { readonly x: number; readonly y: number };
  readonly searchRadius: { readonly x: number; readonly y: number };
  readonly canvas: { readonly width: number; readonly height: number };
  readonly nccThreshold: NccThreshold;
  /** RMS residual of used pairs (px). */
  readonly residualRms: number;
  readonly stageModel: Affine;
  readonly faultPx: number;
  readonly tiles: readonly TileReport[];
  readonly pairs: readonly PairReport[];
  /** Tiles whose position is far from their stage position. */
  readonly faults: readonly { readonly row: number; readonly col: number; readonly distancePx: number }[];
  /** Grid slots without a tile (left empty on the canvas). */
  readonly missing: readonly { readonly row: number; readonly col: number }[];
}

function perAxis(name: string, v: number | { x: number; y: number }): { x: number; y: number } {
  const o = typeof v === 'number' ? { x: v, y: v } : v;
  if (typeof o !== 'object' || o === null || !Number.isFinite(o.x) || !Number.isFinite(o.y)) throw badOption(name, 'a number or {x, y}', v);
  return o;
}

function median(v: number[]): number {
  const s = [...v].sort((p, q) => p - q);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : 0.5 * (s[h - 1] + s[h]);
}

/**
 * Registers the tiles of one well (one reference channel and z-plane) and solves their positions.
 *
 * Neighbours in the grid (right and below) are registered around their nominal offset (stage
 * positions when every tile has one, else the grid step tile - overlap) by `pairOffset`; pairs
 * whose NCC clears a threshold learnt from non-adjacent tile pairs (trust.ts) become links of the
 * least-squares solve (lsq.ts), weighted by NCC^2 x overlap fraction. Tiles without trusted links
 * are placed from their stage position through the stage model fitted on linked tiles.
 *
 * Choose an in-focus reference plane: on the fixture dumps, defocused phase-contrast planes
 * (z 0 and 2 of 3) registered with ~2 px RMS error against 0.1-0.2 px for the in-focus plane.
 * Memory: the given planes, plus what `stitchWellFrom` holds; that function reads each tile only
 * when needed and keeps none.
 *
 * Documented behaviour: missing grid slots are listed in `missing` and left empty; a single-tile
 * well gets position (0, 0) and no pairs.
 * @param tiles one plane per present grid slot, all of the same size (any dtype)
 * @throws IslError BAD_INPUT for no tiles, duplicate or out-of-grid slots, tiles of different
 *   sizes, or stage positions on some tiles only
 * @throws IslError BAD_OPTION for an overlap that is negative or not smaller than the tile, and
 *   other out-of-range options
 */
export function stitchWell(tiles: readonly GridTile[], opts: StitchOptions = {}): StitchReport {
  const run = registration(tiles, opts);
  let step = run.next();
  while (!step.done) step = run.next((step.value as GridTile).plane);
  return step.value;
}

/**
 * `stitchWell` on tiles read one at a time, row by row, through `load` (each exactly once).
 * From each tile it keeps only the band-passed windows its pairwise registrations read
 * (`pairWindows`: overlap + search radius + 1 px along the pair's axis), until the other tile of
 * the pair arrives. Peak memory: the tile being read, four float32 tile buffers reused for every
 * tile (conversion and band-pass), the lower windows of one grid row and those of the null pairs
 * (at most `nullSamples`), whatever the number of tiles. Results are bit-identical to `stitchWell`.
 * @throws IslError as `stitchWell`; a tile of the wrong size when it is read
 */
export async function stitchWellFrom(slots: readonly GridSlot[], load: (row: number, col: number) => Plane | Promise<Plane>, opts: StitchOptions = {}): Promise<StitchReport> {
  const run = registration(slots, opts);
  let step = run.next();
  while (!step.done) step = run.next(await load(step.value.tileRow, step.value.tileCol));
  return step.value;
}

function cropWindow(p: Plane<'float32'>, r: Rect): Plane<'float32'> {
  const out = new Float32Array(r.width * r.height);
  for (let y = 0; y < r.height; y++) out.set(p.data.subarray((r.y + y) * p.width + r.x, (r.y + y) * p.width + r.x + r.width), y * r.width);
  return plane('float32', r.width, r.height, out);
}

/** The registration, as a generator that yields each grid slot (row-major) whose plane it needs next. */
function* registration(tiles: readonly GridSlot[], opts: StitchOptions): Generator<GridSlot, StitchReport, Plane> {
  const well = opts.well ?? '';
  const where = (t: GridSlot) => t.path ?? `${well ? `well ${well} ` : ''}tile (${t.tileRow}, ${t.tileCol})`;
  if (tiles.length === 0) throw badInput(well || 'well', 'no tiles to stitch', well || undefined);
  for (const t of tiles)
    if (!Number.isInteger(t.tileRow) || !Number.isInteger(t.tileCol) || t.tileRow < 0 || t.tileCol < 0) throw badInput(where(t), `grid slot must be non-negative integers, got row ${t.tileRow}, col ${t.tileCol}`, well);
  const rows = opts.rows ?? Math.max(...tiles.map((t) => t.tileRow)) + 1;
  const cols = opts.cols ?? Math.max(...tiles.map((t) => t.tileCol)) + 1;
  if (!Number.isInteger(rows) || rows < 1) throw badOption('rows', 'a positive integer', rows);
  if (!Number.isInteger(cols) || cols < 1) throw badOption('cols', 'a positive integer', cols);
  const slot: (GridSlot | undefined)[] = new Array(rows * cols).fill(undefined);
  for (const t of tiles) {
    if (t.tileRow >= rows || t.tileCol >= cols) throw badInput(where(t), `tile (${t.tileRow}, ${t.tileCol}) lies outside the ${rows}x${cols} grid`, well);
    const i = t.tileRow * cols + t.tileCol;
    if (slot[i]) throw badInput(where(t), `two tiles at grid slot (${t.tileRow}, ${t.tileCol}): ${where(slot[i]!)} and ${where(t)}`, well);
    slot[i] = t;
  }
  const withStage = tiles.filter((t) => t.stageX !== undefined && t.stageY !== undefined).length;
  if (withStage !== 0 && withStage !== tiles.length) throw badInput(well || 'well', `${withStage} of ${tiles.length} tiles have stage positions: give them for every tile or for none`, well || undefined);
  const hasStage = withStage > 0;

  // The first tile (row-major) sets the tile size every other tile must have.
  const first = slot.findIndex(Boolean);
  let firstPlane: Plane | undefined = yield slot[first]!;
  const W = firstPlane.width, H = firstPlane.height;
  const read = function* (i: number): Generator<GridSlot, Plane, Plane> {
    const p = i === first ? firstPlane! : yield slot[i]!;
    firstPlane = undefined;
    if (p.width !== W || p.height !== H) throw badInput(where(slot[i]!), `tile is ${p.width}x${p.height} but ${where(slot[first]!)} is ${W}x${H}: all tiles of a well must have one size (crop or pad them before stitching)`, well);
    return p;
  };

  // Overlap in px: configured, or the median stage step between grid neighbours.
  let overlap: { x: number; y: number };
  if (opts.overlap !== undefined) {
    const o = perAxis('overlap', opts.overlap);
    overlap = { x: o.x < 1 ? o.x * W : o.x, y: o.y < 1 ? o.y * H : o.y };
    if (!(o.x >= 0 && overlap.x < W)) throw badOption('overlap.x', `an overlap >= 0 and smaller than the tile width ${W} px (fraction < 1 or px)`, o.x);
    if (!(o.y >= 0 && overlap.y < H)) throw badOption('overlap.y', `an overlap >= 0 and smaller than the tile height ${H} px (fraction < 1 or px)`, o.y);
  } else if (hasStage) {
    const sx: number[] = [], sy: number[] = [];
    for (let i = 0; i < rows * cols; i++) {
      const t = slot[i];
      const r = slot[i + 1], d = slot[i + cols];
      if (t && r && (i % cols) + 1 < cols) sx.push(r.stageX! - t.stageX!);
      if (t && d) sy.push(d.stageY! - t.stageY!);
    }
    overlap = { x: sx.length ? Math.max(0, W - median(sx)) : 0, y: sy.length ? Math.max(0, H - median(sy)) : 0 };
  } else if (tiles.length > 1) {
    throw badOption('overlap', 'the nominal tile overlap (fraction < 1 or px) when tiles have no stage positions', opts.overlap);
  } else overlap = { x: 0, y: 0 };

  const search = opts.searchRadius === undefined ? { x: Math.max(8, Math.round(0.1 * W)), y: Math.max(8, Math.round(0.1 * H)) } : perAxis('searchRadius', opts.searchRadius);
  if (!(search.x >= 0 && search.y >= 0)) throw badOption('searchRadius', 'radii >= 0 px', opts.searchRadius);
  const highPass = opts.highPass ?? Math.max(2, Math.round(0.02 * Math.min(W, H)));
  if (!Number.isInteger(highPass) || highPass < 0) throw badOption('highPass', 'a box radius in px (integer >= 0)', highPass);
  const smooth = opts.smooth ?? (highPass > 1 ? 1 : 0);
  const clip = opts.clip ?? 4;
  const stage: (Point | undefined)[] = slot.map((t, i) =>
    t ? (hasStage ? { x: t.stageX!, y: t.stageY! } : { x: (i % cols) * (W - overlap.x), y: Math.floor(i / cols) * (H - overlap.y) }) : undefined,
  );

  const fixed = opts.nccThreshold !== undefined;
  if (fixed && !(opts.nccThreshold! >= -1 && opts.nccThreshold! <= 1)) throw badOption('nccThreshold', 'an NCC in [-1, 1]', opts.nccThreshold);
  const nullCount = opts.nullSamples ?? 16;
  // Null pairs at most one grid row apart, whose first window waits at most a grid row; pairs
  // further apart only when the grid has too few near ones.
  const present = slot.map(Boolean);
  let near = fixed ? [] : nullPairs(rows, cols, present, nullCount, opts.seed ?? 0, 1);
  const far = !fixed && near.length < Math.min(nullCount, 8) ? nullPairs(rows, cols, present, nullCount, opts.seed ?? 0) : [];
  if (far.length) near = [];
  const nullNominal = { x: { x: W - overlap.x, y: 0 }, y: { x: 0, y: H - overlap.y } };

  // Every pair (grid neighbours, then null pairs) is measured when its second tile (row-major) is
  // read, on windows of both tiles: the first tile's window waits in `held` until then.
  interface Job { a: number; b: number; nominal: Point; win: { a: Rect; b: Rect }; off?: TileOffset }
  const job = (a: number, b: number, nominal: Point): Job => ({ a, b, nominal, win: pairWindows(W, H, W, H, { nominalDx: nominal.x, nominalDy: nominal.y, searchX: search.x, searchY: search.y }) });
  const pairs: (Job & { axis: 'x' | 'y' })[] = [];
  for (let i = 0; i < rows * cols; i++) {
    if (!slot[i]) continue;
    const right = (i % cols) + 1 < cols && slot[i + 1] ? i + 1 : -1;
    const below = i + cols < rows * cols && slot[i + cols] ? i + cols : -1;
    for (const [b, axis] of [[right, 'x'], [below, 'y']] as const)
      if (b >= 0) pairs.push({ ...job(i, b, { x: stage[b]!.x - stage[i]!.x, y: stage[b]!.y - stage[i]!.y }), axis });
  }
  const nulls = [...near, ...far].map((p) => job(p.a, p.b, nullNominal[p.axis]));
  const jobs: Job[] = [...pairs, ...nulls];
  const held = new Map<Job, Plane<'float32'>>();
  // One set of float32 buffers for every tile: the loop makes no tile-sized garbage of its own.
  const f32 = new Float32Array(W * H);
  const work = highPass > 0 ? { t: new Float32Array(W * H), s: new Float32Array(W * H), out: new Float32Array(W * H) } : undefined;
  for (let i = 0; i < rows * cols; i++) {
    if (!slot[i]) continue;
    const tile = yield* read(i);
    f32.set(tile.data);
    const raw = plane('float32', W, H, f32);
    const p = work ? detail(raw, highPass, smooth, clip, work) : raw;
    for (const j of jobs) {
      if (j.a !== i && j.b !== i) continue;
      const mine = cropWindow(p, j.a === i ? j.win.a : j.win.b);
      const other = held.get(j);
      if (!other) {
        held.set(j, mine);
        continue;
      }
      held.delete(j);
      const [wa, wb] = j.a === i ? [mine, other] : [other, mine];
      j.off = pairOffset(wa, wb, { nominalDx: j.nominal.x, nominalDy: j.nominal.y, searchX: search.x, searchY: search.y, originA: j.win.a, originB: j.win.b });
    }
  }
  // Null NCCs in a fixed order: near pairs by their later tile, far pairs as drawn (the order of
  // earlier versions, so reports stay byte-identical).
  const nullOrder = nulls.map((_, k) => k);
  if (near.length) nullOrder.sort((p, q) => Math.max(near[p].a, near[p].b) - Math.max(near[q].a, near[q].b) || p - q);
  const nullNcc = nullOrder.map((k) => nulls[k].off!).filter((o) => o.found).map((o) => o.ncc);
  const trust: NccThreshold = fixed
    ? { threshold: opts.nccThreshold!, method: 'fixed', nullSamples: 0, nullMean: 0, nullSd: 0, nullMax: 0 }
    : nccThreshold(nullNcc);

  const measured = pairs.map((p) => ({ a: p.a, b: p.b, axis: p.axis, off: p.off! }));
  const overlapArea = { x: overlap.x * H, y: overlap.y * W };
  const trusted = measured.map((p) => p.off.found && p.off.ncc >= trust.threshold);
  const linkOf: number[] = [];
  const links: Link[] = [];
  measured.forEach((p, k) => {
    if (!trusted[k]) return;
    linkOf[k] = links.length;
    const frac = Math.min(1, p.off.overlapPx / Math.max(1, overlapArea[p.axis]));
    links.push({ a: p.a, b: p.b, dx: p.off.dx, dy: p.off.dy, nominalDx: p.off.nominalDx, nominalDy: p.off.nominalDy, weight: Math.max(1e-3, p.off.ncc ** 2 * frac) });
  });
  const sol = solvePositions(rows * cols, links, { stage, faultPx: opts.faultPx, dropFactor: opts.dropFactor, minDropPx: opts.minDropPx });

  const placed = sol.positions.filter((p): p is Point => p !== undefined);
  const ox = Math.min(...placed.map((p) => p.x)), oy = Math.min(...placed.map((p) => p.y));
  const pos = sol.positions.map((p) => (p ? { x: p.x - ox, y: p.y - oy } : undefined));
  const rc = (i: number) => ({ row: Math.floor(i / cols), col: i % cols });
  const tileReports: TileReport[] = [];
  slot.forEach((t, i) => {
    if (!t) return;
    tileReports.push({
      ...rc(i),
      x: pos[i]!.x,
      y: pos[i]!.y,
      stageX: stage[i]!.x,
      stageY: stage[i]!.y,
      placedBy: sol.placedBy[i]!,
      group: sol.group[i],
      stageDistancePx: sol.stageDistance[i]!,
      fault: sol.fault[i],
      ...(t.path ? { path: t.path } : {}),
    });
  });
  const pairReports: PairReport[] = measured.map((p, k) => ({
    a: rc(p.a),
    b: rc(p.b),
    axis: p.axis,
    nominalDx: p.off.nominalDx,
    nominalDy: p.off.nominalDy,
    dx: p.off.dx,
    dy: p.off.dy,
    ncc: p.off.ncc,
    overlapPx: p.off.overlapPx,
    trusted: trusted[k],
    used: trusted[k] && sol.kept[linkOf[k]],
    residualPx: Math.hypot(pos[p.b]!.x - pos[p.a]!.x - p.off.dx, pos[p.b]!.y - pos[p.a]!.y - p.off.dy),
  }));
  return {
    well,
    rows,
    cols,
    tileWidth: W,
    tileHeight: H,
    overlap,
    searchRadius: search,
    canvas: {
      width: Math.max(...tileReports.map((t) => Math.round(t.x))) + W,
      height: Math.max(...tileReports.map((t) => Math.round(t.y))) + H,
    },
    nccThreshold: trust,
    residualRms: sol.residualRms,
    stageModel: sol.stageModel,
    faultPx: sol.faultPx,
    tiles: tileReports,
    pairs: pairReports,
    faults: tileReports.filter((t) => t.fault).map((t) => ({ row: t.row, col: t.col, distancePx: t.stageDistancePx })),
    missing: slot.flatMap((t, i) => (t ? [] : [rc(i)])),
  };
}
