/**
 * Writes training patches to Parquet or Arrow IPC shard files of bounded size (see schema.ts).
 *
 * Parquet goes through hyparquet-writer's incremental `ParquetWriter` (one row group per
 * `rowGroupBytes` of patches, flushed to disk as it is encoded); it measured faster than
 * parquet-wasm's streaming writer on the same patches (bench/shards.ts, bench/RESULTS.md) and
 * needs no wasm heap. Arrow IPC goes through apache-arrow's `RecordBatchFileWriter`, uncompressed
 * (its compressed IPC is not readable by other implementations). Each file is written under a
 * temp name beside its final name and renamed when complete, so a crash never leaves a
 * half-written `shard-NNNNN.*`.
 */
import { open, readdir, rename, rm, mkdir, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';
import { Binary, Field, Int32, makeData, RecordBatch, RecordBatchFileWriter, Schema, Struct, Utf8, type Data } from 'apache-arrow';
import { badOption, IslError } from '../../core/errors.ts';
import { removeStaleTemps, tempPathFor } from '../atomic.ts';
import {
  META_KEY, SCHEMA_VERSION, SHARD_FILE_PATTERN, SHARD_FORMATS, SPLITS, ShardMetaSchema,
  labelColumn, maskColumn, rowBlobBytes, shardFileName, zodIssues,
  type ShardFormat, type ShardMeta, type ShardPatch,
} from './schema.ts';

if (endianness() !== 'LE') throw new Error('shards store uint16 little-endian by reinterpreting typed arrays: a little-endian CPU is required');

export interface ShardWriterOptions {
  /** File format (default 'parquet'). */
  readonly format?: ShardFormat;
  /** Upper bound of one file's size in bytes (default 512 MiB); a new file starts before a row would exceed it. */
  readonly maxBytes?: number;
  /** Patch bytes per Parquet row group / Arrow record batch (default min(64 MiB, maxBytes / 2), at least one row). Bounds writer and reader memory. */
  readonly rowGroupBytes?: number;
  /** The `isl` metadata written into every file; `schema_version` must be {@link SCHEMA_VERSION}. */
  readonly meta: ShardMeta;
  /** Delete existing `shard-*` files in `dir` first (default false: existing shards are an error). */
  readonly overwrite?: boolean;
}

/** A finished shard file. */
export interface ShardFileInfo {
  readonly path: string;
  readonly rows: number;
  readonly bytes: number;
}

const MiB = 1 << 20;
/** Default upper bound of one shard file: 512 MiB (2^29 bytes). */
export const DEFAULT_SHARD_MAX_BYTES = 512 * MiB;
/** Arrow binary offsets are int32: keep every batch column well below 2 GiB. */
const MAX_ROW_GROUP_BYTES = 1024 * MiB;

/**
 * One binary column of a row group in Arrow's layout: values back to back in one buffer with int32
 * offsets, nulls empty. Patches are copied in once; Parquet gets views, Arrow the buffers as they are.
 */
class BlobColumn {
  data: Uint8Array;
  offsets: Int32Array;
  valid: Uint8Array;
  rows = 0;
  nulls = 0;
  constructor(bytes: number, rows: number) {
    this.data = new Uint8Array(bytes);
    this.offsets = new Int32Array(rows + 1);
    this.valid = new Uint8Array(rows);
  }
  push(v: ArrayBufferView | null): void {
    const end = this.offsets[this.rows];
    const n = v ? v.byteLength : 0;
    if (this.rows + 1 >= this.offsets.length) {
      this.offsets = grow(this.offsets, 2 * this.offsets.length);
      this.valid = grow(this.valid, 2 * this.valid.length + 1);
    }
    if (end + n > this.data.length) {
      if (end + n > 0x7fffffff) throw new RangeError('Arrow binary column over 2 GiB in one batch: lower rowGroupBytes');
      this.data = grow(this.data, Math.min(0x7fffffff, Math.max(2 * this.data.length, end + n)));
    }
    if (v) this.data.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), end);
    else this.nulls++;
    this.valid[this.rows] = v ? 1 : 0;
    this.offsets[++this.rows] = end + n;
  }
  /** Views of the values (null where absent), valid until `clear`. */
  values(): (Uint8Array | null)[] {
    return Array.from({ length: this.rows }, (_, i) => (this.valid[i] ? this.data.subarray(this.offsets[i], this.offsets[i + 1]) : null));
  }
  get bytes(): number {
    return this.offsets[this.rows];
  }
  clear(): void {
    this.rows = 0;
    this.nulls = 0;
  }
}

