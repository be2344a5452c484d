/**
 * Per-tile stages: thin wrappers that call one transform on the tiles it applies to and pass the
 * others through unchanged (salt-and-pepper, which caches its output, is in salt_and_pepper.ts).
 */
import { z } from 'zod';
import { downscale2x } from '../../transforms/downscale.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type TileItem } from './items.ts';

/** 2x bilinear downscale of every tile (the paper's shot-noise reduction); stage positions halve too; the tile keeps its plane before the first downscale for registration. */
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
          // Registration measures offsets on the plane before the first downscale (sub-pixel in raw px).
          registration: t.registration ? { ...t.registration, factor: 2 * t.registration.factor } : { plane: t.plane, factor: 2 },
          stageX: t.stageX === undefined ? undefined : t.stageX / 2,
          stageY: t.stageY === undefined ? undefined : t.stageY / 2,
        })),
    };
  },
};
