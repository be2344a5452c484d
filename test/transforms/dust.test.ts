import test from 'ava';
import { plane } from '../../core/image.ts';
import { FluorescenceDustEstimator, subtractDust } from '../../transforms/fluorescence_dust.ts';
import { correctTransmittedDust, TransmittedDustEstimator } from '../../transforms/transmitted_dust.ts';
import { cells, disks, iou, noisy, pearson, rmse, rng, vignette } from './synth.ts';

const W = 256;
const H = 192;
const SPECKS = [[40, 50, 6], [200, 30, 4], [128, 100, 9], [60, 160, 5], [220, 150, 7]] as const;

test('fluorescence dust: additive disks found (mask IoU >= 0.8) and subtracted (RMSE drops)', (t) => {
  const r = rng(21);
  const truthMask = disks(W, H, SPECKS);
  const v = vignette(W, H, 0.3);
  const offset = 100;
  const dust = Float32Array.from(truthMask, (m) => m * 150);
  const n = 30;
  const clean = Array.from({ length: n }, () => Float32Array.from(cells(r, W, H, 200, 8, 1200), (c, i) => c * v[i] + offset));
  const raw = clean.map((c) => noisy(r, Float32Array.from(c, (x, i) => x + dust[i]), 8));
  const est = new FluorescenceDustEstimator();
  for (const d of raw) est.add(plane('float32', W, H, d));
  const res = est.finish();
  t.is(res.images, n);
  const j = iou(res.mask.data, truthMask);
  t.log(`dust mask IoU ${j.toFixed(3)}; sensor offset estimate ${res.sensorOffset.toFixed(1)} (true ${offset}, noise sd 8)`);
  t.true(j >= 0.8, `IoU ${j}`);
  // artifact amplitude inside the true disks is ~150
  let s = 0;
  let k = 0;
  for (let i = 0; i < W * H; i++) if (truthMask[i]) (s += res.artifact.data[i]), k++;
  t.true(Math.abs(s / k - 150) < 20, `mean artifact in disks ${s / k}`);
  let before = 0;
  let after = 0;
  for (let i = 0; i < 5; i++) {
    before += rmse(raw[i], clean[i]) / 5;
    after += rmse(subtractDust(plane('float32', W, H, raw[i]), res.artifact).data, clean[i]) / 5;
  }
  t.log(`RMSE vs clean: ${before.toFixed(1)} before -> ${after.toFixed(1)} after dust subtraction`);
  t.true(after < before * 0.6, `${before} -> ${after}`);
});

test('fluorescence dust: bad input and blank images', (t) => {
  const est = new FluorescenceDustEstimator();
  t.false(est.add(plane('float32', 8, 8)));
  t.false(est.add(plane('float32', 8, 8, new Float32Array(64).fill(65535))));
  est.add(plane('float32', 8, 8, Float32Array.from({ length: 64 }, (_, i) => i)));
  t.throws(() => est.finish(), { message: /needs at least 2 non-blank images sharing the artifact but got 1 \(2 blank skipped\)/ });
  t.throws(() => est.add(plane('float32', 4, 8, Float32Array.from({ length: 32 }, (_, i) => i)), 'x.tif'), { message: /x\.tif: image is 4x8 but the others are 8x8/ });
  const d = new Float32Array(64);
  d[0] = NaN;
  t.throws(() => est.add(plane('float32', 8, 8, d)), { message: /non-finite value \(NaN\) at pixel \(0, 0\)/ });
  t.throws(() => new FluorescenceDustEstimator({ threshold: 0 }), { message: /for threshold but received 0/ });
  t.deepEqual(Array.from(subtractDust(plane('float32', 3, 1, Float32Array.of(10, 5, 0)), plane('float32', 3, 1, Float32Array.of(4, 9, 0))).data), [6, 0, 0]);
});

test('transmitted dust: multiplicative specks recovered (r >= 0.99 vs truth) and divided out', (t) => {
  const r = rng(22);
  // truth pattern: vignette x specks that transmit 60%, normalized to mean 1
  const specks = disks(W, H, SPECKS);
  const v = vignette(W, H, 0.2);
  const pattern = Float32Array.from(v, (x, i) => x * (specks[i] ? 0.6 : 1));
  let m = 0;
  for (const x of pattern) m += x / pattern.length;
  for (let i = 0; i < pattern.length; i++) pattern[i] /= m;
  const n = 25;
  // brightfield: bright background, cells darker or brighter by a little
  const clean = Array.from({ length: n }, () => Float32Array.from(cells(r, W, H, 0, 10, 1), (c) => 3000 * (1 + 0.15 * c * (r.uniform() < 0.5 ? -1 : 1))));
  const raw = clean.map((c) => noisy(r, Float32Array.from(c, (x, i) => x * pattern[i]), 20));
  const est = new TransmittedDustEstimator();
  for (const d of raw) est.add(plane('float32', W, H, d));
  const res = est.finish();
  t.is(res.images, n);
  const cr = pearson(res.field.data, pattern);
  t.log(`transmitted dust field vs truth r = ${cr.toFixed(4)}`);
  t.true(cr >= 0.99, `${cr}`);
  // the specks are where the field is lowest
  let inside = 0;
  let k = 0;
  for (let i = 0; i < W * H; i++) if (specks[i]) (inside += res.field.data[i] / pattern[i]), k++;
  t.true(Math.abs(inside / k - 1) < 0.03, `field/pattern in specks ${inside / k}`);
  let before = 0;
  let after = 0;
  for (let i = 0; i < 5; i++) {
    before += rmse(raw[i], clean[i]) / 5;
    after += rmse(correctTransmittedDust(plane('float32', W, H, raw[i]), res.field).data, clean[i]) / 5;
  }
  t.log(`RMSE vs clean: ${before.toFixed(1)} before -> ${after.toFixed(1)} after dividing out the pattern`);
  t.true(after < before / 3, `${before} -> ${after}`);
});

test('transmitted dust: one image is not enough; blank ones are skipped', (t) => {
  const est = new TransmittedDustEstimator();
  est.add(plane('float32', 4, 4, Float32Array.from({ length: 16 }, (_, i) => i + 1)));
  t.false(est.add(plane('float32', 4, 4)));
  t.throws(() => est.finish(), { message: /needs at least 2 non-blank images sharing the pattern but got 1 \(1 blank skipped\)/ });
});
