/** Object outlines drawn over a grey image, to show true vs predicted segmentations. */
import type { Plane } from '../../core/image.ts';
import type { Labels } from './components.ts';
import type { RgbImage } from './error_image.ts';

/** True where pixel i of `l` differs from one of its 4 neighbours inside the w x h top-left region. */
function isEdge(l: Labels, x: number, y: number, w: number, h: number): boolean {
  const v = l.data[y * l.width + x];
  if (!v) return false;
  return (x > 0 && l.data[y * l.width + x - 1] !== v) || (x < w - 1 && l.data[y * l.width + x + 1] !== v) || (y > 0 && l.data[(y - 1) * l.width + x] !== v) || (y < h - 1 && l.data[(y + 1) * l.width + x] !== v);
}

/**
 * Draws object outlines over the top-left region of `base` (the size of `base`): true objects in
 * green, predicted objects in magenta, white where both outlines coincide.
 * @param base grey image (a top-left crop of the true image), canonical intensities.
 * @param gain display gain for `base`.
 * @param truth true labels of the full image (only the crop region is drawn).
 * @param pred predicted labels of the full image.
 */
export function outlineImage(base: Plane<'float32'>, gain: number, truth: Labels, pred: Labels): RgbImage {
  const { width: w, height: h } = base;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const g = Math.round(255 * Math.max(0, Math.min(1, base.data[i] * gain)) * 0.7);
      const t = isEdge(truth, x, y, w, h);
      const p = isEdge(pred, x, y, w, h);
      const rgb = t && p ? [255, 255, 255] : t ? [0, 230, 0] : p ? [255, 0, 255] : [g, g, g];
      out.set(rgb, i * 3);
    }
  }
  return { width: w, height: h, data: out };
}
