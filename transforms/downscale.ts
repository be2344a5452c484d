/**
 * 2x bilinear downscale: the paper halves every image to reduce shot noise.
 *
 * For an exact factor of 2, bilinear sampling at the output pixel centres (input coordinate
 * 2x + 0.5) lands midway between four input pixels, so it is the mean of each 2x2 block (what
 * OpenCV's `resize(INTER_LINEAR)` returns for half size). An odd last row or column has no
 * partner and is dropped: output is floor(W/2) x floor(H/2).
 */
import { IslError } from '../core/errors.ts';
import { plane, type Plane } from '../core/image.ts';

/**
 * Halves width and height by averaging 2x2 blocks. NaN in a block makes that output NaN.
 * @throws IslError BAD_INPUT for a plane smaller than 2x2.
 */
export function downscale2x(p: Plane<'float32'>): Plane<'float32'> {
  const W = p.width;
  const w = W >> 1;
  const h = p.height >> 1;
  if (w === 0 || h === 0) throw new IslError('BAD_INPUT', `cannot downscale a ${p.width}x${p.height} image by 2: it needs at least 2x2 pixels`);
  const o = new Float32Array(w * h);
  const s = p.data;
  for (let y = 0; y < h; y++) {
    let a = 2 * y * W;
    let b = a + W;
    let k = y * w;
    for (let x = 0; x < w; x++, a += 2, b += 2, k++) o[k] = (s[a] + s[a + 1] + s[b] + s[b + 1]) * 0.25;
  }
  return plane('float32', w, h, o);
}
