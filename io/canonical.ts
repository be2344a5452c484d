/**
 * Canonical wells in the ISL convention: 16-bit PNGs holding value x 65535, one per transmitted
 * z-plane (`z_depth-N`) and one per projected label (`depth_computation-MAXPROJECT`), so the
 * published ISL dataset and ours are interchangeable; plus one OME-TIFF per well for Fiji/napari.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { badInput, badOption } from '../core/errors.ts';
import { fromFloat32, plane, zStack, type Plane, type Well } from '../core/image.ts';
import { formatIslName, type IslName } from './isl_names.ts';
import { wellPlanesOf, type WellPlanes } from './well_planes.ts';
import { isCanonicalPlane, listIslFiles } from './isl_folders.ts';
import { readPlane, type ReadPlaneOptions } from './read.ts';
import { writeOmeTiffFrom, writePng, type OmeTiffOptions } from './write.ts';
import { isOmeZarr, readZarrWell } from './zarr/index.ts';

export type { WellPlanes };

export interface ReadCanonicalOptions {
  /** The well to load when the folder holds several (e.g. "A4"). */
  readonly well?: string;
  /** Files decoded at once (default 4). */
  readonly concurrency?: number;
  /** Decode only this rectangle of every plane (px); width and height are then the rectangle's. */
  readonly region?: ReadPlaneOptions['region'];
}

/** uint16 canonical counts to intensities in [0, 1]. */
function toCanonical(p: Plane, file: string, well?: string): Plane<'float32'> {
  if (p.dtype !== 'uint16') throw badInput(file, `expected a 16-bit canonical PNG but found ${p.dtype}`, well);
  const out = new Float32Array(p.data.length);
  const src = p.data;
  for (let i = 0; i < src.length; i++) out[i] = src[i] / 65535;
  return plane('float32', p.width, p.height, out);
}

/**
 * Reads one canonical 16-bit PNG (value x 65535) as intensities in [0, 1].
 * @param well named in errors
 * @throws IslError BAD_INPUT for a non-16-bit or corrupt file
 */
export async function readCanonicalPlane(path: string, opts: { readonly well?: string; readonly region?: ReadPlaneOptions['region'] } = {}): Promise<Plane<'float32'>> {
  return toCanonical(await readPlane(path, { region: opts.region }), path, opts.well);
}

/**
 * Loads one canonical well from a folder of ISL-convention PNGs (or an OME-Zarr plate or image:
 * io/zarr/read.ts): the transmitted z-stack and every
 * projected label, as float32 in [0, 1]. Masks (`is_mask-true`), predictions (`statistic-...`) and
 * unrelated files are ignored.
 * @param dir folder holding the well's files
 * @throws IslError BAD_OPTION when several wells are present and none was chosen, or the chosen one is absent
 * @throws IslError BAD_INPUT for a missing z-plane, a duplicate plane, several transmitted channels, unequal sizes, or a non-16-bit/corrupt file
 */
export async function readCanonicalWell(dir: string, opts: ReadCanonicalOptions = {}): Promise<Well> {
  if (isOmeZarr(dir)) return readZarrWell(dir, opts);
  const concurrency = opts.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw badOption('concurrency', 'a positive integer', concurrency);
  const { well, channel, zPaths, labels: labelFiles } = canonicalLayout(dir, opts.well);
  const limit = pLimit(concurrency);
  const load = (f: string) => limit(() => readCanonicalPlane(join(dir, f), { region: opts.region, well }));
  const [zPlanes, labelPlanes] = await Promise.all([Promise.all(zPaths.map(load)), Promise.all(labelFiles.map((x) => load(x.file)))]);
  const { width, height } = zPlanes[0];
  const check = (p: Plane, f: string) => {
    if (p.width !== width || p.height !== height) throw badInput(join(dir, f), `size ${p.width}x${p.height} differs from ${width}x${height} of ${zPaths[0]}`, well);
  };
  zPlanes.forEach((p, z) => check(p, zPaths[z]));
  labelPlanes.forEach((p, i) => check(p, labelFiles[i].file));
  const labels = new Map(labelFiles.map((x, i) => [x.channel, labelPlanes[i]] as const));
  return { well, width, height, transmitted: { channel, stack: zStack(zPlanes) }, labels };
}

