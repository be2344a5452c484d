/**
 * Reads training patches back from a folder of shard files (Parquet via hyparquet, Arrow IPC via
 * apache-arrow), one row group / record batch at a time, several files concurrently, through a
 * bounded seeded shuffle buffer.
 */
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import { badInput, badOption, IslError } from '../../core/errors.ts';
import { rng, type Rng } from '../../core/random.ts';
import {
  META_KEY, SHARD_FILE_PATTERN, SPLITS, labelColumn, maskColumn, parseShardMeta, shardColumns,
  type PatchLabel, type ShardFormat, type ShardMeta, type Split, type TrainingPatch,
} from './schema.ts';

if (endianness() !== 'LE') throw new Error('shards store uint16 little-endian by reinterpreting typed arrays: a little-endian CPU is required');

/** One shard file with its validated metadata. */
export interface ShardFile {
  readonly path: string;
  readonly format: ShardFormat;
  readonly meta: ShardMeta;
}

export interface ReadPatchesOptions {
  /** Only patches of this split (default: all). */
  readonly split?: Split;
  /** Patches held for shuffling; 0 (default) keeps file order and reads files in name order. */
  readonly shuffleBuffer?: number;
  /** Seed of the file order and of the shuffle (default 0). */
  readonly seed?: number;
  /** Files read at the same time, each one row group ahead (default 2). */
  readonly readers?: number;
  /** Expected patch side and z count: files that differ are an error naming the file. */
  readonly patchSize?: number;
  readonly zCount?: number;
}

/** A row as stored: blobs still as bytes (half the memory of float32 while in the shuffle buffer). */
interface RawRow {
  well: string;
  y: number;
  x: number;
  split: Split;
  input: Uint8Array;
  inputMask: Uint8Array;
  labels: (Uint8Array | null)[];
  masks: (Uint8Array | null)[];
}

/**
 * Lists the shard files of `dir` (name order) and validates each one's metadata against the first.
 * @throws IslError BAD_INPUT when `dir` has no shards, a file is unreadable, has another schema
 *   version, or disagrees with the others (labels, patch size, z count, channel)
 */
export async function listShards(dir: string): Promise<ShardFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw badInput(dir, `cannot list shard folder: ${(e as Error).message}`, undefined, e);
  }
  const shardNames = names.filter((f) => SHARD_FILE_PATTERN.test(f)).sort();
  if (!shardNames.length) throw badInput(dir, 'has no shard files (shard-NNNNN.parquet or .arrow); run preprocess first');
  const files: ShardFile[] = [];
  for (const name of shardNames) {
    const path = join(dir, name);
    const format = SHARD_FILE_PATTERN.exec(name)![2] as ShardFormat;
    const info = format === 'parquet' ? await parquetInfo(path) : await arrowInfo(path);
    if (files.length) sameLayout(files[0], { path, ...info });
    files.push({ path, format, ...info });
  }
  return files;
}

/**
 * The metadata shared by all shards of `dir` (validated as in {@link listShards}).
 * @throws IslError BAD_INPUT as listShards
 */
export async function readShardMeta(dir: string): Promise<ShardMeta> {
  return (await listShards(dir))[0].meta;
}

/**
 * Streams the patches of `dir` as float32 in [0, 1] (count / 65535), z-major, with each present
 * label and its per-pixel mask. Memory: `shuffleBuffer` patches plus one row group per reader.
 * The order is a pure function of the files and (`seed`, `shuffleBuffer`, `readers`).
 * @throws IslError BAD_OPTION for bad options; BAD_INPUT (naming the file) for a schema version,
 *   patch size or z count that does not match, or a blob of the wrong length
 */
