/**
 * Pairwise tile offsets: phase correlation proposes candidate shifts, true normalised
 * cross-correlation (NCC) on the implied overlap picks one, a parabola through the NCC of the
 * neighbouring integer offsets refines it to subpixel.
 */
import { badOption } from '../../core/errors.ts';
import type { Plane } from '../../core/image.ts';
import { phaseCorrelation } from './phase.ts';

/** The measured offset of tile b relative to tile a. */
export interface TileOffset {
  /** Position of b's top-left corner minus a's, in raw-tile px (subpixel). */
  readonly dx: number;
  readonly dy: number;
  /** Pearson correlation of a and b on the overlap implied by the best integer offset, in [-1, 1]; -1 when nothing was found. */
  readonly ncc: number;
  /** Pixels in that overlap. */
  readonly overlapPx: number;
  /** The offset the search was centred on (from the grid or the stage), px. */
  readonly nominalDx: number;
  readonly nominalDy: number;
  /** False when no candidate had enough overlap (then dx, dy are the nominal offset). */
  readonly found: boolean;
  /** Candidate integer offsets verified by NCC. */
  readonly candidates: number;
}

export interface PairOffsetOptions {
  /** Expected offset of b relative to a (px): from the grid and the overlap, or from stage positions. */
  readonly nominalDx: number;
  readonly nominalDy: number;
  /** Largest accepted deviation from the nominal offset along x and y (px, >= 0). */
  readonly searchX: number;
  readonly searchY: number;
  /** Phase-correlation peaks to verify (default 8). */
  readonly peaks?: number;
  /** Smallest overlap a candidate may imply, as a fraction of the nominal overlap area (default 0.25). */
  readonly minOverlap?: number;
  /**
   * When a and b are windows of larger tiles (`pairWindows`): where each window's top-left pixel
   * sits in its tile (integer px, default 0, 0). Offsets in and out stay between the tiles' corners.
   */
  readonly originA?: { readonly x: number; readonly y: number };
  readonly originB?: { readonly x: number; readonly y: number };
}

/** A rectangle of a tile, px. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * The windows of tiles a and b that `pairOffset` reads for these options: every offset it may
 * test lies within the search radius + 1 px (the parabola's neighbours) of the rounded nominal
 * offset, and NCC only reads the overlap each offset implies. Registering the windows (with
 * originA/originB) gives bit-identical results to registering the whole tiles, so a well can keep
 * windows instead of tiles. A window never empty (1 px where no offset overlaps, and then
 * pairOffset finds nothing either way).
 */
export function pairWindows(aw: number, ah: number, bw: number, bh: number, opts: PairOffsetOptions): { a: Rect; b: Rect } {
  const span = (n: number, r: number, la: number, lb: number) => {
    const lo = Math.round(n) - Math.floor(r) - 1, hi = Math.round(n) + Math.floor(r) + 1;
    const clamp = (v: number, len: number) => Math.max(0, Math.min(len, v));
    const a0 = clamp(lo, la - 1), a1 = Math.max(a0 + 1, clamp(hi + lb, la));
    const b0 = clamp(-hi, lb - 1), b1 = Math.max(b0 + 1, clamp(la - lo, lb));
    return { a: [a0, a1 - a0], b: [b0, b1 - b0] };
  };
  const x = span(opts.nominalDx, opts.searchX, aw, bw), y = span(opts.nominalDy, opts.searchY, ah, bh);
  return { a: { x: x.a[0], y: y.a[0], width: x.a[1], height: y.a[1] }, b: { x: x.b[0], y: y.b[0], width: x.b[1], height: y.b[1] } };
}

/** NCC of two tiles and the size of their overlap. */
export interface OverlapNcc {
  readonly ncc: number;
  readonly n: number;
}

/**
 * Pearson correlation of tiles a and b on their overlap when b's top-left corner is at integer
 * (dx, dy) in a's frame. Flat overlaps (zero variance) give 0; no overlap gives n = 0.
 * @param rowStep use every rowStep-th row of the overlap (a cheaper estimate); n is still the
 *   full overlap's pixel count
 */
export function overlapNcc(a: Plane<'float32'>, b: Plane<'float32'>, dx: number, dy: number, rowStep = 1): OverlapNcc {
  const x0 = Math.max(0, dx);
  const x1 = Math.min(a.width, dx + b.width);
  const y0 = Math.max(0, dy);
  const y1 = Math.min(a.height, dy + b.height);
  if (x1 <= x0 || y1 <= y0) return { ncc: 0, n: 0 };
  const w = x1 - x0;
  const ad = a.data;
  const bd = b.data;
  // Shift by the first pixel of each so float64 sums of squares do not cancel catastrophically.
  const ra = ad[y0 * a.width + x0];
  const rb = bd[(y0 - dy) * b.width + (x0 - dx)];
  let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (let y = y0; y < y1; y += rowStep) {
    let ia = y * a.width + x0;
    let ib = (y - dy) * b.width + (x0 - dx);
    for (let k = 0; k < w; k++, ia++, ib++) {
      const u = ad[ia] - ra;
      const v = bd[ib] - rb;
      sa += u;
      sb += v;
      saa += u * u;
      sbb += v * v;
      sab += u * v;
    }
  }
  const n = w * Math.ceil((y1 - y0) / rowStep);
  const va = saa - (sa * sa) / n;
  const vb = sbb - (sb * sb) / n;
  const cov = sab - (sa * sb) / n;
  const den = Math.sqrt(va * vb);
  return { ncc: den > 1e-12 * n ? Math.max(-1, Math.min(1, cov / den)) : 0, n: w * (y1 - y0) };
}

