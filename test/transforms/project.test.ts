import test from 'ava';
import { zStack, plane } from '../../core/image.ts';
import { projectPercentile } from '../../transforms/project.ts';
import { rng } from './synth.ts';

test('projectPercentile is the per-pixel 90th percentile across z (numpy linear)', (t) => {
  const r = rng(4);
  const W = 9;
  const H = 7;
  const D = 13;
  const planes = Array.from({ length: D }, () => plane('float32', W, H, Float32Array.from({ length: W * H }, () => r.normal())));
  const s = zStack(planes);
  const p90 = projectPercentile(s).data;
  for (let i = 0; i < W * H; i++) {
    const v = planes.map((p) => p.data[i]).sort((a, b) => a - b);
    // position 0.9 * (13 - 1) = 10.8
    const want = v[10] + 0.8 * (v[11] - v[10]);
    t.true(Math.abs(p90[i] - want) < 1e-5, `pixel ${i}`);
  }
  t.deepEqual(projectPercentile(s, 1).data, Float32Array.from({ length: W * H }, (_, i) => Math.max(...planes.map((p) => p.data[i]))));
  // a one-plane stack projects to itself
  t.deepEqual(projectPercentile(zStack([planes[0]])).data, planes[0].data);
});

test('projectPercentile is robust to one bright out-of-focus plane, unlike a maximum projection', (t) => {
  const planes = Array.from({ length: 20 }, (_, z) => plane('float32', 1, 1, Float32Array.of(z === 4 ? 1000 : 100 + z)));
  const s = zStack(planes);
  t.true(projectPercentile(s).data[0] < 120);
  t.is(projectPercentile(s, 1).data[0], 1000);
});

test('projectPercentile rejects NaN and bad q', (t) => {
  const d = new Float32Array(4);
  d[2] = NaN;
  const s = zStack([plane('float32', 2, 2), plane('float32', 2, 2, d)]);
  t.throws(() => projectPercentile(s), { message: /z plane 1 has a non-finite value \(NaN\) at pixel \(0, 1\)/ });
  t.throws(() => projectPercentile(s, 90), { message: /Expected a quantile in \[0, 1\] \(0.9 = 90th percentile\) for q but received 90/ });
});
