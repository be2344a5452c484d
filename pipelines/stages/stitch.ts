import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { toFloat32 } from '../../core/image.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { imageInfo } from '../../io/read.ts';
import { readRawPlane, writeRawPlane } from '../../io/raw_plane.ts';
import { IslError } from '../../core/errors.ts';
import { layoutOf, stitchWellFrom, type GridSlot } from '../../transforms/stitch/index.ts';
import type { Modality } from '../../transforms/normalize.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type TileItem, type WellChannel, type WellItem } from './items.ts';
import { preprocessOut } from '../../io/out_layout.ts';
import { compositeStore, wellCacheDir } from './planes.ts';

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

/** A reference tile: its grid slot and where its plane at registration resolution was spilled. */
type RefTile = GridSlot & { readonly file: string; readonly z: number };

/** What the stage keeps of a well's tiles while they arrive: where each was spilled, not its pixels. */
interface Spilled {
  modality: Modality;
  width: number;
  height: number;
  /** z -> "row,col" -> raw float32 file. */
  planes: Map<number, Map<string, string>>;
}

/**
 * Group stage (key: well) that holds no tiles: each tile is spilled as it arrives to
 * OUT/cache/wells/<well>/ (raw float32, io/raw_plane.ts), the reference plane also as it was
 * before downscaling. When the well is complete it registers the reference tiles at that full
 * resolution, read one at a time (`stitchWellFrom`: positions sub-pixel in raw px), writes
 * OUT/stitch/<well>.json, and emits the well with every channel composited on read, band by band,
 * at the tiles' resolution with those positions divided by the downscale factor (planes.ts).
 */
