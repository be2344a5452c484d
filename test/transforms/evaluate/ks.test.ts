import test from 'ava';
import { ksTwoSample } from '../../../transforms/evaluate/index.ts';

// Reference values from `scipy.stats.ks_2samp` on the same data (identical in scipy 1.10.1, Debian's
// python3-scipy, and scipy 1.17.1).

test('ksTwoSample: exact p-value equals scipy (method="exact")', (t) => {
  const r = ksTwoSample([1.2, 3.4, 2.2, 5.1, 0.3, 4.4, 2.9, 3.3, 1.1, 6.0], [2.5, 7.1, 6.3, 5.9, 4.8, 8.2, 3.9, 6.6]);
  t.is(r.method, 'exact');
  t.is(r.statistic, 0.575);
  t.true(Math.abs(r.pValue - 0.07043283513871751) < 1e-12);
  const c = Array.from({ length: 40 }, (_, i) => Math.sin(i * 1.7) * 3);
  const d = Array.from({ length: 55 }, (_, i) => Math.cos(i * 0.9) * 3 + 0.8);
  const r2 = ksTwoSample(c, d);
  t.is(r2.statistic, 0.25);
  t.true(Math.abs(r2.pValue - 0.09119250700450687) < 1e-12);
});

test('ksTwoSample: ties (integer areas) handled like scipy', (t) => {
  const r = ksTwoSample([10, 12, 12, 13, 15, 15, 15, 20], [12, 15, 16, 18, 18, 21, 25]);
  t.true(Math.abs(r.statistic - 0.5892857142857143) < 1e-15);
  t.true(Math.abs(r.pValue - 0.11810411810411808) < 1e-12);
});

test('ksTwoSample: asymptotic p-value for large samples within 3% of scipy exact', (t) => {
  const a = Array.from({ length: 4000 }, (_, i) => Math.sin(i * 1.7) * 3);
  const b = Array.from({ length: 3000 }, (_, i) => Math.cos(i * 0.9) * 3 + 0.03);
  const r = ksTwoSample(a, b);
  t.is(r.method, 'asymptotic');
  t.true(Math.abs(r.statistic - 0.04533333333333334) < 1e-12);
  t.true(Math.abs(r.pValue / 0.0016936668954763542 - 1) < 0.03, String(r.pValue));
});

test('ksTwoSample: identical samples give D = 0, p = 1; order does not matter; errors', (t) => {
  t.like(ksTwoSample([3, 1, 2], [2, 3, 1]), { statistic: 0, pValue: 1 });
  t.deepEqual(ksTwoSample([5, 1, 3, 9], [2, 8]), ksTwoSample([9, 3, 1, 5], [8, 2]));
  t.throws(() => ksTwoSample([], [1]), { message: 'Expected two non-empty samples for a Kolmogorov-Smirnov test but received sizes 0 and 1' });
  t.throws(() => ksTwoSample([NaN], [1]), { message: 'Expected samples without NaN for a Kolmogorov-Smirnov test' });
});
