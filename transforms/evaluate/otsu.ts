/**
 * Otsu's threshold: the intensity that maximises the between-class variance of the histogram.
 *
 * References:
 * 1. N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Syst. Man
 *    Cybern. 9(1), 1979. doi:10.1109/TSMC.1979.4310076
 */
import type { Plane } from '../../core/image.ts';
import { badOption, IslError } from '../../core/errors.ts';

/**
 * Otsu threshold of a plane, computed like scikit-image's `threshold_otsu`: a `nbins`-bin
 * histogram over [min, max] of the finite pixels, threshold = the centre of the last bin of the
 * lower class. Foreground is `value > threshold`.
 *
 * @param p image, any intensity range.
 * @param nbins histogram bins; default 256.
 * @returns the threshold, in the image's units.
 * @throws IslError BAD_OPTION for nbins < 2; IslError BAD_INPUT when the image has no finite pixel or a
 *   single intensity (an empty image: nothing to separate).
 */
export function otsuThreshold(p: Plane<'float32'>, nbins = 256): number {
  if (!Number.isInteger(nbins) || nbins < 2) throw badOption('nbins', 'an integer >= 2', nbins);
  const d = p.data;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new IslError('BAD_INPUT', `Expected finite pixels for Otsu's threshold but the ${p.width}x${p.height} image has none`);
  if (lo === hi) throw new IslError('BAD_INPUT', `Expected at least two intensities for Otsu's threshold but all ${d.length} pixels are ${lo} (an empty image?)`);
  const hist = new Float64Array(nbins);
  const scale = nbins / (hi - lo);
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!Number.isFinite(v)) continue;
    hist[Math.min(nbins - 1, Math.floor((v - lo) * scale))]++;
  }
  const width = (hi - lo) / nbins;
  const centre = (k: number): number => lo + (k + 0.5) * width;
  let total = 0;
  let totalSum = 0;
  for (let k = 0; k < nbins; k++) {
    total += hist[k];
    totalSum += hist[k] * centre(k);
  }
  let w0 = 0;
  let sum0 = 0;
  let best = -1;
  let bestK = 0;
  for (let k = 0; k < nbins - 1; k++) {
    w0 += hist[k];
    sum0 += hist[k] * centre(k);
    const w1 = total - w0;
    if (w0 === 0 || w1 === 0) continue;
    const m0 = sum0 / w0;
    const m1 = (totalSum - sum0) / w1;
    const between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) {
      best = between;
      bestK = k;
    }
  }
  return centre(bestK);
}
