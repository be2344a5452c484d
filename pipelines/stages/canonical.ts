import { z } from 'zod';
import { readCanonicalWell } from '../../io/canonical.ts';
import { findCanonicalWells } from '../../io/isl_folders.ts';
import { zStack } from '../../core/image.ts';
import { stackStore } from './planes.ts';
import type { StageKind } from '../graph.ts';
import type { PreprocessContext, WellChannel, WellItem } from './items.ts';

/**
 * Source for input that is already canonical (stitched, ISL-convention 16-bit PNG, e.g. the ISL
 * paper's data): each of the run's wells as a WellItem in [0, 1], for graphs that only normalize
 * and shard.
 */
export const readCanonical: StageKind<Record<string, never>, PreprocessContext & { input: string }> = {
  id: 'isl:io:read_canonical:v1',
  params: z.object({}).strict(),
  create(_p, ctx) {
    return {
      type: 'source',
      async *items(): AsyncGenerator<WellItem> {
        const dirs = findCanonicalWells(ctx.input);
        for (const well of ctx.wells) {
          const dir = dirs.get(well) ?? ctx.input;
          const w = await readCanonicalWell(dir, { well });
          const channels = new Map<string, WellChannel>([[w.transmitted.channel, { modality: 'transmitted', planes: stackStore(w.transmitted.stack) }]]);
          for (const [label, p] of w.labels) channels.set(label, { modality: 'fluorescence', planes: stackStore(zStack([p])) });
          yield { well, width: w.width, height: w.height, channels, notes: {}, path: dir };
        }
      },
    };
  },
};
