/** Gaussian smoothing of a float32 plane (separable, reflected borders). */
import { IslError } from '../../core/errors.ts';
import { plane, type Plane } from '../../core/image.ts';

/**
 * Gaussian blur with standard deviation `sigma` px, kernel truncated at 3 sigma, borders
 * reflected (like scipy's mode='reflect'). sigma = 0 returns a copy.
 * @param p input plane.
 * @param sigma px, >= 0.
 * @throws IslError BAD_OPTION for a negative or non-finite sigma.
 */
export function gaussianBlur(p: Plane<'float32'>, sigma: number): Plane<'float32'> {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new IslError('BAD_OPTION', `Expected a finite sigma >= 0 (px) but received ${sigma}`);
  const { width: w, height: h } = p;
  if (sigma === 0) return plane('float32', w, h, Float32Array.from(p.data));
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  const reflect = (i: number, n: number): number => {
    if (n === 1) return 0;
    const period = 2 * n;
    i = ((i % period) + period) % period;
    return i < n ? i : period - 1 - i;
  };
  // Reflected indices only within r of a border; the interior runs without them.
  const tmp = new Float32Array(w * h);
  const src = p.data;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let acc = 0;
      if (x >= r && x < w - r) for (let j = -r; j <= r; j++) acc += k[j + r] * src[row + x + j];
      else for (let j = -r; j <= r; j++) acc += k[j + r] * src[row + reflect(x + j, w)];
      tmp[row + x] = acc;
    }
  }
  const out = plane('float32', w, h);
  const dst = out.data;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    if (y >= r && y < h - r) {
      for (let x = 0; x < w; x++) dst[row + x] = 0;
      for (let j = -r; j <= r; j++) {
        const kj = k[j + r];
        const off = row + j * w;
        for (let x = 0; x < w; x++) dst[row + x] += kj * tmp[off + x];
      }
    } else {
      for (let x = 0; x < w; x++) {
        let acc = 0;
        for (let j = -r; j <= r; j++) acc += k[j + r] * tmp[reflect(y + j, h) * w + x];
        dst[row + x] = acc;
      }
    }
  }
  return out;
}
