/**
 * Additive dust artifacts in fluorescence (paper, STAR Methods, used on training data): dust or
 * debris on the optics adds a fixed bright pattern to every image of a set.
 *
 * From the images sharing the artifact: per-pixel mean and minimum projections (streamed; two
 * float images of memory whatever the count). The minimum projection suppresses the cells, which
 * move between images, and keeps what is always there: the dust. The sensor offset is subtracted;
 * a 5x5 median (edge-preserving smoothing) and a threshold of the min projection's excess over its
 * local level (Gaussian, sigma `maskSigma`, of the pixels not yet masked: three rounds) at
 * `threshold` robust standard deviations (1.4826 x MAD) above the median excess give the binary
 * mask, grown by `dilate` px. Masked pixels of the mean are replaced by the local level of the
 * unmasked ones around them (a vignetted background is not flat under the dust); a Gaussian blur
 * (sigma `sigma`) of that is the background; mean minus background is the artifact. Outside the mask the artifact is set to 0, so subtracting it
 * removes only the dust and never the (noisy) residual structure of the mean elsewhere.
 * Subtracting the sensor offset follows the paper; every later step is linear or relative to a
 * local level, so the mask and artifact do not depend on its value.
 */
import { badOption, IslError } from '../core/errors.ts';
import { plane, type Plane } from '../core/image.ts';
import { gaussianBlur } from './gaussian.ts';
import { sortedQuantile } from './quantile.ts';
import { medianFilter5 } from './median.ts';
import { isConstant, requireFinite, requireSameSize } from './validate.ts';

export interface FluorescenceDustOptions {
  /** Sensor offset in input units (default: the minimum of the minimum projection, the darkest value recorded). */
  sensorOffset?: number;
  /** Mask threshold in robust standard deviations of the min projection's excess (default 6). */
  threshold?: number;
  /** Sigma (px) of the local level the min projection is compared with; dust is excluded from it, so it may be near the dust radius and follow vignetting (default height / 8). */
  maskSigma?: number;
  /** Sigma (px) of the background blur of the mean (default height / 32). */
  sigma?: number;
  /** Pixels the mask grows by on every side, to cover faint dust halos (default 0). */
  dilate?: number;
  /** Fewest usable images (default 2: with one image cells cannot be told from dust). */
  minImages?: number;
}

export interface FluorescenceDust {
  /** Additive artifact (input units), 0 outside the mask. */
  artifact: Plane<'float32'>;
  /** 1 where dust was found. */
  mask: Plane<'uint8'>;
  /** Images used. */
  images: number;
  /** Blank (constant) images skipped. */
  skipped: number;
  /** Sensor offset subtracted (input units). */
  sensorOffset: number;
}

/** Streaming estimator of an additive dust artifact: `add` images one at a time, then `finish`. */
export class FluorescenceDustEstimator {
  private readonly opts: FluorescenceDustOptions;
  private sum?: Float64Array;
  private min?: Float32Array;
  private width = 0;
  private height = 0;
  private n = 0;
  private skipped = 0;

  constructor(opts: FluorescenceDustOptions = {}) {
    const { sensorOffset, threshold = 6, maskSigma, sigma, dilate = 0, minImages = 2 } = opts;
    if (sensorOffset !== undefined && !Number.isFinite(sensorOffset)) throw badOption('sensorOffset', 'a finite number', sensorOffset);
    if (!(threshold > 0)) throw badOption('threshold', 'a positive number of standard deviations', threshold);
    if (maskSigma !== undefined && !(maskSigma > 0)) throw badOption('maskSigma', 'a positive number of pixels', maskSigma);
    if (sigma !== undefined && !(sigma > 0)) throw badOption('sigma', 'a positive number of pixels', sigma);
    if (!Number.isInteger(dilate) || dilate < 0) throw badOption('dilate', 'an integer >= 0', dilate);
    if (!Number.isInteger(minImages) || minImages < 1) throw badOption('minImages', 'a positive integer', minImages);
    this.opts = { ...opts, threshold, dilate, minImages };
  }

  /**
   * Adds one image. Blank (constant) images are skipped and counted; returns whether it was used.
   * @throws IslError BAD_INPUT for NaN/Infinity or a size different from the first image.
   */
  add(p: Plane<'float32'>, source?: string): boolean {
    requireFinite(p, 'image', source);
    if (this.n + this.skipped > 0 && this.width > 0) requireSameSize(p, { width: this.width, height: this.height }, 'image', source);
    if (isConstant(p)) {
      this.skipped++;
      return false;
    }
    const d = p.data;
    if (!this.sum || !this.min) {
      this.width = p.width;
      this.height = p.height;
      this.sum = new Float64Array(d);
      this.min = Float32Array.from(d);
    } else {
      const s = this.sum;
      const m = this.min;
      for (let i = 0; i < d.length; i++) {
        const v = d[i];
        s[i] += v;
        if (v < m[i]) m[i] = v;
      }
    }
    this.n++;
    return true;
  }

