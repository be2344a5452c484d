/**
 * Quality control of one preprocessed training well: automatic checks with reasons, in place of
 * the paper's manual review (which dropped 11 wells for a motorized-stage fault).
 */
import type { Plane } from '../core/image.ts';
import { quantiles } from './quantile.ts';

export interface QcThresholds {
  /** Sharpest transmitted plane may be at most this many planes from the centre (default: max(1, depth/4)). */
  readonly focusMaxOffset?: number;
  /** Largest fraction of raw pixels at the sensor's maximum, per channel (default 0.005). */
  readonly maxSaturatedFraction?: number;
  /** A tile is empty when its contrast is below this fraction of the well's 90th-percentile tile contrast (default 0.25). */
  readonly emptyTileContrast?: number;
  /** Largest fraction of empty tiles (default 0.5). */
  readonly maxEmptyFraction?: number;
  /** Largest stitching residual RMS, px (default 1). */
  readonly maxResidualPx?: number;
  /** Smallest label signal-to-noise ratio, (p99 - p10) / noise sd (default 5; pure noise gives about 3.6). */
  readonly minLabelSnr?: number;
}

/** Planes given one at a time (a stitched well is not held whole). */
export interface PlaneSeq {
  readonly depth: number;
  plane(z: number): Plane<'float32'> | Promise<Plane<'float32'>>;
}

export interface QcInput {
  /** Normalized transmitted z-stack of the stitched well, plane by plane. */
  readonly transmitted: PlaneSeq;
  /** Normalized, projected labels, each loaded when checked. */
  readonly labels: ReadonlyMap<string, () => Plane<'float32'> | Promise<Plane<'float32'>>>;
  /** Labels the dump promises for every well. */
  readonly expectedLabels: readonly string[];
  /** Tile rectangles on the canvas (from the stitcher), for the empty-tile check. */
  readonly tiles?: readonly { readonly row: number; readonly col: number; readonly x: number; readonly y: number; readonly width: number; readonly height: number }[];
  /** Fraction of raw pixels at the sensor's maximum, per channel (from the reader). */
  readonly saturatedFraction?: Readonly<Record<string, number>>;
  /** Stitching residual RMS (px) and tiles far from their stage position. */
  readonly stitch?: { readonly residualRms: number; readonly faults: readonly { row: number; col: number; distancePx: number }[] };
}

export interface QcVerdict {
  readonly pass: boolean;
  /** Why the well fails (empty when it passes). */
  readonly reasons: string[];
  /** Notes that do not fail the well. */
  readonly warnings: string[];
  readonly metrics: Record<string, number | number[] | string[]>;
}

/** Mean squared discrete Laplacian: a standard focus measure (higher = sharper). */
export function sharpness(p: Plane<'float32'>): number {
  const { width: W, height: H, data: d } = p;
  let s = 0;
  for (let y = 1; y < H - 1; y++)
    for (let x = 1; x < W - 1; x++) {
      const i = y * W + x;
      const l = d[i - 1] + d[i + 1] + d[i - W] + d[i + W] - 4 * d[i];
      s += l * l;
    }
  return s / Math.max(1, (W - 2) * (H - 2));
}

/**
 * Noise standard deviation from horizontal neighbour differences: for white noise of sd s,
 * median |I(x+1) - I(x)| = 0.6745 x sqrt(2) x s, while smooth signal barely moves it.
 */
export function noiseSd(p: Plane<'float32'>): number {
  const { width: W, height: H, data: d } = p;
  const diffs = new Float32Array((W - 1) * H);
  let k = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W - 1; x++) diffs[k++] = Math.abs(d[y * W + x + 1] - d[y * W + x]);
  const [m] = quantiles(diffs, [0.5]);
  return m / (0.6745 * Math.SQRT2);
}

function rectStd(p: Plane<'float32'>, r: { x: number; y: number; width: number; height: number }): number {
  const x0 = Math.max(0, Math.round(r.x)), y0 = Math.max(0, Math.round(r.y));
  const x1 = Math.min(p.width, Math.round(r.x + r.width)), y1 = Math.min(p.height, Math.round(r.y + r.height));
  let n = 0, s = 0, s2 = 0;
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) {
      const v = p.data[y * p.width + x];
      n++; s += v; s2 += v * v;
    }
  if (n === 0) return 0;
  const m = s / n;
  return Math.sqrt(Math.max(0, s2 / n - m * m));
}

