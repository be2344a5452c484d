/**
 * Global affine intensity normalization: the paper maps every transmitted image to mean 0.5 and
 * standard deviation 0.125, and every fluorescence image to mean 0.25 and sd 0.125, then clips to
 * [0, 1]. The statistics may come from one image or be accumulated over a whole well or stack
 * (`IntensityStats`), and the affine used is returned so it can be recorded and inverted.
 */
import { badOption, IslError } from '../core/errors.ts';
import { plane, type Plane } from '../core/image.ts';
import { requireFinite } from './validate.ts';

/** out = in * scale + offset. */
export interface Affine {
  readonly scale: number;
  readonly offset: number;
}

export type Modality = 'transmitted' | 'fluorescence';

/** Target mean and standard deviation per modality (paper, STAR Methods). */
export const NORMALIZATION_TARGETS: Readonly<Record<Modality, { readonly mean: number; readonly sd: number }>> = {
  transmitted: { mean: 0.5, sd: 0.125 },
  fluorescence: { mean: 0.25, sd: 0.125 },
};

/** Streaming mean and standard deviation over all pixels of many planes (float64 sums, shifted for stability). */
export class IntensityStats {
  private n = 0;
  private shift = 0;
  private s1 = 0;
  private s2 = 0;

  /** Adds every pixel of `p`. @throws IslError BAD_INPUT for NaN/Infinity. */
  add(p: Plane<'float32'>, source?: string): void {
    requireFinite(p, 'image', source);
    const d = p.data;
    if (this.n === 0) this.shift = d[0];
    const k = this.shift;
    let a = 0;
    let b = 0;
    for (let i = 0; i < d.length; i++) {
      const v = d[i] - k;
      a += v;
      b += v * v;
    }
    this.s1 += a;
    this.s2 += b;
    this.n += d.length;
  }

  /** Pixels added. */
  get pixels(): number {
    return this.n;
  }

  get mean(): number {
    return this.shift + this.s1 / this.n;
  }

  /** Population standard deviation. */
  get sd(): number {
    const m = this.s1 / this.n;
    return Math.sqrt(Math.max(this.s2 / this.n - m * m, 0));
  }

  /**
   * The affine taking these statistics to the modality's target mean and sd.
   * @throws IslError BAD_INPUT if nothing was added or all pixels are equal (sd 0: all-zero or
   *   saturated images cannot be normalized).
   */
  affine(modality: Modality): Affine {
    const target = NORMALIZATION_TARGETS[modality];
    if (!target) throw badOption('modality', "'transmitted' or 'fluorescence'", modality);
    if (this.n === 0) throw new IslError('BAD_INPUT', 'no pixels to normalize: add at least one image');
    const sd = this.sd;
    // relative to the mean so float64 rounding on a constant image is not taken for contrast
    if (!(sd > 1e-9 * Math.max(Math.abs(this.mean), 1e-30))) {
      throw new IslError('BAD_INPUT', `cannot normalize: all ${this.n} pixels have the same value (${this.mean}), e.g. a blank or saturated image`);
    }
    const scale = target.sd / sd;
    return { scale, offset: target.mean - this.mean * scale };
  }
}

/** Applies `affine` and clips to [lo, hi] (default [0, 1]). NaN stays NaN (check input first). */
export function applyAffine(p: Plane<'float32'>, affine: Affine, clip: readonly [number, number] = [0, 1]): Plane<'float32'> {
  const [lo, hi] = clip;
  if (!(lo < hi)) throw badOption('clip', 'a range [lo, hi] with lo < hi', `[${clip.join(', ')}]`);
  const out = plane('float32', p.width, p.height);
  const o = out.data;
  const d = p.data;
  const { scale, offset } = affine;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] * scale + offset;
    o[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return out;
}

/**
 * Normalizes one image by its own statistics: to mean 0.5 / sd 0.125 (transmitted) or 0.25 /
 * 0.125 (fluorescence), clipped to [0, 1]. Returns the plane and the affine used.
 * For a whole well or stack, accumulate `IntensityStats` over all planes and `applyAffine` each.
 * @throws IslError BAD_INPUT for NaN/Infinity or a constant image.
 */
export function normalize(p: Plane<'float32'>, modality: Modality): { plane: Plane<'float32'>; affine: Affine } {
  const stats = new IntensityStats();
  stats.add(p);
  const affine = stats.affine(modality);
  return { plane: applyAffine(p, affine), affine };
}
