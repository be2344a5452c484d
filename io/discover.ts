/**
 * Discovery: writes `manifest.csv` (and `dump.json` if absent) for a raw dump in a common layout:
 * - the ISL filename convention (stitched wells or tiles with `tile_row-R,tile_col-C`);
 * - a user filename template such as `{well}_r{row}_c{col}_z{z}_{channel}.tif` (or `{tile}` with a grid width);
 * - Fiji `TileConfiguration.txt` (`file; ; (x, y)` lines give stage positions; the grid is derived from them);
 * and in each, multi-page TIFFs without a z in the name become one row per page (`page` = `z`).
 *
 * The command line is pipelines/discover.ts (`npm run discover`).
 */
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import pLimit from 'p-limit';
import { writeFileAtomic } from './atomic.ts';
import { badOption, IslError } from '../core/errors.ts';
import { TRANSMITTED_CHANNELS } from '../core/image.ts';
import { parseIslName } from './isl_names.ts';
import { DUMP_CONFIG, DumpConfigSchema, MANIFEST, formatManifest, type DumpConfig, type ManifestEntry } from './manifest.ts';
import { imageInfo, type ImageInfo } from './read.ts';
import { tileNumbering, tilePosition, type TileOrder, type TileOrigin } from './tile_numbering.ts';

export type Layout = 'isl' | 'template' | 'tile-config';

export interface DiscoverOptions {
  /** Filename template relative to the root, with {well} {row} {col} {z} {channel} {tile} placeholders. */
  readonly template?: string;
  /** Grid columns, to turn a {tile} index into row and column (this or gridRows; the other follows from the highest index). */
  readonly gridCols?: number;
  /** Grid rows, as gridCols. */
  readonly gridRows?: number;
  /** {tile} numbering fills a grid `row` (default) or `column` first. */
  readonly tileOrder?: TileOrder;
  /** Corner of the first {tile}: UL (default), UR, LL or LR. */
  readonly tileOrigin?: TileOrigin;
  /** Serpentine {tile} order: every second row (or column, with tileOrder column) runs backwards (default false). */
  readonly snake?: boolean;
  /** Index of the first tile for {tile} (default 0). */
  readonly tileBase?: number;
  /** A Fiji TileConfiguration file (default: `TileConfiguration.txt` at the root, if present and no template is given). */
  readonly tileConfig?: string;
  /** Channel for layouts whose names carry none (TileConfiguration, templates without {channel}). */
  readonly channel?: string;
  /** Well for layouts whose names carry none (default: the root folder's name). */
  readonly well?: string;
  /** Transmitted-light channels for dump.json (default: the found channels named BRIGHTFIELD, PHASE_CONTRAST or DIC). */
  readonly transmitted?: readonly string[];
  /** Nominal overlap as a fraction of the tile width, for dump.json. */
  readonly overlap?: number;
  /** Nominal overlap in pixels, for dump.json (derived from TileConfiguration positions if not given). */
  readonly overlapPx?: number;
  readonly pixelSizeUm?: number;
  /** Compute without writing files. */
  readonly dryRun?: boolean;
}

export interface Discovery {
  readonly layout: Layout;
  readonly entries: ManifestEntry[];
  /** The dump.json content: the existing file's if there is one, else the derived one. */
  readonly config: DumpConfig;
  /** Whether dump.json was written (false when it existed or for a dry run). */
  readonly wroteConfig: boolean;
  /** Whether dump.json existed before (then it was kept as is). */
  readonly configExisted: boolean;
  /** Image files under the root that the layout did not use. */
  readonly ignored: string[];
}

const IMAGE = /\.(tiff?|png)$/i;

async function listImages(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue; // hidden and in-progress temp files
      const p = join(dir, e.name);
      // Follow symlinks: dumps are often assembled from links to the microscope's share.
      const kind = e.isSymbolicLink() ? await stat(p).catch(() => undefined) : e;
      if (kind?.isDirectory()) await walk(p);
      else if (kind?.isFile() && IMAGE.test(e.name)) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  await walk(root);
  return out.sort();
}

