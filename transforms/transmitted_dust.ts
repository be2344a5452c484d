/**
 * Multiplicative dust in transmitted light (paper, STAR Methods): dust on the optics shades every
 * image of a set the same way. The per-pixel median over the images sharing the pattern (cells
 * move, dust stays), normalized to mean 1 and not blurred, is the pattern; images are divided by
 * it and clipped. The pattern also holds the slow illumination falloff, so for these images it
 * does the flat-field's job too.
 *
 * Streaming and accuracy as `PixelQuantiles` (transforms/pixel_stats.ts).
 */
import { badOption, IslError } from '../core/errors.ts';
import type { Plane } from '../core/image.ts';
import { divideAndClip, normalizeToMeanOne, type CorrectOptions } from './flat_field.ts';
import { PixelQuantiles, type PixelQuantilesOptions } from './pixel_stats.ts';
import { isConstant, requireFinite, requireSameSize } from './validate.ts';

export interface TransmittedDustOptions extends PixelQuantilesOptions {
  /** Fewest usable images (default 2). A median over few images keeps moving cells: use many. */
  minImages?: number;
}

export interface TransmittedDust {
  /** Multiplicative pattern, mean 1. */
  field: Plane<'float32'>;
  images: number;
  /** Blank (constant) images skipped. */
  skipped: number;
}

/** Streaming estimator of the multiplicative dust pattern: `add` images, then `finish`. */
export class TransmittedDustEstimator {
  private readonly stats: PixelQuantiles;
  private readonly minImages: number;
  private skipped = 0;

  constructor(opts: TransmittedDustOptions = {}) {
    const { minImages = 2 } = opts;
    if (!Number.isInteger(minImages) || minImages < 1) throw badOption('minImages', 'a positive integer', minImages);
    this.minImages = minImages;
    this.stats = new PixelQuantiles(opts);
  }

  /**
   * Adds one image; blank (constant) images are skipped and counted. Returns whether it was used.
   * @throws IslError BAD_INPUT for NaN/Infinity or a size different from the first image.
   */
  add(p: Plane<'float32'>, source?: string): boolean {
    if (this.stats.count > 0) requireSameSize(p, this.stats, 'image', source);
    if (isConstant(p)) {
      requireFinite(p, 'image', source);
      this.skipped++;
      return false;
    }
    this.stats.add(p, source);
    return true;
  }

  /** @throws IslError BAD_INPUT with fewer than `minImages` usable images or a dark median. */
  finish(): TransmittedDust {
    const n = this.stats.count;
    if (n < this.minImages) {
      throw new IslError('BAD_INPUT', `transmitted dust estimation needs at least ${this.minImages} non-blank images sharing the pattern but got ${n} (${this.skipped} blank skipped)`);
    }
    return { field: normalizeToMeanOne(this.stats.quantile(0.5), 'transmitted dust pattern'), images: n, skipped: this.skipped };
  }
}

/** Divides by the dust pattern and clips (see `CorrectOptions`). */
export function correctTransmittedDust(p: Plane<'float32'>, field: Plane<'float32'>, opts: CorrectOptions = {}): Plane<'float32'> {
  return divideAndClip(p, field, opts);
}
