import test from 'ava';
import { plane } from '../../core/image.ts';
import { correctFlatField, FlatFieldEstimator } from '../../transforms/flat_field.ts';
import { cells, meanRelError, noisy, pearson, rmse, rng, vignette } from './synth.ts';

const W = 256;
const H = 192;

/** n tiles: clean random cells x known vignette + read noise. */
function tiles(n: number, seed: number) {
  const r = rng(seed);
  const truth = vignette(W, H);
  const clean = Array.from({ length: n }, () => cells(r, W, H, 300, 10, 1500));
  const raw = clean.map((c) => noisy(r, Float32Array.from(c, (v, i) => v * truth[i]), 10));
  return { truth, clean, raw };
}

test('recovers a known vignette from tiles of random cells: r >= 0.99, mean relative error <= 2%', (t) => {
  const { truth, clean, raw } = tiles(40, 1);
  const est = new FlatFieldEstimator({ modality: 'fluorescence' });
  for (const d of raw) t.true(est.add(plane('float32', W, H, d)));
  const ff = est.finish();
  t.is(ff.selection, 'background', 'fluorescence selects background tiles by default');
  t.is(ff.images, 40, 'random cells everywhere: no tile stands out, none rejected');
  t.is(ff.rejected, 0);
  t.is(ff.skipped, 0);
  t.is(ff.sigma, H / 16);
  const r = pearson(ff.field.data, truth);
  const mre = meanRelError(ff.field.data, truth);
  t.log(`flat-field vs truth: r = ${r.toFixed(4)}, mean relative error = ${(100 * mre).toFixed(2)}%`);
  t.true(r >= 0.99, `r ${r}`);
  t.true(mre <= 0.02, `mre ${mre}`);
  let mean = 0;
  for (const v of ff.field.data) mean += v / ff.field.data.length;
  t.true(Math.abs(mean - 1) < 1e-4);
  // corrected tiles are closer to the clean (unvignetted) cells than the raw tiles
  let before = 0;
  let after = 0;
  for (let k = 0; k < 5; k++) {
    before += rmse(raw[k], clean[k]) / 5;
    after += rmse(correctFlatField(plane('float32', W, H, raw[k]), ff.field).data, clean[k]) / 5;
  }
  t.log(`tile RMSE vs clean: ${before.toFixed(1)} uncorrected -> ${after.toFixed(1)} corrected (counts; read noise 10)`);
  t.true(after < before / 3, `${before} -> ${after}`);
});

/** Tiles where tissue covers the left part (sharp border, textured): not objects at random positions. */
function tissueTiles(n: number, seed: number, truth: Float32Array) {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const c = cells(r, W, H, 300, 10, 1500);
    const edge = r.range(0.3, 0.7) * W;
    for (let y = 0; y < H; y++) for (let x = 0; x < edge; x++) c[y * W + x] += 2500 + 1500 * Math.sin(x / 7 + r.range(0, 0.3)) * Math.cos(y / 11);
    return noisy(r, Float32Array.from(c, (v, i) => v * truth[i]), 10);
  });
}

test('background selection rejects tissue-covered tiles; the field stays within r >= 0.99, error <= 2%', (t) => {
  const { truth, raw } = tiles(16, 4);
  const tissue = tissueTiles(24, 5, truth); // the majority: the lower quartile is still background
  const sel = new FlatFieldEstimator({ modality: 'fluorescence' });
  const plain = new FlatFieldEstimator({ modality: 'fluorescence', selectBackground: false });
  for (const d of [...tissue.slice(0, 12), ...raw, ...tissue.slice(12)]) sel.add(plane('float32', W, H, d)), plain.add(plane('float32', W, H, d));
  const a = sel.finish();
  const b = plain.finish();
  const r = pearson(a.field.data, truth);
  const mre = meanRelError(a.field.data, truth);
  t.log(`selected ${a.images} of 40 (${a.rejected} rejected): r = ${r.toFixed(4)}, mean relative error ${(100 * mre).toFixed(2)}%; every tile: r = ${pearson(b.field.data, truth).toFixed(4)}, ${(100 * meanRelError(b.field.data, truth)).toFixed(2)}%`);
  t.is(a.selection, 'background');
  t.is(a.images + a.rejected, 40);
  t.true(a.rejected >= 20 && a.images >= 16, `${a.images} kept`);
  t.true(r >= 0.99, `r ${r}`);
  t.true(mre <= 0.02, `mre ${mre}`);
  t.true(pearson(b.field.data, truth) < r);
  t.is(b.selection, 'all');
  t.is(b.rejected, 0);
});

