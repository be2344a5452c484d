import { join } from 'node:path';
import { z } from 'zod';
import { zStack, type Plane } from '../../core/image.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { imageInfo } from '../../io/read.ts';
import { IslError } from '../../core/errors.ts';
import { compositePlane, layoutOf, stitchWell } from '../../transforms/stitch/index.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type TileItem, type WellChannel, type WellItem } from './items.ts';
import { preprocessOut } from '../../io/out_layout.ts';

const Params = z.object({
  /** Channel registered to find positions (default: the first transmitted channel). */
  referenceChannel: z.string().optional(),
  /** Its z-plane: a number or 'middle' (default). */
  referenceZ: z.union([z.number().int().min(0), z.literal('middle')]).default('middle'),
  /** Passed to the stitcher (transforms/stitch/well.ts). */
  searchRadius: z.number().positive().optional(),
  nccThreshold: z.number().min(-1).max(1).optional(),
  faultPx: z.number().positive().optional(),
  seed: z.number().int().default(0),
}).strict();

/**
 * Group stage (key: well): registers the well's tiles on one reference plane, then blends every
 * channel and z-plane with the same positions into one canvas. Writes OUT/stitch/<well>.json.
 */
export const stitch: StageKind<z.infer<typeof Params>, PreprocessContext> = {
  id: 'isl:transform:stitch:v1',
  params: Params,
  create(p, ctx, name) {
    return {
      type: 'group',
      key: (t: TileItem) => t.well,
      flush: (well: string, tiles: TileItem[]) =>
        timed(ctx, name, async (): Promise<WellItem[]> => {
          const config = ctx.dump?.config;
          const refChannel = p.referenceChannel ?? config?.transmitted[0] ?? tiles[0].channel;
          const ref = tiles.filter((t) => t.channel === refChannel);
          if (ref.length === 0) throw new IslError('BAD_INPUT', `well ${well} has no tiles of the reference channel ${refChannel}`, { well, file: tiles[0].path });
          const depth = Math.max(...ref.map((t) => t.z)) + 1;
          const refZ = p.referenceZ === 'middle' ? Math.floor(depth / 2) : Math.min(p.referenceZ, depth - 1);
          const refTiles = ref.filter((t) => t.z === refZ);
          // Overlap in the tiles' current pixels: a fraction stays, a pixel count scales with any downscale.
          const rawWidth = ctx.dump?.wells.get(well)?.width ?? (await imageInfo(refTiles[0].path)).width;
          const scale = refTiles[0].plane.width / rawWidth;
          const overlap = config?.overlapPx !== undefined ? config.overlapPx * scale : config?.overlap;
          const report = stitchWell(refTiles, {
            well, overlap, searchRadius: p.searchRadius, nccThreshold: p.nccThreshold, faultPx: p.faultPx, seed: p.seed,
          });
          const layout = layoutOf(report);
          const channels = new Map<string, WellChannel>();
          for (const ch of [...new Set(tiles.map((t) => t.channel))]) {
            const chTiles = tiles.filter((t) => t.channel === ch);
            const zs = [...new Set(chTiles.map((t) => t.z))].sort((a, b) => a - b);
            const planes: Plane[] = [];
            for (const zi of zs) planes.push(await compositePlane(layout, chTiles.filter((t) => t.z === zi).map((t) => ({ tileRow: t.tileRow, tileCol: t.tileCol, plane: t.plane }))));
            channels.set(ch, { modality: chTiles[0].modality, stack: zStack(planes) });
          }
          const toRaw = 1 / scale;
          await writeFileAtomic(preprocessOut.stitchReport(ctx.output, well), JSON.stringify({
            ...report,
            referencePlane: { channel: refChannel, z: refZ },
            pixelScale: { toRawTilePx: toRaw, note: 'positions below are in the pixels of the stitched (possibly downscaled) tiles; multiply by toRawTilePx for raw-tile pixels' },
            tilesRawPx: report.tiles.map((t) => ({ row: t.row, col: t.col, x: t.x * toRaw, y: t.y * toRaw })),
          }, null, 2));
          const notes = {
            stitch: {
              residualRms: report.residualRms,
              faults: report.faults,
              missing: report.missing,
              tiles: report.tiles.map((t) => ({ row: t.row, col: t.col, x: t.x, y: t.y, width: report.tileWidth, height: report.tileHeight })),
            },
            pixelSizeUm: config?.pixelSizeUm === undefined ? undefined : config.pixelSizeUm * toRaw,
          };
          return [{ well, width: layout.width, height: layout.height, channels, notes, path: tiles[0].path }];
        }),
    };
  },
};
