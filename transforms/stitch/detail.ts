/**
 * Registration input: a tile minus its local box mean. Removing structure coarser than the box
 * removes vignetting and uneven background, which otherwise correlate (or anti-correlate) across
 * every overlap whatever the content, and would swamp both the match and the null NCCs.
 */
import { badOption } from '../../io/errors.ts';
import { plane, type Plane } from '../../io/image.ts';

/** Running-sum box mean along one axis (window 2r+1, shrunk at the borders). */
function boxLines(src: Float32Array, dst: Float32Array, lines: number, len: number, stride: number, step: number, r: number): void {
  for (let l = 0; l < lines; l++) {
    const o = l * stride;
    let s = 0;
    const hi0 = Math.min(len - 1, r);
    for (let k = 0; k <= hi0; k++) s += src[o + k * step];
    for (let k = 0; k < len; k++) {
      const lo = k - r, hi = k + r;
      dst[o + k * step] = s / (Math.min(len - 1, hi) - Math.max(0, lo) + 1);
      if (hi + 1 < len) s += src[o + (hi + 1) * step];
      if (lo >= 0) s -= src[o + lo * step];
    }
  }
}

/**
 * High-pass detail image: p - boxMean(p, radius), the box being (2 radius + 1)^2 px.
 * @param radius box half-width in px (integer >= 1)
 * @throws IslError BAD_OPTION for a radius that is not a positive integer
 */
export function detail(p: Plane<'float32'>, radius: number): Plane<'float32'> {
  if (!Number.isInteger(radius) || radius < 1) throw badOption('highPass', 'a box radius in px (integer >= 1)', radius);
  const { width: w, height: h } = p;
  const t = new Float32Array(w * h);
  const m = new Float32Array(w * h);
  boxLines(p.data, t, h, w, w, 1, radius);
  boxLines(t, m, w, h, 1, w, radius);
  for (let i = 0; i < m.length; i++) m[i] = p.data[i] - m[i];
  return plane('float32', w, h, m);
}
