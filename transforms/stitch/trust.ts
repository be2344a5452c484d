/**
 * Which pairwise offsets to trust: an NCC threshold learnt from the well itself. Non-adjacent
 * tiles are registered as if they were neighbours (same nominal offset, same search), so their
 * best NCC is what the search finds by chance on this well's texture, noise and vignetting; true
 * matches must clear that null distribution.
 */
import { rng } from '../../core/random.ts';
import { badOption } from '../../core/errors.ts';

/** A pair of tiles that do not overlap, to be registered as if b were a's right (x) or lower (y) neighbour. */
export interface NullPair {
  readonly a: number;
  readonly b: number;
  readonly axis: 'x' | 'y';
}

/** The threshold and the null distribution it came from. */
export interface NccThreshold {
  /** Offsets with NCC >= threshold are trusted. */
  readonly threshold: number;
  /** 'null' when set from the null distribution, 'floor' when the floor was higher, 'fixed' when given by the user. */
  readonly method: 'null' | 'floor' | 'fixed';
  readonly nullSamples: number;
  readonly nullMean: number;
  readonly nullSd: number;
  readonly nullMax: number;
}

/**
 * Draws up to `count` distinct pairs of present tiles that are not grid neighbours (|row| + |col|
 * distance >= 2), alternating x and y roles, seeded. Small grids may have fewer (a 1x2 grid none).
 * @param present per grid slot (row-major, rows * cols), whether the tile exists
 * @param maxRowGap only pairs at most this many grid rows apart (default: any), so a row-by-row
 *   pass can measure them from tiles it holds anyway
 */
export function nullPairs(rows: number, cols: number, present: readonly boolean[], count: number, seed: number, maxRowGap = Infinity): NullPair[] {
  if (present.length !== rows * cols) throw badOption('present', `${rows * cols} flags (rows x cols)`, present.length);
  if (!Number.isInteger(count) || count < 0) throw badOption('nullSamples', 'an integer >= 0', count);
  const all: NullPair[] = [];
  for (let a = 0; a < rows * cols; a++)
    for (let b = 0; b < rows * cols; b++) {
      if (a === b || !present[a] || !present[b]) continue;
      const dr = Math.abs(Math.floor(a / cols) - Math.floor(b / cols));
      if (dr + Math.abs((a % cols) - (b % cols)) >= 2 && dr <= maxRowGap) all.push({ a, b, axis: (a + b) % 2 ? 'x' : 'y' });
    }
  const r = rng(seed);
  for (let i = all.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, count);
}

/**
 * Trust threshold from null NCCs: max(floor, mean + k * sd, max of the null samples). The max
 * term matters with few samples, where mean + k * sd alone under-covers the tail.
 * @param nullNcc best NCC found by the pairwise search on each null pair (unfound pairs omitted)
 * @param opts.k standard deviations above the null mean (default 4)
 * @param opts.floor lowest threshold ever used (default 0.1): below it matches are noise-level
 *   however clean the null looks
 * @throws IslError BAD_OPTION for a negative k or a floor outside [-1, 1]
 */
export function nccThreshold(nullNcc: readonly number[], opts: { k?: number; floor?: number } = {}): NccThreshold {
  const k = opts.k ?? 4;
  const floor = opts.floor ?? 0.1;
  if (!(k >= 0)) throw badOption('k', 'a number >= 0', k);
  if (!(floor >= -1 && floor <= 1)) throw badOption('floor', 'an NCC in [-1, 1]', floor);
  const n = nullNcc.length;
  if (n === 0) return { threshold: floor, method: 'floor', nullSamples: 0, nullMean: 0, nullSd: 0, nullMax: 0 };
  const mean = nullNcc.reduce((s, v) => s + v, 0) / n;
  const sd = n > 1 ? Math.sqrt(nullNcc.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  const max = Math.max(...nullNcc);
  const fromNull = Math.min(1, Math.max(mean + k * sd, max));
  return { threshold: Math.max(floor, fromNull), method: fromNull >= floor ? 'null' : 'floor', nullSamples: n, nullMean: mean, nullSd: sd, nullMax: max };
}