function grow<T extends Uint8Array | Int32Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

/** Patches of one row group, column by column, as they will be written. */
class RowBuffer {
  wells: string[] = [];
  ys: number[] = [];
  xs: number[] = [];
  splits: string[] = [];
  readonly input: BlobColumn;
  readonly inputMask: BlobColumn;
  readonly labels: BlobColumn[];
  readonly masks: BlobColumn[];
  /** Payload bytes buffered (blobs and strings). */
  bytes = 0;
  /** @param rows expected rows per group: buffers are sized for them once and reused for every group. */
  constructor(readonly meta: ShardMeta, rows: number) {
    const n = meta.patch_size * meta.patch_size;
    this.input = new BlobColumn(rows * 2 * meta.z_count * n, rows);
    this.inputMask = new BlobColumn(rows * meta.z_count, rows);
    this.labels = meta.labels.map(() => new BlobColumn(rows * 2 * n, rows));
    this.masks = meta.labels.map(() => new BlobColumn(rows * n, rows));
  }
  get rows(): number {
    return this.wells.length;
  }
  /** Copies a (validated) patch in; `ones` / `zOnes` stand for absent masks. */
  push(p: ShardPatch, ones: Uint8Array, zOnes: Uint8Array): void {
    this.wells.push(p.well);
    this.ys.push(p.y);
    this.xs.push(p.x);
    this.splits.push(p.split);
    this.input.push(p.input);
    this.inputMask.push(p.inputMask ?? zOnes);
    this.meta.labels.forEach((name, i) => {
      const l = p.labels.get(name);
      this.labels[i].push(l ? l.data : null);
      this.masks[i].push(l ? (l.mask ?? ones) : null);
    });
    this.bytes += patchBytes(p, this.meta) + p.well.length + p.split.length + 8;
  }
  clear(): void {
    this.wells = [];
    this.ys = [];
    this.xs = [];
    this.splits = [];
    for (const c of [this.input, this.inputMask, ...this.labels, ...this.masks]) c.clear();
    this.bytes = 0;
  }
}

/** Blob bytes a patch adds (absent labels add none). */
function patchBytes(p: ShardPatch, meta: ShardMeta): number {
  const n = meta.patch_size * meta.patch_size;
  let s = 2 * meta.z_count * n + meta.z_count;
  for (const name of meta.labels) if (p.labels.has(name)) s += 3 * n;
  return s;
}

/** One open shard file in one format. */
interface ShardSink {
  /** Bytes already handed to the file (written or being written). */
  readonly written: number;
  writeGroup(rows: RowBuffer): Promise<void>;
  /** Writes the footer and closes the file. */
  finish(): Promise<void>;
  /** Closes without finishing (the temp file is then deleted by the caller). */
  abort(): Promise<void>;
  /** Upper estimate of the bytes a group of `rows` rows with `payload` blob and string bytes adds once written, and of the footer for `groups` groups. */
  estimateGroup(rows: number, payload: number): number;
  estimateFooter(groups: number): number;
}

/**
 * Streams patches into bounded-size shard files `dir/shard-00000.parquet`, `shard-00001...`.
 * Use `ShardWriter.create`, then `write` each patch (awaiting each call: writes are not
 * concurrent) and `close` once; `abort` on failure. Patch arrays are copied, so callers may reuse
 * them after `write` resolves. Memory: about two row groups (`rowGroupBytes`).
 */