/** Which files hold a canonical well's planes (names only, nothing decoded). */
export interface CanonicalLayout {
  readonly well: string;
  /** The transmitted channel. */
  readonly channel: string;
  /** File name of each transmitted z-plane, z = 0.. */
  readonly zPaths: readonly string[];
  /** Projected labels, sorted by channel name. */
  readonly labels: readonly { readonly channel: string; readonly file: string }[];
}

/**
 * The files of one canonical well in a folder of ISL-convention PNGs, checked for completeness.
 * @throws IslError BAD_OPTION / BAD_INPUT as {@link readCanonicalWell}
 */
export function canonicalLayout(dir: string, wellName?: string): CanonicalLayout {
  const files = listIslFiles(dir, 'a canonical well')
    .filter((x) => isCanonicalPlane(x.name))
    .map((x) => ({ f: x.file, n: x.name }));
  const wells = [...new Set(files.map((x) => x.n.well))].sort();
  if (wells.length === 0) throw badInput(dir, 'no ISL-convention images (…,well-W,…,channel-C,is_mask-false.png) found');
  const well = wellName ?? (wells.length === 1 ? wells[0] : undefined);
  if (well === undefined) throw badOption('well', `one of ${wells.join(', ')} (the folder holds several wells)`, wellName);
  if (!wells.includes(well)) throw badOption('well', `one of ${wells.join(', ')}`, well);
  const mine = files.filter((x) => x.n.well === well);

  const zFiles = mine.filter((x) => x.n.z !== undefined);
  const tChannels = [...new Set(zFiles.map((x) => x.n.channel))];
  if (tChannels.length !== 1) {
    throw badInput(dir, tChannels.length === 0 ? `well ${well}: no transmitted z-planes (z_depth-N) found` : `well ${well}: several channels have z-planes (${tChannels.join(', ')}); expected one transmitted channel`, well);
  }
  const byZ = new Map<number, string>();
  for (const { f, n } of zFiles) {
    if (byZ.has(n.z!)) throw badInput(join(dir, f), `duplicate z_depth-${n.z} for well ${well} (also ${byZ.get(n.z!)})`, well);
    byZ.set(n.z!, f);
  }
  const depth = Math.max(...byZ.keys()) + 1;
  for (let z = 0; z < depth; z++) if (!byZ.has(z)) throw badInput(dir, `well ${well}: missing z_depth-${z} of ${tChannels[0]} (found ${[...byZ.keys()].sort((a, b) => a - b).join(',')})`, well);
  const seen = new Map<string, string>();
  for (const { f, n } of mine.filter((x) => x.n.z === undefined)) {
    if (seen.has(n.channel)) throw badInput(join(dir, f), `duplicate label ${n.channel} for well ${well} (also ${seen.get(n.channel)})`, well);
    seen.set(n.channel, f);
  }
  const labels = [...seen].map(([channel, file]) => ({ channel, file })).sort((a, b) => a.channel.localeCompare(b.channel));
  return { well, channel: tChannels[0], zPaths: Array.from({ length: depth }, (_, z) => byZ.get(z)!), labels };
}

/** The ISL filename fields of the written files (`lab`, `condition`, date and `minute`), plus how they are written. */
export interface WriteCanonicalOptions extends Pick<IslName, 'lab' | 'condition' | 'year' | 'month' | 'day' | 'minute'> {
  /** How labels were projected over z (default MAXPROJECT). */
  readonly depthComputation?: string;
  /** Lateral pixel size in micrometres, recorded in the OME-TIFF. */
  readonly pixelSizeUm?: number;
  /** Also write `<prefix>,tile_computation-STITCHED.ome.tif` (default true). */
  readonly omeTiff?: boolean;
  /** Sample bytes above which the OME-TIFF becomes BigTIFF (default just under 4 GiB). */
  readonly bigTiffAbove?: OmeTiffOptions['bigTiffAbove'];
}

/**
 * Writes a well as ISL-convention 16-bit PNGs (value x 65535, rounded, clipped to [0, 1]): one
 * `z_depth-N` image per transmitted plane, one `depth_computation-MAXPROJECT` image per label,
 * and one OME-TIFF of all planes. Each file is written atomically; if any write fails, the files
 * already written by this call are removed.
 * @returns the paths written, in order (z-planes, labels, OME-TIFF)
 * @throws IslError BAD_OPTION for malformed well fields or options
 */
