/**
 * Per-well stages after stitching: z-projection of the labels, global normalization, and the
 * canonical-well writer. Each reads the well's planes band by band or plane by plane
 * (planes.ts), never a whole well.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { plane } from '../../core/image.ts';
import { removeStaleTemps } from '../../io/atomic.ts';
import { writeCanonicalWellFrom, type WellPlanes } from '../../io/canonical.ts';
import { createRawPlane } from '../../io/raw_plane.ts';
import { IslError } from '../../core/errors.ts';
import { projectPercentile } from '../../transforms/project.ts';
import { IntensityStats } from '../../transforms/normalize.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type WellItem } from './items.ts';
import { preprocessOut } from '../../io/out_layout.ts';
import { affineStore, bandRows, bands, rawStore, readWhole, wellCacheDir } from './planes.ts';

/**
 * Per-pixel percentile across z of every fluorescence label (training targets; the paper's 90th),
 * band by band on the canvas: all z of a band of canvas rows, projected, appended to a raw plane
 * under OUT/cache/wells/<well>/ (per pixel, so identical to projecting the whole canvas).
 */
export const projectLabels: StageKind<{ percentile: number }, PreprocessContext> = {
  id: 'isl:transform:project_labels:v1',
  params: z.object({ percentile: z.number().min(0).max(100).default(90) }).strict(),
  create(p, ctx, name) {
    return {
      type: 'map',
      map: (w: WellItem) =>
        timed(ctx, name, async () => {
          const channels = new Map(w.channels);
          for (const [ch, c] of w.channels) {
            const s = c.planes;
            if (c.modality !== 'fluorescence' || s.depth === 1) continue;
            const file = join(wellCacheDir(ctx.output, w.well), 'projected', `${ch}.f32`);
            const out = await createRawPlane(file, s.width, s.height);
            try {
              for (const { y0, y1 } of bands(s.height, bandRows(s.width, s.depth))) {
                const n = (y1 - y0) * s.width;
                const data = new Float32Array(n * s.depth);
                for (let zi = 0; zi < s.depth; zi++) data.set(await s.rows(zi, y0, y1), zi * n);
                await out.rows(projectPercentile({ width: s.width, height: y1 - y0, depth: s.depth, data }, p.percentile / 100).data);
              }
            } finally {
              await out.close();
            }
            channels.set(ch, { modality: c.modality, planes: rawStore([file], s.width, s.height) });
          }
          return { ...w, channels, notes: { ...w.notes, projection: `per-pixel ${p.percentile}th percentile across z` } };
        }),
    };
  },
};

/**
 * Global normalization of each channel of a well: one affine per channel computed over all its
 * planes (so z-contrast survives), to mean 0.5 / sd 0.125 (transmitted) or 0.25 / 0.125
 * (fluorescence), clipped to [0, 1]. The statistics are gathered in one streaming pass over bands
 * of canvas rows; the affine is applied as the planes are read by the later stages. The affines
 * are recorded.
 */
export const normalizeWell: StageKind<Record<string, never>, PreprocessContext> = {
  id: 'isl:transform:normalize:v1',
  params: z.object({}).strict(),
  create(_p, ctx, name) {
    return {
      type: 'map',
      map: (w: WellItem) =>
        timed(ctx, name, async () => {
          const channels = new Map(w.channels);
          const affines: Record<string, { scale: number; offset: number }> = {};
          for (const [ch, c] of w.channels) {
            const s = c.planes;
            const stats = new IntensityStats();
            for (let zi = 0; zi < s.depth; zi++) {
              for (const { y0, y1 } of bands(s.height, bandRows(s.width))) stats.add(plane('float32', s.width, y1 - y0, await s.rows(zi, y0, y1)), `${w.well} ${ch} z${zi}`);
            }
            const affine = stats.affine(c.modality);
            affines[ch] = affine;
            channels.set(ch, { modality: c.modality, planes: affineStore(s, affine) });
          }
          return { ...w, channels, notes: { ...w.notes, normalization: affines } };
        }),
    };
  },
};

/** The canonical well of a normalized WellItem, plane by plane: one transmitted z-stack, one plane per label. */
export function wellPlanes(w: WellItem): WellPlanes {
  const transmitted = [...w.channels].filter(([, c]) => c.modality === 'transmitted');
  if (transmitted.length !== 1) throw new IslError('BAD_INPUT', `expected exactly one transmitted channel in well ${w.well} but found ${transmitted.length} (${transmitted.map(([c]) => c).join(', ') || 'none'})`, { well: w.well, file: w.path });
  const labels: string[] = [];
  for (const [ch, c] of w.channels) {
    if (c.modality !== 'fluorescence') continue;
    if (c.planes.depth !== 1) throw new IslError('BAD_INPUT', `label ${ch} of well ${w.well} still has ${c.planes.depth} z-planes: enable a projection stage before writing`, { well: w.well });
    labels.push(ch);
  }
  const [channel, t] = transmitted[0];
  return {
    well: w.well, width: w.width, height: w.height,
    transmitted: { channel, depth: t.planes.depth },
    labels,
    plane: (ch, zi) => readWhole(w.channels.get(ch)!.planes, zi),
  };
}

/**
 * Sink: writes each well in the ISL convention (16-bit PNG) plus an OME-TIFF under
 * OUT/wells/<well>/, plane by plane, then removes the well's intermediates in OUT/cache.
 */
export const writeWell: StageKind<{ lab: string; condition: string }, PreprocessContext> = {
  id: 'isl:io:write_well:v1',
  params: z.object({ lab: z.string().default('ISLTOOLKIT'), condition: z.string().default('UNKNOWN') }).strict(),
  create(p, ctx, name) {
    return {
      type: 'sink',
      write: (w: WellItem) =>
        timed(ctx, name, async () => {
          // Temps of a writer killed mid-well (`kill -9`): one worker owns a well, so every temp in its folder is stale.
          await removeStaleTemps(preprocessOut.well(ctx.output, w.well));
          const files = await writeCanonicalWellFrom(preprocessOut.well(ctx.output, w.well), wellPlanes(w), {
            lab: p.lab, condition: p.condition, pixelSizeUm: w.notes.pixelSizeUm as number | undefined,
          });
          await rm(wellCacheDir(ctx.output, w.well), { recursive: true, force: true });
          ctx.wellNotes.set(w.well, { ...(ctx.wellNotes.get(w.well) ?? {}), ...w.notes, files: files.length, width: w.width, height: w.height });
        }),
    };
  },
};
