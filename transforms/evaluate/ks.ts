/**
 * Two-sample Kolmogorov-Smirnov test, used to compare nuclear-size distributions (live vs dead
 * cells, the paper's Figure 5 analysis).
 *
 * References:
 * 1. J. L. Hodges, "The significance probability of the Smirnov two-sample test", Arkiv för
 *    Matematik 3, 1958. doi:10.1007/BF02589501
 * 2. W. H. Press et al., Numerical Recipes, 3rd ed., section 14.3.3 (asymptotic p-value).
 */
import { IslError } from '../../core/errors.ts';

/** Result of {@link ksTwoSample}. */
export interface KsResult {
  /** D = max |F1(x) - F2(x)| of the two empirical distribution functions, in [0, 1]. */
  readonly statistic: number;
  /**
   * Two-sided p-value of D under the null hypothesis that both samples share one distribution.
   * The exact method computes 1 - P(D < d) in float64, so p-values below ~1e-15 lose their
   * relative precision and may be returned as 0.
   */
  readonly pValue: number;
  /** 'exact' (lattice-path count, when n1 * n2 <= 1e7) or 'asymptotic' (Kolmogorov distribution). */
  readonly method: 'exact' | 'asymptotic';
  readonly n1: number;
  readonly n2: number;
}

/** Largest n1 * n2 for which the exact p-value (O(n1 n2) time) is computed. */
export const KS_EXACT_LIMIT = 1e7;

/**
 * Two-sided two-sample KS statistic and p-value. The exact p-value counts the monotone lattice
 * paths from (0, 0) to (n1, n2) that stay strictly within D of the diagonal (Hodges 1958), like
 * scipy's `ks_2samp(method='exact')`; above {@link KS_EXACT_LIMIT} it uses the Kolmogorov
 * limit with Stephens' small-sample correction, lambda = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) D,
 * ne = n1 n2 / (n1 + n2). Ties are treated as in scipy (the p-value assumes continuous data).
 *
 * @param a first sample (e.g. areas of live nuclei, px), any order.
 * @param b second sample.
 * @throws IslError BAD_INPUT when a sample is empty or holds a NaN.
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new IslError('BAD_INPUT', `Expected two non-empty samples for a Kolmogorov-Smirnov test but received sizes ${n1} and ${n2}`);
  const x = Float64Array.from(a).sort();
  const y = Float64Array.from(b).sort();
  if (Number.isNaN(x[n1 - 1]) || Number.isNaN(y[n2 - 1])) throw new IslError('BAD_INPUT', 'Expected samples without NaN for a Kolmogorov-Smirnov test');
  // D in lattice units: c = max |i n2 - j n1| over the merged order, so D = c / (n1 n2) exactly.
  let i = 0;
  let j = 0;
  let c = 0;
  while (i < n1 && j < n2) {
    const v = Math.min(x[i], y[j]);
    while (i < n1 && x[i] === v) i++;
    while (j < n2 && y[j] === v) j++;
    c = Math.max(c, Math.abs(i * n2 - j * n1));
  }
  const statistic = c / (n1 * n2);
  if (n1 * n2 <= KS_EXACT_LIMIT) return { statistic, pValue: exactP(n1, n2, c), method: 'exact', n1, n2 };
  return { statistic, pValue: asymptoticP(n1, n2, statistic), method: 'asymptotic', n1, n2 };
}

/**
 * P(D >= c / (n1 n2)) by counting paths that stay inside |i n2 - j n1| < c, normalised at every
 * step by the binomial count so no number overflows: u(i, j) = paths inside / C(i + j, i).
 */
function exactP(n1: number, n2: number, c: number): number {
  if (c === 0) return 1;
  const u = new Float64Array(n2 + 1);
  for (let i = 0; i <= n1; i++) {
    for (let j = 0; j <= n2; j++) {
      if (Math.abs(i * n2 - j * n1) >= c) {
        u[j] = 0;
        continue;
      }
      if (i === 0 && j === 0) u[j] = 1;
      else if (i === 0) u[j] = u[j - 1];
      else if (j === 0) u[j] = u[j];
      else u[j] = (i / (i + j)) * u[j] + (j / (i + j)) * u[j - 1];
    }
  }
  return Math.min(1, Math.max(0, 1 - u[n2]));
}

function asymptoticP(n1: number, n2: number, d: number): number {
  const ne = Math.sqrt((n1 * n2) / (n1 + n2));
  const lambda = (ne + 0.12 + 0.11 / ne) * d;
  if (lambda < 1e-3) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = (k % 2 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12 * Math.abs(sum)) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}
