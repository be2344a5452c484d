/**
 * Exact Euclidean distance transform (Felzenszwalb & Huttenlocher's lower envelope of parabolas,
 * one pass over columns and one over rows).
 *
 * References:
 * 1. P. F. Felzenszwalb, D. P. Huttenlocher, "Distance Transforms of Sampled Functions",
 *    Theory of Computing 8, 2012. doi:10.4086/toc.2012.v008a019
 */
import { IslError } from '../../core/errors.ts';

const BIG = 1e20;

/** Squared distance transform of one sampled function f (length n), in place into d. */
function edt1d(f: Float64Array, n: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    let s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    while (s <= z[k]) {
      k--;
      s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    d[q] = (q - v[k]) * (q - v[k]) + f[v[k]];
  }
}

/**
 * Distance of every foreground pixel to the nearest background pixel, px (0 on background).
 * As in scipy's `distance_transform_edt`, pixels outside the image are not background, so a
 * nucleus cut by the border is not shrunk towards it. A mask without background gets a very
 * large distance everywhere (1e10).
 *
 * @param mask row-major, non-zero = foreground.
 * @param width px.
 * @param height px.
 * @returns Float32Array of distances, px.
 */
export function distanceTransform(mask: ArrayLike<number>, width: number, height: number): Float32Array {
  if (mask.length !== width * height) throw new IslError('BAD_INPUT', `Expected a mask of ${width * height} pixels for ${width}x${height} but received ${mask.length}`);
  const n = Math.max(width, height);
  const f = new Float64Array(n);
  const d = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  const sq = new Float64Array(width * height);
  for (let i = 0; i < sq.length; i++) sq[i] = mask[i] ? BIG : 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) f[y] = sq[y * width + x];
    edt1d(f, height, d, v, z);
    for (let y = 0; y < height; y++) sq[y * width + x] = d[y];
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) f[x] = sq[y * width + x];
    edt1d(f, width, d, v, z);
    for (let x = 0; x < width; x++) out[y * width + x] = Math.sqrt(Math.min(d[x], 1e20));
  }
  return out;
}
