/** Synthetic ground truth for the transform tests: vignettes, random cell textures, dust disks. */
import { rng, type Rng } from '../../core/random.ts';
import { plane, type Plane } from '../../core/image.ts';

/** Smooth vignette, mean 1: 1 - a r^2 plus a tilt, r normalized to the half-diagonal. */
export function vignette(W: number, H: number, strength = 0.45, tilt = 0.1): Float32Array {
  const f = new Float32Array(W * H);
  const cx = W * 0.55;
  const cy = H * 0.45;
  const R2 = (W * W + H * H) / 4;
  let s = 0;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const r2 = ((x - cx) ** 2 + (y - cy) ** 2) / R2;
      const v = (1 - strength * r2) * (1 + (tilt * (x - W / 2)) / W);
      f[y * W + x] = v;
      s += v;
    }
  for (let i = 0; i < f.length; i++) f[i] /= s / f.length;
  return f;
}

/** Clean "cells" canvas: background level plus random bright Gaussian blobs (different per seed). */
export function cells(r: Rng, W: number, H: number, background = 200, count = 12, amplitude = 800): Float32Array {
  const c = new Float32Array(W * H).fill(background);
  for (let k = 0; k < count; k++) {
    const cx = r.range(0, W);
    const cy = r.range(0, H);
    const s = r.range(3, 9);
    const a = r.range(0.3, 1) * amplitude;
    const R = Math.ceil(3 * s);
    for (let y = Math.max(0, Math.floor(cy - R)); y < Math.min(H, cy + R); y++)
      for (let x = Math.max(0, Math.floor(cx - R)); x < Math.min(W, cx + R); x++) c[y * W + x] += a * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
  }
  return c;
}

/** Disks of given centres/radii: 1 inside, 0 outside. */
export function disks(W: number, H: number, list: ReadonlyArray<readonly [number, number, number]>): Uint8Array {
  const m = new Uint8Array(W * H);
  for (const [cx, cy, rad] of list)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= rad * rad) m[y * W + x] = 1;
  return m;
}

/** Adds Gaussian read noise of sd `sd` (deterministic with r). */
export function noisy(r: Rng, d: Float32Array, sd: number): Float32Array {
  return Float32Array.from(d, (v) => v + sd * r.normal());
}

export function f32(W: number, H: number, d: Float32Array): Plane<'float32'> {
  return plane('float32', W, H, d);
}

export { pearson } from '../../transforms/evaluate/pearson.ts';

export function meanRelError(est: ArrayLike<number>, truth: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < est.length; i++) s += Math.abs(est[i] - truth[i]) / Math.abs(truth[i]);
  return s / est.length;
}

export function rmse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

export function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return inter / union;
}

export { rng };
