/**
 * OME-Zarr high-content-screening plates (NGFF 0.4 "plate" and "well"):
 *
 *   plate.zarr/.zattrs            plate: rows, columns, wells, acquisitions   (writePlateMetadata)
 *   plate.zarr/<row>/.zgroup
 *   plate.zarr/<row>/<col>/.zattrs  well: images [{path: "0"}]               (writePlateWell)
 *   plate.zarr/<row>/<col>/0/       one field: multiscale image (image.ts)
 *
 * Wells are written independently (one job each, in any order or process); the plate's own
 * metadata is written once they are done, from the wells found on disk, so it lists every well
 * of the folder, including those of earlier runs.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFloat32, type Plane, type Well } from '../../core/image.ts';
import { wellPlanesOf, type WellPlanes } from '../well_planes.ts';
import { badInput } from '../../core/errors.ts';
import { writeImage, NGFF_VERSION, type ImageChannel, type ImageSpec } from './image.ts';
import { plateGrid, wellPosition, type PlatePosition } from './layout.ts';
import { readAttrs, writeGroup } from './store.ts';

/** The one field each of our wells has. */
export const FIELD = '0';

/** omero colours: transmitted grey, then labels by a fixed palette (DAPI/Hoechst blue). */
const PALETTE = ['00FF00', 'FF00FF', 'FF0000', '00FFFF', 'FFFF00', 'FF8000'];
function labelColors(labels: readonly string[]): Map<string, string> {
  const colors = new Map<string, string>();
  let k = 0;
  for (const l of labels) colors.set(l, /DAPI|HOECHST|NUC/i.test(l) ? '0000FF' : PALETTE[k++ % PALETTE.length]);
  return colors;
}

/**
 * A canonical well as an image: axes (c, z, y, x), uint16 value x 65535 (the ISL convention, so
 * pixels equal those of its PNGs). Channel 0 is the transmitted z-stack; each label (a 2-D
 * projection) is stored at one z, {@link labelZ} (the middle plane, which viewers show first:
 * omero rdefs.defaultZ), its other planes left unwritten (0). `isl` records which is which.
 */
export function canonicalImage(well: Well, opts: CanonicalImageOptions = {}): ImageSpec<'uint16'> {
  return canonicalImageFrom(wellPlanesOf(well), opts);
}

export interface CanonicalImageOptions {
  pixelSizeUm?: number;
  zStepUm?: number;
  depthComputation?: string;
}

/** {@link canonicalImage} of a well produced plane by plane (each plane asked for when written). */
export function canonicalImageFrom(well: WellPlanes, opts: CanonicalImageOptions = {}): ImageSpec<'uint16'> {
  const { channel, depth } = well.transmitted;
  const z0 = labelZ(depth);
  const colors = labelColors(well.labels);
  const channels: ImageChannel<'uint16'>[] = [{ name: channel, color: 'FFFFFF', plane: async (z) => fromFloat32(await well.plane(channel, z), 'uint16').data }];
  for (const label of well.labels) channels.push({ name: label, color: colors.get(label)!, plane: async (z) => (z === z0 ? fromFloat32(await well.plane(label, 0), 'uint16').data : undefined) });
  return {
    name: well.well,
    width: well.width,
    height: well.height,
    depth,
    dtype: 'uint16',
    channels,
    pixelSizeUm: opts.pixelSizeUm,
    zStepUm: opts.zStepUm,
    defaultZ: z0,
    isl: {
      well: well.well,
      kind: 'canonical',
      intensity: 'value x 65535',
      transmitted: [channel],
      labels: Object.fromEntries(well.labels.map((l) => [l, { z: z0, depthComputation: opts.depthComputation ?? 'MAXPROJECT' }])),
    },
  };
}

/** The z at which a canonical image stores its 2-D labels: the middle plane. */
export function labelZ(depth: number): number {
  return Math.floor((depth - 1) / 2);
}

