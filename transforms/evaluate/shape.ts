/** Shape checks shared by the evaluation transforms. */
import { IslError } from '../../core/errors.ts';
import type { Plane } from '../../core/image.ts';

/**
 * Throws unless two planes have the same width and height.
 * @param aName name of `a` in the message (e.g. "truth").
 * @param bName name of `b` in the message (e.g. "prediction").
 * @throws IslError BAD_INPUT "Expected <bName> to be WxH like <aName> but it is W'xH'".
 */
export function assertSameShape(a: Plane, b: Plane, aName: string, bName: string): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new IslError('BAD_INPUT', `Expected ${bName} to be ${a.width}x${a.height} like ${aName} but it is ${b.width}x${b.height}`);
  }
}