function crop(p: Plane<'float32'>, x0: number, y0: number, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) out.set(p.data.subarray((y0 + y) * p.width + x0, (y0 + y) * p.width + x0 + w), y * w);
  return out;
}

/** Indices of the `k` highest local maxima (8-neighbourhood, circular) among reachable cells. */
function topPeaks(s: Float32Array, n: number, m: number, reachX: (i: number) => boolean, reachY: (i: number) => boolean, k: number): number[] {
  const best: { i: number; v: number }[] = [];
  for (let y = 0; y < m; y++) {
    if (!reachY(y)) continue;
    const yu = ((y + m - 1) & (m - 1)) * n;
    const yd = ((y + 1) & (m - 1)) * n;
    const yc = y * n;
    for (let x = 0; x < n; x++) {
      if (!reachX(x)) continue;
      const v = s[yc + x];
      if (best.length === k && v <= best[k - 1].v) continue;
      const xl = (x + n - 1) & (n - 1);
      const xr = (x + 1) & (n - 1);
      if (v < s[yc + xl] || v < s[yc + xr] || v < s[yu + x] || v < s[yd + x] || v < s[yu + xl] || v < s[yu + xr] || v < s[yd + xl] || v < s[yd + xr]) continue;
      let j = best.length;
      if (j < k) best.push({ i: yc + x, v });
      else j = k - 1;
      while (j > 0 && best[j - 1].v < v) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = { i: yc + x, v };
    }
  }
  return best.map((b) => b.i);
}

/** Shifts s = idx + k * size (k integer) with |s| <= r. */
function interpretations(idx: number, size: number, r: number): number[] {
  const out: number[] = [];
  for (let s = idx - size * Math.ceil((idx + r) / size); s <= r; s += size) if (s >= -r) out.push(s);
  return out;
}

/** Vertex offset of the parabola through (-1, l), (0, c), (1, r), clamped to [-0.5, 0.5]. */
function parabola(l: number, c: number, r: number): number {
  const d = l - 2 * c + r;
  if (!(d < 0)) return 0;
  return Math.max(-0.5, Math.min(0.5, (0.5 * (l - r)) / d));
}

/**
 * Measures the offset of tile b relative to tile a, searching within (searchX, searchY) px of the
 * nominal offset. The nominal overlap of a and b is phase-correlated; the `peaks` highest
 * correlation peaks, each under every circular (wrap-around) interpretation inside the search
 * window, are verified by true NCC of the full tiles on the implied overlap; the best climbs to
 * the local NCC maximum and is refined to subpixel by a parabola through the NCC at +-1 px on
 * each axis.
 * @param a, b tiles (any sizes), raw counts
 * @returns the offset; `found` is false (and ncc -1) when the nominal overlap is under 2 px wide
 *   or no candidate implies enough overlap
 * @throws IslError BAD_OPTION for negative or non-finite search radii or offsets
 */
