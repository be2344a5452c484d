/**
 * Streaming per-pixel quantiles (median, percentiles) over many equally sized images, without
 * holding them all: the estimators of flat-fields and dust patterns see hundreds of tiles.
 *
 * Method. The first `calibrationImages` images are kept exactly; while no more have been added,
 * quantiles are exact (sorted order statistics, linear interpolation as numpy's default). When
 * one more arrives, each pixel gets its own histogram: `bins` equal bins over
 * [min - span/2, max + span/2] of its calibration values (span = max - min, at least
 * `minSpan`), plus an underflow and an overflow bin whose outer edges are the pixel's running
 * minimum and maximum. The buffered images are binned and dropped. A quantile is then read by
 * walking the histogram and interpolating linearly inside the bin that holds the target rank.
 *
 * Accuracy. The error of a histogram quantile is bounded by the width of the bin it falls in,
 * span x 2 / bins (defaults: 1/15 of the calibration range) and in practice, with values spread
 * inside the bin, is a small fraction of it (tested: median error < 1% of the per-pixel standard
 * deviation for 64 Gaussian samples, well below the median's own sampling error of ~16%). A
 * quantile that falls in the under/overflow bin (a pixel whose later values leave its
 * calibration range by more than half the range on one side for most images) is interpolated
 * between the running extreme and the bin edge, which is coarser.
 *
 * Memory: (bins + 2) x 2 bytes + 16 bytes per pixel after calibration (defaults: 80 bytes per
 * pixel, 320 MiB for 2048x2048, whatever the number of images), and `calibrationImages` float32
 * images before. At most 65535 images (16-bit counts).
 */
import { badOption, IslError } from '../io/errors.ts';
import { plane, type Plane } from '../io/image.ts';
import { requireFinite, requireSameSize } from './validate.ts';

export interface PixelQuantilesOptions {
  /** Regular histogram bins per pixel (default 30). More bins: finer quantiles, more memory. */
  bins?: number;
  /** Images kept exactly before switching to histograms (default 8, at least 2). */
  calibrationImages?: number;
  /** Smallest histogram range per pixel in input units (default 1, one count of raw 16-bit data). */
  minSpan?: number;
}

const MAX_COUNT = 65535;

/** Per-pixel quantiles of a stream of planes; see the module comment for method and accuracy. */
export class PixelQuantiles {
  readonly bins: number;
  readonly calibrationImages: number;
  readonly minSpan: number;
  private w = 0;
  private h = 0;
  private n = 0;
  private buffer: Float32Array[] = [];
  private counts?: Uint16Array;
  private lo?: Float32Array; // lower edge of the regular bins
  private inv?: Float32Array; // bins per unit
  private min?: Float32Array;
  private max?: Float32Array;

  constructor(opts: PixelQuantilesOptions = {}) {
    const { bins = 30, calibrationImages = 8, minSpan = 1 } = opts;
    if (!Number.isInteger(bins) || bins < 2 || bins > 1000) throw badOption('bins', 'an integer in [2, 1000]', bins);
    if (!Number.isInteger(calibrationImages) || calibrationImages < 2) throw badOption('calibrationImages', 'an integer >= 2', calibrationImages);
    if (!(minSpan > 0) || !Number.isFinite(minSpan)) throw badOption('minSpan', 'a positive finite number', minSpan);
    this.bins = bins;
    this.calibrationImages = calibrationImages;
    this.minSpan = minSpan;
  }

  /** Size of the images (0 before the first). */
  get width(): number {
    return this.w;
  }

  get height(): number {
    return this.h;
  }

  /** Images added so far. */
  get count(): number {
    return this.n;
  }

  /** True while quantiles are still exact (no more than `calibrationImages` images added). */
  get exact(): boolean {
    return this.counts === undefined;
  }

  /**
   * Adds one image. The plane is copied while calibrating, never kept afterwards.
   * @throws IslError BAD_INPUT if it contains NaN/Infinity or differs in size from the first image,
   *   or past 65535 images.
   */
  add(p: Plane<'float32'>, source?: string): void {
    if (this.n === 0) {
      this.w = p.width;
      this.h = p.height;
    } else requireSameSize(p, this, 'image', source);
    requireFinite(p, 'image', source);
    if (this.n >= MAX_COUNT) throw new IslError('BAD_INPUT', `per-pixel statistics take at most ${MAX_COUNT} images`, { file: source });
    if (!this.counts && this.buffer.length < this.calibrationImages) {
      this.buffer.push(Float32Array.from(p.data));
    } else {
      if (!this.counts) this.startHistograms();
      this.insert(p.data);
    }
    this.n++;
  }

