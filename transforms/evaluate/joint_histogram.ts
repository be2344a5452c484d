/**
 * The paper's pixel-level heatmap data: a 2-D histogram of true vs predicted intensity.
 */
import type { Plane } from '../../core/image.ts';
import { badOption, IslError } from '../../core/errors.ts';
import { assertSameShape } from './shape.ts';

/** A square 2-D histogram over [0, 1] x [0, 1]. */
export interface JointHistogram {
  /** Bins per axis (10 for the paper's bin width of 0.1). */
  readonly bins: number;
  /**
   * Pixels per 1,000 in each bin, row-major with row = predicted bin and column = true bin:
   * `perThousand[p * bins + t]`. Sums to 1000.
   */
  readonly perThousand: Float64Array;
  /** Pixels counted (the whole image). */
  readonly pixels: number;
}

/**
 * Counts true vs predicted intensities into `bins` x `bins` equal bins on [0, 1], as counts per
 * 1,000 pixels. Values below 0 go to the first bin and values of 1 or more to the last (canonical
 * images are clipped to [0, 1], so this only affects out-of-range predictions); NaN pixels are an
 * error because they would silently vanish from the total.
 *
 * @param truth true image, canonical intensities, shape width x height.
 * @param pred predicted image, same shape.
 * @param bins bins per axis; default 10 (bin width 0.1).
 * @returns the histogram, row = predicted bin, column = true bin.
 * @throws IslError BAD_OPTION for bins that are not a positive integer; IslError BAD_INPUT when shapes
 *   differ or a pixel is NaN.
 */
export function jointHistogram(truth: Plane<'float32'>, pred: Plane<'float32'>, bins = 10): JointHistogram {
  if (!Number.isInteger(bins) || bins <= 0) throw badOption('bins', 'a positive integer', bins);
  assertSameShape(truth, pred, 'truth', 'prediction');
  const counts = new Float64Array(bins * bins);
  const t = truth.data;
  const p = pred.data;
  const bin = (v: number): number => (v <= 0 ? 0 : v >= 1 ? bins - 1 : Math.min(bins - 1, Math.floor(v * bins)));
  for (let i = 0; i < t.length; i++) {
    if (Number.isNaN(t[i]) || Number.isNaN(p[i])) throw new IslError('BAD_INPUT', `Expected finite intensities but pixel ${i} is NaN (${Number.isNaN(t[i]) ? 'truth' : 'prediction'})`);
    counts[bin(p[i]) * bins + bin(t[i])]++;
  }
  const scale = 1000 / t.length;
  for (let i = 0; i < counts.length; i++) counts[i] *= scale;
  return { bins, perThousand: counts, pixels: t.length };
}