  /**
   * Computes mask and artifact.
   * @throws IslError BAD_INPUT with fewer than `minImages` usable images.
   */
  finish(): FluorescenceDust {
    const minImages = this.opts.minImages!;
    if (this.n < minImages || !this.sum || !this.min) {
      throw new IslError('BAD_INPUT', `dust estimation needs at least ${minImages} non-blank images sharing the artifact but got ${this.n} (${this.skipped} blank skipped): with fewer, cells cannot be told from dust`);
    }
    const { width: W, height: H } = this;
    const np = W * H;
    const minProj = this.min;
    let offset = this.opts.sensorOffset;
    if (offset === undefined) {
      offset = Infinity;
      for (let i = 0; i < np; i++) if (minProj[i] < offset) offset = minProj[i];
    }
    // mask: smoothed min projection above its local level by `threshold` robust sds. The level is
    // a blur of the dust-free pixels only (the previous round's mask excluded), so big dust does
    // not lift it; the threshold is relative to the median excess, because blurring a vignetted
    // background (a dome) lowers its level everywhere.
    const m = plane('float32', W, H, Float32Array.from(minProj, (v) => v - offset!));
    const smooth = medianFilter5(m);
    const levelSigma = this.opts.maskSigma ?? H / 8;
    let mask: Uint8Array<ArrayBuffer> = new Uint8Array(np);
    const excess = new Float32Array(np);
    for (let round = 0; round < MASK_ROUNDS; round++) {
      const level = blurUnmasked(smooth, mask, levelSigma);
      for (let i = 0; i < np; i++) excess[i] = smooth.data[i] - level[i];
      const { median, sd } = robustStats(excess);
      const t = median + this.opts.threshold! * sd;
      mask = new Uint8Array(np);
      for (let i = 0; i < np; i++) mask[i] = excess[i] > t ? 1 : 0;
    }
    for (let k = 0; k < this.opts.dilate!; k++) mask = dilate3x3(mask, W, H);
    // background: the mean with masked pixels replaced by the local level of the unmasked ones
    // (follows the vignetting under the dust), blurred
    const mean = plane('float32', W, H);
    for (let i = 0; i < np; i++) mean.data[i] = this.sum[i] / this.n - offset;
    const under = blurUnmasked(mean, mask, levelSigma);
    const filled = Float32Array.from(mean.data, (v, i) => (mask[i] ? under[i] : v));
    const background = gaussianBlur(plane('float32', W, H, filled), this.opts.sigma ?? H / 32).data;
    const artifact = plane('float32', W, H);
    for (let i = 0; i < np; i++) if (mask[i]) artifact.data[i] = mean.data[i] - background[i];
    return { artifact, mask: plane('uint8', W, H, mask), images: this.n, skipped: this.skipped, sensorOffset: offset };
  }
}

/**
 * Subtracts an additive artifact and clips at `floor` (default 0: counts cannot be negative).
 * @throws IslError BAD_INPUT if sizes differ or `p` has NaN/Infinity.
 */
export function subtractDust(p: Plane<'float32'>, artifact: Plane<'float32'>, floor = 0): Plane<'float32'> {
  requireSameSize(p, artifact, 'image to clean');
  requireFinite(p, 'image to clean');
  const out = plane('float32', p.width, p.height);
  const d = p.data;
  const a = artifact.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] - a[i];
    out.data[i] = v < floor ? floor : v;
  }
  return out;
}

/** Rounds of mask -> level -> mask: the second excludes the dust found by the first from the level; a third changes little. */
const MASK_ROUNDS = 3;

/** Gaussian blur of the pixels outside `mask`, normalized by the blurred weight (normalized convolution). */
function blurUnmasked(p: Plane<'float32'>, mask: Uint8Array, sigma: number): Float32Array {
  const { width: W, height: H } = p;
  const w = plane('float32', W, H, Float32Array.from(mask, (m) => 1 - m));
  const v = plane('float32', W, H, Float32Array.from(p.data, (x, i) => (mask[i] ? 0 : x)));
  const bw = gaussianBlur(w, sigma).data;
  const bv = gaussianBlur(v, sigma).data;
  return Float32Array.from(bv, (x, i) => (bw[i] > 1e-6 ? x / bw[i] : 0));
}

/** 1.4826 x median absolute deviation from the median, over a fixed subsample (every 7th pixel) for speed. */
function robustStats(v: Float32Array): { median: number; sd: number } {
  const step = v.length > 70000 ? 7 : 1;
  const s = new Float32Array(Math.ceil(v.length / step));
  for (let i = 0, j = 0; i < v.length; i += step, j++) s[j] = v[i];
  s.sort();
  const med = sortedQuantile(s, 0.5);
  for (let j = 0; j < s.length; j++) s[j] = Math.abs(s[j] - med);
  s.sort();
  return { median: med, sd: 1.4826 * sortedQuantile(s, 0.5) };
}

/** Binary dilation with a 3x3 square. */
function dilate3x3(m: Uint8Array, W: number, H: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(m.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!m[y * W + x]) continue;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= H) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < W) out[yy * W + xx] = 1;
        }
      }
    }
  }
  return out;
}
