/**
 * Registration input: a tile minus its local box mean. Removing structure coarser than the box
 * removes vignetting and uneven background, which otherwise correlate (or anti-correlate) across
 * every overlap whatever the content, and would swamp both the match and the null NCCs.
 */
import { badOption } from '../../core/errors.ts';
import { plane, type Plane } from '../../core/image.ts';

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

/** Scratch buffers for `detail`, each of the plane's pixel count. */
export interface DetailWork {
  readonly t: Float32Array;
  readonly s: Float32Array;
  readonly out: Float32Array;
}

/**
 * Band-pass detail image: boxMean(p, smooth) - boxMean(p, radius), boxes of (2r + 1)^2 px. The
 * small box (smooth >= 1) averages away pixel noise, which is independent between exposures and
 * only dilutes the NCC of true overlaps; smooth = 0 keeps every pixel (p - boxMean(p, radius)).
 *
 * With `clip` > 0, values are then clipped to +-clip robust standard deviations (1.4826 x the
 * median absolute value, from a sample of pixels): hot pixels and other outliers would otherwise
 * dominate the variance of an overlap and flatten its NCC peak.
 * @param radius large box half-width in px (integer >= 1)
 * @param smooth small box half-width in px (integer, 0 <= smooth < radius; default 0)
 * @param clip robust standard deviations to clip at (default 0: no clipping)
 * @param work optional buffers of p's size reused across calls (a loop over tiles then makes no
 *   garbage); the result's data is then `work.out`, overwritten by the next call
 * @throws IslError BAD_OPTION for radii or clip out of range
 */
export function detail(p: Plane<'float32'>, radius: number, smooth = 0, clip = 0, work?: DetailWork): Plane<'float32'> {
  if (!Number.isInteger(radius) || radius < 1) throw badOption('highPass', 'a box radius in px (integer >= 1)', radius);
  if (!Number.isInteger(smooth) || smooth < 0 || smooth >= radius) throw badOption('smooth', `a box radius in px (integer >= 0 and < highPass ${radius})`, smooth);
  if (!(clip >= 0)) throw badOption('clip', 'a number of standard deviations >= 0', clip);
  const { width: w, height: h } = p;
  if (work && [work.t, work.out, work.s].some((a) => a.length !== w * h)) throw badOption('work', `buffers of ${w * h} px`, work.t.length);
  const t = work?.t ?? new Float32Array(w * h);
  const m = work?.out ?? new Float32Array(w * h);
  boxRows(p.data, t, w, h, radius);
  boxCols(t, m, w, h, radius);
  if (smooth === 0) {
    for (let i = 0; i < m.length; i++) m[i] = p.data[i] - m[i];
  } else {
    const s = work?.s ?? new Float32Array(w * h);
    boxRows(p.data, t, w, h, smooth);
    boxCols(t, s, w, h, smooth);
    for (let i = 0; i < m.length; i++) m[i] = s[i] - m[i];
  }
  if (clip > 0) {
    const step = Math.max(1, Math.floor(m.length / 65536));
    const sample: number[] = [];
    for (let i = 0; i < m.length; i += step) sample.push(Math.abs(m[i]));
    sample.sort((a, b) => a - b);
    const lim = clip * 1.4826 * sample[sample.length >> 1];
    if (lim > 0) for (let i = 0; i < m.length; i++) m[i] = m[i] > lim ? lim : m[i] < -lim ? -lim : m[i];
  }
  return plane('float32', w, h, m);
}
