/**
 * Nuclear segmentation for object-level evaluation: Gaussian smoothing, Otsu threshold,
 * connected components, then a distance-transform watershed that splits touching nuclei, and
 * removal of specks smaller than `minArea`.
 */
import type { Plane } from '../../core/image.ts';
import { badOption } from '../../core/errors.ts';
import { otsuThreshold } from './otsu.ts';
import { connectedComponents, objectAreas, type Labels } from './components.ts';
import { distanceTransform } from './distance.ts';
import { splitTouching } from './watershed.ts';
import { gaussianBlur } from '../gaussian.ts';

/** Options of {@link segmentNuclei}; every field has a default. */
export interface SegmentOptions {
  /** Gaussian smoothing before thresholding, px; default 1 (0 = none). */
  readonly sigma?: number;
  /** Intensity threshold (foreground is value > threshold); default: Otsu's threshold of the smoothed image. */
  readonly threshold?: number;
  /** Minimum watershed basin depth that splits touching nuclei, px; default 2; 0 = no splitting. */
  readonly splitDepth?: number;
  /** Objects smaller than this are dropped, px; default 16. */
  readonly minArea?: number;
}

/** Result of {@link segmentNuclei}. */
export interface Segmentation {
  readonly labels: Labels;
  /** Threshold actually used, canonical intensity. */
  readonly threshold: number;
  /** Area of object k at index k (index 0 unused), px. */
  readonly areas: Int32Array;
}

/**
 * Segments nuclei in a nuclear-stain image (true or predicted).
 *
 * @param p nuclear image (e.g. DAPI or Hoechst), canonical intensities, shape width x height.
 * @param opts see {@link SegmentOptions}.
 * @returns labels 1..count, the threshold used, and object areas.
 * @throws IslError BAD_OPTION for a negative sigma, splitDepth or minArea, or a non-finite
 *   threshold; IslError BAD_INPUT (from Otsu) when the image has a single intensity.
 */
export function segmentNuclei(p: Plane<'float32'>, opts: SegmentOptions = {}): Segmentation {
  const sigma = opts.sigma ?? 1;
  const splitDepth = opts.splitDepth ?? 2;
  const minArea = opts.minArea ?? 16;
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw badOption('sigma', 'a finite number >= 0 (px)', sigma);
  if (!(splitDepth >= 0) || !Number.isFinite(splitDepth)) throw badOption('splitDepth', 'a finite number >= 0 (px)', splitDepth);
  if (!Number.isInteger(minArea) || minArea < 0) throw badOption('minArea', 'an integer >= 0 (px)', minArea);
  if (opts.threshold !== undefined && !Number.isFinite(opts.threshold)) throw badOption('threshold', 'a finite intensity', opts.threshold);
  const smooth = gaussianBlur(p, sigma);
  const threshold = opts.threshold ?? otsuThreshold(smooth);
  const { width, height } = p;
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = smooth.data[i] > threshold ? 1 : 0;
  let labels = connectedComponents(mask, width, height);
  if (splitDepth > 0) labels = splitTouching(labels, distanceTransform(mask, width, height), splitDepth);
  labels = dropSmall(labels, minArea);
  return { labels, threshold, areas: objectAreas(labels) };
}

/** Removes objects under minArea px and renumbers the rest 1..count in order. */
function dropSmall(labels: Labels, minArea: number): Labels {
  const areas = objectAreas(labels);
  const map = new Int32Array(labels.count + 1);
  let count = 0;
  for (let k = 1; k <= labels.count; k++) if (areas[k] >= minArea) map[k] = ++count;
  if (count === labels.count) return labels;
  const data = new Int32Array(labels.data.length);
  for (let i = 0; i < data.length; i++) data[i] = map[labels.data[i]];
  return { width: labels.width, height: labels.height, data, count };
}
