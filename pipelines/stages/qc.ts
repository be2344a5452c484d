import { z } from 'zod';
import { assessWell, type QcVerdict } from '../../transforms/qc.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type WellItem } from './items.ts';
import { wellPlanes } from './well_stages.ts';

const Params = z.object({
  focusMaxOffset: z.number().positive().optional(),
  maxSaturatedFraction: z.number().min(0).max(1).optional(),
  emptyTileContrast: z.number().min(0).max(1).optional(),
  maxEmptyFraction: z.number().min(0).max(1).optional(),
  maxResidualPx: z.number().positive().optional(),
  minLabelSnr: z.number().min(0).optional(),
}).strict();

/** Saturated fraction per channel from the reader's counts (read_tiles notes `saturated`). */
function saturation(notes: Record<string, unknown> | undefined): Record<string, number> | undefined {
  const s = notes?.saturated as Record<string, { saturated: number; pixels: number }> | undefined;
  return s && Object.fromEntries(Object.entries(s).map(([ch, c]) => [ch, c.saturated / c.pixels]));
}

/** QC of a training well (transforms/qc.ts); the verdict goes into the well's notes as `qc`. */
export const qc: StageKind<z.infer<typeof Params>, PreprocessContext> = {
  id: 'isl:transform:qc:v1',
  params: Params,
  create(p, ctx, name) {
    return {
      type: 'map',
      map: (w: WellItem) =>
        timed(ctx, name, async () => {
          const well = wellPlanes(w);
          const stitch = w.notes.stitch as { residualRms: number; faults: { row: number; col: number; distancePx: number }[]; tiles?: { row: number; col: number; x: number; y: number; width: number; height: number }[] } | undefined;
          const verdict: QcVerdict = await assessWell(
            {
              transmitted: { depth: well.transmitted.depth, plane: (zi) => well.plane(well.transmitted.channel, zi) },
              labels: new Map(well.labels.map((l) => [l, () => well.plane(l, 0)])), expectedLabels: ctx.dump?.config.labels ?? [], stitch, tiles: stitch?.tiles,
              saturatedFraction: saturation(ctx.wellNotes.get(w.well)),
            },
            p,
          );
          return { ...w, notes: { ...w.notes, qc: verdict } };
        }),
    };
  },
};
