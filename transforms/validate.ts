/**
 * Input checks shared by the transforms, so every one rejects bad planes with the same wording.
 * Errors are `IslError('BAD_INPUT')`; `source` (a file path, when the caller knows it) is named.
 */
import { IslError } from '../core/errors.ts';
import type { Plane } from '../core/image.ts';

/** Throws if the plane holds NaN or +-Infinity (float input only can), naming the first bad pixel. */
export function requireFinite(p: Plane<'float32'>, what: string, source?: string): void {
  const d = p.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    // v - v is NaN for NaN and +-Infinity, 0 otherwise: one cheap test for both.
    if (v - v !== 0) {
      const x = i % p.width;
      const y = (i - x) / p.width;
      throw new IslError('BAD_INPUT', `${what} has a non-finite value (${v}) at pixel (${x}, ${y}); replace NaN/Infinity before this step`, { file: source });
    }
  }
}

/** Throws unless `p` has the same width and height as `ref`. */
export function requireSameSize(p: Plane, ref: { width: number; height: number }, what: string, source?: string): void {
  if (p.width !== ref.width || p.height !== ref.height) {
    throw new IslError('BAD_INPUT', `${what} is ${p.width}x${p.height} but the others are ${ref.width}x${ref.height}; all images in one estimation set must have the same size`, { file: source });
  }
}

/** True when every pixel has the same value (all zero, all saturated, or any other blank frame). */
export function isConstant(p: Plane<'float32'>): boolean {
  const d = p.data;
  const v0 = d[0];
  for (let i = 1; i < d.length; i++) if (d[i] !== v0) return false;
  return true;
}
