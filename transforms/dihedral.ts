/**
 * The 8 symmetries of the square (the dihedral group D4: identity, 3 rotations, 4 reflections)
 * as index maps over row-major planes. Training augmentation (model/trainer.ts) and test-time
 * augmentation (model/onnx/tta.ts) both use them, so both mean the same transform by the same id.
 *
 * Transform `r` in 0..7: bit 0 transposes, bit 1 flips rows (y), bit 2 flips columns (x). Output
 * pixel (a, b) takes the source pixel (y, x) with y = transposed ? b : a, x = transposed ? a : b,
 * then y -> h - 1 - y (bit 1) and x -> w - 1 - x (bit 2), h x w being the source's size.
 */
import type { ZStack } from '../core/image.ts';

/** Number of transforms: ids 0..7, 0 being the identity. */
export const DIHEDRAL_COUNT = 8;

/**
 * Source index of output pixel (a, b) under transform `r` of an `height x width` source region
 * stored with row pitch `pitch` (default `width`): `y * pitch + x`.
 */
export function dihedralSource(r: number, height: number, width: number, pitch = width): (a: number, b: number) => number {
  if (!Number.isInteger(r) || r < 0 || r >= DIHEDRAL_COUNT) throw new RangeError(`Expected a dihedral transform id in 0..7 but received ${r}`);
  const transpose = (r & 1) === 1;
  const flipY = (r & 2) === 2;
  const flipX = (r & 4) === 4;
  return (a, b) => {
    let y = transpose ? b : a;
    let x = transpose ? a : b;
    if (flipY) y = height - 1 - y;
    if (flipX) x = width - 1 - x;
    return y * pitch + x;
  };
}

/** Size of the image that transform `r` makes of a `width x height` one. */
export function dihedralSize(r: number, width: number, height: number): { width: number; height: number } {
  return r & 1 ? { width: height, height: width } : { width, height };
}

/** Transform `r` of a `width x height` plane: a new plane of {@link dihedralSize}. */
export function transformPlane(data: Float32Array, width: number, height: number, r: number): Float32Array {
  const src = dihedralSource(r, height, width);
  const o = dihedralSize(r, width, height);
  const out = new Float32Array(data.length);
  for (let a = 0; a < o.height; a++) for (let b = 0; b < o.width; b++) out[a * o.width + b] = data[src(a, b)];
  return out;
}

/**
 * Undoes transform `r`: `data` is a plane of the transformed image, the result is in the frame of
 * the `width x height` original (the exact inverse of {@link transformPlane}).
 */
export function untransformPlane(data: Float32Array, width: number, height: number, r: number): Float32Array {
  const src = dihedralSource(r, height, width);
  const o = dihedralSize(r, width, height);
  const out = new Float32Array(data.length);
  for (let a = 0; a < o.height; a++) for (let b = 0; b < o.width; b++) out[src(a, b)] = data[a * o.width + b];
  return out;
}

/** Transform `r` of every plane of a z-stack. */
export function transformStack(stack: ZStack, r: number): ZStack {
  const n = stack.width * stack.height;
  const data = new Float32Array(stack.data.length);
  for (let z = 0; z < stack.depth; z++) data.set(transformPlane(stack.data.subarray(z * n, (z + 1) * n), stack.width, stack.height, r), z * n);
  return { ...dihedralSize(r, stack.width, stack.height), depth: stack.depth, data };
}
