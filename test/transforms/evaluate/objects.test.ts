import test from 'ava';
import type { Plane } from '../../../core/image.ts';
import { clearBorder, connectedComponents, matchObjects, objectAreas, segmentNuclei } from '../../../transforms/evaluate/index.ts';
import { diskImage, predictionWithErrors, TRUE_DISKS, W, H } from './synth.ts';

function binaryLabels(p: Plane<'float32'>) {
  return connectedComponents(Array.from(p.data, (v) => (v > 0.5 ? 1 : 0)), p.width, p.height);
}

const EXPECTED = { trueObjects: 24, predictedObjects: 24, matched: 19, split: 1, merged: 1, added: 2, missed: 2, errors: 6, accuracy: 18 / 24 };

test('matchObjects: exact counts of injected splits, merges, additions and misses (labels)', (t) => {
  const truth = binaryLabels(diskImage(W, H, TRUE_DISKS));
  const pred = binaryLabels(predictionWithErrors(0, 0));
  t.deepEqual(matchObjects(truth, pred), EXPECTED);
});

test('matchObjects: identical labels are all matched; empty prediction misses everything', (t) => {
  const truth = binaryLabels(diskImage(W, H, TRUE_DISKS));
  t.deepEqual(matchObjects(truth, truth), { trueObjects: 24, predictedObjects: 24, matched: 24, split: 0, merged: 0, added: 0, missed: 0, errors: 0, accuracy: 1 });
  const none = { width: W, height: H, data: new Int32Array(W * H), count: 0 };
  t.like(matchObjects(truth, none), { missed: 24, errors: 24, accuracy: 0 });
  t.like(matchObjects(none, truth), { added: 24, trueObjects: 0 });
  t.true(Number.isNaN(matchObjects(none, truth).accuracy));
});

test('matchObjects: a slightly larger prediction touching a neighbour is not a merge (maximum overlap)', (t) => {
  const truth = binaryLabels(diskImage(60, 30, [{ x: 15, y: 15, r: 10 }, { x: 40, y: 15, r: 10 }]));
  const bigger = binaryLabels(diskImage(60, 30, [{ x: 15, y: 15, r: 13 }]));
  const second = binaryLabels(diskImage(60, 30, [{ x: 40, y: 15, r: 10 }]));
  const both = { ...bigger, data: bigger.data.map((v, i) => v || (second.data[i] ? 2 : 0)), count: 2 };
  t.like(matchObjects(truth, both), { matched: 2, merged: 0, split: 0, errors: 0 });
});

test('segment + matchObjects on noisy images recover the injected error counts', (t) => {
  const truth = segmentNuclei(diskImage(W, H, TRUE_DISKS, { noise: 0.05, seed: 1 }));
  const pred = segmentNuclei(predictionWithErrors(0.05, 2));
  t.deepEqual(matchObjects(truth.labels, pred.labels), EXPECTED);
});

test('matchObjects: different shapes are a clear error', (t) => {
  const a = connectedComponents([1], 1, 1);
  const b = connectedComponents([1, 1], 2, 1);
  t.throws(() => matchObjects(a, b), { message: 'Expected predicted labels to be 1x1 like the true labels but they are 2x1' });
});

test('clearBorder: empties objects within the margin of the border; matchObjects ignores them', (t) => {
  const img = diskImage(60, 30, [{ x: 4, y: 15, r: 3 }, { x: 30, y: 15, r: 6 }, { x: 50, y: 15, r: 5 }]);
  const l = binaryLabels(img);
  t.is(l.count, 3);
  const c = clearBorder(l, 3);
  t.is(c.count, 3);
  // Raster order of first pixels: label 1 = disk at x 30 (top row 9), 2 = x 50 (row 10), 3 = x 4 (row 12).
  t.deepEqual([...objectAreas(c)].slice(1).map((a) => a > 0), [true, true, false]); // the disk at x = 4 reaches x = 1
  t.deepEqual([...objectAreas(clearBorder(l, 6))].slice(1).map((a) => a > 0), [true, false, false]); // x = 50 + 5 = 55 >= 60 - 1 - 6
  t.like(matchObjects(c, l), { trueObjects: 2, predictedObjects: 3, added: 1, matched: 2 });
});