export async function writeCanonicalWell(outDir: string, well: Well, opts: WriteCanonicalOptions = {}): Promise<string[]> {
  const { stack } = well.transmitted;
  if (stack.width !== well.width || stack.height !== well.height) throw badOption('well.transmitted.stack', `a ${well.width}x${well.height} stack like the well`, `${stack.width}x${stack.height}`);
  for (const [c, p] of well.labels) if (p.width !== well.width || p.height !== well.height) throw badOption(`well.labels.${c}`, `a ${well.width}x${well.height} plane like the well`, `${p.width}x${p.height}`);
  return writeCanonicalWellFrom(outDir, wellPlanesOf(well), opts);
}

/**
 * `writeCanonicalWell` for a well produced plane by plane: each plane is converted, written as
 * its PNG and appended to the OME-TIFF before the next is asked for, so one plane is held at a
 * time. The OME-TIFF becomes BigTIFF when it would pass 4 GiB (`opts.bigTiffAbove`).
 * @throws IslError BAD_OPTION for malformed well fields, options or plane sizes
 */
export async function writeCanonicalWellFrom(outDir: string, well: WellPlanes, opts: WriteCanonicalOptions = {}): Promise<string[]> {
  if (!well || typeof well.well !== 'string' || !/^[^,/\\]+$/.test(well.well)) throw badOption('well.well', 'a well name without commas or slashes', well?.well);
  for (const [k, v] of [['lab', opts.lab], ['condition', opts.condition], ['depthComputation', opts.depthComputation], ['well.transmitted.channel', well.transmitted.channel], ...well.labels.map((c) => ['labels key', c])] as const) {
    if (v !== undefined && !/^[^,/\\]+$/.test(v)) throw badOption(k, 'a name without commas or slashes', v);
  }
  for (const [k, v] of [['year', opts.year], ['month', opts.month], ['day', opts.day], ['minute', opts.minute]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw badOption(k, 'a non-negative integer', v);
  }

  const base = {
    lab: opts.lab,
    condition: opts.condition,
    year: opts.year,
    month: opts.month,
    day: opts.day,
    minute: opts.minute,
    well: well.well,
    tileComputation: 'STITCHED',
    isMask: false,
    extension: 'png',
  };
  const jobs: { path: string; name: string; z: number }[] = [];
  for (let z = 0; z < well.transmitted.depth; z++) jobs.push({ path: join(outDir, formatIslName({ ...base, z, channel: well.transmitted.channel })), name: well.transmitted.channel, z });
  for (const c of well.labels) jobs.push({ path: join(outDir, formatIslName({ ...base, depthComputation: opts.depthComputation ?? 'MAXPROJECT', channel: c })), name: c, z: 0 });
  const written: string[] = [];
  // One plane at a time: converted, its PNG written, then handed to the OME-TIFF as its page.
  const png = async (i: number): Promise<Plane<'uint16'>> => {
    const j = jobs[i];
    const p = await well.plane(j.name, j.z);
    if (p.width !== well.width || p.height !== well.height) throw badOption(`plane ${j.name} z${j.z}`, `a ${well.width}x${well.height} plane like the well`, `${p.width}x${p.height}`);
    const counts = fromFloat32(p, 'uint16');
    await writePng(j.path, counts);
    written.push(j.path);
    return counts;
  };
  try {
    if (opts.omeTiff ?? true) {
      // The well's common tokens (lab ... tile_computation) name its OME-TIFF.
      const ome = join(outDir, formatIslName({ ...base, channel: 'ALL' }).replace(/,channel-ALL,is_mask-false\.png$/, '.ome.tif'));
      const channels = [{ name: well.transmitted.channel, depth: well.transmitted.depth, dtype: 'uint16' as const }, ...well.labels.map((name) => ({ name, depth: 1, dtype: 'uint16' as const }))];
      await writeOmeTiffFrom(ome, { width: well.width, height: well.height, channels }, png, { pixelSizeUm: opts.pixelSizeUm, imageName: well.well, bigTiffAbove: opts.bigTiffAbove });
      written.push(ome);
    } else {
      for (let i = 0; i < jobs.length; i++) await png(i);
    }
  } catch (e) {
    await Promise.all(written.map((f) => rm(f, { force: true })));
    throw e;
  }
  return [...jobs.map((j) => j.path), ...written.filter((f) => f.endsWith('.ome.tif'))];
}
