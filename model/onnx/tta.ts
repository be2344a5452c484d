/**
 * Test-time augmentation: predicts the 8 flips / 90-degree rotations of a z-stack
 * (transforms/dihedral.ts, the same transforms training augments with), maps each prediction back
 * to the original frame and averages the statistic maps per pixel.
 *
 * What is averaged: the per-pixel statistics (median, mean, mode, std, entropy), not the 256-bin
 * distributions (which never leave ONNX Runtime). For `mean` that is exactly the mean of the
 * mixture of the 8 distributions; for the others it is the average of the 8 values. The average
 * over the whole group makes the prediction exactly equivariant: predicting a flipped image gives
 * the flipped prediction. Cost: 8 predictions.
 */
import { badOption } from '../../core/errors.ts';
import type { ZStack } from '../../core/image.ts';
import { DIHEDRAL_COUNT, transformStack, untransformPlane } from '../../transforms/dihedral.ts';
import { predictStack, type InferenceModel, type Prediction, type PredictStackOptions } from './infer.ts';

/**
 * {@link predictStack} averaged over the 8 dihedral transforms of `stack` (fast mode, whole images).
 * @throws IslError BAD_OPTION for `mode: 'exact'` (key `tta`).
 */
export async function predictStackTta(model: InferenceModel, stack: ZStack, opts: Pick<PredictStackOptions, 'mode' | 'tile' | 'onPass'> = {}): Promise<Prediction> {
  if (opts.mode === 'exact') throw badOption('tta', 'off with mode exact (test-time augmentation averages fast-mode predictions)', true);
  const { width, height } = stack;
  const sums = new Map(model.heads.map((h) => [h, new Map(model.statistics.map((s) => [s, new Float64Array(width * height)]))]));
  for (let r = 0; r < DIHEDRAL_COUNT; r++) {
    const pred = await predictStack(model, transformStack(stack, r), {
      mode: 'fast',
      tile: opts.tile,
      onPass: opts.onPass && ((done, total) => opts.onPass!(r * total + done, DIHEDRAL_COUNT * total)),
    });
    for (const [h, maps] of pred)
      for (const [s, map] of maps) {
        const back = untransformPlane(map, width, height, r);
        const sum = sums.get(h)!.get(s)!;
        for (let i = 0; i < sum.length; i++) sum[i] += back[i];
      }
  }
  return new Map([...sums].map(([h, maps]) => [h, new Map([...maps].map(([s, sum]) => [s, Float32Array.from(sum, (v) => v / DIHEDRAL_COUNT)]))]));
}
