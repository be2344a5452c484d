/**
 * Flat-field (vignetting / uneven illumination) estimation and correction, as in the paper:
 * the per-pixel median over many tiles sharing the illumination (objects at random positions
 * drop out of the median), smoothed with a Gaussian of sigma H/16 (fluorescence) or H/32
 * (transmitted light), normalized to mean 1; tiles are divided by it and clipped.
 *
 * The median assumes objects at random positions. Whole-slide tissue breaks that (tissue covers
 * whole tiles, its borders sit where the section is), so with `selectBackground` (the default for
 * fluorescence) the estimator keeps only the tiles consistent with "a multiple of the field plus
 * noise", chosen from the data:
 *   1. each tile is reduced to block means (~64 px on its short side: the field is blurred with
 *      sigma >= H/32 anyway, and block means average the noise down);
 *   2. F = per-pixel median of the kept thumbnails (all at first), blurred;
 *   3. a tile's content is how uneven its ratio to F is, ln(p95 / p5): a background tile (any
 *      brightness) divided by the right field is flat up to noise; tissue borders and texture are
 *      not. (In the first round there is no trustworthy field yet: the ratio is to the tile's own
 *      blur, which follows vignetting but not tissue borders.)
 *   4. Otsu's split of log(content) into a flat and an uneven class; when the split is clear
 *      (between-class variance >= 80% of the total, the classes' typical contents at least
 *      `minSeparation` = 1.5x apart) the uneven class is rejected, otherwise every tile is kept
 *      (tiles with cells at random positions are one class: nothing is rejected). Repeat from 2
 *      until the kept set stops changing (at most 5 rounds).
 * The field is then the exact per-pixel median of the kept thumbnails, upsampled (bilinear) and
 * blurred at full size. If fewer than `minImages` tiles are kept (a handful of tiles) every
 * usable tile is used and `selection` says `fallback-all`.
 * Measured on ../shared/data/wsi-brain against BaSiC's flat-field-only fit (128x128): r = 0.99
 * with the selection (20 of 63 tiles kept, test/transforms/real.test.ts); without it r = 0.82
 * with the streaming histogram median over all 63, 0.978 with an exact median over all 63 (most
 * of the loss is histogram resolution: bright tissue tiles widen every pixel's range).
 *
 * Streaming: `FlatFieldEstimator.add` takes one tile at a time. Without selection memory is that
 * of `PixelQuantiles` (module transforms/pixel_stats.ts), independent of the number of tiles;
 * with it, one thumbnail per tile (~16 KB: 64x64 float32; 30 MB for 2000 tiles).
 */
import { badOption, IslError } from '../core/errors.ts';
import { plane, type Plane } from '../core/image.ts';
import { gaussianBlur } from './gaussian.ts';
import { sortedQuantile } from './quantile.ts';
import { upsampleBlocks } from './upsample.ts';
import type { Modality } from './normalize.ts';
import { exactQuantile, PixelQuantiles, type PixelQuantilesOptions } from './pixel_stats.ts';
import { isConstant, requireFinite, requireSameSize } from './validate.ts';

export interface FlatFieldOptions extends PixelQuantilesOptions {
  /** Sets the default blur: sigma = height / 16 (fluorescence) or height / 32 (transmitted). */
  modality: Modality;
  /** Blur sigma in pixels, overriding the modality's default. */
  sigma?: number;
  /** Fewest accepted images for an estimate (default 2: one tile's median is its own content). */
  minImages?: number;
  /**
   * Keep only the tiles whose ratio to the field is flat (module comment). Default: true for
   * fluorescence (whole-slide tissue, empty wells), false for transmitted light (cells everywhere,
   * at random positions: the plain median works and every tile has content). With it the median
   * is exact over the thumbnails and the `PixelQuantiles` options do not apply.
   */
  selectBackground?: boolean;
  /**
   * With `selectBackground`: the content split is used only when the uneven class's typical
   * content is at least this multiple of the flat class's (default 1.5; module comment).
   */
  minSeparation?: number;
}

