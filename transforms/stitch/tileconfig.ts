/**
 * Fiji / ImageJ Grid-Collection stitching `TileConfiguration*.txt` files: `name; ; (x, y)` lines
 * giving each tile's top-left corner in px, `#` comments and a `dim = 2` header.
 */
import { badInput } from '../../io/errors.ts';

export interface TileConfigEntry {
  readonly file: string;
  readonly x: number;
  readonly y: number;
}

/**
 * Parses a TileConfiguration text (2-D; a third coordinate, if any, is ignored).
 * @param source file name for error messages
 * @throws IslError BAD_INPUT naming the line for a malformed entry or a dimension other than 2 or 3
 */
export function parseTileConfiguration(text: string, source = 'TileConfiguration.txt'): TileConfigEntry[] {
  const out: TileConfigEntry[] = [];
  text.split(/\r?\n/).forEach((raw, k) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const dim = /^dim\s*=\s*(\d+)$/.exec(line);
    if (dim) {
      if (dim[1] !== '2' && dim[1] !== '3') throw badInput(`${source}:${k + 1}`, `dim = ${dim[1]} is not supported (expected 2 or 3)`);
      return;
    }
    const m = /^(.+?)\s*;\s*[^;]*;\s*\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*(?:,\s*[-+0-9.eE]+\s*)?\)$/.exec(line);
    const x = m ? Number(m[2]) : NaN, y = m ? Number(m[3]) : NaN;
    if (!m || !Number.isFinite(x) || !Number.isFinite(y)) throw badInput(`${source}:${k + 1}`, `expected "name; ; (x, y)" but found ${JSON.stringify(line)}`);
    out.push({ file: m[1], x, y });
  });
  return out;
}

/**
 * Grid slots of tiles from their nominal positions: distinct x (and y) positions, clustered within
 * half a tile, are ranked into columns (and rows).
 * @param tileWidth, tileHeight tile size in px (the clustering tolerance is half of it)
 */
export function gridSlots(entries: readonly TileConfigEntry[], tileWidth: number, tileHeight: number): { row: number; col: number }[] {
  const rank = (v: number[], tol: number) => {
    const centres: number[] = [];
    for (const x of [...v].sort((a, b) => a - b)) if (!centres.length || x - centres[centres.length - 1] > tol) centres.push(x);
    return v.map((x) => centres.findIndex((c) => Math.abs(x - c) <= tol));
  };
  const cols = rank(entries.map((e) => e.x), tileWidth / 2);
  const rows = rank(entries.map((e) => e.y), tileHeight / 2);
  return entries.map((_, i) => ({ row: rows[i], col: cols[i] }));
}
