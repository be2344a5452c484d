/**
 * A stitched well's channels as planes read band by band (rows of one plane), so the stages
 * after stitching hold a band of canvas rows, not a well: composited on read from the well's
 * tiles spilled to OUT/cache/wells/<well>/ (`compositeStore`), a projection written there
 * (`rawStore`), the normalization affine applied on read (`affineStore`), or planes already in
 * memory (`stackStore`, canonical input).
 */
import { join } from 'node:path';
import { plane, type Plane, type ZStack } from '../../core/image.ts';
import { readRawRows } from '../../io/raw_plane.ts';
import { Compositor, type CompositeLayout } from '../../transforms/stitch/composite.ts';
import { applyAffine, type Affine } from '../../transforms/normalize.ts';

export interface PlaneStore {
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  /** Rows [y0, y1) of plane z, float32, row-major; the caller may not modify them. */
  rows(z: number, y0: number, y1: number): Promise<Float32Array>;
}

/** Bytes of float32 canvas rows a stage holds at once (all z of a band for the projection). */
export const BAND_BYTES = 32 * 2 ** 20;

/** Canvas rows per band so that `depth` planes of a band fit in BAND_BYTES (at least 1). */
export function bandRows(width: number, depth = 1): number {
  return Math.max(1, Math.floor(BAND_BYTES / (4 * width * depth)));
}

/** The bands [y0, y1) covering `height` rows. */
export function* bands(height: number, rows: number): Generator<{ y0: number; y1: number }> {
  for (let y0 = 0; y0 < height; y0 += rows) yield { y0, y1: Math.min(height, y0 + rows) };
}

/** A whole plane of a store (QC and writers work plane by plane). */
export async function readWhole(s: PlaneStore, z: number): Promise<Plane<'float32'>> {
  return plane('float32', s.width, s.height, await s.rows(z, 0, s.height));
}

/** Where a well's intermediates live; removed when the well is written (and before it is rerun). */
export function wellCacheDir(output: string, well: string): string {
  return join(output, 'cache', 'wells', well);
}

export function stackStore(s: ZStack): PlaneStore {
  const n = s.width * s.height;
  return { width: s.width, height: s.height, depth: s.depth, rows: async (z, y0, y1) => s.data.subarray(z * n + y0 * s.width, z * n + y1 * s.width) };
}

/** Planes in raw float32 files (io/raw_plane.ts), one per z. */
export function rawStore(paths: readonly string[], width: number, height: number): PlaneStore {
  return { width, height, depth: paths.length, rows: (z, y0, y1) => readRawRows(paths[z], width, height, y0, y1) };
}

/** `s` with the affine applied and clipped to [0, 1] as rows are read (transforms/normalize.ts). */
export function affineStore(s: PlaneStore, affine: Affine): PlaneStore {
  return { ...s, rows: async (z, y0, y1) => applyAffine(plane('float32', s.width, y1 - y0, await s.rows(z, y0, y1)), affine).data };
}

/**
 * One channel composited on read: for a band of canvas rows, only the rows of the tiles crossing
 * it are read from their raw files, blended in layout order (bit-identical to the whole canvas).
 * @param tile raw float32 file of the tile at (row, col) and plane z (the layout's tile size)
 */
export function compositeStore(layout: CompositeLayout, depth: number, tile: (row: number, col: number, z: number) => string): PlaneStore {
  return {
    width: layout.width,
    height: layout.height,
    depth,
    async rows(z, y0, y1) {
      const c = new Compositor(layout, { y0, y1 });
      for (const t of layout.tiles) {
        const need = c.tileRows(t.row, t.col);
        if (!need) continue;
        const data = await readRawRows(tile(t.row, t.col, z), layout.tileWidth, layout.tileHeight, need.v0, need.v1);
        c.add(t.row, t.col, plane('float32', layout.tileWidth, need.v1 - need.v0, data), need.v0);
      }
      return c.finish().data;
    },
  };
}
