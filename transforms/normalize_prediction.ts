/**
 * Normalization of predicted label maps: the paper's global normalization (fluorescence target,
 * mean 0.25, sd 0.125), fitted on a label's median map and applied to each of its intensity
 * statistics; std maps take only the scale, entropy maps are scaled to [0, 1] by their maximum.
 */
import { plane } from '../core/image.ts';
import { applyAffine, IntensityStats, NORMALIZATION_TARGETS, type Affine } from './normalize.ts';
import type { Plane } from '../core/image.ts';

const IDENTITY: Affine = { scale: 1, offset: 0 };

/**
 * The paper's affine for one predicted label, fitted on its median map (else mean, else mode);
 * identity when it has none of them. A constant map (e.g. an empty field) has no contrast to
 * scale: only its level is shifted to the target mean.
 */
export function labelAffine(maps: ReadonlyMap<string, Float32Array>, width: number, height: number): Affine {
  const basis = maps.get('median') ?? maps.get('mean') ?? maps.get('mode');
  if (!basis) return IDENTITY;
  const s = new IntensityStats();
  s.add(plane('float32', width, height, basis));
  try {
    return s.affine('fluorescence');
  } catch {
    return { scale: 1, offset: NORMALIZATION_TARGETS.fluorescence.mean - s.mean };
  }
}

/**
 * One statistic's map on the canonical [0, 1] scale, given its label's intensity affine and the
 * network's number of intensity bins (entropy is at most log2(bins) bits).
 */
export function normalizeStatistic(raw: Plane<'float32'>, statistic: string, label: Affine, bins: number): Plane<'float32'> {
  if (statistic === 'entropy') return applyAffine(raw, { scale: 1 / Math.log2(bins), offset: 0 });
  if (statistic === 'std') return applyAffine(raw, { scale: Math.abs(label.scale), offset: 0 });
  return applyAffine(raw, label);
}
