import test from 'ava';
import { plane } from '../../../core/image.ts';
import { IslError } from '../../../core/errors.ts';
import { otsuThreshold, connectedComponents, objectAreas, distanceTransform, segmentNuclei, gaussianBlur, errorImage, ksTwoSample } from '../../../transforms/evaluate/index.ts';
import { diskGrid, diskImage } from './synth.ts';

test('otsuThreshold: separates two intensity levels; equals the hand-computed optimum', (t) => {
  const two = plane('float32', 10, 1, Float32Array.from([0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.8, 0.8, 0.8, 0.8]));
  const th = otsuThreshold(two);
  t.true(th >= 0.2 && th < 0.8);
  // Three levels 0, 0.5, 1 with counts 4, 1, 5. Between-class variance w0 w1 (m0 - m1)^2:
  // {0} | {0.5, 1}: 0.4 * 0.6 * (0 - 0.9167)^2 = 0.2017; {0, 0.5} | {1}: 0.5 * 0.5 * (0.1 - 1)^2 = 0.2025,
  // so the optimum puts 0.5 in the lower class. With 2 bins the only split is the first bin's centre.
  const three = plane('float32', 10, 1, Float32Array.from([0, 0, 0, 0, 0.5, 1, 1, 1, 1, 1]));
  const th3 = otsuThreshold(three, 2);
  t.is(th3, 0.25); // 2 bins over [0, 1]: centre of the lower bin
  const th256 = otsuThreshold(three);
  t.true(th256 >= 0.5 && th256 < 1, String(th256));
});

test('otsuThreshold: clear errors for an empty image and bad nbins', (t) => {
  t.throws(() => otsuThreshold(plane('float32', 3, 3)), { message: 'Expected at least two intensities for Otsu\'s threshold but all 9 pixels are 0 (an empty image?)' });
  t.throws(() => otsuThreshold(plane('float32', 1, 2, Float32Array.from([0, 1])), 1), { message: 'Expected an integer >= 2 for nbins but received 1 (number)' });
});

test('connectedComponents: 8- vs 4-connectivity, areas', (t) => {
  const m = [
    1, 1, 0, 0,
    0, 0, 1, 0,
    1, 0, 0, 0,
  ];
  const l8 = connectedComponents(m, 4, 3);
  t.is(l8.count, 2);
  t.deepEqual([...l8.data], [1, 1, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0]);
  const l4 = connectedComponents(m, 4, 3, 4);
  t.is(l4.count, 3);
  t.deepEqual([...objectAreas(l4)], [8, 2, 1, 1]);
  // A U shape: the two arms meet only at the bottom row (needs the union step).
  const u = connectedComponents([1, 0, 1, 1, 0, 1, 1, 1, 1], 3, 3);
  t.is(u.count, 1);
});

test('distanceTransform: exact Euclidean distances', (t) => {
  const w = 7;
  const m = new Uint8Array(w * w).fill(1);
  m[3 * w + 3] = 0;
  const d = distanceTransform(m, w, w);
  t.is(d[3 * w + 3], 0);
  t.is(d[3 * w + 4], 1);
  t.is(d[0], Math.fround(Math.hypot(3, 3)));
  t.is(d[0 * w + 5], Math.fround(Math.hypot(2, 3)));
});

test('segmentNuclei: counts separate disks and their areas', (t) => {
  const disks = diskGrid(5, 4, 40, 10);
  const img = diskImage(200, 160, disks, { noise: 0.05, seed: 2 });
  const s = segmentNuclei(img);
  t.is(s.labels.count, 20);
  t.true(s.threshold > 0.2 && s.threshold < 0.7);
  for (let k = 1; k <= 20; k++) t.true(Math.abs(s.areas[k] - Math.PI * 100) < 0.1 * Math.PI * 100, `area ${s.areas[k]}`);
});

test('segmentNuclei: the watershed splits touching nuclei but not a single one', (t) => {
  // Two disks of radius 10 with centres 16 px apart (neck half-width 6 px: 4 px deep basins),
  // and an isolated ellipse-like pair of heavily overlapping disks (centres 4 px apart: one nucleus).
  const img = diskImage(120, 60, [{ x: 20, y: 30, r: 10 }, { x: 36, y: 30, r: 10 }, { x: 80, y: 30, r: 11 }, { x: 84, y: 30, r: 11 }], { noise: 0.04, seed: 9 });
  const split = segmentNuclei(img);
  t.is(split.labels.count, 3);
  const a = [...split.areas].slice(1).sort((x, y) => x - y);
  t.true(Math.abs(a[0] - a[1]) < 0.15 * a[0], `halves ${a}`); // the cut is near the middle
  t.is(segmentNuclei(img, { splitDepth: 0 }).labels.count, 2);
});

test('segmentNuclei: drops specks below minArea; validates options', (t) => {
  const img = diskImage(60, 30, [{ x: 15, y: 15, r: 8 }, { x: 45, y: 15, r: 1.5 }]);
  t.is(segmentNuclei(img, { sigma: 0 }).labels.count, 1);
  t.is(segmentNuclei(img, { sigma: 0, minArea: 1 }).labels.count, 2);
  t.throws(() => segmentNuclei(img, { sigma: -1 }), { message: 'Expected a finite number >= 0 (px) for sigma but received -1 (number)' });
  t.throws(() => segmentNuclei(img, { minArea: 2.5 }), { message: 'Expected an integer >= 0 (px) for minArea but received 2.5 (number)' });
  t.throws(() => segmentNuclei(plane('float32', 8, 8)), { message: /all 64 pixels are 0 \(an empty image\?\)/ });
});

test('evaluation transforms throw IslErrors with codes the CLI maps to exit codes (no plain RangeError)', (t) => {
  const blank = t.throws(() => otsuThreshold(plane('float32', 3, 3)));
  t.true(IslError.is(blank, 'BAD_INPUT'), String(blank));
  const sigma = t.throws(() => gaussianBlur(plane('float32', 3, 3), -1));
  t.true(IslError.is(sigma, 'BAD_OPTION'), String(sigma));
  const shapes = t.throws(() => errorImage(plane('float32', 2, 1), plane('float32', 1, 2)));
  t.true(IslError.is(shapes, 'BAD_INPUT'), String(shapes));
  const ks = t.throws(() => ksTwoSample([], [1]));
  t.true(IslError.is(ks, 'BAD_INPUT'), String(ks));
});