export async function* readPatches(dir: string, options: ReadPatchesOptions = {}): AsyncGenerator<TrainingPatch> {
  const { split, shuffleBuffer = 0, seed = 0, readers = 2 } = options;
  if (split !== undefined && !SPLITS.includes(split)) throw badOption('split', "'train' or 'test'", split);
  if (!Number.isInteger(shuffleBuffer) || shuffleBuffer < 0) throw badOption('shuffleBuffer', 'a non-negative integer (patches)', shuffleBuffer);
  if (!Number.isInteger(readers) || readers < 1) throw badOption('readers', 'a positive integer', readers);
  if (!Number.isFinite(seed)) throw badOption('seed', 'a finite number', seed);
  const files = await listShards(dir);
  for (const f of files) {
    if (options.patchSize !== undefined && f.meta.patch_size !== options.patchSize) {
      throw badInput(f.path, `has patch_size ${f.meta.patch_size} but ${options.patchSize} was expected; reshard with --patch-size ${options.patchSize} or train with ${f.meta.patch_size}`);
    }
    if (options.zCount !== undefined && f.meta.z_count !== options.zCount) {
      throw badInput(f.path, `has z_count ${f.meta.z_count} but ${options.zCount} was expected`);
    }
  }
  const random = rng(seed);
  const order = shuffleBuffer > 0 ? shuffled(files, random) : files;
  const { meta } = files[0];

  const buffer: RawRow[] = [];
  for await (const group of interleave(order, readers)) {
    for (const row of group) {
      if (split && row.split !== split) continue;
      if (shuffleBuffer === 0) {
        yield toPatch(row, meta);
      } else if (buffer.length < shuffleBuffer) {
        buffer.push(row);
      } else {
        const j = random.int(shuffleBuffer);
        const out = buffer[j];
        buffer[j] = row;
        yield toPatch(out, meta);
      }
    }
  }
  while (buffer.length) {
    const j = random.int(buffer.length);
    const out = buffer[j];
    buffer[j] = buffer[buffer.length - 1];
    buffer.pop();
    yield toPatch(out, meta);
  }
}

/** Row groups of several files, round-robin (deterministic), each active file prefetching its next group. */
async function* interleave(files: readonly ShardFile[], readers: number): AsyncGenerator<RawRow[]> {
  type Active = { it: AsyncIterator<RawRow[]>; next: Promise<IteratorResult<RawRow[]>> };
  const queue = [...files];
  const active: Active[] = [];
  const start = (): void => {
    const f = queue.shift();
    if (!f) return;
    const it = (f.format === 'parquet' ? parquetGroups(f) : arrowGroups(f))[Symbol.asyncIterator]();
    const a: Active = { it, next: it.next() };
    a.next.catch(() => undefined); // surfaced when awaited below
    active.push(a);
  };
  while (active.length < readers && queue.length) start();
  try {
    let i = 0;
    while (active.length) {
      i %= active.length;
      const a = active[i];
      const r = await a.next;
      if (r.done) {
        active.splice(i, 1);
        start();
        continue;
      }
      a.next = a.it.next();
      a.next.catch(() => undefined);
      yield r.value;
      i++;
    }
  } finally {
    for (const a of active) await a.it.return?.();
  }
}

function shuffled<T>(items: readonly T[], random: Rng): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Bytes to float32 counts / 65535, checking the length. */
function toPatch(r: RawRow, meta: ShardMeta): TrainingPatch {
  const labels = new Map<string, PatchLabel>();
  meta.labels.forEach((name, i) => {
    const d = r.labels[i];
    if (d) labels.set(name, { data: unit(d), mask: r.masks[i] ?? new Uint8Array(d.byteLength / 2).fill(1) });
  });
  return { well: r.well, y: r.y, x: r.x, split: r.split, input: unit(r.input), inputMask: r.inputMask, labels };
}

/** float32(v / 65535) for every uint16 v: a lookup is faster than dividing and gives the same float32. */
const UNIT = Float32Array.from({ length: 65536 }, (_, v) => v / 65535);

/** uint16 LE bytes to float32 value / 65535 (the canonical intensity of a 16-bit PNG value). */
function unit(bytes: Uint8Array): Float32Array {
  const u16 = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1) : new Uint16Array(bytes.slice().buffer);
  const out = new Float32Array(u16.length);
  for (let i = 0; i < u16.length; i++) out[i] = UNIT[u16[i]];
  return out;
}

