/**
 * Flat-field (vignetting / uneven illumination) estimation and correction, as in the paper:
 * the per-pixel median over many tiles sharing the illumination (objects at random positions
 * drop out of the median), smoothed with a Gaussian of sigma H/16 (fluorescence) or H/32
 * (transmitted light), normalized to mean 1; tiles are divided by it and clipped.
 *
 * The median assumes objects at random positions. Whole-slide tissue breaks that (tissue covers
 * whole tiles, its borders sit where the section is): add the background tiles only. Measured on
 * ../shared/data/wsi-brain against BaSiC's flat-field: r = 0.98 from the 29 tiles with mean below
 * 1.5x the dimmest tile's, r = 0.82 from all 63 (test/transforms/real.test.ts).
 *
 * Streaming: `FlatFieldEstimator.add` takes one tile at a time; memory is that of
 * `PixelQuantiles` (module transforms/pixel_stats.ts), independent of the number of tiles.
 */
import { badOption, IslError } from '../io/errors.ts';
import { plane, type Plane } from '../io/image.ts';
import { gaussianBlur } from './gaussian.ts';
import type { Modality } from './normalize.ts';
import { PixelQuantiles, type PixelQuantilesOptions } from './pixel_stats.ts';
import { isConstant, requireFinite, requireSameSize } from './validate.ts';

export interface FlatFieldOptions extends PixelQuantilesOptions {
  /** Sets the default blur: sigma = height / 16 (fluorescence) or height / 32 (transmitted). */
  modality: Modality;
  /** Blur sigma in pixels, overriding the modality's default. */
  sigma?: number;
  /** Fewest accepted images for an estimate (default 2: one tile's median is its own content). */
  minImages?: number;
}

export interface FlatField {
  /** Multiplicative field, mean 1, same size as the tiles. */
  field: Plane<'float32'>;
  /** Images used. */
  images: number;
  /** Blank (constant: all-zero or fully saturated) images skipped. */
  skipped: number;
  /** Gaussian sigma used, in pixels. */
  sigma: number;
}

/** Streaming flat-field estimator: `add` tiles one at a time, then `finish`. */
export class FlatFieldEstimator {
  private readonly stats: PixelQuantiles;
  private readonly opts: FlatFieldOptions;
  private readonly minImages: number;
  private skipped = 0;

  constructor(opts: FlatFieldOptions) {
    if (opts?.modality !== 'fluorescence' && opts?.modality !== 'transmitted') throw badOption('modality', "'fluorescence' or 'transmitted'", opts?.modality);
    if (opts.sigma !== undefined && !(opts.sigma >= 0 && Number.isFinite(opts.sigma))) throw badOption('sigma', 'a finite number of pixels >= 0', opts.sigma);
    const { minImages = 2 } = opts;
    if (!Number.isInteger(minImages) || minImages < 1) throw badOption('minImages', 'a positive integer', minImages);
    this.opts = opts;
    this.minImages = minImages;
    this.stats = new PixelQuantiles(opts);
  }

  /**
   * Adds one tile (raw counts or any linear intensity). Blank tiles (every pixel equal, e.g. all
   * zero or saturated) carry no illumination information: they are skipped, counted in
   * `skipped`, and `false` is returned.
   * @throws IslError BAD_INPUT for NaN/Infinity or a size different from the first tile.
   */
  add(p: Plane<'float32'>, source?: string): boolean {
    if (this.stats.count > 0) requireSameSize(p, this.stats, 'tile', source);
    if (isConstant(p)) {
      requireFinite(p, 'tile', source);
      this.skipped++;
      return false;
    }
    this.stats.add(p, source);
    return true;
  }

  /**
   * Median, blur, normalize to mean 1.
   * @throws IslError BAD_INPUT with fewer than `minImages` usable tiles, or if the median is zero
   *   or negative on average (dark frames only: nothing to divide by).
   */
  finish(): FlatField {
    const n = this.stats.count;
    if (n < this.minImages) {
      throw new IslError('BAD_INPUT', `flat-field estimation needs at least ${this.minImages} non-blank tiles sharing the illumination but got ${n} (${this.skipped} blank skipped); add more tiles of the same channel or skip flat-field correction`);
    }
    const med = this.stats.quantile(0.5);
    const sigma = this.opts.sigma ?? med.height / (this.opts.modality === 'fluorescence' ? 16 : 32);
    const field = normalizeToMeanOne(gaussianBlur(med, sigma), 'flat-field');
    return { field, images: n, skipped: this.skipped, sigma };
  }
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