export interface FlatField {
  /** Multiplicative field, mean 1, same size as the tiles. */
  field: Plane<'float32'>;
  /** Images used. */
  images: number;
  /** Images rejected by the background selection (content above the threshold). */
  rejected: number;
  /** Blank (constant: all-zero or fully saturated) images skipped. */
  skipped: number;
  /**
   * `all`: no selection; `background`: the selected tiles; `fallback-all`: selection kept fewer
   * than `minImages`, so every usable tile was used.
   */
  selection: 'all' | 'background' | 'fallback-all';
  /** Gaussian sigma used, in pixels. */
  sigma: number;
}

/** Streaming flat-field estimator: `add` tiles one at a time, then `finish`. */
export class FlatFieldEstimator {
  private readonly stats?: PixelQuantiles;
  private readonly thumbs?: Thumbnails;
  private readonly opts: FlatFieldOptions;
  private readonly minImages: number;
  private readonly minSeparation: number;
  private skipped = 0;

  constructor(opts: FlatFieldOptions) {
    if (opts?.modality !== 'fluorescence' && opts?.modality !== 'transmitted') throw badOption('modality', "'fluorescence' or 'transmitted'", opts?.modality);
    if (opts.sigma !== undefined && !(opts.sigma >= 0 && Number.isFinite(opts.sigma))) throw badOption('sigma', 'a finite number of pixels >= 0', opts.sigma);
    const { minImages = 2, selectBackground = opts.modality === 'fluorescence', minSeparation = 1.5 } = opts;
    if (!Number.isInteger(minImages) || minImages < 1) throw badOption('minImages', 'a positive integer', minImages);
    if (typeof selectBackground !== 'boolean') throw badOption('selectBackground', 'true or false', selectBackground);
    if (!(minSeparation >= 1 && Number.isFinite(minSeparation))) throw badOption('minSeparation', 'a finite number >= 1', minSeparation);
    this.opts = opts;
    this.minImages = minImages;
    this.minSeparation = minSeparation;
    if (selectBackground) this.thumbs = new Thumbnails();
    else this.stats = new PixelQuantiles(opts);
  }

  private get count(): number {
    return this.stats ? this.stats.count : this.thumbs!.images.length;
  }

  /**
   * Adds one tile (raw counts or any linear intensity). Blank tiles (every pixel equal, e.g. all
   * zero or saturated) carry no illumination information: they are skipped, counted in
   * `skipped`, and `false` is returned.
   * @throws IslError BAD_INPUT for NaN/Infinity or a size different from the first tile.
   */
  add(p: Plane<'float32'>, source?: string): boolean {
    if (this.count > 0) requireSameSize(p, this.stats ?? this.thumbs!, 'tile', source);
    if (isConstant(p)) {
      requireFinite(p, 'tile', source);
      this.skipped++;
      return false;
    }
    if (this.stats) this.stats.add(p, source);
    else {
      requireFinite(p, 'tile', source);
      this.thumbs!.add(p);
    }
    return true;
  }