/**
 * Checks one well: focus (sharpest plane near the centre of the stack), clipping (saturation),
 * empty tiles, stitching residual and stage faults, label signal above background, and missing
 * labels. A well passes when no check gives a reason. Holds one plane at a time.
 */
export async function assessWell(input: QcInput, t: QcThresholds = {}): Promise<QcVerdict> {
  const reasons: string[] = [];
  const warnings: string[] = [];
  const metrics: QcVerdict['metrics'] = {};
  const st = input.transmitted;
  const centre = (st.depth - 1) / 2;

  const sharp: number[] = [];
  let clipped = 0;
  let pixels = 0;
  let mid: Plane<'float32'> | undefined;
  for (let z = 0; z < st.depth; z++) {
    const p = await st.plane(z);
    sharp.push(sharpness(p));
    for (const v of p.data) if (v <= 0 || v >= 1) clipped++;
    pixels += p.data.length;
    if (z === Math.round(centre)) mid = p;
  }
  const best = sharp.indexOf(Math.max(...sharp));
  const maxOff = t.focusMaxOffset ?? Math.max(1, st.depth / 4);
  metrics.sharpness = sharp.map((v) => Number(v.toPrecision(4)));
  metrics.sharpestPlane = best;
  if (st.depth > 1 && Math.abs(best - centre) > maxOff) reasons.push(`out of focus: the sharpest transmitted plane is z=${best}, more than ${maxOff} planes from the centre z=${centre}`);
  metrics.clippedFraction = clipped / pixels;
  for (const [ch, f] of Object.entries(input.saturatedFraction ?? {})) {
    metrics[`saturated_${ch}`] = f;
    if (f > (t.maxSaturatedFraction ?? 0.005)) reasons.push(`saturated: ${(100 * f).toFixed(2)}% of raw ${ch} pixels are at the sensor's maximum`);
  }

  if (input.tiles?.length) {
    const contrast = input.tiles.map((r) => rectStd(mid!, r));
    // Against the well's high (90th percentile) tile contrast, not its median: when most tiles are
    // empty the median tile is one of them and the check could never fire.
    const [ref] = quantiles(contrast, [0.9]);
    const empty = input.tiles.filter((_, i) => contrast[i] < (t.emptyTileContrast ?? 0.25) * ref).map((r) => `r${r.row}c${r.col}`);
    metrics.emptyTiles = empty;
    if (empty.length / input.tiles.length > (t.maxEmptyFraction ?? 0.5)) reasons.push(`near-empty: ${empty.length} of ${input.tiles.length} tiles have almost no contrast`);
    else if (empty.length) warnings.push(`empty tiles: ${empty.join(', ')}`);
  }

  if (input.stitch) {
    metrics.residualRmsPx = input.stitch.residualRms;
    if (input.stitch.residualRms > (t.maxResidualPx ?? 1)) reasons.push(`stitching residual RMS ${input.stitch.residualRms.toFixed(2)} px exceeds ${t.maxResidualPx ?? 1} px`);
    for (const f of input.stitch.faults) reasons.push(`stage fault: tile r${f.row}c${f.col} is ${f.distancePx.toFixed(1)} px from its stage position`);
  }

  for (const label of input.expectedLabels) if (!input.labels.has(label)) reasons.push(`missing label ${label}`);
  for (const [label, load] of input.labels) {
    const p = await load();
    const [q10, q99] = quantiles(p.data, [0.1, 0.99]);
    const snr = (q99 - q10) / Math.max(noiseSd(p), 1e-6);
    metrics[`snr_${label}`] = Number(snr.toPrecision(4));
    if (snr < (t.minLabelSnr ?? 5)) reasons.push(`label ${label} has no signal above background (SNR ${snr.toFixed(2)} < ${t.minLabelSnr ?? 5})`);
  }
  return { pass: reasons.length === 0, reasons, warnings, metrics };
}