/** Checks one raw row's blob sizes against the metadata. */
function checkRow(r: RawRow, meta: ShardMeta, file: string, index: number): RawRow {
  const { patch_size: P, z_count: Z } = meta;
  const where = `row ${index} (well ${r.well}, y ${r.y}, x ${r.x})`;
  if (!SPLITS.includes(r.split)) throw badInput(file, `${where} has split ${JSON.stringify(r.split)}; expected 'train' or 'test'`);
  if (!(r.input instanceof Uint8Array) || r.input.byteLength !== 2 * Z * P * P) {
    throw badInput(file, `${where} has an input of ${r.input?.byteLength} bytes but z_count ${Z} and patch_size ${P} need 2*${Z}*${P}*${P} = ${2 * Z * P * P}`);
  }
  if (!(r.inputMask instanceof Uint8Array) || r.inputMask.byteLength !== Z) throw badInput(file, `${where} has an input_mask of ${r.inputMask?.byteLength} bytes but z_count is ${Z}`);
  meta.labels.forEach((name, i) => {
    const d = r.labels[i];
    const m = r.masks[i];
    if (d && d.byteLength !== 2 * P * P) throw badInput(file, `${where} has ${labelColumn(name)} of ${d.byteLength} bytes but patch_size ${P} needs ${2 * P * P}`);
    if (m && m.byteLength !== P * P) throw badInput(file, `${where} has ${maskColumn(name)} of ${m.byteLength} bytes but patch_size ${P} needs ${P * P}`);
  });
  return r;
}

/** Every file of a set must share the layout of the first. */
function sameLayout(first: ShardFile, f: { path: string; meta: ShardMeta }): void {
  for (const key of ['patch_size', 'z_count', 'transmitted_channel'] as const) {
    if (f.meta[key] !== first.meta[key]) throw badInput(f.path, `has ${key} ${JSON.stringify(f.meta[key])} but ${first.path} has ${JSON.stringify(first.meta[key])}; shards of one folder must come from one preprocess run`);
  }
  if (f.meta.labels.join(',') !== first.meta.labels.join(',')) throw badInput(f.path, `has labels [${f.meta.labels.join(', ')}] but ${first.path} has [${first.meta.labels.join(', ')}]`);
}

function parseMetaJson(text: string | undefined, file: string): ShardMeta {
  if (text === undefined) throw badInput(file, `has no "${META_KEY}" metadata: not a shard written by preprocess`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badInput(file, `has "${META_KEY}" metadata that is not JSON: ${(e as Error).message}`, undefined, e);
  }
  return parseShardMeta(json, file);
}

function missingColumns(have: readonly string[], meta: ShardMeta, file: string): void {
  const missing = shardColumns(meta.labels).filter((c) => !have.includes(c));
  if (missing.length) throw badInput(file, `lacks column(s) ${missing.join(', ')} required by its metadata`);
}

// ---------------------------------------------------------------------------------------------
// Parquet

/** A hyparquet AsyncBuffer over an open file (positioned reads, no whole-file buffering). */
function fileBuffer(fh: FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const out = new Uint8Array(end - start);
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await fh.read(out, done, out.length - done, start + done);
        if (!bytesRead) throw new Error(`unexpected end of file at byte ${start + done} of ${size}`);
        done += bytesRead;
      }
      return out.buffer;
    },
  };
}

async function withFile<T>(path: string, fn: (fh: FileHandle, size: number) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw badInput(path, `cannot open shard: ${(e as Error).message}`, undefined, e);
  }
  try {
    return await fn(fh, (await fh.stat()).size);
  } catch (e) {
    if (IslError.is(e)) throw e;
    throw badInput(path, `is not a readable shard: ${(e as Error).message}`, undefined, e);
  } finally {
    await fh.close();
  }
}

