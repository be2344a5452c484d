/**
 * Pearson correlation between a true and a predicted image, as the paper reports it: over one
 * million randomly chosen pixels (Christiansen et al., Cell 2018, STAR Methods, "Pixel-level
 * evaluation"), plus the same statistic over every pixel.
 *
 * References:
 * 1. E. M. Christiansen et al., "In Silico Labeling: Predicting Fluorescent Labels in Unlabeled
 *    Images", Cell 173(3), 2018. doi:10.1016/j.cell.2018.03.040
 */
import type { Plane } from '../../core/image.ts';
import { badOption, IslError } from '../../core/errors.ts';
import { mulberry32 } from '../../core/random.ts';
import { assertSameShape } from './shape.ts';

/** The paper's sample size. */
export const DEFAULT_PEARSON_SAMPLES = 1_000_000;

/**
 * Pearson r of two equally long sequences, in float64 with centred sums (two passes, so the
 * result stays accurate for intensities crowded near 1).
 *
 * @param a first values.
 * @param b second values, same length as `a`.
 * @returns r in [-1, 1], or NaN when either sequence is constant (r is undefined there).
 * @throws IslError BAD_INPUT when the lengths differ or are zero.
 */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length) throw new IslError('BAD_INPUT', `Expected sequences of equal length but received ${n} and ${b.length}`);
  if (n === 0) throw new IslError('BAD_INPUT', 'Expected at least one value for a Pearson correlation but received none');
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) return NaN;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Options of {@link sampledPearson}. */
export interface SampledPearsonOptions {
  /** Number of pixel positions drawn; default 1,000,000 (the paper's). */
  readonly samples?: number;
  /** Seed of the position draw; default 0. */
  readonly seed?: number;
}

/** Pixel-level correlation of one predicted label. */
export interface PearsonResult {
  /** r over `samples` seeded random pixel positions (drawn with replacement). */
  readonly sampled: number;
  /** r over every pixel of the image. */
  readonly whole: number;
  /** Number of positions drawn. */
  readonly samples: number;
  /** Always true: positions are drawn independently and uniformly, so images smaller than `samples` pixels are covered with repeats. */
  readonly withReplacement: true;
  readonly seed: number;
}

/**
 * Pearson r between truth and prediction over `samples` random pixel positions and over the
 * whole image.
 *
 * Positions are drawn uniformly **with replacement** (mulberry32 seeded by `seed`) for every
 * image size, so the estimator is the same whether the image is smaller or larger than the
 * sample; the same positions are used for both images.
 *
 * @param truth true label image, canonical intensities in [0, 1], shape width x height.
 * @param pred predicted image of the same shape.
 * @param opts samples (default 1,000,000) and seed (default 0).
 * @returns sampled and whole-image r (NaN when an image is constant).
 * @throws IslError BAD_OPTION for a non-positive or non-integer `samples` or a non-finite seed;
 *   IslError BAD_INPUT when the shapes differ.
 * @example sampledPearson(truth, pred, { seed: 1 }).sampled // 0.87
 */
export function sampledPearson(truth: Plane<'float32'>, pred: Plane<'float32'>, opts: SampledPearsonOptions = {}): PearsonResult {
  const samples = opts.samples ?? DEFAULT_PEARSON_SAMPLES;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(samples) || samples <= 0) throw badOption('samples', 'a positive integer', samples);
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw badOption('seed', 'a finite number', seed);
  assertSameShape(truth, pred, 'truth', 'prediction');
  const n = truth.data.length;
  const u = mulberry32(seed);
  const a = new Float32Array(samples);
  const b = new Float32Array(samples);
  for (let i = 0; i < samples; i++) {
    const k = Math.floor(u() * n);
    a[i] = truth.data[k];
    b[i] = pred.data[k];
  }
  return { sampled: pearson(a, b), whole: pearson(truth.data, pred.data), samples, withReplacement: true, seed };
}
