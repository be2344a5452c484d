/**
 * The training-patch shard format: one row per patch, in Parquet or Arrow IPC files that pyarrow,
 * DuckDB and polars read without our code.
 *
 * Columns (in this order):
 * - `well` utf8, `y` int32, `x` int32: the patch origin (top-left) in the canonical well image, px.
 * - `split` utf8: 'train' or 'test'.
 * - `input` binary: the transmitted z-stack patch as little-endian uint16, z-major (index
 *   (z * P + y) * P + x), exactly the canonical 16-bit PNG values (value x 65535, lossless).
 * - `input_mask` binary: one uint8 per z-plane, 1 = the plane is present.
 * - per label NAME: `label_NAME` binary, nullable (uint16 LE, P * P; null where the well lacks the
 *   label) and `mask_NAME` binary, nullable (uint8 P * P, 1 = the pixel is valid; null exactly when
 *   the label is null). The per-pixel mask is kept (not one flag per patch) because stitched wells
 *   have uncovered borders; it costs P * P bytes per label (~8 % of a 13-plane row with 3 labels).
 *
 * File key-value metadata (Parquet) / schema metadata (Arrow) `isl` holds {@link ShardMeta} as JSON.
 * Binary columns are Parquet BYTE_ARRAY without min/max statistics.
 */
import { z } from 'zod';
import { badInput } from '../../core/errors.ts';

/** Version of this layout; readers refuse other versions. Bump on any incompatible change. */
export const SCHEMA_VERSION = 1;

/** The key of the JSON metadata in every shard file. */
export const META_KEY = 'isl';

export type ShardFormat = 'parquet' | 'arrow';
export const SHARD_FORMATS: readonly ShardFormat[] = ['parquet', 'arrow'];

/** File extension per format (`.arrow` is an Arrow IPC *file*, a.k.a. Feather v2, uncompressed). */
export const SHARD_EXTENSION: Readonly<Record<ShardFormat, string>> = { parquet: '.parquet', arrow: '.arrow' };

/** `shard-00000.parquet`: file name of the index-th shard. */
export function shardFileName(index: number, format: ShardFormat): string {
  return `shard-${String(index).padStart(5, '0')}${SHARD_EXTENSION[format]}`;
}

/** Matches finished shard files (temp files start with a dot and end in .tmp, so never match). */
export const SHARD_FILE_PATTERN = /^shard-(\d{5,})\.(parquet|arrow)$/;

export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['train', 'test'];

/** Label names become column names (`label_NAME`), so they are restricted to SQL-friendly identifiers. */
export const LABEL_NAME_PATTERN = /^[A-Za-z0-9_]+$/;

export const labelColumn = (label: string): string => `label_${label}`;
export const maskColumn = (label: string): string => `mask_${label}`;

/** Fixed columns, in file order; label columns follow, `label_NAME, mask_NAME` per label in `meta.labels` order. */
export const FIXED_COLUMNS = ['well', 'y', 'x', 'split', 'input', 'input_mask'] as const;

/** All column names of a shard with these labels, in file order. */
export function shardColumns(labels: readonly string[]): string[] {
  return [...FIXED_COLUMNS, ...labels.flatMap((l) => [labelColumn(l), maskColumn(l)])];
}

const wellList = z.array(z.string().min(1));

/** The `isl` metadata of every shard file (snake_case, as stored). */
export const ShardMetaSchema = z.object({
  schema_version: z.number().int(),
  /** Label names in column order; may be empty (inference-only data). */
  labels: z.array(z.string().regex(LABEL_NAME_PATTERN, 'label names must match [A-Za-z0-9_]+')),
  /** Patch side P in px (patches are square). */
  patch_size: z.number().int().positive(),
  /** Number of transmitted z-planes per patch. */
  z_count: z.number().int().positive(),
  /** Transmitted-light channel of the input (e.g. PHASE_CONTRAST). */
  transmitted_channel: z.string().min(1),
  /** How canonical intensities were normalized (method and parameters, written by preprocess). */
  normalization: z.record(z.string(), z.unknown()),
  /** Where the data came from (dump path, checksums, versions, written by preprocess). */
  source: z.record(z.string(), z.unknown()),
  /** The train/test split by well; a well is in exactly one list. */
  split: z.object({ train: wellList, test: wellList }),
  /** Seed of the patch sampling and of the split. */
  seed: z.number().int(),
});

export type ShardMeta = z.infer<typeof ShardMetaSchema>;

/** One label of one patch as written: uint16 counts (P * P) and an optional per-pixel validity mask (default all valid). */
export interface ShardLabel {
  readonly data: Uint16Array;
  readonly mask?: Uint8Array;
}

/** One patch as written to a shard (integer counts, exactly the canonical PNG values). */
export interface ShardPatch {
  readonly well: string;
  /** Origin (top-left) of the patch in the canonical well image, px. */
  readonly y: number;
  readonly x: number;
  readonly split: Split;
  /** z * P * P uint16 counts, z-major. */
  readonly input: Uint16Array;
  /** One byte per z-plane, 1 = present (default all present). */
  readonly inputMask?: Uint8Array;
  /** Label name to its patch; labels of `meta.labels` missing here are written as null. */
  readonly labels: ReadonlyMap<string, ShardLabel>;
}

/** One label of a patch as training reads it. */
export interface PatchLabel {
  /** P * P intensities in [0, 1] (count / 65535). */
  readonly data: Float32Array;
  /** P * P, 1 = valid pixel. */
  readonly mask: Uint8Array;
}

/** One patch as training reads it. */
export interface TrainingPatch {
  readonly well: string;
  readonly y: number;
  readonly x: number;
  readonly split: Split;
  /** z * P * P intensities in [0, 1] (count / 65535), z-major. */
  readonly input: Float32Array;
  /** One byte per z-plane, 1 = present. */
  readonly inputMask: Uint8Array;
  /** Only the labels this well has (null columns are not keys). */
  readonly labels: Map<string, PatchLabel>;
}

/** Bytes of the blobs of one row (input, input mask, and every label with its mask). */
export function rowBlobBytes(meta: Pick<ShardMeta, 'patch_size' | 'z_count' | 'labels'>): number {
  const n = meta.patch_size * meta.patch_size;
  return meta.z_count * n * 2 + meta.z_count + meta.labels.length * n * 3;
}

/**
 * Checks the version, then the full shape, of parsed `isl` metadata.
 * @param json the parsed JSON value of the `isl` key
 * @param file the shard file it came from, named in every error message
 * @throws IslError BAD_INPUT for another schema_version or a malformed field
 */
export function parseShardMeta(json: unknown, file: string): ShardMeta {
  const version = (json as { schema_version?: unknown } | null)?.schema_version;
  if (version !== SCHEMA_VERSION) {
    throw badInput(file, `has shard schema_version ${JSON.stringify(version)} but this reader supports ${SCHEMA_VERSION}; rewrite the shards with this version of preprocess`);
  }
  const r = ShardMetaSchema.safeParse(json);
  if (!r.success) throw badInput(file, `has invalid "${META_KEY}" metadata: ${zodIssues(r.error)}`);
  return r.data;
}

/** One line listing zod issues as `path: message`. */
export function zodIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
