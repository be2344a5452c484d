/** Crops and display scaling for report figures. */
import { plane, type Plane } from '../../core/image.ts';
import { badOption } from '../../core/errors.ts';
import { quantiles } from '../quantile.ts';

/** Default side of the top-left crop shown in the report, px. */
export const DEFAULT_CROP = 256;

/**
 * Copies the top-left `size` x `size` region (or the whole image if it is smaller).
 * @param p source plane, shape width x height.
 * @param size crop side, px; default 256.
 * @returns a new plane of min(size, width) x min(size, height).
 * @throws IslError BAD_OPTION unless size is a positive integer.
 */
export function topLeftCrop(p: Plane<'float32'>, size = DEFAULT_CROP): Plane<'float32'> {
  if (!Number.isInteger(size) || size <= 0) throw badOption('crop', 'a positive integer (px)', size);
  const w = Math.min(size, p.width);
  const h = Math.min(size, p.height);
  const out = plane('float32', w, h);
  for (let y = 0; y < h; y++) out.data.set(p.data.subarray(y * p.width, y * p.width + w), y * w);
  return out;
}

/**
 * Display gain that maps the given quantile of `p` to full brightness, never below 1 (so bright
 * images are not dimmed) and never above 20 (so a nearly empty image stays dark rather than
 * showing amplified noise). Applied identically to true, predicted and error crops so they
 * stay comparable.
 * @param p image whose quantile sets the gain (the true crop).
 * @param q quantile in (0, 1]; default 0.995.
 */
export function displayGain(p: Plane<'float32'>, q = 0.995): number {
  const [v] = quantiles(p.data, [q]);
  if (!(v > 0)) return 1;
  return Math.max(1, Math.min(20, 1 / v));
}