export class ShardWriter {
  private file?: { index: number; path: string; tmp: string; sink: ShardSink; rows: number; groups: number };
  private buffer: RowBuffer;
  private readonly files: ShardFileInfo[] = [];
  private readonly labelIndex: Map<string, number>;
  private readonly n: number;
  private readonly ones: Uint8Array;
  private readonly zOnes: Uint8Array;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly format: ShardFormat,
    readonly maxBytes: number,
    readonly rowGroupBytes: number,
    readonly meta: ShardMeta,
  ) {
    this.labelIndex = new Map(meta.labels.map((l, i) => [l, i]));
    this.n = meta.patch_size * meta.patch_size;
    this.ones = new Uint8Array(this.n).fill(1);
    this.zOnes = new Uint8Array(meta.z_count).fill(1);
    // Rows per group: the group is flushed once its payload reaches rowGroupBytes.
    this.buffer = new RowBuffer(meta, Math.ceil(rowGroupBytes / (2 * meta.z_count * this.n + meta.z_count)) + 1);
  }

  /**
   * Validates the options and prepares `dir` (created if needed; stale temp files of killed runs removed).
   * @param dir output folder, e.g. OUT/shards
   * @throws IslError BAD_OPTION for a bad format, size or metadata, or when `dir` already holds shards and `overwrite` is not set
   */
  static async create(dir: string, options: ShardWriterOptions): Promise<ShardWriter> {
    const format = options.format ?? 'parquet';
    if (!SHARD_FORMATS.includes(format)) throw badOption('format', `one of ${SHARD_FORMATS.join(', ')}`, format);
    const parsed = ShardMetaSchema.safeParse(options.meta);
    if (!parsed.success) throw badOption('meta', `valid shard metadata (${zodIssues(parsed.error)})`, JSON.stringify(options.meta));
    const meta = parsed.data;
    if (meta.schema_version !== SCHEMA_VERSION) throw badOption('meta.schema_version', `${SCHEMA_VERSION}`, meta.schema_version);
    if (new Set(meta.labels).size !== meta.labels.length) throw badOption('meta.labels', 'distinct label names', meta.labels.join(','));
    const maxBytes = options.maxBytes ?? DEFAULT_SHARD_MAX_BYTES;
    const row = rowBlobBytes(meta);
    // A file must hold at least one row plus headers and footer.
    const minBytes = row + 16 * 1024 + JSON.stringify(meta).length * 6;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < minBytes) throw badOption('maxBytes', `an integer of at least ${minBytes} (one ${meta.patch_size}x${meta.patch_size}x${meta.z_count} patch row with its labels plus file overhead)`, maxBytes);
    const rowGroupBytes = options.rowGroupBytes ?? Math.max(row, Math.min(64 * MiB, Math.floor(maxBytes / 2)));
    if (!Number.isSafeInteger(rowGroupBytes) || rowGroupBytes <= 0 || rowGroupBytes > MAX_ROW_GROUP_BYTES) throw badOption('rowGroupBytes', `a positive integer up to ${MAX_ROW_GROUP_BYTES}`, rowGroupBytes);

    await mkdir(dir, { recursive: true });
    const existing = (await readdir(dir)).filter((f) => SHARD_FILE_PATTERN.test(f));
    if (existing.length && !options.overwrite) {
      throw badOption('overwrite', `true to replace the ${existing.length} shard file(s) already in ${dir} (e.g. ${existing[0]})`, options.overwrite);
    }
    for (const f of existing) await rm(join(dir, f), { force: true });
    // Temp files of runs killed mid-file.
    await removeStaleTemps(dir, (name) => SHARD_FILE_PATTERN.test(name));
    return new ShardWriter(dir, format, maxBytes, rowGroupBytes, meta);
  }

  /**
   * Appends one patch, starting a new file first when it would push the current one past `maxBytes`.
   * @throws IslError BAD_OPTION when the patch does not match the metadata (shape, labels, split)
   */
  async write(patch: ShardPatch): Promise<void> {
    if (this.closed) throw new IslError('BAD_OPTION', 'ShardWriter.write called after close() or abort()');
    this.check(patch);
    const b = this.buffer;
    const f = this.file;
    if (f) {
      // Start a new file first when this row would push the current one past maxBytes.
      const add = patchBytes(patch, this.meta) + patch.well.length + patch.split.length + 8;
      const projected = f.sink.written + f.sink.estimateGroup(b.rows + 1, b.bytes + add) + f.sink.estimateFooter(f.groups + 1);
      if (projected > this.maxBytes && f.rows + b.rows > 0) {
        await this.flushGroup();
        await this.finishFile();
      }
    }
    if (!this.file) await this.openFile();
    b.push(patch, this.ones, this.zOnes);
    if (b.bytes >= this.rowGroupBytes) await this.flushGroup();
  }

  /** Writes what is buffered, finishes the last file and returns every file written (in order). */
  async close(): Promise<ShardFileInfo[]> {
    if (this.closed) return [...this.files];
    this.closed = true;
    try {
      if (this.buffer.rows) await this.flushGroup();
      if (this.file) await this.finishFile();
    } catch (e) {
      await this.abort();
      throw e;
    }
    return [...this.files];
  }

  /** Stops writing and deletes the unfinished file (finished files stay). */
  async abort(): Promise<void> {
    this.closed = true;
    const f = this.file;
    this.file = undefined;
    if (f) {
      await f.sink.abort().catch(() => undefined);
      await rm(f.tmp, { force: true });
    }
  }

  private check(p: ShardPatch): void {
    const { patch_size: P, z_count: Z } = this.meta;
    if (typeof p.well !== 'string' || !p.well) throw badOption('patch.well', 'a non-empty well name', p.well);
    if (!Number.isInteger(p.y) || p.y < 0 || p.y > 0x7fffffff) throw badOption(`patch.y of well ${p.well}`, 'a non-negative int32 origin in px', p.y);
    if (!Number.isInteger(p.x) || p.x < 0 || p.x > 0x7fffffff) throw badOption(`patch.x of well ${p.well}`, 'a non-negative int32 origin in px', p.x);
    if (!SPLITS.includes(p.split)) throw badOption(`patch.split of well ${p.well}`, "'train' or 'test'", p.split);
    if (!(p.input instanceof Uint16Array) || p.input.length !== Z * P * P) {
      throw badOption(`patch.input of well ${p.well}`, `a Uint16Array of z_count*P*P = ${Z}*${P}*${P} = ${Z * P * P} values`, `${p.input?.constructor?.name}(${p.input?.length})`);
    }
    if (p.inputMask !== undefined && (!(p.inputMask instanceof Uint8Array) || p.inputMask.length !== Z)) {
      throw badOption(`patch.inputMask of well ${p.well}`, `a Uint8Array of ${Z} values (one per z-plane)`, `${p.inputMask?.constructor?.name}(${p.inputMask?.length})`);
    }
    for (const [name, l] of p.labels) {
      if (!this.labelIndex.has(name)) throw badOption(`patch.labels of well ${p.well}`, `labels among meta.labels [${this.meta.labels.join(', ')}]`, name);
      if (!(l.data instanceof Uint16Array) || l.data.length !== P * P) throw badOption(`label ${name} of well ${p.well}`, `a Uint16Array of P*P = ${P * P} values`, `${l.data?.constructor?.name}(${l.data?.length})`);
      if (l.mask !== undefined && (!(l.mask instanceof Uint8Array) || l.mask.length !== P * P)) throw badOption(`mask of label ${name} of well ${p.well}`, `a Uint8Array of P*P = ${P * P} values`, `${l.mask?.constructor?.name}(${l.mask?.length})`);
    }
  }

  private async openFile(): Promise<void> {
    const index = this.files.length;
    const path = join(this.dir, shardFileName(index, this.format));
    const tmp = tempPathFor(path);
    const fh = await open(tmp, 'w');
    // Room for one row group plus its framing and one more row (a group is flushed once it reaches rowGroupBytes).
    const groupBytes = Math.min(this.maxBytes, this.rowGroupBytes + rowBlobBytes(this.meta) * 2 + MiB);
    const sink = this.format === 'parquet' ? new ParquetSink(fh, this.meta, groupBytes) : new ArrowSink(fh, this.meta);
    this.file = { index, path, tmp, sink, rows: 0, groups: 0 };
  }

  private async flushGroup(): Promise<void> {
    const b = this.buffer;
    if (!b.rows) return;
    const f = this.file!;
    try {
      // Resolves once the group's bytes are on their way to disk, so the buffer can be reused.
      await f.sink.writeGroup(b);
    } catch (e) {
      await this.abort();
      throw new IslError('WRITE_FAILED', `writing shard failed: ${(e as Error).message}`, { file: f.path, cause: e });
    }
    f.rows += b.rows;
    f.groups++;
    b.clear();
  }

  private async finishFile(): Promise<void> {
    const f = this.file!;
    try {
      await f.sink.finish();
      await rename(f.tmp, f.path);
    } catch (e) {
      await this.abort();
      throw new IslError('WRITE_FAILED', `finishing shard failed: ${(e as Error).message}`, { file: f.path, cause: e });
    }
    this.file = undefined;
    this.files.push({ path: f.path, rows: f.rows, bytes: (await stat(f.path)).size });
  }
}

