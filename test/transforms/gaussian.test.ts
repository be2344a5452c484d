import test from 'ava';
import { plane } from '../../core/image.ts';
import { gaussianBlur, gaussianKernel } from '../../transforms/gaussian.ts';
import { cells, rng, vignette } from './synth.ts';

test('an impulse blurs into the sampled Gaussian, sum preserved', (t) => {
  const W = 81;
  const H = 81;
  const d = new Float32Array(W * H);
  d[40 * W + 40] = 1;
  const sigma = 3;
  const o = gaussianBlur(plane('float32', W, H, d), sigma, { method: 'exact' }).data;
  const norm = 1 / (2 * Math.PI * sigma * sigma);
  let maxErr = 0;
  let sum = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const g = norm * Math.exp(-((x - 40) ** 2 + (y - 40) ** 2) / (2 * sigma * sigma));
      maxErr = Math.max(maxErr, Math.abs(o[y * W + x] - g));
      sum += o[y * W + x];
    }
  t.true(maxErr < 1e-4 * norm * 100, `max error ${maxErr} vs peak ${norm}`);
  t.true(Math.abs(sum - 1) < 1e-5);
  const k = gaussianKernel(2);
  t.is(k.length, 9); // truncated at 4 sigma
});

test('borders mirror about the edge, repeating the edge pixel (BORDER_REFLECT)', (t) => {
  const W = 7;
  const d = Float32Array.from([5, 1, 0, 0, 0, 0, 0]);
  const o = gaussianBlur(plane('float32', W, 1, d), 0.8, { method: 'exact' }).data;
  const w = gaussianKernel(0.8);
  // out[0] = w0*d[0] + w1*(d[-1] + d[1]) + w2*(d[-2] + d[2]) + ..., with d[-1] = d[0] = 5, d[-2] = d[1] = 1
  const want = w[0] * 5 + w[1] * (5 + 1) + w[2] * (1 + 0);
  t.true(Math.abs(o[0] - want) < 1e-6, `${o[0]} vs ${want}`);
  // constant images stay constant everywhere, at any sigma and method
  for (const [sigma, method] of [[2, 'exact'], [40, 'fast'], [40, 'exact']] as const) {
    const c = gaussianBlur(plane('float32', 100, 90, new Float32Array(9000).fill(3)), sigma, { method }).data;
    t.true(c.every((v) => Math.abs(v - 3) < 1e-4), `${sigma} ${method}`);
  }
});

test('the fast large-sigma path: < 0.05% of range from the exact blur on a vignette, < 0.1% on a vignetted texture', (t) => {
  const W = 320;
  const H = 256;
  const r = rng(3);
  const v = vignette(W, H);
  const c = cells(r, W, H, 200, 40);
  for (const [what, d, bound] of [['vignette', Float32Array.from(v, (f) => 1000 * f), 5e-4], ['texture', Float32Array.from(v, (f, i) => f * c[i]), 1e-3]] as const) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of d) (lo = Math.min(lo, x)), (hi = Math.max(hi, x));
  for (const sigma of [16, 20, 32]) {
    const exact = gaussianBlur(plane('float32', W, H, d), sigma, { method: 'exact' }).data;
    const fast = gaussianBlur(plane('float32', W, H, d), sigma, { method: 'fast' }).data;
    let maxErr = 0;
    for (let i = 0; i < d.length; i++) maxErr = Math.max(maxErr, Math.abs(exact[i] - fast[i]));
    t.log(`${what}, sigma ${sigma}: max |fast - exact| = ${((100 * maxErr) / (hi - lo)).toFixed(3)}% of the image range`);
    t.true(maxErr / (hi - lo) < bound, `${what} sigma ${sigma}: ${maxErr}`);
  }
  }
});

test('gaussianBlur rejects bad sigma, bad method and NaN', (t) => {
  const p = plane('float32', 8, 8);
  t.throws(() => gaussianBlur(p, -1), { message: /Expected a finite number of pixels >= 0 for sigma but received -1/ });
  t.throws(() => gaussianBlur(p, NaN), { message: /for sigma but received NaN/ });
  t.throws(() => gaussianBlur(p, 1, { method: 'box' as 'fast' }), { message: /for method/ });
  const d = new Float32Array(64);
  d[63] = Infinity;
  t.throws(() => gaussianBlur(plane('float32', 8, 8, d), 1), { message: /non-finite value \(Infinity\) at pixel \(7, 7\)/ });
  const big = new Float32Array(64 * 48).fill(1);
  big[10 * 64 + 33] = NaN;
  for (const method of ['exact', 'fast'] as const) {
    t.throws(() => gaussianBlur(plane('float32', 64, 48, big), 16, { method }), { message: /non-finite value \(NaN\) at pixel \(33, 10\)/ }, method);
  }
  t.deepEqual(gaussianBlur(plane('float32', 2, 1, Float32Array.from([1, 2])), 0).data, Float32Array.from([1, 2]));
});

test('exact blur equals a direct separable reference for odd sizes (1x1 .. 37x5) and sigmas 0.5-6', (t) => {
  const mirror = (i: number, n: number) => {
    const p = 2 * n;
    let j = i % p;
    if (j < 0) j += p;
    return j < n ? j : p - 1 - j;
  };
  let s = 3;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s / 2 ** 32);
  for (const [W, H] of [[1, 1], [3, 2], [5, 7], [37, 5], [9, 33]]) {
    for (const sigma of [0.5, 2, 6]) {
      const d = Float32Array.from({ length: W * H }, () => rnd() * 100);
      const w = gaussianKernel(sigma);
      const r = w.length - 1;
      const tmp = new Float64Array(W * H);
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          let a = 0;
          for (let k = -r; k <= r; k++) a += w[Math.abs(k)] * d[y * W + mirror(x + k, W)];
          tmp[y * W + x] = a;
        }
      const got = gaussianBlur(plane('float32', W, H, d), sigma, { method: 'exact' }).data;
      let maxErr = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          let a = 0;
          for (let k = -r; k <= r; k++) a += w[Math.abs(k)] * tmp[mirror(y + k, H) * W + x];
          maxErr = Math.max(maxErr, Math.abs(a - got[y * W + x]));
        }
      t.true(maxErr < 1e-3, `${W}x${H} sigma ${sigma}: ${maxErr}`);
    }
  }
});
