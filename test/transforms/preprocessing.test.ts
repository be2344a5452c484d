/**
 * The bioimage.io preprocessing ops (transforms/preprocessing.ts) and their parsing from a
 * description (model/bioimageio/description.ts), against values worked out by hand on a
 * 2-channel 2x3 sample: channel 0 holds 1..6, channel 1 holds 10..60.
 */
import test from 'ava';
import { IslError } from '../../core/errors.ts';
import { preprocessingSteps, type TensorDescription } from '../../model/bioimageio/description.ts';
import { applyPreprocessing, type PreprocessingStep, type SampleTensor } from '../../transforms/preprocessing.ts';

const T: SampleTensor = { channels: 2, height: 2, width: 3, data: Float32Array.of(1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60) };
const run = (...steps: PreprocessingStep[]) => [...applyPreprocessing(T, steps).data];

function close(t: any, got: number[], want: number[], tol = 1e-5): void {
  t.is(got.length, want.length);
  const worst = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
  t.true(worst <= tol, `got ${got.map((v) => v.toFixed(6))}, want ${want.map((v) => v.toFixed(6))}`);
}

test('scale_linear: one gain/offset, or one per channel', (t) => {
  close(t, run({ id: 'scale_linear', gain: 2, offset: 1 }), [3, 5, 7, 9, 11, 13, 21, 41, 61, 81, 101, 121]);
  close(t, run({ id: 'scale_linear', gain: [2, 0.5], offset: [1, -1] }), [3, 5, 7, 9, 11, 13, 4, 9, 14, 19, 24, 29]);
  const e = t.throws(() => run({ id: 'scale_linear', gain: [1, 2, 3], offset: 0 }));
  t.true(IslError.is(e, 'BAD_OPTION'));
});

