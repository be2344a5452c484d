/**
 * Grid position of a numbered tile, for every numbering a microscope or stitching tool writes:
 * the NIST MIST stitching tool's options (direction horizontal/vertical, start at any corner,
 * combing or continuous), which cover the acquisition orders of the common acquisition software.
 * - `order`: `row` fills a grid row before moving to the next one, `column` a grid column.
 * - `origin`: the corner of tile 0 (U/L = upper/lower, L/R = left/right).
 * - `snake`: continuous (serpentine) order, every second row (or column) runs backwards;
 *   otherwise combing (every row starts on the origin's side).
 * Grid row 0 is the top row and column 0 the left column, whatever the numbering.
 */
import { badOption, IslError } from '../core/errors.ts';

export const TILE_ORDERS = ['row', 'column'] as const;
export type TileOrder = (typeof TILE_ORDERS)[number];
export const TILE_ORIGINS = ['UL', 'UR', 'LL', 'LR'] as const;
export type TileOrigin = (typeof TILE_ORIGINS)[number];

export interface TileNumbering {
  readonly rows: number;
  readonly cols: number;
  readonly order: TileOrder;
  readonly origin: TileOrigin;
  readonly snake: boolean;
}

/** Checks a numbering once, at the boundary; `rows`/`cols` are positive integers. */
export function tileNumbering(n: { rows: number; cols: number; order?: string; origin?: string; snake?: boolean }): TileNumbering {
  if (!(Number.isInteger(n.rows) && n.rows > 0)) throw badOption('gridRows', 'a positive integer', n.rows);
  if (!(Number.isInteger(n.cols) && n.cols > 0)) throw badOption('gridCols', 'a positive integer', n.cols);
  const order = n.order ?? 'row';
  const origin = (n.origin ?? 'UL').toUpperCase();
  if (!(TILE_ORDERS as readonly string[]).includes(order)) throw badOption('tileOrder', `one of ${TILE_ORDERS.join(', ')}`, n.order);
  if (!(TILE_ORIGINS as readonly string[]).includes(origin)) throw badOption('tileOrigin', `one of ${TILE_ORIGINS.join(', ')} (upper/lower, left/right corner of the first tile)`, n.origin);
  return Object.freeze({ rows: n.rows, cols: n.cols, order: order as TileOrder, origin: origin as TileOrigin, snake: n.snake ?? false });
}

/** Grid row and column (row 0 on top, column 0 on the left) of tile `index` (0-based). */
export function tilePosition(index: number, g: TileNumbering): { tileRow: number; tileCol: number } {
  if (!(Number.isInteger(index) && index >= 0 && index < g.rows * g.cols))
    throw new IslError('BAD_INPUT', `tile index ${index} is outside a ${g.rows}x${g.cols} grid (0..${g.rows * g.cols - 1} after the tile base)`);
  const along = g.order === 'row' ? g.cols : g.rows;
  const major = Math.floor(index / along);
  let minor = index % along;
  if (g.snake && major % 2 === 1) minor = along - 1 - minor;
  let r = g.order === 'row' ? major : minor;
  let c = g.order === 'row' ? minor : major;
  if (g.origin[0] === 'L') r = g.rows - 1 - r;
  if (g.origin[1] === 'R') c = g.cols - 1 - c;
  return { tileRow: r, tileCol: c };
}
