/**
 * z-projection of a stack to one plane: the paper's training targets are the per-pixel 90th
 * percentile across z of the fluorescence stacks (robust to one out-of-focus bright plane, unlike
 * a maximum projection).
 */
import { badOption } from '../core/errors.ts';
import { stackPlane, type Plane, type ZStack } from '../core/image.ts';
import { exactQuantile } from './pixel_stats.ts';
import { requireFinite } from './validate.ts';

/**
 * Per-pixel q-quantile across the z planes of `stack` (q = 0.9 for the paper's targets), exact,
 * with linear interpolation between order statistics (numpy's default), so q = 1 is the maximum
 * projection and a one-plane stack returns that plane.
 * @throws IslError BAD_OPTION for q outside [0, 1]; BAD_INPUT for NaN/Infinity in the stack.
 */
export function projectPercentile(stack: ZStack, q = 0.9): Plane<'float32'> {
  if (!(q >= 0 && q <= 1)) throw badOption('q', 'a quantile in [0, 1] (0.9 = 90th percentile)', q);
  const planes: Float32Array[] = [];
  for (let z = 0; z < stack.depth; z++) {
    const p = stackPlane(stack, z);
    requireFinite(p, `z plane ${z}`);
    planes.push(p.data);
  }
  return exactQuantile(planes, stack.width, stack.height, q);
}