export const stitch: StageKind<z.infer<typeof Params>, PreprocessContext> = {
  id: 'isl:transform:stitch:v1',
  params: Params,
  create(p, ctx, name) {
    let channels = new Map<string, Spilled>();
    // The registration reference of the well being received: its tiles at full resolution.
    let reference: { channel: string; z: number | undefined; tiles: RefTile[]; factor: number; width: number; height: number } | undefined;
    let current: string | undefined;
    let firstPath: string | undefined;
    const dirOf = (well: string) => wellCacheDir(ctx.output, well);
    const start = async (well: string, t: TileItem) => {
      await rm(dirOf(well), { recursive: true, force: true });
      channels = new Map();
      firstPath = t.path;
      const config = ctx.dump?.config;
      const channel = p.referenceChannel ?? config?.transmitted[0] ?? t.channel;
      // The reference z from the manifest, so only that plane is kept at full resolution.
      const zs = ctx.dump?.wells.get(well)?.rows.filter((r) => r.channel === channel).map((r) => r.z);
      const depth = zs?.length ? Math.max(...zs) + 1 : undefined;
      const z = depth === undefined ? undefined : p.referenceZ === 'middle' ? Math.floor(depth / 2) : Math.min(p.referenceZ, depth - 1);
      reference = { channel, z, tiles: [], factor: 1, width: 0, height: 0 };
      current = well;
    };
    return {
      type: 'group',
      key: (t: TileItem) => t.well,
      add: async (well: string, t: TileItem) => {
        if (current !== well) await start(well, t);
        await timed(ctx, name, async () => {
          const dir = dirOf(well);
          let c = channels.get(t.channel);
          if (!c) channels.set(t.channel, (c = { modality: t.modality, width: t.plane.width, height: t.plane.height, planes: new Map() }));
          let zMap = c.planes.get(t.z);
          if (!zMap) c.planes.set(t.z, (zMap = new Map()));
          const file = join(dir, 'tiles', t.channel, `z${t.z}_r${t.tileRow}_c${t.tileCol}.f32`);
          await writeRawPlane(file, toFloat32(t.plane));
          zMap.set(`${t.tileRow},${t.tileCol}`, file);
          const ref = reference!;
          if (t.channel === ref.channel && (ref.z === undefined || t.z === ref.z)) {
            const full = t.registration ?? { plane: t.plane, factor: 1 };
            const regFile = t.registration ? join(dir, 'registration', `z${t.z}_r${t.tileRow}_c${t.tileCol}.f32`) : file;
            if (t.registration) await writeRawPlane(regFile, toFloat32(full.plane));
            ref.factor = full.factor;
            ref.width = full.plane.width;
            ref.height = full.plane.height;
            ref.tiles.push({ tileRow: t.tileRow, tileCol: t.tileCol, stageX: t.stageX === undefined ? undefined : t.stageX * full.factor, stageY: t.stageY === undefined ? undefined : t.stageY * full.factor, path: t.path, file: regFile, z: t.z });
          }
        });
      },
      flush: (well: string) =>
        timed(ctx, name, async (): Promise<WellItem[]> => {
          const ref = reference!;
          const spilled = channels;
          const path = firstPath;
          reference = undefined;
          current = undefined;
          firstPath = undefined;
          channels = new Map();
          const config = ctx.dump?.config;
          const all = ref.tiles;
          if (all.length === 0) throw new IslError('BAD_INPUT', `well ${well} has no tiles of the reference channel ${ref.channel}`, { well, file: path });
          // Without a manifest the reference z is only known now: the middle (or given) plane of those spilled.
          const depth = Math.max(...all.map((t) => t.z)) + 1;
          const refZ = ref.z ?? (p.referenceZ === 'middle' ? Math.floor(depth / 2) : Math.min(p.referenceZ, depth - 1));
          const refTiles = all.filter((t) => t.z === refZ);
          // Overlap in the registered planes' pixels: a fraction stays, a pixel count scales with the resolution.
          const rawWidth = ctx.dump?.wells.get(well)?.width ?? (await imageInfo(refTiles[0].path!)).width;
          const regScale = ref.width / rawWidth;
          const overlap = config?.overlapPx !== undefined ? config.overlapPx * regScale : config?.overlap;
          const byFile = new Map(refTiles.map((t) => [`${t.tileRow},${t.tileCol}`, t.file]));
          const report = await stitchWellFrom(refTiles, (r, c) => readRawPlane(byFile.get(`${r},${c}`)!, ref.width, ref.height), {
            well, overlap, searchRadius: p.searchRadius, nccThreshold: p.nccThreshold, faultPx: p.faultPx, seed: p.seed,
          });
          const tiles = spilled.get(ref.channel)!;
          const layout = layoutOf(report, ref.factor === 1 ? undefined : { factor: ref.factor, tileWidth: tiles.width, tileHeight: tiles.height });
          const out = new Map<string, WellChannel>();
          for (const [ch, c] of spilled) {
            const zs = [...c.planes.keys()].sort((a, b) => a - b);
            zs.forEach((zi, k) => {
              if (zi !== k) throw new IslError('BAD_INPUT', `well ${well} channel ${ch} has no z-plane ${k} (has ${zs.join(', ')})`, { well, file: path });
              const missing = layout.tiles.filter((t) => !c.planes.get(zi)!.has(`${t.row},${t.col}`));
              if (missing.length) throw new IslError('BAD_INPUT', `well ${well} channel ${ch} z${zi}: ${missing.length} tile(s) of the layout missing (first r${missing[0].row}c${missing[0].col}): every channel needs the reference channel's tiles`, { well, file: path });
            });
            if (c.width !== layout.tileWidth || c.height !== layout.tileHeight) throw new IslError('BAD_INPUT', `well ${well} channel ${ch} tiles are ${c.width}x${c.height} but the reference channel's are ${layout.tileWidth}x${layout.tileHeight}`, { well, file: path });
            out.set(ch, { modality: c.modality, planes: compositeStore(layout, zs.length, (r, col, zi) => c.planes.get(zi)!.get(`${r},${col}`)!) });
          }
          // Registered at raw resolution: report positions are raw-tile px; the canvas is `factor` times smaller.
          const toRaw = rawWidth / ref.width;
          await writeFileAtomic(preprocessOut.stitchReport(ctx.output, well), JSON.stringify({
            ...report,
            referencePlane: { channel: ref.channel, z: refZ },
            pixelScale: { toRawTilePx: toRaw, compositeFactor: ref.factor, note: 'positions below are in the pixels of the registered tiles (raw tiles, before any downscale); the composited canvas has compositeFactor raw px per px (composite.tiles)' },
            tilesRawPx: report.tiles.map((t) => ({ row: t.row, col: t.col, x: t.x * toRaw, y: t.y * toRaw })),
            composite: { factor: ref.factor, width: layout.width, height: layout.height, tileWidth: layout.tileWidth, tileHeight: layout.tileHeight, ramp: layout.ramp, tiles: layout.tiles },
          }, null, 2));
          const notes = {
            stitch: {
              residualRms: report.residualRms,
              faults: report.faults,
              missing: report.missing,
              tiles: layout.tiles.map((t) => ({ row: t.row, col: t.col, x: t.x, y: t.y, width: layout.tileWidth, height: layout.tileHeight })),
            },
            pixelSizeUm: config?.pixelSizeUm === undefined ? undefined : config.pixelSizeUm * toRaw * ref.factor,
          };
          return [{ well, width: layout.width, height: layout.height, channels: out, notes, path }];
        }),
    };
  },
};

