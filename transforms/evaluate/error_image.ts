/**
 * The paper's error image: where prediction and truth agree the pixel is grey (white where both
 * are bright); where the prediction is too bright it turns magenta (false positive) and where it
 * is too dark, teal (false negative). Christiansen et al., Cell 2018, Figures 2-4.
 */
import sharp from 'sharp';
import type { Plane } from '../../core/image.ts';
import { assertSameShape } from './shape.ts';

/** Colour added per unit of over-prediction (false positive): magenta. */
export const FALSE_POSITIVE_RGB = [1, 0, 1] as const;
/** Colour added per unit of under-prediction (false negative): teal. */
export const FALSE_NEGATIVE_RGB = [0, 0.8, 0.8] as const;

/** An 8-bit interleaved RGB image. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** RGBRGB..., row-major, length width * height * 3. */
  readonly data: Uint8Array;
}

/**
 * Builds the error image of two equally shaped planes. Per pixel, with t and p the true and
 * predicted intensities times `gain`, clipped to [0, 1]:
 * RGB = min(t, p) * (1, 1, 1) + max(p - t, 0) * magenta + max(t - p, 0) * teal.
 * So agreement keeps the shared intensity in grey, and each error adds its colour in proportion
 * to its size.
 *
 * @param truth true image (usually the top-left crop), canonical intensities.
 * @param pred predicted image, same shape.
 * @param gain display gain applied to both before colouring; default 1 (see `displayGain`).
 * @returns 8-bit RGB.
 * @throws IslError BAD_INPUT when the shapes differ.
 */
export function errorImage(truth: Plane<'float32'>, pred: Plane<'float32'>, gain = 1): RgbImage {
  assertSameShape(truth, pred, 'truth', 'prediction');
  const n = truth.data.length;
  const out = new Uint8Array(n * 3);
  const clip = (v: number): number => (v > 0 ? (v < 1 ? v : 1) : 0);
  for (let i = 0; i < n; i++) {
    const t = clip(truth.data[i] * gain);
    const p = clip(pred.data[i] * gain);
    const shared = Math.min(t, p);
    const over = p > t ? p - t : 0;
    const under = t > p ? t - p : 0;
    for (let c = 0; c < 3; c++) {
      out[i * 3 + c] = Math.round(255 * clip(shared + over * FALSE_POSITIVE_RGB[c] + under * FALSE_NEGATIVE_RGB[c]));
    }
  }
  return { width: truth.width, height: truth.height, data: out };
}

/** PNG bytes of an RGB image. */
export function rgbPng(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

/**
 * PNG bytes of a grey plane for display: value * gain, clipped to [0, 1], as 8 bits.
 * @param p canonical intensities.
 * @param gain display gain; default 1.
 */
export function greyPng(p: Plane<'float32'>, gain = 1): Promise<Buffer> {
  const out = new Uint8Array(p.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = p.data[i] * gain;
    out[i] = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
  }
  return sharp(out, { raw: { width: p.width, height: p.height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}
