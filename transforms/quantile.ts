/**
 * The one quantile rule of the toolkit: linear interpolation between order statistics (numpy's
 * default, 'linear'; R type 7), so a median of an even count is the mean of the middle two.
 */

/** q-quantile (q in [0, 1]) of values already sorted ascending; NaN for none. */
export function sortedQuantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (n - 1);
  const k = Math.floor(pos);
  const frac = pos - k;
  return frac > 0 ? sorted[k] + frac * (sorted[k + 1] - sorted[k]) : sorted[k];
}

/** The q-quantiles of `values` (copied and sorted; `values` is not changed). */
export function quantiles(values: ArrayLike<number>, qs: readonly number[]): number[] {
  const s = Float64Array.from(values).sort();
  return qs.map((q) => sortedQuantile(s, q));
}
