import test from 'ava';
import sharp from 'sharp';
import { plane } from '../../../core/image.ts';
import { errorImage, greyPng, rgbPng, displayGain, topLeftCrop } from '../../../transforms/evaluate/index.ts';

test('errorImage: agreement grey/white, false positive magenta, false negative teal', (t) => {
  const truth = plane('float32', 4, 1, Float32Array.from([1, 0.4, 0, 1]));
  const pred = plane('float32', 4, 1, Float32Array.from([1, 0.4, 1, 0]));
  const img = errorImage(truth, pred);
  const px = (i: number) => [...img.data.subarray(i * 3, i * 3 + 3)];
  t.deepEqual(px(0), [255, 255, 255]); // both bright: white
  t.deepEqual(px(1), [102, 102, 102]); // both 0.4: grey
  t.deepEqual(px(2), [255, 0, 255]); // predicted only: magenta
  t.deepEqual(px(3), [0, 204, 204]); // true only: teal
});

test('errorImage: partial errors add their colour to the shared grey; gain scales both', (t) => {
  const img = errorImage(plane('float32', 1, 1, Float32Array.from([0.2])), plane('float32', 1, 1, Float32Array.from([0.3])), 2);
  // t = 0.4, p = 0.6: grey 0.4 + 0.2 magenta = (0.6, 0.4, 0.6)
  t.deepEqual([...img.data], [153, 102, 153]);
  t.throws(() => errorImage(plane('float32', 2, 1), plane('float32', 1, 2)), { message: 'Expected prediction to be 2x1 like truth but it is 1x2' });
});

test('topLeftCrop / displayGain / PNG encoders', async (t) => {
  const p = plane('float32', 5, 4, Float32Array.from({ length: 20 }, (_, i) => i / 40));
  const c = topLeftCrop(p, 3);
  t.deepEqual([c.width, c.height], [3, 3]);
  t.deepEqual([...c.data].map((v) => Math.round(v * 40)), [0, 1, 2, 5, 6, 7, 10, 11, 12]);
  t.deepEqual([topLeftCrop(p, 99).width, topLeftCrop(p, 99).height], [5, 4]);
  t.throws(() => topLeftCrop(p, 0), { message: 'Expected a positive integer (px) for crop but received 0 (number)' });
  // Linear-interpolated 0.995 quantile of [0, 0.5] (transforms/quantile.ts): 0.4975.
  t.is(displayGain(plane('float32', 2, 1, Float32Array.from([0, 0.5]))), 1 / (0.995 * 0.5));
  t.is(displayGain(plane('float32', 2, 1, Float32Array.from([0, 0]))), 1);
  t.is(displayGain(plane('float32', 1, 1, Float32Array.from([1]))), 1);
  const greyFile = await greyPng(c, 2);
  t.is((await sharp(greyFile).metadata()).channels, 1);
  const grey = await sharp(greyFile).toColourspace('b-w').raw().toBuffer();
  t.is(grey.length, 9);
  t.is(grey[8], Math.round((12 / 40) * 2 * 255));
  const rgb = await sharp(await rgbPng(errorImage(c, c))).metadata();
  t.deepEqual([rgb.width, rgb.height, rgb.channels], [3, 3, 3]);
});
