/**
 * Where a well sits in an OME-Zarr plate (NGFF 0.4 "plate": `<row>/<column>/<field>`).
 *
 * A well named like a plate position, 1-2 letters then a number (`A4`, `B07`, `AF48`), goes to
 * row `A`, column `4` (leading zeros dropped, so `A04` and `A4` are the same well). Any other
 * name (`ctrl_3`, `well-12`) is a fallback: row {@link FALLBACK_ROW}, column = the name's
 * letters and digits (`ctrl3`); the original name is kept in the image's `isl.well` attribute,
 * which our reader uses. Two wells that land on the same path are refused when written.
 */
import { badOption } from '../../core/errors.ts';

/** Row of wells whose names are not plate positions; longer than any real plate row (1-2 letters). */
export const FALLBACK_ROW = 'other';

export interface PlatePosition {
  readonly row: string;
  readonly column: string;
  /** `row/column`, the well's path in the plate. */
  readonly path: string;
}

const POSITION = /^([A-Za-z]{1,2})0*(\d{1,3})$/;

/**
 * The plate position of a well name (see the module comment).
 * @throws IslError BAD_OPTION when the name has no letter or digit to make a fallback column of
 */
export function wellPosition(well: string): PlatePosition {
  const m = POSITION.exec(well);
  if (m) {
    const column = String(Number(m[2]));
    return { row: m[1], column, path: `${m[1]}/${column}` };
  }
  const column = well.replace(/[^A-Za-z0-9]/g, '');
  if (column === '') throw badOption('well', 'a well name with at least one letter or digit (for its plate column)', well);
  return { row: FALLBACK_ROW, column, path: `${FALLBACK_ROW}/${column}` };
}

/** Row name -> plate order (A..Z, AA..; the fallback row last). */
function rowIndex(row: string): number {
  if (row === FALLBACK_ROW) return Infinity;
  const u = row.toUpperCase();
  return u.length === 1 ? u.charCodeAt(0) - 65 : 26 * (u.charCodeAt(0) - 64) + u.charCodeAt(1) - 65;
}

function rowName(i: number): string {
  return i < 26 ? String.fromCharCode(65 + i) : String.fromCharCode(64 + Math.floor(i / 26)) + String.fromCharCode(65 + (i % 26));
}

/**
 * The rows and columns a plate of these wells declares: NGFF asks for every row and column of
 * the physical plate, so letters A.. and numbers 1.. up to the largest used are all listed
 * (a sparse plate), then the fallback row and columns.
 */
export function plateGrid(positions: readonly PlatePosition[]): { rows: string[]; columns: string[] } {
  const placed = positions.filter((p) => p.row !== FALLBACK_ROW);
  const rows: string[] = [];
  const lastRow = Math.max(-1, ...placed.map((p) => rowIndex(p.row)));
  const lower = placed.length > 0 && placed.every((p) => p.row === p.row.toLowerCase());
  for (let i = 0; i <= lastRow; i++) rows.push(lower ? rowName(i).toLowerCase() : rowName(i));
  // A row written in another case than the rest is listed as written (names are case-sensitive).
  for (const p of placed) if (!rows.includes(p.row)) rows.push(p.row);
  const columns: string[] = [];
  const lastCol = Math.max(0, ...placed.map((p) => Number(p.column)));
  for (let c = 1; c <= lastCol; c++) columns.push(String(c));
  for (const p of placed) if (!columns.includes(p.column)) columns.push(p.column); // column 0
  const fallback = positions.filter((p) => p.row === FALLBACK_ROW);
  if (fallback.length > 0) rows.push(FALLBACK_ROW);
  for (const c of [...new Set(fallback.map((p) => p.column))].sort()) if (!columns.includes(c)) columns.push(c);
  return { rows, columns };
}
