/**
 * What flows between preprocessing stages, and the context every stage of a run shares.
 *
 *   read_tiles ─► TileItem ─► ... per-tile stages ... ─► stitch ─► WellItem ─► ... ─► write_well
 *
 * A WellItem's channels are plane stores (planes.ts): the stages after stitching read them band
 * by band, so no stage holds a whole well.
 */
import type { Plane, Tile } from '../../core/image.ts';
import type { PlaneStore } from './planes.ts';
import type { Dump } from '../../io/manifest.ts';
import type { Modality } from '../../transforms/normalize.ts';

/** A raw tile promoted to float32 (raw counts), tagged with its modality. */
export interface TileItem extends Tile<'float32'> {
  readonly modality: Modality;
  /**
   * The plane as it was before the first downscale, which registration uses (sub-pixel positions
   * in raw px); `factor` raw px per px of `plane`. Set by the downscale stage.
   */
  readonly registration?: { readonly plane: Plane<'float32'>; readonly factor: number };
}

/** One stitched channel of a well: its planes (depth 1 after projection), read band by band. */
export interface WellChannel {
  readonly modality: Modality;
  readonly planes: PlaneStore;
}

/** A stitched well on its way to canonical images (its pixels stay on disk or in a store until written). */
export interface WellItem {
  readonly well: string;
  readonly width: number;
  readonly height: number;
  readonly channels: Map<string, WellChannel>;
  /** Facts stages add for the record (stitch report summary, normalization affines, QC). */
  readonly notes: Record<string, unknown>;
  /** A representative source file, for error messages. */
  readonly path?: string;
}

/** A per-channel field estimated over many images (flat-field, dust), as stored in OUT/fields. */
export interface FieldSet {
  /** Channel -> field plane (size of the tiles at that point of the graph). */
  readonly fields: Map<string, Plane<'float32'>>;
  /** Channel -> facts about the estimate (images used, ...). */
  readonly info: Map<string, Record<string, unknown>>;
}

/** Shared by every stage of one graph run. */
export interface PreprocessContext {
  readonly dump?: Dump;
  readonly mode: 'training' | 'inference';
  /**
   * In an estimation pass, the name of the stage being estimated (it runs as a sink; the graph
   * ends there). Undefined when applying the whole graph to wells.
   */
  readonly estimating?: string;
  /** In an estimation pass, the modality whose tiles the source needs to read (others are skipped). */
  readonly readModality?: Modality | 'all';
  /** Wells this run streams (a per-well job streams one). */
  readonly wells: readonly string[];
  /** Output root (OUT). */
  readonly output: string;
  /** Estimated fields by stage name, filled by estimation passes and loaded by per-well runs. */
  readonly fields: Map<string, FieldSet>;
  /** Seconds spent per stage in this run. */
  readonly timings: Record<string, number>;
  /** Wells that failed inside this run (estimation passes skip their tiles and go on). */
  readonly failedWells: Map<string, string>;
  /** Called by the source for every tile it yields (progress of estimation passes). */
  readonly onTile?: () => void;
  /** Extra facts per well for the completion record. */
  readonly wellNotes: Map<string, Record<string, unknown>>;
}

export function newContext(init: Pick<PreprocessContext, 'mode' | 'wells' | 'output'> & Partial<PreprocessContext>): PreprocessContext {
  return { fields: new Map(), timings: {}, failedWells: new Map(), wellNotes: new Map(), ...init };
}

/** Runs `fn`, adding its wall time to the stage's timing. */
export async function timed<T>(ctx: PreprocessContext, stage: string, fn: () => T | Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    ctx.timings[stage] = (ctx.timings[stage] ?? 0) + (performance.now() - t0) / 1000;
  }
}