/** A compiled filename template. */
export interface Template {
  readonly fields: readonly string[];
  readonly regex: RegExp;
}

const FIELDS = ['well', 'row', 'col', 'z', 'channel', 'tile'] as const;

/** Compiles `{well}_r{row}_c{col}_z{z}_{channel}.tif` into a regex over '/'-separated relative paths. */
export function compileTemplate(template: string): Template {
  const fields: string[] = [];
  let re = '';
  let last = 0;
  for (const m of template.matchAll(/\{([a-z]+)\}/g)) {
    const f = m[1];
    if (!(FIELDS as readonly string[]).includes(f)) throw badOption('template', `placeholders among {${FIELDS.join('}, {')}}`, template);
    if (fields.includes(f)) throw badOption('template', `each placeholder at most once ({${f}} repeats)`, template);
    re += template.slice(last, m.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    re += f === 'well' || f === 'channel' ? '([^/]+?)' : '(\\d+)';
    fields.push(f);
    last = m.index! + m[0].length;
  }
  re += template.slice(last).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (fields.length === 0) throw badOption('template', 'at least one placeholder such as {well}, {row}, {col}, {z}, {channel} or {tile}', template);
  if (fields.includes('tile') && (fields.includes('row') || fields.includes('col'))) throw badOption('template', 'either {tile} or {row}/{col}, not both', template);
  return { fields, regex: new RegExp(`^${re}$`, 'i') };
}

/** Fiji TileConfiguration lines `name; ; (x, y[, z])` as file name and position (pixels). */
export function parseTileConfiguration(text: string, file = 'TileConfiguration.txt'): { name: string; x: number; y: number }[] {
  const out: { name: string; x: number; y: number }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || /^dim\s*=/.test(line)) return;
    const m = /^(.+?)\s*;\s*[^;]*;\s*\(\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)\s*(?:,\s*[-+\d.eE]+\s*)?\)\s*$/.exec(line);
    if (!m || !Number.isFinite(Number(m[2])) || !Number.isFinite(Number(m[3]))) throw new IslError('BAD_INPUT', `expected "file; ; (x, y)" but found ${JSON.stringify(line)}`, { file: `${file}:${i + 1}` });
    out.push({ name: m[1], x: Number(m[2]), y: Number(m[3]) });
  });
  if (out.length === 0) throw new IslError('BAD_INPUT', 'no tile lines ("file; ; (x, y)") found', { file });
  return out;
}

/**
 * Grid indices of positions along one axis. The grid step is the median distance to the nearest
 * neighbour on that side (same row or column within half a tile); positions are then rounded to
 * multiples of it about a median phase, so a few tiles moved by registration (Fiji shifts empty
 * background tiles by up to ~half a step) keep their cell.
 */
function gridIndex(along: readonly number[], across: readonly number[], tile: number): number[] {
  const steps: number[] = [];
  for (let i = 0; i < along.length; i++) {
    let best = Infinity;
    for (let j = 0; j < along.length; j++) {
      const d = along[j] - along[i];
      if (d > tile / 4 && Math.abs(across[j] - across[i]) < tile / 2 && d < best) best = d;
    }
    if (best < Infinity) steps.push(best);
  }
  if (steps.length === 0) return along.map(() => 0);
  const step = median(steps);
  const lo = Math.min(...along);
  const phase = median(along.map((v) => v - lo - step * Math.round((v - lo) / step)));
  const idx = along.map((v) => Math.round((v - lo - phase) / step));
  const first = Math.min(...idx);
  return idx.map((k) => k - first);
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1];
}

const NAME_OK = /^[A-Za-z0-9_.+-]+$/;

function checkName(what: string, v: string, where: string): void {
  if (!NAME_OK.test(v)) throw new IslError('BAD_INPUT', `${what} ${JSON.stringify(v)} has characters other than letters, digits and _ . + - (rename, or pass --${what} NAME)`, { file: where });
}