test('background selection that keeps fewer than minImages falls back to every usable tile, and says so', (t) => {
  const { truth, raw } = tiles(1, 6);
  const est = new FlatFieldEstimator({ modality: 'fluorescence' });
  for (const d of [raw[0], ...tissueTiles(2, 7, truth)]) est.add(plane('float32', W, H, d));
  const ff = est.finish();
  t.is(ff.selection, 'fallback-all');
  t.is(ff.images, 3);
  t.is(ff.rejected, 0);
  t.throws(() => new FlatFieldEstimator({ modality: 'fluorescence', minSeparation: 0.5 }), { message: /Expected a finite number >= 1 for minSeparation but received 0.5/ });
  t.throws(() => new FlatFieldEstimator({ modality: 'fluorescence', selectBackground: 'yes' as unknown as boolean }), { message: /Expected true or false for selectBackground/ });
});

test('transmitted modality blurs with H/32; sigma can be overridden', (t) => {
  const { raw } = tiles(4, 2);
  const a = new FlatFieldEstimator({ modality: 'transmitted' });
  const b = new FlatFieldEstimator({ modality: 'transmitted', sigma: 3 });
  for (const d of raw) a.add(plane('float32', W, H, d)), b.add(plane('float32', W, H, d));
  t.is(a.finish().sigma, H / 32);
  t.is(b.finish().sigma, 3);
});

test('blank tiles (all zero, saturated) are skipped and counted; estimation still works', (t) => {
  const { truth, raw } = tiles(20, 3);
  const est = new FlatFieldEstimator({ modality: 'fluorescence' });
  t.false(est.add(plane('float32', W, H, new Float32Array(W * H))));
  for (const d of raw) est.add(plane('float32', W, H, d));
  t.false(est.add(plane('float32', W, H, new Float32Array(W * H).fill(65535))));
  const ff = est.finish();
  t.is(ff.images, 20);
  t.is(ff.skipped, 2);
  t.true(pearson(ff.field.data, truth) > 0.99);
});

test('bad input: one tile, only blank tiles, mixed sizes, NaN, bad options', (t) => {
  const one = new FlatFieldEstimator({ modality: 'fluorescence' });
  one.add(plane('float32', 8, 8, Float32Array.from({ length: 64 }, (_, i) => i)));
  t.throws(() => one.finish(), { message: /needs at least 2 non-blank tiles sharing the illumination but got 1 \(0 blank skipped\)/ });
  const blank = new FlatFieldEstimator({ modality: 'fluorescence' });
  blank.add(plane('float32', 8, 8));
  blank.add(plane('float32', 8, 8));
  t.throws(() => blank.finish(), { message: /got 0 \(2 blank skipped\)/ });
  const mixed = new FlatFieldEstimator({ modality: 'fluorescence' });
  mixed.add(plane('float32', 8, 8, Float32Array.from({ length: 64 }, (_, i) => i)));
  t.throws(() => mixed.add(plane('float32', 8, 9, Float32Array.from({ length: 72 }, (_, i) => i)), 'tile_r0_c1.tif'), { message: /tile_r0_c1\.tif: tile is 8x9 but the others are 8x8; all images in one estimation set must have the same size/ });
  const d = Float32Array.from({ length: 64 }, (_, i) => i);
  d[9] = NaN;
  t.throws(() => mixed.add(plane('float32', 8, 8, d)), { message: /non-finite value \(NaN\) at pixel \(1, 1\)/ });
  t.throws(() => new FlatFieldEstimator({ modality: 'brightfield' as 'transmitted' }), { message: /Expected 'fluorescence' or 'transmitted' for modality but received "brightfield"/ });
  t.throws(() => correctFlatField(plane('float32', 4, 4), plane('float32', 4, 4), { clip: [1, 0] }), { message: /for clip but received "\[1, 0\]"/ });
  t.throws(() => correctFlatField(plane('float32', 4, 4), plane('float32', 5, 4)), { message: /image to correct is 4x4 but the others are 5x4/ });
});

test('correctFlatField divides and clips to the given range', (t) => {
  const p = plane('float32', 4, 1, Float32Array.of(-5, 100, 50000, 100));
  const f = plane('float32', 4, 1, Float32Array.of(1, 0.5, 0.5, 0));
  t.deepEqual(Array.from(correctFlatField(p, f).data), [0, 200, 65535, 65535]); // field 0 -> divide by minField (1e-3)
  t.deepEqual(Array.from(correctFlatField(p, f, { clip: [0, 1000] }).data), [0, 200, 1000, 1000]);
});
