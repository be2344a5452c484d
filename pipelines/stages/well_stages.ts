/**
 * Per-well stages after stitching: z-projection of the labels, global normalization, and the
 * canonical-well writer.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { stackPlane, zStack, type Plane, type Well } from '../../core/image.ts';
import { writeCanonicalWell } from '../../io/canonical.ts';
import { IslError } from '../../core/errors.ts';
import { projectPercentile } from '../../transforms/project.ts';
import { IntensityStats, applyAffine } from '../../transforms/normalize.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type WellItem } from './items.ts';
import { preprocessOut } from '../../io/out_layout.ts';

/** Per-pixel percentile across z of every fluorescence label (training targets; the paper's 90th). */
export const projectLabels: StageKind<{ percentile: number }, PreprocessContext> = {
  id: 'isl:transform:project_labels:v1',
  params: z.object({ percentile: z.number().min(0).max(100).default(90) }).strict(),
  create(p, ctx, name) {
    return {
      type: 'map',
      map: (w: WellItem) =>
        timed(ctx, name, () => {
          const channels = new Map(w.channels);
          for (const [ch, c] of w.channels) {
            if (c.modality !== 'fluorescence' || c.stack.depth === 1) continue;
            channels.set(ch, { modality: c.modality, stack: zStack([projectPercentile(c.stack, p.percentile / 100)]) });
          }
          return { ...w, channels, notes: { ...w.notes, projection: `per-pixel ${p.percentile}th percentile across z` } };
        }),
    };
  },
};

/**
 * Global normalization of each channel of a well: one affine per channel computed over all its
 * planes (so z-contrast survives), to mean 0.5 / sd 0.125 (transmitted) or 0.25 / 0.125
 * (fluorescence), clipped to [0, 1]. The affines are recorded.
 */
export const normalizeWell: StageKind<Record<string, never>, PreprocessContext> = {
  id: 'isl:transform:normalize:v1',
  params: z.object({}).strict(),
  create(_p, ctx, name) {
    return {
      type: 'map',
      map: (w: WellItem) =>
        timed(ctx, name, () => {
          const channels = new Map(w.channels);
          const affines: Record<string, { scale: number; offset: number }> = {};
          for (const [ch, c] of w.channels) {
            const stats = new IntensityStats();
            for (let zi = 0; zi < c.stack.depth; zi++) stats.add(stackPlane(c.stack, zi), `${w.well} ${ch} z${zi}`);
            const affine = stats.affine(c.modality);
            affines[ch] = affine;
            const planes: Plane[] = [];
            for (let zi = 0; zi < c.stack.depth; zi++) planes.push(applyAffine(stackPlane(c.stack, zi), affine));
            channels.set(ch, { modality: c.modality, stack: zStack(planes) });
          }
          return { ...w, channels, notes: { ...w.notes, normalization: affines } };
        }),
    };
  },
};

/** The canonical `Well` of a normalized WellItem: one transmitted z-stack, one plane per label. */
export function toWell(w: WellItem): Well {
  const transmitted = [...w.channels].filter(([, c]) => c.modality === 'transmitted');
  if (transmitted.length !== 1) throw new IslError('BAD_INPUT', `expected exactly one transmitted channel in well ${w.well} but found ${transmitted.length} (${transmitted.map(([c]) => c).join(', ') || 'none'})`, { well: w.well, file: w.path });
  const labels = new Map<string, Plane<'float32'>>();
  for (const [ch, c] of w.channels) {
    if (c.modality !== 'fluorescence') continue;
    if (c.stack.depth !== 1) throw new IslError('BAD_INPUT', `label ${ch} of well ${w.well} still has ${c.stack.depth} z-planes: enable a projection stage before writing`, { well: w.well });
    labels.set(ch, stackPlane(c.stack, 0));
  }
  return { well: w.well, width: w.width, height: w.height, transmitted: { channel: transmitted[0][0], stack: transmitted[0][1].stack }, labels };
}

/** Sink: writes each well in the ISL convention (16-bit PNG) plus an OME-TIFF under OUT/wells/<well>/. */
export const writeWell: StageKind<{ lab: string; condition: string }, PreprocessContext> = {
  id: 'isl:io:write_well:v1',
  params: z.object({ lab: z.string().default('ISLTOOLKIT'), condition: z.string().default('UNKNOWN') }).strict(),
  create(p, ctx, name) {
    return {
      type: 'sink',
      write: (w: WellItem) =>
        timed(ctx, name, async () => {
          const files = await writeCanonicalWell(preprocessOut.well(ctx.output, w.well), toWell(w), {
            lab: p.lab, condition: p.condition, pixelSizeUm: w.notes.pixelSizeUm as number | undefined,
          });
          ctx.wellNotes.set(w.well, { ...(ctx.wellNotes.get(w.well) ?? {}), ...w.notes, files: files.length, width: w.width, height: w.height });
        }),
    };
  },
};
