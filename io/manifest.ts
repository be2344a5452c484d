/**
 * The raw dump format: `manifest.csv` at the dump root (columns `path,well,tile_row,tile_col,z,channel`,
 * optional `stage_x,stage_y` in pixels and `page`, the 0-based page of a multi-page TIFF; paths
 * relative to the root) and `dump.json` beside it naming transmitted and label channels, the
 * nominal tile overlap and optional acquisition facts.
 *
 * Problems with the whole dump throw; problems confined to one well are collected in `badWells`
 * so the other wells still run. Every message names `manifest.csv:LINE` and/or the file.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import pLimit from 'p-limit';
import { z } from 'zod';
import { IslError } from '../core/errors.ts';
import type { DType, Tile } from '../core/image.ts';
import { imageInfo, readPlane } from './read.ts';
import { unsafeName } from './out_layout.ts';

export const MANIFEST = 'manifest.csv';
export const DUMP_CONFIG = 'dump.json';
export const REQUIRED_COLUMNS = ['path', 'well', 'tile_row', 'tile_col', 'z', 'channel'] as const;
export const OPTIONAL_COLUMNS = ['stage_x', 'stage_y', 'page'] as const;

const channelName = z.string().regex(/^[A-Za-z0-9_.+-]+$/, 'channel names use letters, digits and _ . + - only');

/** `dump.json`: which channels are transmitted light and which are labels, and the acquisition facts. */
export const DumpConfigSchema = z
  .object({
    transmitted: z.array(channelName),
    labels: z.array(channelName).default([]),
    /** Nominal overlap between neighbouring tiles as a fraction of the tile width. */
    overlap: z.number().min(0).lt(1).optional(),
    /** Nominal overlap in pixels (instead of `overlap`). */
    overlapPx: z.number().int().nonnegative().optional(),
    pixelSizeUm: z.number().positive().optional(),
    /** Camera offset (dark level) in counts. */
    sensorOffset: z.number().nonnegative().optional(),
    bitDepth: z.union([z.literal(8), z.literal(16)]).optional(),
    /** Informational: the acquisition grid and tile size (the manifest is authoritative). */
    grid: z.object({ rows: z.number().int().positive(), cols: z.number().int().positive() }).strict().optional(),
    tileSize: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  })
  .strict()
  .refine((c) => !(c.overlap !== undefined && c.overlapPx !== undefined), { message: 'give either overlap (fraction) or overlapPx (pixels), not both' })
  .refine((c) => c.transmitted.length + c.labels.length > 0, { message: 'name at least one channel in transmitted or labels' })
  .refine((c) => !c.transmitted.some((t) => c.labels.includes(t)), { message: 'a channel cannot be both transmitted and a label' });

export type DumpConfig = z.infer<typeof DumpConfigSchema>;

/** One manifest row, with its line in manifest.csv and the absolute file path. */
export interface ManifestRow {
  readonly line: number;
  /** As written in the manifest (relative to the root, '/'-separated). */
  readonly path: string;
  /** Absolute path of the file. */
  readonly file: string;
  readonly well: string;
  readonly tileRow: number;
  readonly tileCol: number;
  readonly z: number;
  readonly channel: string;
  readonly stageX?: number;
  readonly stageY?: number;
  readonly page?: number;
}

/** The rows of one grid position: channel -> rows indexed by z. */
export interface TilePosition {
  readonly tileRow: number;
  readonly tileCol: number;
  readonly stageX?: number;
  readonly stageY?: number;
  readonly channels: ReadonlyMap<string, readonly ManifestRow[]>;
}

/** A checked well: its grid positions (sorted by row, then column) and the facts shared by its tiles. */
export interface WellManifest {
  readonly well: string;
  readonly rows: readonly ManifestRow[];
  readonly positions: readonly TilePosition[];
  /** z-planes per channel (the same at every position). */
  readonly depth: ReadonlyMap<string, number>;
  /** Tile size and dtype, from the file headers (undefined when headers were not checked). */
  readonly width?: number;
  readonly height?: number;
  readonly dtype?: DType;
}

export interface Dump {
  readonly root: string;
  readonly config: DumpConfig;
  readonly wells: Map<string, WellManifest>;
  readonly badWells: Map<string, IslError>;
}

export interface ReadDumpOptions {
  /** Read every file's header to check existence, size and bit depth (default true). */
  readonly checkFiles?: boolean;
  /** Header reads at once (default 8). */
  readonly concurrency?: number;
}