/**
 * Named 2-D float32 planes (predict's statistics: `LABEL:STATISTIC`) as an image with axes
 * (c, y, x), one channel per plane, coloured by label.
 */
export function planesImage(well: string, planes: readonly { name: string; plane: Plane }[], isl: Record<string, unknown> = {}): ImageSpec<'float32'> {
  const labels = planes.map((p) => p.name.split(':')[0]);
  const colors = labelColors([...new Set(labels)]);
  const { width, height } = planes[0].plane;
  return {
    name: well,
    width,
    height,
    dtype: 'float32',
    channels: planes.map((p, i) => ({ name: p.name, color: colors.get(labels[i])!, plane: () => p.plane.data as Float32Array })),
    isl: { well, ...isl },
  };
}

/**
 * Writes one well of a plate: its field image (replacing an earlier one), the well's metadata and
 * its row group.
 * @returns the well's plate position
 * @throws IslError BAD_INPUT when another well already holds the same plate path (see layout.ts)
 */
export async function writePlateWell(plateDir: string, spec: ImageSpec): Promise<PlatePosition> {
  const pos = wellPosition(spec.name);
  const wellDir = join(plateDir, pos.row, pos.column);
  const field = join(wellDir, FIELD);
  const held = ((await readAttrs(field))?.isl as { well?: string } | undefined)?.well;
  if (held !== undefined && held !== spec.name) throw badInput(field, `well ${spec.name} maps to plate path ${pos.path}, which already holds well ${held}: rename one of them`, spec.name);
  await writeImage(field, { ...spec, isl: { ...spec.isl, well: spec.name } });
  await writeGroup(join(plateDir, pos.row));
  await writeGroup(wellDir, { well: { version: NGFF_VERSION, images: [{ path: FIELD, acquisition: 0 }] } });
  return pos;
}

/** The wells written under a plate folder: `row/col` folders holding a well group with a complete field. */
async function wellsOnDisk(plateDir: string): Promise<PlatePosition[]> {
  const found: PlatePosition[] = [];
  const dirs = async (d: string) => (await readdir(d, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  for (const row of await dirs(plateDir))
    for (const column of await dirs(join(plateDir, row))) {
      const w = await readAttrs(join(plateDir, row, column));
      if (w?.well && (await readAttrs(join(plateDir, row, column, FIELD)))?.multiscales) found.push({ row, column, path: `${row}/${column}` });
    }
  return found;
}

/**
 * Writes the plate group's metadata from the wells found under `plateDir` (module comment).
 * @param name plate name (default the folder's)
 * @param acquisition what made the images (e.g. `preprocess`), the plate's single acquisition
 * @returns the number of wells listed
 * @throws IslError BAD_INPUT when the folder holds no complete well
 */
export async function writePlateMetadata(plateDir: string, opts: { name?: string; acquisition?: string } = {}): Promise<number> {
  const wells = await wellsOnDisk(plateDir);
  if (wells.length === 0) throw badInput(plateDir, 'no complete well in the plate folder (nothing to list in its metadata)');
  const { rows, columns } = plateGrid(wells);
  const sorted = wells
    .map((w) => ({ path: w.path, rowIndex: rows.indexOf(w.row), columnIndex: columns.indexOf(w.column) }))
    .sort((a, b) => a.rowIndex - b.rowIndex || a.columnIndex - b.columnIndex);
  await writeGroup(plateDir, {
    plate: {
      version: NGFF_VERSION,
      name: opts.name ?? plateDir.split('/').filter(Boolean).pop()!.replace(/\.zarr$/, ''),
      acquisitions: [{ id: 0, name: opts.acquisition ?? 'isl-toolkit', maximumfieldcount: 1 }],
      field_count: 1,
      rows: rows.map((name) => ({ name })),
      columns: columns.map((name) => ({ name })),
      wells: sorted,
    },
  });
  return wells.length;
}
