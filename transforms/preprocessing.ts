/**
 * The bioimage.io model format's input preprocessing (spec 0.5, `model_v0_5.py`:
 * `ScaleLinearDescr`, `FixedZeroMeanUnitVarianceDescr`, `ZeroMeanUnitVarianceDescr`,
 * `ScaleRangeDescr`, `ClipDescr`, `SigmoidDescr`) on one sample, a `[channel, y, x]` float32
 * tensor (the batch axis of size 1 dropped). Statistics are computed over the whole sample, as
 * bioimageio.core does before tiling, in float64; results are float32.
 *
 * `reduce` says which of (channel, y, x) a statistic is computed jointly over (the spec's `axes`);
 * each combination of the other axes' indices gets its own statistic (e.g. reduce y and x: one
 * mean per channel).
 */
import { badOption } from '../core/errors.ts';

/** One sample, `[channels, height, width]`, row-major. */
export interface SampleTensor {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

/** Which of channel, y and x a statistic is computed jointly over. */
export type Reduce = readonly [channel: boolean, y: boolean, x: boolean];

/** A preprocessing step; per-channel values (`gain`, `mean`, ... as arrays) have one entry per channel. */
export type PreprocessingStep =
  | { readonly id: 'scale_linear'; readonly gain: number | readonly number[]; readonly offset: number | readonly number[] }
  | { readonly id: 'fixed_zero_mean_unit_variance'; readonly mean: number | readonly number[]; readonly std: number | readonly number[]; readonly eps: number }
  | { readonly id: 'zero_mean_unit_variance'; readonly reduce: Reduce; readonly eps: number }
  | { readonly id: 'scale_range'; readonly reduce: Reduce; readonly minPercentile: number; readonly maxPercentile: number; readonly eps: number }
  | { readonly id: 'clip'; readonly min?: number; readonly max?: number }
  | { readonly id: 'sigmoid' };

/**
 * Applies the steps in order; the input is not changed.
 * @throws IslError BAD_OPTION for per-channel values whose count differs from the channels, or percentiles out of order.
 */
export function applyPreprocessing(t: SampleTensor, steps: readonly PreprocessingStep[]): SampleTensor {
  let data: Float32Array = Float32Array.from(t.data);
  for (const s of steps) data = applyStep({ ...t, data }, s);
  return { ...t, data };
}

function applyStep(t: SampleTensor, s: PreprocessingStep): Float32Array {
  const d = t.data;
  const plane = t.height * t.width;
  switch (s.id) {
    case 'scale_linear': {
      const gain = perChannel(s.gain, t.channels, 'scale_linear gain');
      const offset = perChannel(s.offset, t.channels, 'scale_linear offset');
      return d.map((v, i) => v * gain[(i / plane) | 0] + offset[(i / plane) | 0]);
    }
    case 'fixed_zero_mean_unit_variance': {
      const mean = perChannel(s.mean, t.channels, 'fixed_zero_mean_unit_variance mean');
      const std = perChannel(s.std, t.channels, 'fixed_zero_mean_unit_variance std');
      return d.map((v, i) => (v - mean[(i / plane) | 0]) / (std[(i / plane) | 0] + s.eps));
    }
    case 'zero_mean_unit_variance': {
      const g = groups(t, s.reduce);
      const n = new Float64Array(g.count);
      const sum = new Float64Array(g.count);
      for (let i = 0; i < d.length; i++) {
        n[g.of(i)]++;
        sum[g.of(i)] += d[i];
      }
      const mean = sum.map((v, k) => v / n[k]);
      const sq = new Float64Array(g.count);
      for (let i = 0; i < d.length; i++) sq[g.of(i)] += (d[i] - mean[g.of(i)]) ** 2;
      // Population standard deviation (numpy's default ddof = 0, as bioimageio.core uses).
      const std = sq.map((v, k) => Math.sqrt(v / n[k]));
      return d.map((v, i) => (v - mean[g.of(i)]) / (std[g.of(i)] + s.eps));
    }
    case 'scale_range': {
      if (!(s.minPercentile >= 0 && s.minPercentile < s.maxPercentile && s.maxPercentile <= 100)) throw badOption('scale_range percentiles', '0 <= min_percentile < max_percentile <= 100', `${s.minPercentile}, ${s.maxPercentile}`);
      const g = groups(t, s.reduce);
      // Each group's values in one contiguous run of a single buffer, sorted in place.
      const start = new Int32Array(g.count + 1);
      for (let i = 0; i < d.length; i++) start[g.of(i) + 1]++;
      for (let k = 0; k < g.count; k++) start[k + 1] += start[k];
      const fill = start.slice(0, g.count);
      const sorted = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) sorted[fill[g.of(i)]++] = d[i];
      const lo = new Float64Array(g.count);
      const hi = new Float64Array(g.count);
      for (let k = 0; k < g.count; k++) {
        const run = sorted.subarray(start[k], start[k + 1]).sort();
        lo[k] = quantile(run, s.minPercentile / 100);
        hi[k] = quantile(run, s.maxPercentile / 100);
      }
      return d.map((v, i) => (v - lo[g.of(i)]) / (hi[g.of(i)] - lo[g.of(i)] + s.eps));
    }
    case 'clip':
      return d.map((v) => Math.min(s.max ?? Infinity, Math.max(s.min ?? -Infinity, v)));
    case 'sigmoid':
      return d.map((v) => 1 / (1 + Math.exp(-v)));
  }
}

/** numpy's default (`linear`) quantile of sorted values, q in [0, 1]. */
export function quantile(sorted: Float32Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const i = Math.floor(pos);
  return i + 1 < sorted.length ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

function perChannel(v: number | readonly number[], channels: number, what: string): readonly number[] {
  if (typeof v === 'number') return Array.from({ length: channels }, () => v);
  if (v.length !== channels) throw badOption(what, `${channels} values (one per channel)`, v.join(','));
  return v;
}

/** The statistic group of each element: one per combination of the indices of the axes not reduced. */
function groups(t: SampleTensor, reduce: Reduce): { count: number; of: (i: number) => number } {
  const [rc, ry, rx] = reduce;
  const nc = rc ? 1 : t.channels;
  const ny = ry ? 1 : t.height;
  const nx = rx ? 1 : t.width;
  const plane = t.height * t.width;
  return {
    count: nc * ny * nx,
    of: (i) => {
      const c = rc ? 0 : (i / plane) | 0;
      const y = ry ? 0 : ((i % plane) / t.width) | 0;
      const x = rx ? 0 : i % t.width;
      return (c * ny + y) * nx + x;
    },
  };
}
