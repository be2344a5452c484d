/**
 * The best Pearson r any prediction can reach against a noisy true image (the "noise ceiling").
 *
 * Model: each true image is T = S + N, the signal S plus independent zero-mean noise N. A
 * perfect predictor outputs S (it cannot predict the noise), and
 *   r(S, T) = sd(S) / sd(T) = sqrt(var(S) / var(T)).
 * - From two replicate true images T1, T2 of the same field (independent noise, equal noise
 *   variance): cov(T1, T2) = var(S), so r(T1, T2) = var(S) / var(T) and
 *   ceiling = sqrt(r(T1, T2)) (Spearman's correction for attenuation).
 * - From a stated noise standard deviation sigma: var(S) = var(T) - sigma^2, so
 *   ceiling = sqrt(1 - sigma^2 / var(T)).
 * - From a noise-free image of the same field (synthetic data: the generator's clean canvas),
 *   ceiling = r(S, T) directly; r ignores S's units.
 *
 * References:
 * 1. C. Spearman, "The proof and measurement of association between two things", Am. J.
 *    Psychol. 15(1), 1904. doi:10.2307/1412159
 */
import type { Plane } from '../../core/image.ts';
import { badOption, IslError } from '../../core/errors.ts';
import { pearson } from './pearson.ts';
import { assertSameShape } from './shape.ts';

/** A noise ceiling and how it was obtained. */
export interface NoiseCeiling {
  /** Best achievable r in [0, 1]. */
  readonly r: number;
  readonly method: 'replicates' | 'noise-sd' | 'clean';
  /** The formula, for reports. */
  readonly formula: string;
  /** r between the replicates (method 'replicates'). */
  readonly replicateR?: number;
  /** Stated noise sd, canonical intensity units (method 'noise-sd'). */
  readonly noiseSd?: number;
}

/**
 * Noise ceiling from two replicate true images of the same field: sqrt(max(0, r(T1, T2))).
 * @param t1 first replicate, canonical intensities.
 * @param t2 second replicate, same shape.
 * @throws IslError BAD_INPUT when the shapes differ or a replicate is constant (r undefined).
 */
export function ceilingFromReplicates(t1: Plane<'float32'>, t2: Plane<'float32'>): NoiseCeiling {
  assertSameShape(t1, t2, 'the first replicate', 'the second replicate');
  const r12 = pearson(t1.data, t2.data);
  if (Number.isNaN(r12)) throw new IslError('BAD_INPUT', 'Expected replicate images with varying intensities for a noise ceiling but one is constant');
  return { r: Math.sqrt(Math.max(0, r12)), method: 'replicates', formula: 'sqrt(r(T1, T2))', replicateR: r12 };
}

/**
 * Noise ceiling from a stated noise standard deviation: sqrt(max(0, 1 - sigma^2 / var(T))).
 * @param truth true image, canonical intensities.
 * @param sigma noise standard deviation, canonical intensity units (counts / 65535), >= 0.
 * @throws IslError BAD_OPTION for a negative or non-finite sigma; IslError BAD_INPUT for a constant image.
 */
export function ceilingFromNoiseSd(truth: Plane<'float32'>, sigma: number): NoiseCeiling {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw badOption('noiseSd', 'a finite number >= 0 (canonical intensity units)', sigma);
  const d = truth.data;
  let mean = 0;
  for (let i = 0; i < d.length; i++) mean += d[i];
  mean /= d.length;
  let v = 0;
  for (let i = 0; i < d.length; i++) v += (d[i] - mean) * (d[i] - mean);
  v /= d.length;
  if (v === 0) throw new IslError('BAD_INPUT', 'Expected a true image with varying intensities for a noise ceiling but it is constant');
  return { r: Math.sqrt(Math.max(0, 1 - (sigma * sigma) / v)), method: 'noise-sd', formula: 'sqrt(1 - sigma^2 / var(T))', noiseSd: sigma };
}

/**
 * Noise ceiling from a noise-free image of the same field (e.g. the generator's clean canvas,
 * in any units): r(clean, truth), clipped at 0.
 * @param clean noise-free signal, same shape as truth.
 * @param truth true image.
 * @throws IslError BAD_INPUT when the shapes differ or either image is constant.
 */
export function ceilingFromClean(clean: Plane<'float32'>, truth: Plane<'float32'>): NoiseCeiling {
  assertSameShape(clean, truth, 'the clean image', 'the true image');
  const r = pearson(clean.data, truth.data);
  if (Number.isNaN(r)) throw new IslError('BAD_INPUT', 'Expected a clean and a true image with varying intensities for a noise ceiling but one is constant');
  return { r: Math.max(0, r), method: 'clean', formula: 'r(clean, T)' };
}