  /**
   * Median (of the selected tiles), blur, normalize to mean 1.
   * @throws IslError BAD_INPUT with fewer than `minImages` usable tiles, or if the median is zero
   *   or negative on average (dark frames only: nothing to divide by).
   */
  finish(): FlatField {
    const n = this.count;
    if (n < this.minImages) {
      throw new IslError('BAD_INPUT', `flat-field estimation needs at least ${this.minImages} non-blank tiles sharing the illumination but got ${n} (${this.skipped} blank skipped); add more tiles of the same channel or skip flat-field correction`);
    }
    const { width: W, height: H } = this.stats ?? this.thumbs!;
    const sigma = this.opts.sigma ?? H / (this.opts.modality === 'fluorescence' ? 16 : 32);
    if (this.stats) {
      const field = normalizeToMeanOne(gaussianBlur(this.stats.quantile(0.5), sigma), 'flat-field');
      return { field, images: n, rejected: 0, skipped: this.skipped, sigma, selection: 'all' };
    }
    const t = this.thumbs!;
    let keep = selectBackground(t, sigma / t.block, this.minSeparation);
    const selection = keep.length >= this.minImages ? 'background' : 'fallback-all';
    if (selection === 'fallback-all') keep = t.images.map((_, i) => i);
    const med = exactQuantile(keep.map((i) => t.images[i]), t.tw, t.th, 0.5);
    const field = normalizeToMeanOne(gaussianBlur(upsampleBlocks(med, t.block, W, H), sigma), 'flat-field');
    return { field, images: keep.length, rejected: n - keep.length, skipped: this.skipped, sigma, selection };
  }
}

/** Block means of each added tile (b x b blocks, b = floor(short side / 64), at least 1). */
class Thumbnails {
  width = 0;
  height = 0;
  block = 1;
  tw = 0;
  th = 0;
  readonly images: Float32Array[] = [];

  add(p: Plane<'float32'>): void {
    if (this.images.length === 0) {
      this.width = p.width;
      this.height = p.height;
      this.block = Math.max(1, Math.floor(Math.min(p.width, p.height) / 64));
      this.tw = Math.ceil(p.width / this.block);
      this.th = Math.ceil(p.height / this.block);
    }
    const { block: b, tw, th } = this;
    const sum = new Float64Array(tw * th);
    const d = p.data;
    for (let y = 0; y < p.height; y++) {
      const row = ((y / b) | 0) * tw;
      for (let x = 0; x < p.width; x++) sum[row + ((x / b) | 0)] += d[y * p.width + x];
    }
    const out = new Float32Array(tw * th);
    for (let j = 0; j < th; j++) {
      const bh = Math.min(b, p.height - j * b);
      for (let i = 0; i < tw; i++) out[j * tw + i] = sum[j * tw + i] / (bh * Math.min(b, p.width - i * b));
    }
    this.images.push(out);
  }
}

/** Indices of the background-consistent thumbnails (module comment, steps 2-4). */
function selectBackground(t: Thumbnails, sigma: number, minSeparation: number): number[] {
  const all = t.images.map((_, i) => i);
  let keep = all;
  for (let round = 0; round < 5; round++) {
    // Round 0 has no trustworthy field yet (tissue in most tiles at one place biases the median
    // of all): each tile is compared with its own blur, which follows the vignetting but not
    // tissue borders or texture. Later rounds use the field of the tiles kept so far.
    const F = round === 0 ? undefined : gaussianBlur(exactQuantile(keep.map((i) => t.images[i]), t.tw, t.th, 0.5), sigma, { method: 'exact' }).data;
    const content = t.images.map((img) => ratioSpread(img, F ?? gaussianBlur(plane('float32', t.tw, t.th, img), sigma, { method: 'exact' }).data));
    const limit = splitLow(content, minSeparation);
    const next = all.filter((i) => content[i] <= limit);
    if (next.length === keep.length && next.every((v, k) => v === keep[k])) break;
    keep = next;
  }
  return keep;
}

/**
 * Otsu's two-class split of log(content): the largest content of the flat class when the split
 * is clear (between-class variance >= 80% of the total, where one Gaussian gives 64%, and the
 * classes' geometric means at least `minSeparation` apart), else Infinity (keep every tile).
 * Tiles of undefined content (Infinity) count with the uneven class.
 */
