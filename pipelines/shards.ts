/**
 * The shard step of preprocessing: cut seeded patches from the written canonical wells and stream
 * them into bounded-size Parquet or Arrow IPC files (io/shards/), split into train/test by well.
 */
import { join } from 'node:path';
import { isProjectedLabel, listIslFiles } from '../io/isl_folders.ts';
import { openCanonicalWindows, type CanonicalWindows } from '../io/canonical_windows.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { DEFAULT_SHARD_MAX_BYTES, ShardWriter } from '../io/shards/writer.ts';
import { SCHEMA_VERSION, type ShardFormat, type ShardMeta } from '../io/shards/schema.ts';
import { samplePatchesStreamed, splitWells, type SamplePatchesOptions } from '../transforms/patches.ts';
import type { ShardLabel, ShardPatch, Split } from '../io/shards/schema.ts';
import { NORMALIZATION_TARGETS } from '../transforms/normalize.ts';
import { preprocessOut } from '../io/out_layout.ts';

export interface ShardOptions {
  readonly format: ShardFormat;
  readonly patchSize: number;
  readonly patchesPerWell: number;
  readonly testFraction: number;
  readonly seed: number;
  readonly maxBytes: number;
}

/** The shard defaults, declared once (preprocess's CLI shows the same). */
export const SHARD_DEFAULTS: Readonly<ShardOptions> = Object.freeze({ format: 'parquet', patchSize: 256, patchesPerWell: 64, testFraction: 0.25, seed: 1, maxBytes: DEFAULT_SHARD_MAX_BYTES });

/** The labels a canonical well folder holds, from its file names (no decoding). */
function labelsOf(dir: string): string[] {
  return listIslFiles(dir, 'a canonical well').filter((f) => f.name.depthComputation && isProjectedLabel(f.name)).map((f) => f.name.channel);
}

/**
 * The seeded patches of a canonical well read window by window (io/canonical_windows.ts): the
 * same patches, in the same order, as `wellPatches` of the well loaded whole, holding one patch
 * and one band of label rows (sampling scans each label twice) instead of the well.
 */
export async function* canonicalPatches(w: CanonicalWindows, options: SamplePatchesOptions & { readonly split: Split }): AsyncGenerator<ShardPatch> {
  const { width } = w;
  const P = options.patchSize;
  const origins = await samplePatchesStreamed(w, options, (label, y0, y1) => w.counts(label, 0, { x: 0, y: y0, width, height: y1 - y0 }), w.bandRows);
  for (const { y, x } of origins) {
    const win = { x, y, width: P, height: P };
    const input = new Uint16Array(w.transmitted.depth * P * P);
    for (let z = 0; z < w.transmitted.depth; z++) input.set(await w.counts(w.transmitted.channel, z, win), z * P * P);
    const labels = new Map<string, ShardLabel>();
    for (const name of options.labels ?? w.labels) if (w.labels.includes(name)) labels.set(name, { data: await w.counts(name, 0, win) });
    yield { well: w.well, y, x, split: options.split, input, labels };
  }
}

/**
 * Writes OUT/shards/ from OUT/wells/<well>/ for `wells` (replacing earlier shards), plus
 * OUT/shards/split.json. Wells are read window by window, one at a time. A well smaller than the patch is an error.
 */
export async function writeShards(output: string, wells: readonly string[], o: Partial<ShardOptions> & { mode: string; source: Record<string, unknown> }): Promise<{ files: string[]; rows: number; split: { train: string[]; test: string[] } }> {
  const opts = { ...SHARD_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as ShardOptions;
  const split = splitWells(wells, { testFraction: wells.length > 1 ? opts.testFraction : 0, seed: opts.seed });
  const dirOf = (w: string) => preprocessOut.well(output, w);
  const first = await openCanonicalWindows(dirOf(wells[0]), { well: wells[0] });
  await first.close();
  const labels = new Set<string>();
  for (const w of wells) for (const l of labelsOf(dirOf(w))) labels.add(l);
  const meta: ShardMeta = {
    schema_version: SCHEMA_VERSION,
    labels: [...labels].sort(),
    patch_size: opts.patchSize,
    z_count: first.transmitted.depth,
    transmitted_channel: first.transmitted.channel,
    normalization: { method: 'global affine per channel per well, clipped to [0,1]; stored as value x 65535', targets: NORMALIZATION_TARGETS },
    source: { ...o.source, mode: o.mode },
    split,
    seed: opts.seed,
  };
  const writer = await ShardWriter.create(preprocessOut.shards(output), { format: opts.format, maxBytes: opts.maxBytes, meta, overwrite: true });
  let rows = 0;
  try {
    for (const name of wells) {
      const well = await openCanonicalWindows(dirOf(name), { well: name });
      try {
        const P = Math.min(opts.patchSize, well.width, well.height);
        if (P !== opts.patchSize) throw new Error(`well ${name} is ${well.width}x${well.height}, smaller than the ${opts.patchSize} px patch: lower --patch-size`);
        for await (const patch of canonicalPatches(well, { patchSize: P, count: opts.patchesPerWell, seed: opts.seed, split: split.test.includes(name) ? 'test' : 'train' })) {
          await writer.write(patch);
          rows++;
        }
      } finally {
        await well.close();
      }
    }
  } catch (e) {
    await writer.abort();
    throw e;
  }
  const files = await writer.close();
  await writeFileAtomic(preprocessOut.split(output), JSON.stringify({ ...split, seed: opts.seed, patchesPerWell: opts.patchesPerWell, patchSize: opts.patchSize }, null, 2));
  return { files: files.map((f) => f.path), rows, split };
}