// ---------------------------------------------------------------------------------------------
// Parquet (hyparquet-writer)

/** hyparquet-writer's byte buffer, flushed to a file after every row group (so memory stays one group). */
class FileByteWriter extends ByteWriter {
  /** @param capacity initial buffer bytes: one row group, so the buffer never regrows (regrowth copies cost ~15 % of write time). */
  constructor(private readonly fh: FileHandle, capacity: number) {
    super(capacity);
  }
  flush(): Promise<void> {
    const chunk = new Uint8Array(this.buffer, 0, this.index);
    return this.fh.write(chunk).then(() => {
      this.index = 0;
    });
  }
  override finish(): Promise<void> {
    return this.flush();
  }
}

class ParquetSink implements ShardSink {
  private readonly out: FileByteWriter;
  private readonly pw: ParquetWriter;
  private readonly columns: number;
  private readonly metaBytes: number;
  constructor(private readonly fh: FileHandle, private readonly meta: ShardMeta, groupBytes: number) {
    this.out = new FileByteWriter(fh, groupBytes);
    const json = JSON.stringify(meta);
    this.metaBytes = json.length * 3;
    this.columns = 6 + 2 * meta.labels.length;
    this.pw = new ParquetWriter({
      writer: this.out,
      schema: parquetSchema(meta.labels),
      codec: 'UNCOMPRESSED',
      kvMetadata: [{ key: META_KEY, value: json }],
      createdBy: 'insilico-labeling shards',
    });
  }
  get written(): number {
    return this.out.offset;
  }
  async writeGroup(b: RowBuffer): Promise<void> {
    const blob = { type: 'BYTE_ARRAY' as const, encoding: 'PLAIN' as const, statistics: false };
    const columnData = [
      { name: 'well', data: b.wells },
      { name: 'y', data: Int32Array.from(b.ys) },
      { name: 'x', data: Int32Array.from(b.xs) },
      { name: 'split', data: b.splits },
      { name: 'input', data: b.input.values(), ...blob },
      { name: 'input_mask', data: b.inputMask.values(), ...blob },
      ...this.meta.labels.flatMap((l, i) => [
        { name: labelColumn(l), data: b.labels[i].values(), ...blob },
        { name: maskColumn(l), data: b.masks[i].values(), ...blob },
      ]),
    ];
    await this.pw.write({ columnData, rowGroupSize: b.rows });
  }
  async finish(): Promise<void> {
    await this.pw.finish();
    await this.fh.close();
  }
  async abort(): Promise<void> {
    await this.fh.close();
  }
  estimateGroup(rows: number, payload: number): number {
    // 4-byte length prefix per value, a page header (<= 64 B) per 1 MiB page, one per column chunk at least.
    const body = payload + rows * this.columns * 4;
    return body + Math.ceil(body / MiB) * 64 + this.columns * 256;
  }
  estimateFooter(groups: number): number {
    // Thrift footer: ~200 B per column chunk, plus offset indexes and the JSON metadata.
    return 4096 + this.metaBytes + groups * this.columns * 320;
  }
}

