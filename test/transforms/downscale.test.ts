import test from 'ava';
import { plane } from '../../core/image.ts';
import { downscale2x } from '../../transforms/downscale.ts';

test('downscale2x is the mean of each 2x2 block (bilinear at exactly half size)', (t) => {
  const d = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const o = downscale2x(plane('float32', 4, 4, d));
  t.is(o.width, 2);
  t.is(o.height, 2);
  t.deepEqual(Array.from(o.data), [(1 + 2 + 5 + 6) / 4, (3 + 4 + 7 + 8) / 4, (9 + 10 + 13 + 14) / 4, (11 + 12 + 15 + 16) / 4]);
});

test('odd sizes drop the last row and column; too small throws', (t) => {
  const o = downscale2x(plane('float32', 5, 3, Float32Array.from({ length: 15 }, (_, i) => i)));
  t.is(o.width, 2);
  t.is(o.height, 1);
  t.deepEqual(Array.from(o.data), [(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4]);
  t.throws(() => downscale2x(plane('float32', 1, 8)), { message: /cannot downscale a 1x8 image by 2/ });
});

test('shot noise: halving averages 4 pixels, halving the noise sd', (t) => {
  let s = 1;
  const W = 256;
  const d = Float32Array.from({ length: W * W }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  const sd = (a: Float32Array) => Math.sqrt(a.reduce((x, v) => x + v * v, 0) / a.length);
  const ratio = sd(downscale2x(plane('float32', W, W, d)).data) / sd(d);
  t.true(Math.abs(ratio - 0.5) < 0.02, `${ratio}`);
});
