/**
 * The preprocessing stage kinds, by the short names graph documents use. Each kind also has a
 * versioned id (`isl:transform:flat_field:v1`) that documents may use instead.
 */
import { registry, type StageKind } from '../graph.ts';
import { readTiles } from './read_tiles.ts';
import { readCanonical } from './canonical.ts';
import { downscale } from './tile_stages.ts';
import { saltAndPepper } from './salt_and_pepper.ts';
import { fluorescenceDust, flatField, transmittedDust, type FieldStageKind } from './fields.ts';
import { stitch } from './stitch.ts';
import { projectLabels, normalizeWell, writeWell } from './well_stages.ts';
import { qc } from './qc.ts';
import { writeTiles } from './write_tiles.ts';
import { writeZarr } from './write_zarr.ts';

export const STAGE_KINDS: Record<string, StageKind> = {
  read_tiles: readTiles,
  read_canonical: readCanonical,
  salt_and_pepper: saltAndPepper,
  fluorescence_dust: fluorescenceDust,
  downscale: downscale,
  flat_field: flatField,
  transmitted_dust: transmittedDust,
  stitch,
  project_labels: projectLabels,
  normalize: normalizeWell,
  qc,
  write_well: writeWell,
  write_tiles: writeTiles,
  write_zarr: writeZarr,
};

/** Kinds that only make sense for training data (dropped by `--mode inference`). */
export const TRAINING_ONLY = new Set(['fluorescence_dust', 'project_labels', 'qc', fluorescenceDust.id, projectLabels.id, qc.id]);

export const PREPROCESS_REGISTRY = registry(STAGE_KINDS);

/** True for kinds estimated over many images before they are applied (see fields.ts). */
export function isFieldKind(kind: StageKind | undefined): kind is FieldStageKind {
  return (kind as FieldStageKind | undefined)?.estimated === true;
}

export type { PreprocessContext, TileItem, WellItem } from './items.ts';
export { newContext } from './items.ts';
