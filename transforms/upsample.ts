/** Bilinear upsampling of block values back to the full image. */
import { plane, type Plane } from '../core/image.ts';

/**
 * Upsamples `p`, one value per `f` x `f` block, to `W` x `H` by bilinear interpolation: block j's
 * centre is at fine coordinate (j + 0.5) f - 0.5; values are held flat beyond the outer centres.
 */
export function upsampleBlocks(p: Plane<'float32'>, f: number, W: number, H: number): Plane<'float32'> {
  const { width: cw, height: ch, data: d } = p;
  const out = plane('float32', W, H);
  const o = out.data;
  const x0 = new Int32Array(W);
  const x1 = new Int32Array(W);
  const fx = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const t = Math.min(Math.max((x + 0.5) / f - 0.5, 0), cw - 1);
    x0[x] = Math.floor(t);
    x1[x] = Math.min(x0[x] + 1, cw - 1);
    fx[x] = t - x0[x];
  }
  for (let y = 0; y < H; y++) {
    const t = Math.min(Math.max((y + 0.5) / f - 0.5, 0), ch - 1);
    const y0 = Math.floor(t);
    const y1 = Math.min(y0 + 1, ch - 1);
    const fy = t - y0;
    const r0 = y0 * cw;
    const r1 = y1 * cw;
    for (let x = 0; x < W; x++) {
      const a = d[r0 + x0[x]] + fx[x] * (d[r0 + x1[x]] - d[r0 + x0[x]]);
      const b = d[r1 + x0[x]] + fx[x] * (d[r1 + x1[x]] - d[r1 + x0[x]]);
      o[y * W + x] = a + fy * (b - a);
    }
  }
  return out;
}
