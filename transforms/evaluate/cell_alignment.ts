/**
 * Registers the generator's cell list to an evaluated image: the stitched well's origin in the
 * canvas is known only up to the stitcher's error, so the guessed origin is refined by the integer
 * shift that puts the most listed-nucleus pixels on foreground of the true segmentation.
 */
import type { Labels } from './components.ts';
import { cellListLabels, type CellFrame, type NucleusRecord } from './cell_list.ts';

/** A refined frame and how well it fits. */
export interface CellAlignment extends CellFrame {
  /** Fraction of listed-nucleus pixels (inside the image) that fall on true foreground, in [0, 1]. */
  readonly overlap: number;
  /** Shift applied to the guess, image px. */
  readonly shift: readonly [number, number];
}

/**
 * Searches integer shifts within `radius` px of `guess` (exhaustively, on every `stride`-th
 * listed-nucleus pixel) and returns the frame with the largest overlap.
 *
 * @param cells cell list, canvas px.
 * @param truth segmentation of the true nuclear image (foreground = label > 0).
 * @param guess starting frame (e.g. from the generator's tile positions).
 * @param radius search half-width, px; default 16.
 * @param stride pixel subsampling of the score; default 3.
 */
export function alignCellList(cells: readonly NucleusRecord[], truth: Labels, guess: CellFrame, radius = 16, stride = 3): CellAlignment {
  const { width, height } = truth;
  const listed = cellListLabels(cells, width, height, guess);
  const xs: number[] = [];
  const ys: number[] = [];
  let k = 0;
  for (let i = 0; i < listed.data.length; i++) {
    if (!listed.data[i] || k++ % stride) continue;
    xs.push(i % width);
    ys.push(Math.floor(i / width));
  }
  let best = -1;
  let bx = 0;
  let by = 0;
  for (let oy = -radius; oy <= radius; oy++) {
    for (let ox = -radius; ox <= radius; ox++) {
      let score = 0;
      for (let j = 0; j < xs.length; j++) {
        const x = xs[j] + ox;
        const y = ys[j] + oy;
        if (x >= 0 && y >= 0 && x < width && y < height && truth.data[y * width + x]) score++;
      }
      // Prefer the smallest shift among ties, so a featureless image keeps the guess.
      if (score > best || (score === best && Math.abs(ox) + Math.abs(oy) < Math.abs(bx) + Math.abs(by))) {
        best = score;
        bx = ox;
        by = oy;
      }
    }
  }
  return { originX: guess.originX - bx / guess.scale, originY: guess.originY - by / guess.scale, scale: guess.scale, overlap: xs.length ? best / xs.length : 0, shift: [bx, by] };
}