function manifestError(line: number | undefined, message: string, cause?: unknown): IslError {
  return new IslError('BAD_MANIFEST', message, { file: line === undefined ? MANIFEST : `${MANIFEST}:${line}`, cause });
}

/**
 * Reads and validates `dump.json`.
 * @throws IslError BAD_MANIFEST when it is missing, not JSON, or fails the schema (the message names the field)
 */
export async function readDumpConfig(root: string): Promise<DumpConfig> {
  let text: string;
  try {
    text = await readFile(join(root, DUMP_CONFIG), 'utf8');
  } catch (e) {
    throw new IslError('BAD_MANIFEST', `missing ${DUMP_CONFIG} in ${root} (run \`npm run discover -- --input ${root}\` to write one)`, { file: DUMP_CONFIG, cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new IslError('BAD_MANIFEST', `not valid JSON: ${(e as Error).message}`, { file: DUMP_CONFIG, cause: e });
  }
  const r = DumpConfigSchema.safeParse(json);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`).join('; ');
    throw new IslError('BAD_MANIFEST', why, { file: DUMP_CONFIG });
  }
  return r.data;
}

/**
 * Why a well or channel name cannot be used, or undefined: it must be one path component (it names
 * folders and files under OUT) without commas (ISL file names separate their fields with commas).
 * Spaces and non-ASCII letters are fine (runners/job.ts hashes such names in record file names).
 */
export function nameProblem(name: string): string | undefined {
  return unsafeName(name) ?? (name.includes(',') ? 'contains a comma (ISL file names separate fields with commas)' : undefined);
}

/** Normalises a manifest path and rejects ones that leave the dump root. */
function safeRelative(p: string, line: number): string {
  const s = p.replace(/\\/g, '/');
  if (s === '') throw manifestError(line, 'empty path');
  if (isAbsolute(p) || s.startsWith('/') || /^[A-Za-z]:/.test(s)) throw manifestError(line, `path ${JSON.stringify(p)} is absolute; manifest paths must be relative to the dump root`);
  const n = posix.normalize(s);
  if (n === '..' || n.startsWith('../')) throw manifestError(line, `path ${JSON.stringify(p)} escapes the dump root`);
  return n;
}

export interface ParsedManifest {
  rows: ManifestRow[];
  /** Per-well errors found while parsing (bad numbers in a row). */
  errors: Map<string, IslError[]>;
}

/** Parses manifest.csv text: throws for dump-wide problems, collects row problems per well. */
export function parseManifest(text: string, root: string): ParsedManifest {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, skip_empty_lines: true, trim: true, bom: true }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    const line = (e as { lines?: number }).lines;
    throw manifestError(line, `not valid CSV: ${(e as Error).message}`, e);
  }
  if (records.length === 0) throw manifestError(undefined, `empty manifest: expected a header ${REQUIRED_COLUMNS.join(',')} and one row per image`);
  const header = records[0].record.map((h) => h.toLowerCase());
  const headerLine = records[0].info.lines;
  const missing = REQUIRED_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) throw manifestError(headerLine, `header lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (expected ${REQUIRED_COLUMNS.join(',')}[,stage_x,stage_y][,page]; found ${header.join(',')})`);
  const known: readonly string[] = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS];
  const unknown = header.filter((h) => !known.includes(h));
  if (unknown.length) throw manifestError(headerLine, `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const dup = header.find((h, i) => header.indexOf(h) !== i);
  if (dup) throw manifestError(headerLine, `column ${dup} appears twice`);
  if (header.includes('stage_x') !== header.includes('stage_y')) throw manifestError(headerLine, 'stage_x and stage_y must be given together');
  const col = (name: string) => header.indexOf(name);
  if (records.length === 1) throw manifestError(undefined, 'empty dump: the manifest has a header but no rows');

  const rows: ManifestRow[] = [];
  const errors = new Map<string, IslError[]>();
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    const get = (name: string) => (col(name) < 0 ? '' : (record[col(name)] ?? ''));
    const well = get('well');
    if (!well) throw manifestError(line, 'empty well');
    const path = safeRelative(get('path'), line);
    const fail = (msg: string) => {
      const list = errors.get(well) ?? [];
      list.push(new IslError('BAD_INPUT', msg, { file: `${MANIFEST}:${line}`, well }));
      errors.set(well, list);
    };
    const int = (name: string, optional: boolean): number | undefined | null => {
      const v = get(name);
      if (v === '' && optional) return undefined;
      if (!/^\d+$/.test(v)) {
        fail(`${name} must be a non-negative integer but is ${JSON.stringify(v)} (${path})`);
        return null;
      }
      return Number(v);
    };
    const num = (name: string): number | undefined | null => {
      const v = get(name);
      if (v === '') return undefined;
      const n = Number(v);
      if (!Number.isFinite(n)) {
        fail(`${name} must be a number of pixels but is ${JSON.stringify(v)} (${path})`);
        return null;
      }
      return n;
    };
    const tileRow = int('tile_row', false);
    const tileCol = int('tile_col', false);
    const zz = int('z', false);
    const page = int('page', true);
    const stageX = num('stage_x');
    const stageY = num('stage_y');
    const channel = get('channel');
    if (!channel) fail(`empty channel (${path})`);
    // Well and channel names become file and folder names under OUT: refuse, before any work, a
    // name that could leave it (`..`, `/`, an absolute path, NUL) or break ISL file names (`,`).
    const wellProblem = nameProblem(well);
    if (wellProblem) fail(`well name ${JSON.stringify(well)} ${wellProblem} (${path})`);
    const channelProblem = channel ? nameProblem(channel) : undefined;
    if (channelProblem) fail(`channel name ${JSON.stringify(channel)} ${channelProblem} (${path})`);
    if ((stageX === undefined) !== (stageY === undefined)) fail(`give both stage_x and stage_y or neither (${path})`);
    if (tileRow == null || tileCol == null || zz == null || page === null || stageX === null || stageY === null || !channel || wellProblem || channelProblem) continue;
    rows.push({
      line,
      path,
      file: join(root, path),
      well,
      tileRow,
      tileCol,
      z: zz,
      channel,
      ...(stageX !== undefined && stageY !== undefined ? { stageX, stageY } : {}),
      ...(page !== undefined ? { page } : {}),
    });
  }
  return { rows, errors };
}

const BITS: Record<DType, number> = { uint8: 8, uint16: 16, float32: 32 };

/** Structural checks of one well's rows (channels, duplicates, missing z-planes); returns the problems. */
function checkStructure(well: string, rows: readonly ManifestRow[], config: DumpConfig): { problems: IslError[]; positions: TilePosition[]; depth: Map<string, number> } {
  const problems: IslError[] = [];
  const at = (r: ManifestRow, msg: string) => new IslError('BAD_INPUT', msg, { file: `${MANIFEST}:${r.line}`, well });
  const channels = new Set([...config.transmitted, ...config.labels]);
  const byPos = new Map<string, { tileRow: number; tileCol: number; stageX?: number; stageY?: number; channels: Map<string, ManifestRow[]> }>();
  const seen = new Map<string, ManifestRow>();
  for (const r of rows) {
    if (!channels.has(r.channel)) {
      problems.push(at(r, `unknown channel ${r.channel} (${r.path}); ${DUMP_CONFIG} names transmitted [${config.transmitted.join(', ')}] and labels [${config.labels.join(', ')}]`));
      continue;
    }
    const key = `${r.tileRow}/${r.tileCol}/${r.z}/${r.channel}`;
    const prev = seen.get(key);
    if (prev) {
      problems.push(at(r, `duplicate (well ${well}, tile_row ${r.tileRow}, tile_col ${r.tileCol}, z ${r.z}, channel ${r.channel}): ${r.path} and ${prev.path} (${MANIFEST}:${prev.line})`));
      continue;
    }
    seen.set(key, r);
    const pk = `${r.tileRow}/${r.tileCol}`;
    let pos = byPos.get(pk);
    if (!pos) {
      pos = { tileRow: r.tileRow, tileCol: r.tileCol, channels: new Map() };
      byPos.set(pk, pos);
    }
    if (r.stageX !== undefined) {
      if (pos.stageX === undefined) Object.assign(pos, { stageX: r.stageX, stageY: r.stageY });
      else if (pos.stageX !== r.stageX || pos.stageY !== r.stageY) problems.push(at(r, `stage position (${r.stageX}, ${r.stageY}) of ${r.path} differs from (${pos.stageX}, ${pos.stageY}) of the other images at tile_row ${r.tileRow}, tile_col ${r.tileCol}`));
    }
    const list = pos.channels.get(r.channel) ?? [];
    list[r.z] = r;
    pos.channels.set(r.channel, list);
  }
  const depth = new Map<string, number>();
  for (const pos of byPos.values()) for (const [c, list] of pos.channels) depth.set(c, Math.max(depth.get(c) ?? 0, list.length));
  const positions = [...byPos.values()].sort((a, b) => a.tileRow - b.tileRow || a.tileCol - b.tileCol);
  for (const pos of positions) {
    for (const [c, n] of [...depth].sort()) {
      const list = pos.channels.get(c);
      const where = `well ${well}, tile_row ${pos.tileRow}, tile_col ${pos.tileCol}`;
      if (!list) {
        problems.push(new IslError('BAD_INPUT', `${where}: channel ${c} has no images (other positions have ${n} z-plane${n > 1 ? 's' : ''})`, { file: MANIFEST, well }));
        continue;
      }
      const gaps = Array.from({ length: n }, (_, i) => i).filter((i) => !list[i]);
      if (gaps.length) problems.push(new IslError('BAD_INPUT', `${where}: missing z-plane${gaps.length > 1 ? 's' : ''} ${gaps.join(', ')} of channel ${c} (expected z 0..${n - 1})`, { file: MANIFEST, well }));
    }
  }
  return { problems, positions: positions as TilePosition[], depth };
}

/** Header checks of one well: files exist and decode, pages exist, one size, one bit depth per channel (and dump.json's). */
async function checkFiles(well: string, rows: readonly ManifestRow[], config: DumpConfig, limit: ReturnType<typeof pLimit>): Promise<{ problems: IslError[]; width?: number; height?: number; dtype?: DType }> {
  const problems: IslError[] = [];
  const infos = await Promise.all(
    rows.map((r) =>
      limit(async () => {
        const at = (msg: string, cause?: unknown) => new IslError('BAD_INPUT', msg, { file: `${MANIFEST}:${r.line}`, well, cause });
        const st = await stat(r.file).catch(() => undefined);
        if (!st) return problems.push(at(`file not found: ${r.path}`)), undefined;
        try {
          const info = await imageInfo(r.file);
          if ((r.page ?? 0) >= info.pages) return problems.push(at(`${r.path} has ${info.pages} page${info.pages > 1 ? 's' : ''}; page ${r.page} does not exist`)), undefined;
          return info;
        } catch (e) {
          return problems.push(at(`${r.path}: ${e instanceof IslError ? e.message.replace(`${r.file}: `, '') : String(e)}`, e)), undefined;
        }
      }),
    ),
  );
  let ref: { row: ManifestRow; width: number; height: number } | undefined;
  const depthOf = new Map<string, { row: ManifestRow; dtype: DType }>();
  rows.forEach((r, i) => {
    const info = infos[i];
    if (!info) return;
    const at = (msg: string) => new IslError('BAD_INPUT', msg, { file: `${MANIFEST}:${r.line}`, well });
    if (config.bitDepth !== undefined && BITS[info.dtype] !== config.bitDepth) {
      problems.push(at(`${r.path} is ${BITS[info.dtype]}-bit but ${DUMP_CONFIG} says bitDepth ${config.bitDepth}`));
      return;
    }
    const d = depthOf.get(r.channel);
    if (!d) depthOf.set(r.channel, { row: r, dtype: info.dtype });
    else if (d.dtype !== info.dtype) problems.push(at(`${r.path} is ${BITS[info.dtype]}-bit but other ${r.channel} images of well ${well} are ${BITS[d.dtype]}-bit (e.g. ${d.row.path}, ${MANIFEST}:${d.row.line})`));
    if (!ref) ref = { row: r, width: info.width, height: info.height };
    else if (ref.width !== info.width || ref.height !== info.height)
      problems.push(at(`${r.path} is ${info.width}x${info.height} but the other images of well ${well} are ${ref.width}x${ref.height} (e.g. ${ref.row.path}, ${MANIFEST}:${ref.row.line})`));
  });
  const dtypes = [...new Set([...depthOf.values()].map((d) => d.dtype))];
  return { problems, width: ref?.width, height: ref?.height, dtype: dtypes.length === 1 ? dtypes[0] : undefined };
}

/** One error for a well's problems: the first in manifest order, plus how many more. */
function summarise(well: string, problems: IslError[]): IslError {
  const line = (e: IslError) => Number(e.file?.split(':')[1] ?? Infinity); // row problems first, then well-level ones
  const sorted = [...problems].sort((a, b) => line(a) - line(b));
  const first = sorted[0];
  if (sorted.length === 1) return first;
  const msg = first.message.slice(first.file ? first.file.length + 2 : 0);
  return new IslError('BAD_INPUT', `${msg} (and ${sorted.length - 1} more problem${sorted.length > 2 ? 's' : ''} in well ${well}: ${sorted.slice(1, 4).map((e) => e.message).join('; ')}${sorted.length > 4 ? '; ...' : ''})`, { file: first.file, well });
}

/**
 * Reads a dump: `dump.json` and `manifest.csv` at `root`, checked well by well.
 * @param root the dump folder
 * @returns the config, the wells that passed every check, and one error per failed well
 * @throws IslError BAD_MANIFEST for a missing/invalid manifest.csv or dump.json, a bad header, an
 *   empty dump, or a path that escapes the root (absolute or `../`)
 */
export async function readDump(root: string, opts: ReadDumpOptions = {}): Promise<Dump> {
  const config = await readDumpConfig(root);
  let text: string;
  try {
    text = await readFile(join(root, MANIFEST), 'utf8');
  } catch (e) {
    throw new IslError('BAD_MANIFEST', `missing ${MANIFEST} in ${root} (run \`npm run discover -- --input ${root}\` to write one)`, { file: MANIFEST, cause: e });
  }
  const { rows, errors } = parseManifest(text, root);
  const byWell = new Map<string, ManifestRow[]>();
  for (const r of rows) byWell.set(r.well, [...(byWell.get(r.well) ?? []), r]);
  for (const w of errors.keys()) if (!byWell.has(w)) byWell.set(w, []);
  const limit = pLimit(opts.concurrency ?? 8);
  const wells = new Map<string, WellManifest>();
  const badWells = new Map<string, IslError>();
  await Promise.all(
    [...byWell].map(async ([well, wrows]) => {
      const s = checkStructure(well, wrows, config);
      const f = opts.checkFiles === false ? { problems: [] } : await checkFiles(well, wrows, config, limit);
      const problems = [...(errors.get(well) ?? []), ...s.problems, ...f.problems];
      if (problems.length) badWells.set(well, summarise(well, problems));
      else wells.set(well, { well, rows: wrows, positions: s.positions, depth: s.depth, ...('width' in f ? { width: f.width, height: f.height, dtype: f.dtype } : {}) });
    }),
  );
  const sortMap = <V>(m: Map<string, V>) => new Map([...m].sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true })));
  return { root, config, wells: sortMap(wells), badWells: sortMap(badWells) };
}

