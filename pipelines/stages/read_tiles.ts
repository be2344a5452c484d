import { z } from 'zod';
import { MAX_VALUE, toFloat32, type Plane } from '../../core/image.ts';
import { readPlane } from '../../io/read.ts';
import { IslError } from '../../core/errors.ts';
import type { StageKind } from '../graph.ts';
import type { PreprocessContext, TileItem } from './items.ts';

/** Counts raw pixels at the dtype's maximum per channel (QC's saturation check), in the well's notes. */
function countSaturated(ctx: PreprocessContext, well: string, channel: string, p: Plane): void {
  if (p.dtype === 'float32') return;
  const max = MAX_VALUE[p.dtype];
  let n = 0;
  for (const v of p.data) if (v === max) n++;
  const notes = ctx.wellNotes.get(well) ?? {};
  const sat = (notes.saturated ?? {}) as Record<string, { saturated: number; pixels: number }>;
  const c = sat[channel] ?? { saturated: 0, pixels: 0 };
  ctx.wellNotes.set(well, { ...notes, saturated: { ...sat, [channel]: { saturated: c.saturated + n, pixels: c.pixels + p.data.length } } });
}

const Params = z.object({
  /** Channels to read: all (default), only transmitted, or only fluorescence labels. */
  channels: z.enum(['all', 'transmitted', 'fluorescence']).default('all'),
  /** Decodes in flight ahead of the consumer. */
  readAhead: z.number().int().min(1).max(32).default(4),
}).strict();

/**
 * Source: the tiles of the run's wells from the dump, as float32 raw counts, in well order (then
 * grid position, channel, z), so per-well group stages see each well once. In an estimation pass
 * a tile that cannot be read fails its well only: the well is recorded and its tiles skipped.
 */
export const readTiles: StageKind<z.infer<typeof Params>, PreprocessContext> = {
  id: 'isl:io:read_tiles:v1',
  params: Params,
  create(p, ctx, name) {
    const dump = ctx.dump;
    if (!dump) throw new IslError('BAD_OPTION', `stage "${name}" reads a raw dump, but the input is not one (no manifest.csv)`);
    const transmitted = new Set(dump.config.transmitted);
    const only = ctx.readModality && ctx.readModality !== 'all' ? ctx.readModality : p.channels;
    const wanted = (ch: string) => (only === 'all' ? true : only === 'transmitted' ? transmitted.has(ch) : !transmitted.has(ch));
    return {
      type: 'source',
      async *items(): AsyncGenerator<TileItem> {
        for (const well of ctx.wells) {
          const wm = dump.wells.get(well);
          if (!wm) continue;
          const rows = wm.positions.flatMap((pos) =>
            [...pos.channels].filter(([ch]) => wanted(ch) && (ctx.mode === 'training' || transmitted.has(ch))).flatMap(([, rs]) => rs.map((r) => ({ r, pos }))),
          );
          // A small window of decodes in flight: I/O overlaps compute without reading the dump ahead.
          const pending: Promise<TileItem>[] = [];
          let next = 0;
          const start = () => {
            const { r, pos } = rows[next++];
            const job = readPlane(r.file, { page: r.page }).then((pl): TileItem => (countSaturated(ctx, well, r.channel, pl), {
              well, tileRow: r.tileRow, tileCol: r.tileCol, channel: r.channel, z: r.z, path: r.file,
              stageX: pos.stageX, stageY: pos.stageY,
              modality: transmitted.has(r.channel) ? 'transmitted' : 'fluorescence',
              plane: toFloat32(pl),
            }));
            job.catch(() => undefined);
            pending.push(job);
          };
          try {
            while (next < rows.length && pending.length < p.readAhead) start();
            while (pending.length) {
              const tile = await pending.shift()!;
              if (next < rows.length) start();
              ctx.onTile?.();
              yield tile;
            }
          } catch (e) {
            if (ctx.estimating === undefined) throw e;
            ctx.failedWells.set(well, (e as Error).message);
          }
        }
      },
    };
  },
};