function splitLow(content: number[], minSeparation: number): number {
  const v = Float64Array.from(content.filter((c) => Number.isFinite(c) && c > 0), Math.log).sort();
  const n = v.length;
  if (n < 2) return Infinity;
  let total = 0;
  for (const x of v) total += x;
  let totalVar = 0;
  for (const x of v) totalVar += (x - total / n) ** 2;
  if (!(totalVar > 0)) return Infinity;
  let best = -1;
  let bestK = 0;
  let left = 0;
  for (let k = 1; k < n; k++) {
    left += v[k - 1];
    const between = (k * (n - k) * (left / k - (total - left) / (n - k)) ** 2) / n;
    if (between > best) (best = between), (bestK = k);
  }
  left = 0;
  for (let k = 0; k < bestK; k++) left += v[k];
  const separation = (total - left) / (n - bestK) - left / bestK;
  return best / totalVar >= 0.8 && separation >= Math.log(minSeparation) ? Math.exp(v[bestK - 1]) : Infinity;
}

/**
 * ln(p95 / p5) of img / F over the pixels where F > 0 (Infinity when p5 <= 0): how uneven the
 * tile is once the field is divided out, independent of its brightness, and symmetric in which
 * of two levels (background, tissue) covers more of it.
 */
function ratioSpread(img: Float32Array, F: Float32Array): number {
  const r = new Float64Array(img.length);
  let n = 0;
  for (let i = 0; i < img.length; i++) if (F[i] > 0) r[n++] = img[i] / F[i];
  if (n === 0) return Infinity;
  const s = r.subarray(0, n).sort();
  const lo = sortedQuantile(s, 0.05);
  return lo > 0 ? Math.log(sortedQuantile(s, 0.95) / lo) : Infinity;
}

/** Scales a field to mean 1; throws if its mean is not positive. */
export function normalizeToMeanOne(p: Plane<'float32'>, what: string): Plane<'float32'> {
  const d = p.data;
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i];
  const mean = s / d.length;
  if (!(mean > 0)) throw new IslError('BAD_INPUT', `the ${what} has mean ${mean}: the images are dark (all zero?) so there is nothing to divide by`);
  const out = plane('float32', p.width, p.height);
  const k = 1 / mean;
  for (let i = 0; i < d.length; i++) out.data[i] = d[i] * k;
  return out;
}

export interface CorrectOptions {
  /**
   * Output range [lo, hi] to clip to after dividing. Default [0, 65535]: the range of the 16-bit
   * raw counts, which keeps all real variation and removes only the negative values and the
   * overshoot that division amplifies where the field is small (noise and hot pixels in the dim
   * corners). Use [0, 1] for canonical images.
   */
  clip?: readonly [number, number];
  /** Field values below this are treated as this (default 1e-3 of the mean, 1e-3), avoiding division by ~0. */
  minField?: number;
}

/**
 * Divides `p` by a multiplicative `field` (flat-field or transmitted dust) and clips.
 * @throws IslError BAD_INPUT if sizes differ or `p` has NaN/Infinity; BAD_OPTION for a bad clip.
 */
export function divideAndClip(p: Plane<'float32'>, field: Plane<'float32'>, opts: CorrectOptions = {}): Plane<'float32'> {
  const { clip = [0, 65535], minField = 1e-3 } = opts;
  if (!Array.isArray(clip) || clip.length !== 2 || !(clip[0] < clip[1])) throw badOption('clip', 'a range [lo, hi] with lo < hi', Array.isArray(clip) ? `[${clip.join(', ')}]` : clip);
  if (!(minField > 0)) throw badOption('minField', 'a positive number', minField);
  requireSameSize(p, field, 'image to correct');
  requireFinite(p, 'image to correct');
  const [lo, hi] = clip;
  const out = plane('float32', p.width, p.height);
  const o = out.data;
  const d = p.data;
  const f = field.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] / (f[i] > minField ? f[i] : minField);
    o[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return out;
}

/** Flat-field correction: `p / field`, clipped (see `CorrectOptions.clip`). */
export function correctFlatField(p: Plane<'float32'>, field: Plane<'float32'>, opts: CorrectOptions = {}): Plane<'float32'> {
  return divideAndClip(p, field, opts);
}