/** A row to write: as ManifestRow without line and absolute file. */
export type ManifestEntry = Omit<ManifestRow, 'line' | 'file'>;

/** Formats manifest rows as CSV text (optional columns only when some row uses them). */
export function formatManifest(entries: readonly ManifestEntry[]): string {
  const stage = entries.some((e) => e.stageX !== undefined);
  const page = entries.some((e) => e.page !== undefined);
  const header = [...REQUIRED_COLUMNS, ...(stage ? ['stage_x', 'stage_y'] : []), ...(page ? ['page'] : [])];
  const rows = entries.map((e) => [e.path, e.well, e.tileRow, e.tileCol, e.z, e.channel, ...(stage ? [e.stageX ?? '', e.stageY ?? ''] : []), ...(page ? [e.page ?? ''] : [])]);
  return stringify([header, ...rows]);
}

/**
 * Decodes the image of one manifest row as a Tile (raw counts in the file's dtype).
 * @throws IslError BAD_INPUT naming `manifest.csv:LINE`, the file and the well when it cannot be read
 */
export async function readTile(row: ManifestRow): Promise<Tile> {
  try {
    const plane = await readPlane(row.file, { page: row.page ?? 0 });
    const { well, tileRow, tileCol, channel, z, stageX, stageY } = row;
    return { well, tileRow, tileCol, channel, z, plane, path: row.file, ...(stageX !== undefined && stageY !== undefined ? { stageX, stageY } : {}) };
  } catch (e) {
    const reason = e instanceof IslError && e.file ? e.message.slice(e.file.length + 2) : e instanceof Error ? e.message : String(e);
    throw new IslError('BAD_INPUT', `${row.path}: ${reason}`, { file: `${MANIFEST}:${row.line}`, well: row.well, cause: e });
  }
}
