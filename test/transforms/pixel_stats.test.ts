import test from 'ava';
import { plane } from '../../core/image.ts';
import { exactQuantile, PixelQuantiles } from '../../transforms/pixel_stats.ts';
import { rng } from './synth.ts';

const W = 40;
const H = 30;

function gaussianImages(n: number, seed: number, mu: (i: number) => number, sd: (i: number) => number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: W * H }, (_, i) => mu(i) + sd(i) * r.normal()));
}

test('exact while at most calibrationImages were added (numpy linear interpolation)', (t) => {
  const s = new PixelQuantiles({ calibrationImages: 8 });
  const imgs = gaussianImages(5, 1, (i) => i, () => 10);
  for (const d of imgs) s.add(plane('float32', W, H, d));
  t.true(s.exact);
  const med = s.quantile(0.5).data;
  const q90 = s.quantile(0.9).data;
  for (const i of [0, 17, W * H - 1]) {
    const v = imgs.map((d) => d[i]).sort((a, b) => a - b);
    t.is(med[i], Math.fround(v[2]));
    t.true(Math.abs(q90[i] - (v[3] + 0.6 * (v[4] - v[3]))) < 1e-3);
  }
});

test('histogram median of 64 Gaussian samples per pixel: error << sampling error, documented bound', (t) => {
  const n = 64;
  const imgs = gaussianImages(n, 2, (i) => 1000 + 3 * i, (i) => 20 + (i % 7) * 10);
  const s = new PixelQuantiles();
  for (const d of imgs) s.add(plane('float32', W, H, d));
  t.false(s.exact);
  for (const q of [0.5, 0.1, 0.9]) {
    const got = s.quantile(q).data;
    const want = exactQuantile(imgs, W, H, q).data;
    let worst = 0;
    let mean = 0;
    for (let i = 0; i < W * H; i++) {
      const e = Math.abs(got[i] - want[i]) / (20 + (i % 7) * 10);
      worst = Math.max(worst, e);
      mean += e / (W * H);
    }
    t.log(`q=${q}: mean |hist - exact| = ${(100 * mean).toFixed(2)}% of sd, worst ${(100 * worst).toFixed(1)}% (sampling error of the median ~${((1.25 / Math.sqrt(n)) * 100).toFixed(0)}%)`);
    t.true(mean < 0.05, `q=${q} mean error ${mean}`);
    t.true(worst < 0.3, `q=${q} worst error ${worst}`);
  }
});

test('values far outside the calibration range widen that pixel\'s histogram; counts stay exact', (t) => {
  const s = new PixelQuantiles({ calibrationImages: 2, bins: 4 });
  const add = (v: number) => s.add(plane('float32', 1, 1, Float32Array.of(v)));
  [10, 11, 1000, 1001, 1002].forEach(add);
  const med = s.quantile(0.5).data[0];
  // ranks: 10, 11 | 1000, 1001, 1002: the median is in the bin holding 1000..1002, ~1000 +- bin width
  t.true(Math.abs(med - 1001) < 200, `${med}`);
  t.is(s.quantile(1).data[0], 1002);
  t.is(s.quantile(0).data[0], 10);
});

test('bad input: different sizes, NaN, nothing added, bad options', (t) => {
  const s = new PixelQuantiles();
  s.add(plane('float32', 4, 4));
  t.throws(() => s.add(plane('float32', 4, 5), 'b.tif'), { message: /b\.tif: image is 4x5 but the others are 4x4/ });
  const d = new Float32Array(16);
  d[3] = NaN;
  t.throws(() => s.add(plane('float32', 4, 4, d)), { message: /non-finite value \(NaN\) at pixel \(3, 0\)/ });
  t.throws(() => new PixelQuantiles().quantile(0.5), { message: /no images were added/ });
  t.throws(() => new PixelQuantiles({ bins: 1 }), { message: /Expected an even integer in \[2, 1000\] for bins but received 1/ });
  t.throws(() => s.quantile(1.5), { message: /for q but received 1.5/ });
});