/**
 * Discovers the layout of a raw dump and writes `manifest.csv` (always, atomically) and
 * `dump.json` (only if absent) at `root`.
 * @throws IslError BAD_OPTION for bad options; BAD_INPUT when no image matches the layout, a
 *   TileConfiguration line is malformed or names a missing file, or a name part is unusable
 */
export async function discover(root: string, opts: DiscoverOptions = {}): Promise<Discovery> {
  if (opts.gridCols !== undefined && !(Number.isInteger(opts.gridCols) && opts.gridCols > 0)) throw badOption('gridCols', 'a positive integer', opts.gridCols);
  if (opts.gridRows !== undefined && !(Number.isInteger(opts.gridRows) && opts.gridRows > 0)) throw badOption('gridRows', 'a positive integer', opts.gridRows);
  // Checks order and origin up front (the grid size is known only after matching).
  tileNumbering({ rows: 1, cols: 1, order: opts.tileOrder, origin: opts.tileOrigin });
  if (opts.tileBase !== undefined && !Number.isInteger(opts.tileBase)) throw badOption('tileBase', 'an integer', opts.tileBase);
  if (opts.overlap !== undefined && !(opts.overlap >= 0 && opts.overlap < 1)) throw badOption('overlap', 'a fraction of the tile width in [0, 1)', opts.overlap);
  if (opts.overlapPx !== undefined && !(Number.isInteger(opts.overlapPx) && opts.overlapPx >= 0)) throw badOption('overlapPx', 'a non-negative integer number of pixels', opts.overlapPx);
  if (opts.overlap !== undefined && opts.overlapPx !== undefined) throw badOption('overlapPx', 'no value when overlap is given (use one of them)', opts.overlapPx);
  if (opts.channel !== undefined && !NAME_OK.test(opts.channel)) throw badOption('channel', 'a name of letters, digits and _ . + -', opts.channel);
  if (opts.well !== undefined && !NAME_OK.test(opts.well)) throw badOption('well', 'a name of letters, digits and _ . + -', opts.well);
  const template = opts.template === undefined ? undefined : compileTemplate(opts.template);
  if (template?.fields.includes('tile') && opts.gridCols === undefined && opts.gridRows === undefined) throw badOption('gridCols', 'the number of grid columns (or gridRows) when the template has {tile}', opts.gridCols);
  try {
    await access(root);
  } catch (e) {
    throw new IslError('BAD_INPUT', 'input folder not found', { file: root, cause: e });
  }

  const images = await listImages(root);
  const defaultWell = opts.well ?? basename(root).replace(/[^A-Za-z0-9_.+-]/g, '_');
  let tileConfig = opts.tileConfig;
  if (tileConfig === undefined && template === undefined) {
    const nominal = join(root, 'TileConfiguration.txt');
    if (await access(nominal).then(() => true, () => false)) tileConfig = nominal;
  }

  interface Found extends Omit<ManifestEntry, 'z'> {
    z?: number;
  }
  const found: Found[] = [];
  /** {tile} index (after the base) of found[i], turned into a grid position once the grid size is known. */
  const tileIndex = new Map<number, number>();
  let layout: Layout;
  let derivedOverlapPx: number | undefined;
  const needChannel = (where: string) => {
    if (opts.channel === undefined) throw new IslError('BAD_INPUT', 'the layout gives no channel names: pass --channel NAME (e.g. --channel DAPI)', { file: where });
    return opts.channel;
  };

  if (tileConfig !== undefined) {
    layout = 'tile-config';
    const text = await readFile(tileConfig, 'utf8').catch((e) => {
      throw new IslError('BAD_INPUT', 'TileConfiguration file not found', { file: tileConfig, cause: e });
    });
    const lines = parseTileConfiguration(text, basename(tileConfig));
    const base = relative(root, dirname(tileConfig)).split(sep).join('/');
    const channel = needChannel(tileConfig);
    const paths = lines.map((l) => (base ? `${base}/${l.name}` : l.name).replace(/\\/g, '/'));
    const missing = paths.filter((p) => !images.includes(p));
    if (missing.length) throw new IslError('BAD_INPUT', `names ${missing.length} file${missing.length > 1 ? 's' : ''} not found under ${root}: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}`, { file: tileConfig });
    const first = await imageInfo(join(root, paths[0]));
    // Grid cells come from the nominal TileConfiguration.txt beside a registered one when it lists
    // the same files: registration can move empty tiles by about half a step (seen in real Fiji output).
    const nominalPath = join(dirname(tileConfig), 'TileConfiguration.txt');
    let grid = lines;
    if (basename(tileConfig) !== 'TileConfiguration.txt') {
      const nominal = await readFile(nominalPath, 'utf8').then((t) => parseTileConfiguration(t, 'TileConfiguration.txt'), () => undefined);
      const byName = new Map(nominal?.map((l) => [l.name, l]));
      if (nominal && lines.every((l) => byName.has(l.name))) grid = lines.map((l) => byName.get(l.name)!);
    }
    const xs = grid.map((l) => l.x);
    const ys = grid.map((l) => l.y);
    const cols = gridIndex(xs, ys, first.width);
    const rows = gridIndex(ys, xs, first.height);
    lines.forEach((l, i) => found.push({ path: paths[i], well: defaultWell, tileRow: rows[i], tileCol: cols[i], channel, stageX: l.x, stageY: l.y }));
    // Nominal overlap: tile width minus the typical step between horizontal neighbours.
    const steps: number[] = [];
    for (let i = 0; i < grid.length; i++)
      for (let j = 0; j < grid.length; j++) if (rows[i] === rows[j] && cols[j] === cols[i] + 1) steps.push(grid[j].x - grid[i].x);
    if (steps.length) derivedOverlapPx = Math.max(0, Math.round(first.width - median(steps)));
  } else if (template !== undefined) {
    layout = 'template';
    const tileBase = opts.tileBase ?? 0;
    for (const p of images) {
      const m = template.regex.exec(p);
      if (!m) continue;
      const v: Record<string, string> = {};
      template.fields.forEach((f, i) => (v[f] = m[i + 1]));
      const tileRow = v.row === undefined ? 0 : Number(v.row);
      const tileCol = v.col === undefined ? 0 : Number(v.col);
      if (v.tile !== undefined) {
        const t = Number(v.tile) - tileBase;
        if (t < 0) throw new IslError('BAD_INPUT', `tile index ${v.tile} is below --tile-base ${tileBase}`, { file: p });
        tileIndex.set(found.length, t);
      }
      const well = v.well ?? defaultWell;
      const channel = v.channel ?? needChannel(p);
      checkName('well', well, p);
      checkName('channel', channel, p);
      found.push({ path: p, well, tileRow, tileCol, channel, ...(v.z !== undefined ? { z: Number(v.z) } : {}) });
    }
    if (tileIndex.size) {
      // Every well shares one grid; the side not given follows from the highest index in the dump.
      let n = 0;
      for (const t of tileIndex.values()) n = Math.max(n, t + 1);
      const cols = opts.gridCols ?? Math.ceil(n / opts.gridRows!);
      const g = tileNumbering({ rows: opts.gridRows ?? Math.ceil(n / cols), cols, order: opts.tileOrder, origin: opts.tileOrigin, snake: opts.snake });
      for (const [i, t] of tileIndex) {
        try {
          found[i] = { ...found[i], ...tilePosition(t, g) };
        } catch (e) {
          throw new IslError('BAD_INPUT', `${(e as Error).message}: check --grid-rows/--grid-cols and --tile-base`, { file: found[i].path });
        }
      }
    }
    if (found.length === 0) throw new IslError('BAD_INPUT', `no image file matches the template ${JSON.stringify(opts.template)} (${images.length} image file${images.length === 1 ? '' : 's'} found${images.length ? `, e.g. ${images[0]}` : ''})`, { file: root });
  } else {
    layout = 'isl';
    for (const p of images) {
      const n = parseIslName(p);
      if (!n || n.isMask || n.statistic !== undefined) continue;
      found.push({ path: p, well: n.well, tileRow: n.tileRow ?? 0, tileCol: n.tileCol ?? 0, channel: n.channel, ...(n.z !== undefined ? { z: n.z } : n.depthComputation !== undefined ? { z: 0 } : {}) });
    }
    if (found.length === 0) {
      throw new IslError('BAD_INPUT', `no layout recognised: no TileConfiguration.txt and no ISL-convention names among ${images.length} image file${images.length === 1 ? '' : 's'}; pass --template (e.g. '{well}_r{row}_c{col}_z{z}_{channel}.tif') or --tile-config`, { file: root });
    }
  }

  // Files without a z in their name: each page of a multi-page TIFF is a z-plane.
  const limit = pLimit(8);
  const infos = new Map<string, ImageInfo>();
  await Promise.all(found.filter((f) => f.z === undefined).map((f) => limit(async () => infos.set(f.path, await imageInfo(join(root, f.path))))));
  const entries: ManifestEntry[] = [];
  for (const f of found) {
    if (f.z !== undefined) {
      entries.push({ ...f, z: f.z });
      continue;
    }
    const pages = infos.get(f.path)!.pages;
    if (pages === 1) entries.push({ ...f, z: 0 });
    else for (let k = 0; k < pages; k++) entries.push({ ...f, z: k, page: k });
  }
  entries.sort((a, b) => a.well.localeCompare(b.well, 'en', { numeric: true }) || a.tileRow - b.tileRow || a.tileCol - b.tileCol || a.channel.localeCompare(b.channel) || a.z - b.z);
  const used = new Set(entries.map((e) => e.path));
  const ignored = images.filter((p) => !used.has(p));

  const configPath = join(root, DUMP_CONFIG);
  const hasConfig = await access(configPath).then(() => true, () => false);
  let config: DumpConfig;
  if (hasConfig) {
    const r = DumpConfigSchema.safeParse(JSON.parse(await readFile(configPath, 'utf8')));
    if (!r.success) throw new IslError('BAD_MANIFEST', `existing ${DUMP_CONFIG} is invalid: ${r.error.issues.map((i) => i.message).join('; ')} (fix or delete it)`, { file: DUMP_CONFIG });
    config = r.data;
  } else {
    const channels = [...new Set(entries.map((e) => e.channel))].sort();
    for (const t of opts.transmitted ?? []) if (!channels.includes(t)) throw badOption('transmitted', `channels found in the dump (${channels.join(', ')})`, t);
    const transmitted = opts.transmitted ? [...opts.transmitted] : channels.filter((c) => (TRANSMITTED_CHANNELS as readonly string[]).includes(c));
    const overlapPx = opts.overlapPx ?? (opts.overlap === undefined ? derivedOverlapPx : undefined);
    config = DumpConfigSchema.parse({
      transmitted,
      labels: channels.filter((c) => !transmitted.includes(c)),
      ...(opts.overlap !== undefined ? { overlap: opts.overlap } : {}),
      ...(overlapPx !== undefined ? { overlapPx } : {}),
      ...(opts.pixelSizeUm !== undefined ? { pixelSizeUm: opts.pixelSizeUm } : {}),
    });
  }
  if (!opts.dryRun) {
    await writeFileAtomic(join(root, MANIFEST), formatManifest(entries));
    if (!hasConfig) await writeFileAtomic(configPath, JSON.stringify(config, null, 2) + '\n');
  }
  return { layout, entries, config, wroteConfig: !hasConfig && !opts.dryRun, configExisted: hasConfig, ignored };
}
