import test from 'ava';
import { plane } from '../../../core/image.ts';
import { detail } from '../../../transforms/stitch/detail.ts';

test('detail subtracts the (border-shrunk) box mean, and removes vignetting-like ramps in the interior', (t) => {
  const w = 37, h = 23, r = 4;
  const p = plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => Math.sin(i * 0.37) * 100 + i));
  const d = detail(p, r);
  let worst = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0, n = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
        let rs = 0, rn = 0;
        for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++, rn++) rs += p.data[yy * w + xx];
        s += rs / rn;
        n++;
      }
      worst = Math.max(worst, Math.abs(d.data[y * w + x] - (p.data[y * w + x] - s / n)));
    }
  t.true(worst < 1e-3, `worst ${worst}`);
  const ramp = plane('float32', 40, 40, Float32Array.from({ length: 1600 }, (_, i) => 1000 + 3 * (i % 40) - 2 * Math.floor(i / 40)));
  const dr = detail(ramp, 5);
  for (let y = 5; y < 35; y++) for (let x = 5; x < 35; x++) t.true(Math.abs(dr.data[y * 40 + x]) < 1e-3);
  t.throws(() => detail(p, 0), { message: /Expected a box radius in px \(integer >= 1\) for highPass but received 0/ });
});

test('detail with reused work buffers gives the same image as without', (t) => {
  const w = 41, h = 29;
  const a = plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => Math.sin(i * 0.31) * 50 + (i % 7) * 3));
  const b = plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => Math.cos(i * 0.17) * 80 + i * 0.5));
  const work = { t: new Float32Array(w * h), s: new Float32Array(w * h), out: new Float32Array(w * h) };
  for (const p of [a, b, a]) {
    const fresh = detail(p, 6, 1, 4);
    const reused = detail(p, 6, 1, 4, work);
    t.is(reused.data, work.out);
    t.deepEqual(reused.data, fresh.data);
  }
  t.throws(() => detail(a, 6, 1, 4, { ...work, s: new Float32Array(3) }), { message: /for work/ });
});
