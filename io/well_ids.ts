/**
 * Wells of a folder of canonical wells as job ids (what pipelines/predict.ts runs one job per): a
 * sub-folder per well (`DIR/A01`), or `DIR#A01` for each well whose files sit directly in DIR
 * (or in the OME-Zarr plate or image DIR).
 */
import { resolve } from 'node:path';
import { badInput } from '../core/errors.ts';
import { imageInfo } from './read.ts';
import { isZPlane, listIslFiles, scanIslFolders } from './isl_folders.ts';
import { isOmeZarr, listZarrWells, zarrWellHeader } from './zarr/index.ts';

/** Separator between a folder and a well name in a well id, for folders holding several wells. */
const WELL_SEP = '#';

/**
 * The wells of an input folder, as job ids (see the module comment).
 * @throws IslError BAD_INPUT when the folder is missing or holds no ISL-convention images.
 */
export function listWells(input: string): string[] {
  const root = resolve(input);
  if (isOmeZarr(input)) return listZarrWells(input).map((e) => `${root}${WELL_SEP}${e.well}`);
  const files = scanIslFolders(root, 'canonical wells (--input)').filter((f) => isZPlane(f.name));
  const dirs = [...new Set(files.filter((f) => f.dir !== root).map((f) => f.dir))];
  const direct = [...new Set(files.filter((f) => f.dir === root).map((f) => f.name.well))].sort();
  const ids = [...dirs, ...direct.map((w) => `${root}${WELL_SEP}${w}`)];
  if (ids.length === 0) throw badInput(input, 'no canonical wells found (expected sub-folders or files named …,well-W,…,z_depth-N,channel-C,is_mask-false.png)');
  return ids;
}

/** Separates a folder and a well name in a well id of {@link listWells}: the folder, and the well name when given. */
export function splitWellId(wellId: string): [string, string | undefined] {
  const cut = wellId.lastIndexOf(WELL_SEP);
  return cut > 0 ? [wellId.slice(0, cut), wellId.slice(cut + 1)] : [wellId, undefined];
}

/** Name and size of a well from the header of one of its z-planes (no pixels decoded). */
export async function wellHeader(wellId: string): Promise<{ well: string; width: number; height: number }> {
  const [dir, name] = splitWellId(wellId);
  if (isOmeZarr(dir)) return zarrWellHeader(dir, name);
  const z = listIslFiles(dir, 'a canonical well').filter((f) => isZPlane(f.name) && (name === undefined || f.name.well === name));
  const wells = new Set(z.map((f) => f.name.well));
  if (wells.size !== 1) throw badInput(dir, `expected the z-planes of one well, found ${wells.size}`);
  const info = await imageInfo(z[0].path);
  return { well: z[0].name.well, width: info.width, height: info.height };
}