async function parquetMeta(fh: FileHandle, size: number, path: string): Promise<{ md: FileMetaData; meta: ShardMeta }> {
  const md = await parquetMetadataAsync(fileBuffer(fh, size));
  const meta = parseMetaJson(md.key_value_metadata?.find((kv) => kv.key === META_KEY)?.value, path);
  missingColumns(md.schema.slice(1).map((s) => s.name), meta, path);
  return { md, meta };
}

async function parquetInfo(path: string): Promise<{ meta: ShardMeta }> {
  return withFile(path, async (fh, size) => ({ meta: (await parquetMeta(fh, size, path)).meta }));
}

async function* parquetGroups(f: ShardFile): AsyncGenerator<RawRow[]> {
  const fh = await open(f.path, 'r');
  try {
    const size = (await fh.stat()).size;
    const file = fileBuffer(fh, size);
    const { md, meta } = await parquetMeta(fh, size, f.path);
    const columns = shardColumns(meta.labels);
    let rowStart = 0;
    for (const rg of md.row_groups) {
      const rowEnd = rowStart + Number(rg.num_rows);
      let objs: Record<string, unknown>[];
      try {
        objs = await parquetReadObjects({ file, metadata: md, rowStart, rowEnd, columns, utf8: false });
      } catch (e) {
        throw badInput(f.path, `cannot decode rows ${rowStart}-${rowEnd - 1}: ${(e as Error).message}`, undefined, e);
      }
      yield objs.map((o, i) =>
        checkRow(
          {
            well: o.well as string,
            y: o.y as number,
            x: o.x as number,
            split: o.split as Split,
            input: o.input as Uint8Array,
            inputMask: o.input_mask as Uint8Array,
            labels: meta.labels.map((l) => (o[labelColumn(l)] as Uint8Array | null | undefined) ?? null),
            masks: meta.labels.map((l) => (o[maskColumn(l)] as Uint8Array | null | undefined) ?? null),
          },
          meta,
          f.path,
          rowStart + i,
        ),
      );
      rowStart = rowEnd;
    }
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC

async function arrowInfo(path: string): Promise<{ meta: ShardMeta }> {
  return withFile(path, async (fh) => {
    const reader = await RecordBatchReader.from(fh);
    await reader.open();
    if (!reader.isFile()) throw badInput(path, 'is an Arrow IPC stream, not an Arrow IPC file');
    const meta = parseMetaJson(reader.schema.metadata.get(META_KEY), path);
    missingColumns(reader.schema.fields.map((fl) => fl.name), meta, path);
    return { meta };
  });
}

async function* arrowGroups(f: ShardFile): AsyncGenerator<RawRow[]> {
  const fh = await open(f.path, 'r');
  try {
    const reader = await RecordBatchReader.from(fh);
    await reader.open();
    const meta = parseMetaJson(reader.schema.metadata.get(META_KEY), f.path);
    let row = 0;
    for await (const batch of reader as AsyncIterable<RecordBatch>) {
      const col = (name: string) => batch.getChild(name)!;
      const [well, y, x, split, input, inputMask] = ['well', 'y', 'x', 'split', 'input', 'input_mask'].map(col);
      const labels = meta.labels.map((l) => col(labelColumn(l)));
      const masks = meta.labels.map((l) => col(maskColumn(l)));
      const rows: RawRow[] = [];
      for (let i = 0; i < batch.numRows; i++) {
        rows.push(
          checkRow(
            {
              well: well.get(i) as string,
              y: y.get(i) as number,
              x: x.get(i) as number,
              split: split.get(i) as Split,
              input: input.get(i) as Uint8Array,
              inputMask: inputMask.get(i) as Uint8Array,
              labels: labels.map((c) => (c.get(i) as Uint8Array | null) ?? null),
              masks: masks.map((c) => (c.get(i) as Uint8Array | null) ?? null),
            },
            meta,
            f.path,
            row + i,
          ),
        );
      }
      row += batch.numRows;
      yield rows;
    }
  } finally {
    await fh.close();
  }
}
