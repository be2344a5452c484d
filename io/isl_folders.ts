/**
 * Folders of ISL-named files (canonical wells, predictions): the one place that lists them. A root
 * holds the files itself or one sub-folder per well (one level down; hidden folders such as
 * OUT/.records are skipped).
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { badInput } from '../core/errors.ts';
import { parseIslName, type IslName } from './isl_names.ts';

/** One ISL-named file. */
export interface IslFile {
  /** Folder holding it. */
  readonly dir: string;
  /** Base name. */
  readonly file: string;
  /** dir/file. */
  readonly path: string;
  readonly name: IslName;
}

/** A transmitted z-plane of a canonical well (`z_depth-N`). */
export const isZPlane = (n: IslName): boolean => !n.isMask && n.statistic === undefined && n.z !== undefined;
/** A projected label of a canonical well (`depth_computation-...`, no z). */
export const isProjectedLabel = (n: IslName): boolean => !n.isMask && n.statistic === undefined && n.z === undefined;
/** A plane of a canonical well: a z-plane or a projected label. */
export const isCanonicalPlane = (n: IslName): boolean => !n.isMask && n.statistic === undefined && (n.z !== undefined || n.depthComputation !== undefined);

function entries(dir: string, what: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw badInput(dir, `cannot read the folder of ${what} (does it exist?)`, undefined, e);
  }
}

/** A folder, or a symbolic link to one (pipelines/demo.ts predicts a folder of links to wells). */
const isFolder = (dir: string, e: Dirent): boolean => e.isDirectory() || (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isDirectory() === true);

const islFiles = (dir: string, list: Dirent[]): IslFile[] =>
  list
    .filter((e) => !isFolder(dir, e))
    .map((e) => e.name)
    .sort()
    .flatMap((file) => {
      const name = parseIslName(file);
      return name ? [{ dir, file, path: join(dir, file), name }] : [];
    });

/**
 * The ISL-named files of one folder, sorted by name (unrelated files skipped).
 * @param what what the folder holds, for the error message
 * @throws IslError BAD_INPUT naming the folder when it cannot be listed
 */
export function listIslFiles(dir: string, what = 'ISL-convention images'): IslFile[] {
  return islFiles(dir, entries(dir, what));
}

/**
 * The ISL-named files in `root` and in its direct, non-hidden sub-folders: root's files first, then
 * each sub-folder's, sub-folders in name order.
 * @throws IslError BAD_INPUT naming the root when it cannot be listed
 */
export function scanIslFolders(root: string, what = 'ISL-convention images'): IslFile[] {
  const list = entries(root, what);
  const dirs = list.filter((e) => isFolder(root, e) && !e.name.startsWith('.')).map((e) => e.name).sort();
  return [...islFiles(root, list), ...dirs.flatMap((d) => listIslFiles(join(root, d), what))];
}

/**
 * Canonical wells under `root` (in it directly or one folder down): well name -> the first folder
 * holding its planes, in natural well order.
 */
export function findCanonicalWells(root: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const f of scanIslFolders(root, 'canonical wells')) if (isCanonicalPlane(f.name) && !found.has(f.name.well)) found.set(f.name.well, f.dir);
  return new Map([...found].sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true })));
}