export function pairOffset(a: Plane<'float32'>, b: Plane<'float32'>, opts: PairOffsetOptions): TileOffset {
  const { nominalDx, nominalDy, searchX, searchY } = opts;
  const peaks = opts.peaks ?? 8;
  const minOverlap = opts.minOverlap ?? 0.25;
  if (!Number.isFinite(nominalDx)) throw badOption('nominalDx', 'a finite offset in px', nominalDx);
  if (!Number.isFinite(nominalDy)) throw badOption('nominalDy', 'a finite offset in px', nominalDy);
  if (!(searchX >= 0) || !Number.isFinite(searchX)) throw badOption('searchX', 'a search radius >= 0 px', searchX);
  if (!(searchY >= 0) || !Number.isFinite(searchY)) throw badOption('searchY', 'a search radius >= 0 px', searchY);
  if (!Number.isInteger(peaks) || peaks < 1) throw badOption('peaks', 'an integer >= 1', peaks);
  if (!(minOverlap > 0 && minOverlap <= 1)) throw badOption('minOverlap', 'a fraction in (0, 1]', minOverlap);
  const oa = opts.originA ?? { x: 0, y: 0 }, ob = opts.originB ?? { x: 0, y: 0 };
  for (const [k, o] of [['originA', oa], ['originB', ob]] as const)
    if (!Number.isInteger(o.x) || !Number.isInteger(o.y) || o.x < 0 || o.y < 0) throw badOption(k, 'integer px >= 0', `${o.x}, ${o.y}`);
  // Below, offsets are between the windows' corners: tile offset + (kx, ky).
  const kx = ob.x - oa.x, ky = ob.y - oa.y;
  const ndx = Math.round(nominalDx) + kx;
  const ndy = Math.round(nominalDy) + ky;
  const rx = Math.floor(searchX);
  const ry = Math.floor(searchY);
  let x0 = Math.max(0, ndx), x1 = Math.min(a.width, ndx + b.width);
  let y0 = Math.max(0, ndy), y1 = Math.min(a.height, ndy + b.height);
  // Phase-correlate a power-of-two core of the overlap when that drops at most 20 % of it (300 px
  // -> 256 rather than padding to 512): half the FFT work, and candidates are verified on the full
  // overlap anyway.
  const core = (lo: number, hi: number): [number, number] => {
    let p = 2;
    while (p * 2 <= hi - lo) p *= 2;
    if (p < 0.8 * (hi - lo)) return [lo, hi];
    const c = lo + ((hi - lo - p) >> 1);
    return [c, c + p];
  };
  const none: TileOffset = { dx: nominalDx, dy: nominalDy, ncc: -1, overlapPx: 0, nominalDx, nominalDy, found: false, candidates: 0 };
  if (x1 - x0 < 2 || y1 - y0 < 2) return none;
  const nominalArea = (x1 - x0) * (y1 - y0);
  [x0, x1] = core(x0, x1);
  [y0, y1] = core(y0, y1);
  const w = x1 - x0, h = y1 - y0;
  const surf = phaseCorrelation(crop(a, x0, y0, w, h), crop(b, x0 - ndx, y0 - ndy, w, h), w, h);
  const n = surf.width, m = surf.height;
  const reachX = 2 * rx + 1 >= n ? () => true : (i: number) => i <= rx || i >= n - rx;
  const reachY = 2 * ry + 1 >= m ? () => true : (i: number) => i <= ry || i >= m - ry;
  const minPx = minOverlap * nominalArea;
  // Candidates are ranked on every few rows of their overlap (true and false matches differ by far
  // more than the sampling noise); the winner's neighbourhood is then evaluated on every row.
  const rankStep = Math.max(1, Math.min(4, Math.floor(h / 128)));
  let pick = { dx: 0, dy: 0, ncc: -Infinity };
  let tested = 0;
  const seen = new Set<number>();
  for (const idx of topPeaks(surf.data, n, m, reachX, reachY, peaks)) {
    for (const sy of interpretations(Math.floor(idx / n), m, ry)) {
      for (const sx of interpretations(idx % n, n, rx)) {
        const key = (sy + ry) * (2 * rx + 1) + (sx + rx);
        if (seen.has(key)) continue;
        seen.add(key);
        const r = overlapNcc(a, b, ndx + sx, ndy + sy, rankStep);
        tested++;
        if (r.n >= minPx && r.ncc > pick.ncc) pick = { dx: ndx + sx, dy: ndy + sy, ncc: r.ncc };
      }
    }
  }
  if (pick.ncc === -Infinity) return { ...none, candidates: tested };
  const cache = new Map<number, OverlapNcc>();
  const full = (dx: number, dy: number) => {
    const key = (dy - ndy + ry + 1) * (2 * rx + 3) + (dx - ndx + rx + 1);
    let r = cache.get(key);
    if (!r) cache.set(key, (r = overlapNcc(a, b, dx, dy)));
    return r;
  };
  let best = { dx: pick.dx, dy: pick.dy, ...full(pick.dx, pick.dy) };
  // Phase-correlation peaks can sit a pixel off the NCC maximum: climb to the local NCC maximum
  // (inside the search window) so the parabola is fitted around a true peak.
  const inWindow = (dx: number, dy: number) => Math.abs(dx - ndx) <= rx && Math.abs(dy - ndy) <= ry;
  for (let step = 0; step < 4; step++) {
    let moved = false;
    for (const [ex, ey] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      if (!inWindow(best.dx + ex, best.dy + ey)) continue;
      const r = full(best.dx + ex, best.dy + ey);
      if (r.n >= minPx && r.ncc > best.ncc) {
        best = { dx: best.dx + ex, dy: best.dy + ey, ...r };
        moved = true;
      }
    }
    if (!moved) break;
  }
  const at = (dx: number, dy: number) => full(dx, dy).ncc;
  const fx = parabola(at(best.dx - 1, best.dy), best.ncc, at(best.dx + 1, best.dy));
  const fy = parabola(at(best.dx, best.dy - 1), best.ncc, at(best.dx, best.dy + 1));
  return { dx: best.dx - kx + fx, dy: best.dy - ky + fy, ncc: best.ncc, overlapPx: best.n, nominalDx, nominalDy, found: true, candidates: tested };
}
