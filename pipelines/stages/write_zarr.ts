/**
 * Sink `write_zarr`: each canonical well into the OME-Zarr plate OUT/plate.zarr (io/zarr/),
 * beside (or instead of) `write_well`. `preprocess --zarr` adds it to the graph, fed by the
 * stage that feeds `write_well`, and writes the plate's metadata once the wells are done.
 *
 *   before:  ... ─► normalize ─► write_well
 *   after:   ... ─► normalize ─┬─► write_well
 *                              └─► write_zarr
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readCanonicalWell } from '../../io/canonical.ts';
import { preprocessOut } from '../../io/out_layout.ts';
import { canonicalImage, canonicalImageFrom, FIELD, wellPosition, writePlateMetadata, writePlateWell } from '../../io/zarr/index.ts';
import type { GraphSpec, StageKind } from '../graph.ts';
import { wellPlanes } from './well_stages.ts';
import { timed, type PreprocessContext, type WellItem } from './items.ts';

export const writeZarr: StageKind<Record<string, never>, PreprocessContext> = {
  id: 'isl:io:write_zarr:v1',
  params: z.object({}).strict(),
  create(_p, ctx, name) {
    return {
      type: 'sink',
      write: (w: WellItem) =>
        timed(ctx, name, async () => {
          await writePlateWell(preprocessOut.plate(ctx.output), canonicalImageFrom(wellPlanes(w), { pixelSizeUm: w.notes.pixelSizeUm as number | undefined }));
        }),
    };
  },
};

/** The graph with a `write_zarr` stage fed like its `write_well` stage (module comment); unchanged when it has one. */
export function withZarrStage(graph: GraphSpec): GraphSpec {
  const enabled = graph.stages.filter((s) => s.enabled !== false);
  if (enabled.some((s) => s.kind === 'write_zarr' || s.kind === writeZarr.id)) return graph;
  const i = enabled.findIndex((s) => s.kind === 'write_well' || s.kind === 'isl:io:write_well:v1');
  const input = i < 0 ? enabled[enabled.length - 1]?.name : (enabled[i].input ?? enabled[i - 1]?.name);
  return { ...graph, stages: [...graph.stages, { name: 'write_zarr', kind: 'write_zarr', input }] };
}

/**
 * After the per-well runs: writes the wells a resumed run skipped and the plate lacks (from their
 * canonical PNGs under OUT/wells/, one at a time), then the plate's metadata.
 * @param wells the wells done or skipped by the run
 */
export async function finishPlate(output: string, wells: readonly string[]): Promise<void> {
  const plate = preprocessOut.plate(output);
  for (const w of wells) {
    if (existsSync(join(plate, wellPosition(w).path, FIELD, '.zattrs'))) continue;
    await writePlateWell(plate, canonicalImage(await readCanonicalWell(preprocessOut.well(output, w), { well: w })));
  }
  if (wells.length > 0) await writePlateMetadata(plate, { acquisition: 'preprocess' });
}
