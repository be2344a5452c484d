/**
 * Per-tile stages: thin wrappers that call one transform on the tiles it applies to and pass the
 * others through unchanged.
 */
import { z } from 'zod';
import { removeSaltAndPepper } from '../../transforms/median.ts';
import { downscale2x } from '../../transforms/downscale.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type TileItem } from './items.ts';

/** Salt-and-pepper removal (repeated 5x5 median) on fluorescence tiles; records the passes used. */
export const saltAndPepper: StageKind<{ maxIterations: number }, PreprocessContext> = {
  id: 'isl:transform:salt_and_pepper:v1',
  params: z.object({ maxIterations: z.number().int().min(1).max(256).default(32) }).strict(),
  create(p, ctx, name) {
    return {
      type: 'map',
      map: (t: TileItem) =>
        t.modality !== 'fluorescence'
          ? t
          : timed(ctx, name, () => {
              const r = removeSaltAndPepper(t.plane, { maxIterations: p.maxIterations });
              const notes = ctx.wellNotes.get(t.well) ?? {};
              const seen = (notes.medianIterationsMax as number | undefined) ?? 0;
              ctx.wellNotes.set(t.well, { ...notes, medianIterationsMax: Math.max(seen, r.iterations), medianConverged: (notes.medianConverged ?? true) && r.converged });
              return { ...t, plane: r.plane };
            }),
    };
  },
};

/** 2x bilinear downscale of every tile (the paper's shot-noise reduction); stage positions halve too. */
export const downscale: StageKind<Record<string, never>, PreprocessContext> = {
  id: 'isl:transform:downscale2x:v1',
  params: z.object({}).strict(),
  create(_p, ctx, name) {
    return {
      type: 'map',
      map: (t: TileItem) =>
        timed(ctx, name, () => ({
          ...t,
          plane: downscale2x(t.plane),
          stageX: t.stageX === undefined ? undefined : t.stageX / 2,
          stageY: t.stageY === undefined ? undefined : t.stageY / 2,
        })),
    };
  },
};