test('fixed_zero_mean_unit_variance (per-dataset statistics, given): (v - mean) / (std + eps)', (t) => {
  close(t, run({ id: 'fixed_zero_mean_unit_variance', mean: [3.5, 35], std: [1, 10], eps: 0 }), [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
  // eps adds to the std: std 1 + eps 1 halves the values.
  close(t, run({ id: 'fixed_zero_mean_unit_variance', mean: 3.5, std: 1, eps: 1 }).slice(0, 6), [-1.25, -0.75, -0.25, 0.25, 0.75, 1.25]);
});

test('zero_mean_unit_variance (per-sample statistics): the axes reduced decide the groups; population std; eps', (t) => {
  // Over y, x (one mean and std per channel): 1..6 has mean 3.5, variance 17.5 / 6; 10..60 is 10x that.
  const s = Math.sqrt(17.5 / 6);
  const perChannel = [1, 2, 3, 4, 5, 6].map((v) => (v - 3.5) / s);
  close(t, run({ id: 'zero_mean_unit_variance', reduce: [false, true, true], eps: 0 }), [...perChannel, ...perChannel]);
  // Over everything: mean 231 / 12 = 19.25, mean of squares (91 + 9100) / 12.
  const m = 19.25;
  const sd = Math.sqrt(9191 / 12 - m * m);
  close(t, run({ id: 'zero_mean_unit_variance', reduce: [true, true, true], eps: 0 }), [...T.data].map((v) => (v - m) / sd));
  // Over the channel only (per pixel): (v, 10v) has mean 5.5v and std 4.5v -> -1 and +1 everywhere.
  close(t, run({ id: 'zero_mean_unit_variance', reduce: [true, false, false], eps: 0 }), [-1, -1, -1, -1, -1, -1, 1, 1, 1, 1, 1, 1]);
  // eps: std + 1.
  close(t, run({ id: 'zero_mean_unit_variance', reduce: [false, true, true], eps: 1 }).slice(0, 6), [1, 2, 3, 4, 5, 6].map((v) => (v - 3.5) / (s + 1)));
});

test('scale_range: numpy linear percentiles per group, (v - lo) / (hi - lo + eps)', (t) => {
  // 0 / 100: min and max per channel: (v - 1) / 5 and (v - 10) / 50.
  const unit = [0, 0.2, 0.4, 0.6, 0.8, 1];
  close(t, run({ id: 'scale_range', reduce: [false, true, true], minPercentile: 0, maxPercentile: 100, eps: 0 }), [...unit, ...unit]);
  // 10 / 90 of 1..6: positions 0.5 and 4.5 -> 1.5 and 5.5; (v - 1.5) / 4.
  close(t, run({ id: 'scale_range', reduce: [false, true, true], minPercentile: 10, maxPercentile: 90, eps: 0 }).slice(0, 6), [-0.125, 0.125, 0.375, 0.625, 0.875, 1.125]);
  // Over everything 0 / 100: (v - 1) / 59.
  close(t, run({ id: 'scale_range', reduce: [true, true, true], minPercentile: 0, maxPercentile: 100, eps: 0 }), [...T.data].map((v) => (v - 1) / 59));
  // A constant sample: hi = lo, eps keeps it finite (0 / eps).
  const flat = applyPreprocessing({ channels: 1, height: 1, width: 3, data: Float32Array.of(7, 7, 7) }, [{ id: 'scale_range', reduce: [true, true, true], minPercentile: 0, maxPercentile: 100, eps: 1e-6 }]);
  t.deepEqual([...flat.data], [0, 0, 0]);
  t.true(IslError.is(t.throws(() => run({ id: 'scale_range', reduce: [true, true, true], minPercentile: 90, maxPercentile: 10, eps: 0 })), 'BAD_OPTION'));
});

test('clip and sigmoid', (t) => {
  close(t, run({ id: 'clip', min: 2, max: 40 }), [2, 2, 3, 4, 5, 6, 10, 20, 30, 40, 40, 40]);
  close(t, run({ id: 'clip', max: 3 }).slice(0, 6), [1, 2, 3, 3, 3, 3]);
  const s = applyPreprocessing({ channels: 1, height: 1, width: 3, data: Float32Array.of(0, 1, -2) }, [{ id: 'sigmoid' }]);
  close(t, [...s.data], [0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(2))], 1e-7);
});

test('steps run in order (zero mean/unit variance, then x 0.125 + 0.5, then clip: our canonical transmitted light)', (t) => {
  const s = Math.sqrt(17.5 / 6);
  const want = [1, 2, 3, 4, 5, 6].map((v) => Math.min(1, Math.max(0, ((v - 3.5) / s) * 0.125 + 0.5)));
  close(t, run({ id: 'zero_mean_unit_variance', reduce: [false, true, true], eps: 0 }, { id: 'scale_linear', gain: 0.125, offset: 0.5 }, { id: 'clip', min: 0, max: 1 }).slice(0, 6), want);
});

const input = (preprocessing: { id: string; kwargs?: Record<string, unknown> }[]): TensorDescription =>
  ({ id: 'raw', axes: [{ type: 'batch' }, { type: 'channel', channel_names: ['a', 'b'] }, { type: 'space', id: 'y', size: 8 }, { type: 'space', id: 'x', size: 8 }], preprocessing }) as TensorDescription;

test('descriptions: axes become the reduced axes, defaults per the spec, unknown ops and axes are BAD_INPUT naming the file', (t) => {
  const steps = preprocessingSteps(
    input([
      { id: 'ensure_dtype', kwargs: { dtype: 'float32' } },
      { id: 'zero_mean_unit_variance', kwargs: { axes: ['x', 'y'] } },
      { id: 'zero_mean_unit_variance' },
      { id: 'scale_range', kwargs: { axes: ['batch', 'channel'], min_percentile: 1, max_percentile: 99.8 } },
      { id: 'scale_linear', kwargs: { gain: [2, 3], axis: 'channel' } },
    ]),
    'pkg:bioimageio.yaml',
  );
  t.deepEqual(steps, [
    { id: 'zero_mean_unit_variance', reduce: [false, true, true], eps: 1e-6 },
    { id: 'zero_mean_unit_variance', reduce: [true, true, true], eps: 1e-6 },
    { id: 'scale_range', reduce: [true, false, false], minPercentile: 1, maxPercentile: 99.8, eps: 1e-6 },
    { id: 'scale_linear', gain: [2, 3], offset: 0 },
  ]);
  for (const [p, why] of [
    [{ id: 'binarize', kwargs: { threshold: 0.5 } }, /binarize is not supported/],
    [{ id: 'zero_mean_unit_variance', kwargs: { axes: ['z'] } }, /names axis z, which the input does not have/],
    [{ id: 'ensure_dtype', kwargs: { dtype: 'uint8' } }, /ensure_dtype to uint8 \(only float32\)/],
    [{ id: 'scale_linear', kwargs: { gain: 2, axis: 'y' } }, /along axis y/],
  ] as const) {
    const e = t.throws(() => preprocessingSteps(input([p]), 'pkg:bioimageio.yaml'));
    t.true(IslError.is(e, 'BAD_INPUT'));
    t.is((e as IslError).file, 'pkg:bioimageio.yaml');
    t.regex(e!.message, why);
  }
});