/** The Parquet schema of a shard (BYTE_ARRAY blobs; strings UTF8; labels OPTIONAL). */
export function parquetSchema(labels: readonly string[]): SchemaElement[] {
  const str = { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } } as const;
  return [
    { name: 'root', num_children: 6 + 2 * labels.length },
    { name: 'well', ...str, repetition_type: 'REQUIRED' },
    { name: 'y', type: 'INT32', repetition_type: 'REQUIRED' },
    { name: 'x', type: 'INT32', repetition_type: 'REQUIRED' },
    { name: 'split', ...str, repetition_type: 'REQUIRED' },
    { name: 'input', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED' },
    { name: 'input_mask', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED' },
    ...labels.flatMap((l): SchemaElement[] => [
      { name: labelColumn(l), type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
      { name: maskColumn(l), type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
    ]),
  ];
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC file (apache-arrow)

/** apache-arrow's file writer, collecting its output chunks so we write them to disk ourselves with backpressure. */
class CollectingFileWriter extends RecordBatchFileWriter {
  chunks: Uint8Array[] = [];
  get position(): number {
    return this._position;
  }
  protected override _write(chunk: ArrayBufferView | ArrayBufferLike | ArrayLike<number> | Iterable<number> | string | null | undefined): this {
    if (this._started && chunk && ArrayBuffer.isView(chunk) && chunk.byteLength > 0) {
      this.chunks.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this._position += chunk.byteLength;
    }
    return this;
  }
}

class ArrowSink implements ShardSink {
  private readonly w = new CollectingFileWriter();
  private readonly schema: Schema;
  private readonly columns: number;
  private readonly metaBytes: number;
  constructor(private readonly fh: FileHandle, private readonly meta: ShardMeta) {
    this.schema = arrowSchema(meta);
    this.columns = 6 + 2 * meta.labels.length;
    this.metaBytes = JSON.stringify(meta).length * 3;
  }
  get written(): number {
    return this.w.position;
  }
  async writeGroup(b: RowBuffer): Promise<void> {
    this.w.write(recordBatch(this.schema, this.meta, b));
    await this.drain();
  }
  async finish(): Promise<void> {
    this.w.finish(); // writes the footer through _write
    await this.drain();
    await this.fh.close();
  }
  async abort(): Promise<void> {
    await this.fh.close();
  }
  private async drain(): Promise<void> {
    const chunks = this.w.chunks;
    this.w.chunks = [];
    if (chunks.length) await this.fh.writev(chunks);
  }
  estimateGroup(rows: number, payload: number): number {
    // int32 offsets per value, 8-byte padding and a validity bitmap per buffer, message header.
    return payload + rows * this.columns * 4 + this.columns * (3 * 8 + Math.ceil(rows / 8) + 8) + 1024 + this.columns * 64;
  }
  estimateFooter(groups: number): number {
    // The schema is written at the start and again in the footer, with one 24-byte block per batch.
    return 2 * (1024 + this.metaBytes + this.columns * 128) + groups * 32;
  }
}

/** One Arrow record batch of buffered rows (sharing the buffer's memory). */
function recordBatch(schema: Schema, meta: ShardMeta, b: RowBuffer): RecordBatch {
  const children: Data[] = [
    utf8Data(b.wells),
    int32Data(b.ys),
    int32Data(b.xs),
    utf8Data(b.splits),
    binaryData(b.input),
    binaryData(b.inputMask),
    ...meta.labels.flatMap((_, i) => [binaryData(b.labels[i]), binaryData(b.masks[i])]),
  ];
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: b.rows, nullCount: 0, children }));
}

/**
 * The patches as one apache-arrow RecordBatch with the shard schema (for in-memory use, e.g. handing
 * shards to another Arrow consumer). Patches are copied but not validated against `meta`.
 */
export function shardRecordBatch(meta: ShardMeta, patches: readonly ShardPatch[]): RecordBatch {
  const b = new RowBuffer(meta, patches.length);
  const ones = new Uint8Array(meta.patch_size * meta.patch_size).fill(1);
  const zOnes = new Uint8Array(meta.z_count).fill(1);
  for (const p of patches) b.push(p, ones, zOnes);
  return recordBatch(arrowSchema(meta), meta, b);
}

/** The Arrow schema of a shard, with the `isl` JSON as schema metadata. */
export function arrowSchema(meta: ShardMeta): Schema {
  const fields = [
    new Field('well', new Utf8(), false),
    new Field('y', new Int32(), false),
    new Field('x', new Int32(), false),
    new Field('split', new Utf8(), false),
    new Field('input', new Binary(), false),
    new Field('input_mask', new Binary(), false),
    ...meta.labels.flatMap((l) => [new Field(labelColumn(l), new Binary(), true), new Field(maskColumn(l), new Binary(), true)]),
  ];
  return new Schema(fields, new Map([[META_KEY, JSON.stringify(meta)]]));
}

const encoder = new TextEncoder();

function utf8Data(values: readonly string[]): Data<Utf8> {
  const c = new BlobColumn(values.reduce((n, v) => n + 3 * v.length, 0), values.length);
  for (const v of values) c.push(encoder.encode(v));
  return makeData({ type: new Utf8(), length: c.rows, nullCount: 0, valueOffsets: c.offsets.subarray(0, c.rows + 1), data: c.data.subarray(0, c.bytes) });
}

/** A binary column's Arrow data: its buffers as they are, plus a validity bitmap when it has nulls. */
function binaryData(c: BlobColumn): Data<Binary> {
  let nullBitmap: Uint8Array | undefined;
  if (c.nulls) {
    nullBitmap = new Uint8Array(Math.ceil(c.rows / 8));
    for (let i = 0; i < c.rows; i++) if (c.valid[i]) nullBitmap[i >> 3] |= 1 << (i & 7);
  }
  return makeData({ type: new Binary(), length: c.rows, nullCount: c.nulls, nullBitmap, valueOffsets: c.offsets.subarray(0, c.rows + 1), data: c.data.subarray(0, c.bytes) });
}

function int32Data(values: readonly number[]): Data<Int32> {
  return makeData({ type: new Int32(), length: values.length, nullCount: 0, data: Int32Array.from(values) });
}
