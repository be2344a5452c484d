import test from 'ava';
import { plane } from '../../../core/image.ts';
import { rng } from '../../../core/random.ts';
import { pearson, sampledPearson } from '../../../transforms/evaluate/index.ts';

function noisyPair(n: number, noiseSd: number, seed: number) {
  const g = rng(seed);
  const s = new Float32Array(n);
  const p = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s[i] = 0.5 + 0.1 * g.normal();
    p[i] = s[i] + noiseSd * g.normal();
  }
  return { s, p };
}

test('pearson: exact on linear relations, NaN on a constant', (t) => {
  const a = [0.1, 0.4, 0.2, 0.9, 0.5];
  t.is(pearson(a, a.map((v) => 2 * v + 0.1)), 1);
  t.is(pearson(a, a.map((v) => 1 - v)), -1);
  t.true(Number.isNaN(pearson(a, [0.3, 0.3, 0.3, 0.3, 0.3])));
  // Hand-computed: x = 1,2,3; y = 1,3,2: cov = 0.5 * 2 / 2 ... r = 0.5.
  t.is(pearson([1, 2, 3], [1, 3, 2]), 0.5);
});

test('pearson: recovers the theoretical r of signal plus noise', (t) => {
  // r = sd(S) / sqrt(var(S) + sigma^2) = 0.1 / sqrt(0.01 + 0.01) = 0.7071
  const { s, p } = noisyPair(200_000, 0.1, 3);
  t.true(Math.abs(pearson(s, p) - Math.SQRT1_2) < 0.005, String(pearson(s, p)));
});

test('sampledPearson: seeded, close to whole-image r, with replacement on small images', (t) => {
  const { s, p } = noisyPair(256 * 256, 0.1, 5);
  const a = plane('float32', 256, 256, s);
  const b = plane('float32', 256, 256, p);
  const r1 = sampledPearson(a, b, { seed: 7 });
  const r2 = sampledPearson(a, b, { seed: 7 });
  const r3 = sampledPearson(a, b, { seed: 8 });
  t.is(r1.sampled, r2.sampled);
  t.not(r1.sampled, r3.sampled);
  t.is(r1.samples, 1_000_000); // 15x more draws than pixels: with replacement
  t.true(r1.withReplacement);
  t.true(Math.abs(r1.sampled - r1.whole) < 0.01);
  t.true(Math.abs(r1.whole - Math.SQRT1_2) < 0.01);
  const small = sampledPearson(a, b, { samples: 1000, seed: 1 });
  t.true(Math.abs(small.sampled - r1.whole) < 0.08);
});

test('sampledPearson: clear errors for bad options and mismatched shapes', (t) => {
  const a = plane('float32', 4, 4);
  t.throws(() => sampledPearson(a, plane('float32', 4, 5)), { message: 'Expected prediction to be 4x4 like truth but it is 4x5' });
  t.throws(() => sampledPearson(a, a, { samples: 0 }), { message: 'Expected a positive integer for samples but received 0 (number)' });
  t.throws(() => sampledPearson(a, a, { seed: NaN }), { message: 'Expected a finite number for seed but received NaN (number)' });
  t.throws(() => pearson([], []), { message: 'Expected at least one value for a Pearson correlation but received none' });
});
