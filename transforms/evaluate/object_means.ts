/** Mean intensity of an image inside each labelled object. */
import { IslError } from '../../core/errors.ts';
import type { Plane } from '../../core/image.ts';
import type { Labels } from './components.ts';

/**
 * @param labels objects 1..count.
 * @param p image of the same shape.
 * @returns Float64Array of length count + 1 (index 0 = background); NaN for an object with no pixel.
 * @throws IslError BAD_INPUT when shapes differ.
 */
export function objectMeans(labels: Labels, p: Plane<'float32'>): Float64Array {
  if (labels.width !== p.width || labels.height !== p.height) throw new IslError('BAD_INPUT', `Expected an image of ${labels.width}x${labels.height} like the labels but it is ${p.width}x${p.height}`);
  const sum = new Float64Array(labels.count + 1);
  const n = new Float64Array(labels.count + 1);
  for (let i = 0; i < labels.data.length; i++) {
    sum[labels.data[i]] += p.data[i];
    n[labels.data[i]]++;
  }
  for (let k = 0; k < sum.length; k++) sum[k] = n[k] ? sum[k] / n[k] : NaN;
  return sum;
}
