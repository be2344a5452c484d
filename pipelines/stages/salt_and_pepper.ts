/**
 * Salt-and-pepper removal (the paper's repeated 5x5 median) on fluorescence tiles, computed once
 * per plane per run.
 *
 * The median runs in every pass that reads fluorescence (fluorescence-dust and flat-field
 * estimation, then the per-well runs) and, repeated up to 32 times, it is most of the
 * preprocessing time. So the first pass that denoises a plane stores the result under
 * OUT/cache/<stage>/ and later passes read it back:
 * - key: SHA-1 of the input plane's bytes, its size, the stage kind and its options, so a cached
 *   plane is only ever used for exactly the input and options that produced it (whatever stages
 *   come before, a changed source file, a rerun with other options);
 * - file: a 24-byte header (magic, width, height, passes, converged, sample type) and the raw
 *   little-endian samples, uncompressed: uint16 when every output pixel is an integer in
 *   [0, 65535] (the median of raw counts is one of them), float32 otherwise; reading it back gives
 *   the same float32 plane bit for bit;
 * - written atomically (temp file + rename): a kill -9 leaves either no entry or a whole one; an
 *   entry that does not parse (foreign file) is recomputed and replaced;
 * - pipelines/preprocess.ts removes OUT/cache when the per-well runs end (failed or not: a
 *   --resume recomputes what it needs).
 * `cache: false` turns it off (every pass recomputes).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { plane, type Plane } from '../../core/image.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { removeSaltAndPepper } from '../../transforms/median.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type TileItem } from './items.ts';
import { preprocessOut } from '../../io/out_layout.ts';

const ID = 'isl:transform:salt_and_pepper:v1';
const MAGIC = 0x50534c49; // "ISLP" little-endian
const HEADER = 24;

const Params = z.object({
  maxIterations: z.number().int().min(1).max(256).default(32),
  /** Store each denoised plane under OUT/cache so later passes read it instead of recomputing. */
  cache: z.boolean().default(true),
}).strict();

interface Denoised {
  plane: Plane<'float32'>;
  iterations: number;
  converged: boolean;
}

/** Directory of a salt-and-pepper stage's cache (pipelines/preprocess.ts removes OUT/cache). */
export function cacheDir(output: string, stage: string): string {
  return preprocessOut.stageCache(output, stage);
}

function bytes(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function cacheFile(dir: string, p: Plane<'float32'>, maxIterations: number): string {
  const h = createHash('sha1').update(`${ID} maxIterations=${maxIterations} ${p.width}x${p.height}\n`).update(bytes(p.data)).digest('hex');
  return join(dir, h.slice(0, 2), `${h}.raw`);
}

/**
 * The cached result for `p`, or undefined when absent or not a whole entry of the right size.
 * Synchronous: a few MB from the page cache, and the stage's timing then counts only this read.
 */
function readEntry(file: string, p: Plane<'float32'>): Denoised | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return undefined;
  }
  if (buf.length < HEADER) return undefined;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const n = p.width * p.height;
  const f32 = v.getUint8(17) === 1;
  if (v.getUint32(0, true) !== MAGIC || v.getUint32(4, true) !== p.width || v.getUint32(8, true) !== p.height || buf.length !== HEADER + n * (f32 ? 4 : 2)) return undefined;
  // copy out of the (possibly pooled, unaligned) Buffer into an aligned array
  const raw = new Uint8Array(buf.subarray(HEADER));
  const data = f32 ? new Float32Array(raw.buffer) : Float32Array.from(new Uint16Array(raw.buffer));
  return { plane: plane('float32', p.width, p.height, data), iterations: v.getUint32(12, true), converged: v.getUint8(16) === 1 };
}

async function writeEntry(file: string, r: Denoised): Promise<void> {
  const d = r.plane.data;
  const u16 = Uint16Array.from(d);
  // uint16 only if it gives back the same float32 bytes (integers in range, no -0)
  const exact = Buffer.compare(bytes(Float32Array.from(u16)), bytes(d)) === 0;
  const body = exact ? bytes(u16) : bytes(d);
  const out = new Uint8Array(HEADER + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, r.plane.width, true);
  v.setUint32(8, r.plane.height, true);
  v.setUint32(12, r.iterations, true);
  v.setUint8(16, r.converged ? 1 : 0);
  v.setUint8(17, exact ? 0 : 1);
  out.set(body, HEADER);
  await writeFileAtomic(file, out);
}

/** Salt-and-pepper removal (repeated 5x5 median) on fluorescence tiles; records the passes used. */
export const saltAndPepper: StageKind<z.infer<typeof Params>, PreprocessContext> = {
  id: ID,
  params: Params,
  create(p, ctx, name) {
    const dir = cacheDir(ctx.output, name);
    const denoise = async (t: TileItem): Promise<Denoised> => {
      if (!p.cache) return removeSaltAndPepper(t.plane, { maxIterations: p.maxIterations });
      const file = cacheFile(dir, t.plane, p.maxIterations);
      const hit = readEntry(file, t.plane);
      if (hit) return hit;
      const r = removeSaltAndPepper(t.plane, { maxIterations: p.maxIterations });
      await writeEntry(file, r);
      return r;
    };
    return {
      type: 'map',
      map: (t: TileItem) =>
        t.modality !== 'fluorescence'
          ? t
          : timed(ctx, name, async () => {
              const r = await denoise(t);
              const notes = ctx.wellNotes.get(t.well) ?? {};
              const seen = (notes.medianIterationsMax as number | undefined) ?? 0;
              ctx.wellNotes.set(t.well, { ...notes, medianIterationsMax: Math.max(seen, r.iterations), medianConverged: (notes.medianConverged ?? true) && r.converged });
              return { ...t, plane: r.plane };
            }),
    };
  },
};
