/**
 * Registration input: a tile minus its local box mean. Removing structure coarser than the box
 * removes vignetting and uneven background, which otherwise correlate (or anti-correlate) across
 * every overlap whatever the content, and would swamp both the match and the null NCCs.
 */
import { badOption } from '../../io/errors.ts';
import { plane, type Plane } from '../../io/image.ts';

/** Running-sum box mean along each row (window 2r+1, shrunk at the borders). */
function boxRows(src: Float32Array, dst: Float32Array, w: number, h: number, r: number): void {
  for (let y = 0; y < h; y++) {
    const o = y * w;
    let s = 0;
    for (let k = 0; k <= Math.min(w - 1, r); k++) s += src[o + k];
    for (let x = 0; x < w; x++) {
      dst[o + x] = s / (Math.min(w - 1, x + r) - Math.max(0, x - r) + 1);
      if (x + r + 1 < w) s += src[o + x + r + 1];
      if (x - r >= 0) s -= src[o + x - r];
    }
  }
}

/** Running-sum box mean down the columns, row by row so memory is read contiguously. */
function boxCols(src: Float32Array, dst: Float32Array, w: number, h: number, r: number): void {
  const sum = new Float64Array(w);
  for (let k = 0; k <= Math.min(h - 1, r); k++) for (let x = 0; x < w; x++) sum[x] += src[k * w + x];
  for (let y = 0; y < h; y++) {
    const inv = 1 / (Math.min(h - 1, y + r) - Math.max(0, y - r) + 1);
    const o = y * w;
    for (let x = 0; x < w; x++) dst[o + x] = sum[x] * inv;
    if (y + r + 1 < h) for (let x = 0, a = (y + r + 1) * w; x < w; x++) sum[x] += src[a + x];
    if (y - r >= 0) for (let x = 0, b = (y - r) * w; x < w; x++) sum[x] -= src[b + x];
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
  boxRows(p.data, t, w, h, radius);
  boxCols(t, m, w, h, radius);
  for (let i = 0; i < m.length; i++) m[i] = p.data[i] - m[i];
  return plane('float32', w, h, m);
}
