/** Removes objects that reach the image border (scikit-image's `clear_border`, with a margin). */
import type { Labels } from './components.ts';

/**
 * Sets to 0 every object with a pixel within `margin` px of the image border. Labels keep their
 * numbers (count is unchanged), so emptied objects simply have no pixel; `matchObjects` ignores
 * them. Used where two sources cannot agree on nuclei cut by the border (a cell list vs an image).
 *
 * @param labels objects 1..count.
 * @param margin width of the border band, px; default 3 (0 = only the outermost pixels).
 * @returns new labels.
 */
export function clearBorder(labels: Labels, margin = 3): Labels {
  const { width, height } = labels;
  const m = Math.max(0, Math.floor(margin));
  const touch = new Uint8Array(labels.count + 1);
  for (let y = 0; y < height; y++) {
    const edgeRow = y <= m || y >= height - 1 - m;
    for (let x = 0; x < width; x++) {
      if (!edgeRow && x > m && x < width - 1 - m) continue;
      touch[labels.data[y * width + x]] = 1;
    }
  }
  const data = labels.data.map((v) => (touch[v] ? 0 : v));
  return { width, height, data, count: labels.count };
}