  /**
   * Per-pixel q-quantile of everything added, q in [0, 1] (0.5 = median).
   * @throws IslError BAD_INPUT if no image was added.
   */
  quantile(q: number): Plane<'float32'> {
    if (!(q >= 0 && q <= 1)) throw badOption('q', 'a number in [0, 1]', q);
    if (this.n === 0) throw new IslError('BAD_INPUT', 'no images were added: per-pixel statistics need at least one');
    return this.counts ? this.histogramQuantile(q) : exactQuantile(this.buffer, this.width, this.height, q);
  }

  private startHistograms(): void {
    const np = this.width * this.height;
    const B = this.bins;
    const lo = new Float32Array(np);
    const inv = new Float32Array(np);
    const min = new Float32Array(np);
    const max = new Float32Array(np);
    const buf = this.buffer;
    for (let i = 0; i < np; i++) {
      let a = buf[0][i];
      let b = a;
      for (let k = 1; k < buf.length; k++) {
        const v = buf[k][i];
        if (v < a) a = v;
        if (v > b) b = v;
      }
      min[i] = a;
      max[i] = b;
      const span = Math.max(b - a, this.minSpan);
      const mid = (a + b) / 2;
      lo[i] = mid - span;
      inv[i] = B / (2 * span);
    }
    this.lo = lo;
    this.inv = inv;
    this.min = min;
    this.max = max;
    this.counts = new Uint16Array(np * (B + 2));
    this.buffer = [];
    for (const d of buf) this.insert(d, false);
  }

  private insert(d: Float32Array, track = true): void {
    const B = this.bins;
    const stride = B + 2;
    const counts = this.counts!;
    const lo = this.lo!;
    const inv = this.inv!;
    const min = this.min!;
    const max = this.max!;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      const t = (v - lo[i]) * inv[i];
      // bin 0 underflow, 1..B regular, B+1 overflow
      const b = t < 0 ? 0 : t >= B ? B + 1 : (t | 0) + 1;
      counts[i * stride + b]++;
      if (track) {
        if (v < min[i]) min[i] = v;
        if (v > max[i]) max[i] = v;
      }
    }
  }

  private histogramQuantile(q: number): Plane<'float32'> {
    const B = this.bins;
    const stride = B + 2;
    const counts = this.counts!;
    const lo = this.lo!;
    const inv = this.inv!;
    const min = this.min!;
    const max = this.max!;
    const out = plane('float32', this.width, this.height);
    const o = out.data;
    const rank = q * (this.n - 1); // continuous 0-based rank, as numpy's 'linear'
    for (let i = 0; i < o.length; i++) {
      const base = i * stride;
      let cum = 0;
      let b = 0;
      for (; b < stride; b++) {
        const c = counts[base + b];
        if (cum + c > rank) break;
        cum += c;
      }
      if (b === stride) b = stride - 1; // rank == n-1 exactly at the top
      const c = counts[base + b];
      const w = 1 / inv[i];
      const binLo = b === 0 ? min[i] : lo[i] + (b - 1) * w;
      const binHi = b === 0 ? lo[i] : b === B + 1 ? max[i] : binLo + w;
      const lower = b === B + 1 ? lo[i] + B * w : binLo;
      // c values spread evenly inside the bin, the k-th (0-based) at (k + 0.5) / c of its width
      const f = c > 0 ? (rank - cum + 0.5) / c : 0.5;
      const v = lower + Math.min(Math.max(f, 0), 1) * (binHi - lower);
      o[i] = Math.min(Math.max(v, min[i]), max[i]);
    }
    return out;
  }
}

/**
 * Exact per-pixel q-quantile over a few equally sized images (numpy 'linear' interpolation
 * between order statistics). Memory: the images themselves.
 */
export function exactQuantile(images: readonly Float32Array[], width: number, height: number, q: number): Plane<'float32'> {
  const n = images.length;
  const out = plane('float32', width, height);
  const o = out.data;
  const pos = q * (n - 1);
  const k = Math.floor(pos);
  const frac = pos - k;
  const v = new Float64Array(n);
  for (let i = 0; i < o.length; i++) {
    for (let j = 0; j < n; j++) v[j] = images[j][i];
    sortSmall(v, n);
    o[i] = frac > 0 ? v[k] + frac * (v[k + 1] - v[k]) : v[k];
  }
  return out;
}

/** Insertion sort: the fastest for the few (<= ~64) values per pixel here. */
function sortSmall(v: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const x = v[i];
    let j = i - 1;
    while (j >= 0 && v[j] > x) {
      v[j + 1] = v[j];
      j--;
    }
    v[j + 1] = x;
  }
}
