import { join } from 'node:path';
import { z } from 'zod';
import { fromFloat32 } from '../../core/image.ts';
import { writeTiff } from '../../io/write.ts';
import type { StageKind } from '../graph.ts';
import { timed, type PreprocessContext, type TileItem } from './items.ts';
import { preprocessOut } from '../../io/out_layout.ts';

/**
 * Sink: writes each tile as a 16-bit TIFF under OUT/tiles/<well>/ (values rounded and clipped to
 * 0..65535), for graphs that process tiles without stitching.
 */
export const writeTiles: StageKind<{ compression: 'none' | 'deflate' | 'lzw' }, PreprocessContext> = {
  id: 'isl:io:write_tiles:v1',
  params: z.object({ compression: z.enum(['none', 'deflate', 'lzw']).default('deflate') }).strict(),
  create(p, ctx, name) {
    return {
      type: 'sink',
      write: (t: TileItem) =>
        timed(ctx, name, () =>
          writeTiff(preprocessOut.tile(ctx.output, t.well, `${t.well}_r${t.tileRow}_c${t.tileCol}_z${t.z}_${t.channel}.tif`), fromFloat32(t.plane, 'uint16', 1), { compression: p.compression }),
        ),
    };
  },
};
