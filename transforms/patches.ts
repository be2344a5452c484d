/**
 * Seeded sampling of training patches from canonical wells, and the train/test split by well.
 *
 * Origins are drawn so every well and every label it has is represented: a stratified part (one
 * origin in each of `count - foreground` randomly chosen cells of a grid over the well, so patches
 * cover the whole well rather than clumping) and a foreground part, shared equally between the
 * well's labels, centred on random foreground pixels of that label: above both Otsu's threshold
 * and its `foregroundQuantile` (fluorescence is sparse: uniform patches of a DAPI image are mostly
 * background).
 */
import type { Plane, Well } from '../core/image.ts';
import { badOption } from '../core/errors.ts';
import { deriveSeed, rng, type Rng } from '../core/random.ts';
import type { ShardLabel, ShardPatch, Split } from '../io/shards/schema.ts';

/** A patch origin (top-left corner, px) in the canonical well, and why it was chosen. */
export interface PatchOrigin {
  readonly y: number;
  readonly x: number;
  /** 'stratified', 'foreground:LABEL', or 'uniform:LABEL' when the label had no foreground (constant image). */
  readonly reason: string;
}

export interface SamplePatchesOptions {
  /** Patch side P in px; the well must be at least P x P. */
  readonly patchSize: number;
  /** Number of origins. */
  readonly count: number;
  readonly seed: number;
  /** Labels to represent (default: all the well has); labels the well lacks are ignored. */
  readonly labels?: readonly string[];
  /** Fraction of `count` centred on label foreground (default 0.5; 0 = all stratified). */
  readonly foregroundFraction?: number;
  /** Foreground pixels of a label are above its Otsu threshold and above this quantile (default 0.9). */
  readonly foregroundQuantile?: number;
}

/** A well as patch sampling sees it: its name, size and labels. */
export interface SamplingWell {
  readonly well: string;
  readonly width: number;
  readonly height: number;
  readonly labels: readonly string[];
}

/** The options checked, the labels to represent and the foreground patches each gets. */
interface SamplingPlan {
  readonly P: number;
  readonly q: number;
  readonly stratified: number;
  readonly perLabel: readonly { readonly label: string; readonly n: number }[];
}

function plan(well: SamplingWell, options: SamplePatchesOptions): SamplingPlan {
  const { patchSize: P, count, seed, foregroundFraction = 0.5, foregroundQuantile = 0.9 } = options;
  if (!Number.isInteger(P) || P <= 0) throw badOption('patchSize', 'a positive integer (px)', P);
  if (P > well.width || P > well.height) throw badOption('patchSize', `at most the size of well ${well.well} (${well.width}x${well.height} px)`, P);
  if (!Number.isInteger(count) || count < 1) throw badOption('count', 'a positive integer', count);
  if (!Number.isFinite(seed)) throw badOption('seed', 'a finite number', seed);
  if (!(foregroundFraction >= 0 && foregroundFraction <= 1)) throw badOption('foregroundFraction', 'a number in [0, 1]', foregroundFraction);
  if (!(foregroundQuantile >= 0 && foregroundQuantile < 1)) throw badOption('foregroundQuantile', 'a number in [0, 1)', foregroundQuantile);
  const present = (options.labels ?? well.labels).filter((l) => well.labels.includes(l));
  // At least one foreground patch per label when there is room, so every label is represented.
  let nFg = present.length && foregroundFraction > 0 ? Math.max(Math.round(count * foregroundFraction), Math.min(count, present.length)) : 0;
  nFg = Math.min(nFg, count);
  const perLabel = present.map((label, k) => ({ label, n: Math.floor(nFg / present.length) + (k < nFg % present.length ? 1 : 0) })).filter((x) => x.n > 0);
  return { P, q: foregroundQuantile, stratified: count - nFg, perLabel };
}

/**
 * Chooses `count` patch origins in `well` (see the module comment). Deterministic in
 * (`seed`, well name, options); independent of other wells.
 * @returns origins with 0 <= y <= height - P and 0 <= x <= width - P
 * @throws IslError BAD_OPTION for a bad option or a well smaller than the patch
 */
export function samplePatches(well: Well, options: SamplePatchesOptions): PatchOrigin[] {
  const dims = { well: well.well, width: well.width, height: well.height, labels: [...well.labels.keys()] };
  const p = plan(dims, options);
  const random = rng(deriveSeed(options.seed, 'patches', well.well));
  const out = stratified(dims, p.P, p.stratified, random);
  for (const { label, n } of p.perLabel) {
    const data = well.labels.get(label)!.data;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < data.length; i++) {
      if (data[i] > max) max = data[i];
      if (data[i] < min) min = data[i];
    }
    const hist = new Float64Array(65536);
    for (let i = 0; i < data.length; i++) {
      const v = Math.round(data[i] * 65535);
      hist[v > 0 ? (v < 65535 ? v : 65535) : 0]++; // NaN lands in bin 0
    }
    const t = foregroundThreshold(hist, data.length, p.q);
    const select = selector(t, max);
    out.push(...foreground(dims, label, p.P, n, { min, max, matches: () => count(data, select) }, random, (ranks) => locate(data, select, ranks)));
  }
  return out;
}

/**
 * {@link samplePatches} for a well stored as 16-bit canonical counts (value x 65535) and read
 * in bands of rows: the same origins as for the well loaded as [0, 1] floats (value = count /
 * 65535 in float32), holding one band at a time. Each sampled label is read twice (its histogram,
 * then the chosen foreground pixels); transmitted planes are not read.
 * @param rows counts of rows [y0, y1) of a label, full width
 */
export async function samplePatchesStreamed(well: SamplingWell, options: SamplePatchesOptions, rows: (label: string, y0: number, y1: number) => Promise<Uint16Array>, bandRows: number): Promise<PatchOrigin[]> {
  const p = plan(well, options);
  const random = rng(deriveSeed(options.seed, 'patches', well.well));
  const out = stratified(well, p.P, p.stratified, random);
  const scan = async (label: string, each: (band: Uint16Array, at: number) => boolean | void) => {
    for (let y0 = 0; y0 < well.height; y0 += bandRows) if (each(await rows(label, y0, Math.min(well.height, y0 + bandRows)), y0 * well.width)) return;
  };
  for (const { label, n } of p.perLabel) {
    const hist = new Float64Array(65536);
    await scan(label, (band) => {
      for (let i = 0; i < band.length; i++) hist[band[i]]++;
    });
    let lo = 0;
    while (lo < 65535 && !hist[lo]) lo++;
    let hi = 65535;
    while (hi > 0 && !hist[hi]) hi--;
    // The float path's values are exactly these (count / 65535 in float32, strictly increasing).
    const value = (v: number) => Math.fround(v / 65535);
    const max = value(hi);
    const select = selector(foregroundThreshold(hist, well.width * well.height, p.q), max);
    const chosen = new Uint8Array(65536);
    for (let v = 0; v < 65536; v++) chosen[v] = select(value(v)) ? 1 : 0;
    const matches = () => hist.reduce((s, c, v) => s + (chosen[v] ? c : 0), 0);
    out.push(...(await foregroundAsync(well, label, p.P, n, { min: value(lo), max, matches }, random, async (ranks) => {
      const found = new Map<number, number>();
      const wanted = [...new Set(ranks)].sort((a, b) => a - b);
      let k = 0;
      let seen = 0;
      await scan(label, (band, at) => {
        for (let i = 0; i < band.length && k < wanted.length; i++) {
          if (!chosen[band[i]]) continue;
          while (k < wanted.length && wanted[k] === seen) found.set(wanted[k++], at + i);
          seen++;
        }
        return k === wanted.length;
      });
      return ranks.map((r) => found.get(r)!);
    })));
  }
  return out;
}

/** One uniform origin in each of n random cells of a near-square grid over the origin range. */
function stratified(well: SamplingWell, P: number, n: number, random: Rng): PatchOrigin[] {
  if (n <= 0) return [];
  const rangeY = well.height - P + 1;
  const rangeX = well.width - P + 1;
  const gy = Math.min(rangeY, Math.max(1, Math.round(Math.sqrt((n * rangeY) / rangeX))));
  const gx = Math.min(rangeX, Math.max(1, Math.ceil(n / gy)));
  const cells = gy * gx;
  // More samples than cells (tiny wells): cycle through the cells again.
  const order: number[] = [];
  while (order.length < n) order.push(...permutation(cells, random).slice(0, n - order.length));
  return order.map((c) => {
    const cy = Math.floor(c / gx);
    const cx = c % gx;
    const y0 = Math.floor((cy * rangeY) / gy);
    const y1 = Math.floor(((cy + 1) * rangeY) / gy);
    const x0 = Math.floor((cx * rangeX) / gx);
    const x1 = Math.floor(((cx + 1) * rangeX) / gx);
    return { y: y0 + random.int(Math.max(1, y1 - y0)), x: x0 + random.int(Math.max(1, x1 - x0)), reason: 'stratified' };
  });
}

/** Foreground pixels: strictly above t, unless ties at the maximum fill the top quantile (then the maximum itself). */
function selector(t: number, max: number): (v: number) => boolean {
  return max > t ? (v) => v > t : (v) => v >= max;
}

/** What foreground sampling knows of a label: its range and how many pixels are foreground. */
interface LabelSummary {
  readonly min: number;
  readonly max: number;
  matches(): number;
}

/**
 * n origins of patches centred on random foreground pixels of a label (clamped inside the well):
 * draws n ranks among the foreground pixels in raster order, and `locate` turns them into pixel
 * indices; uniform origins for a constant image.
 */
function foreground(well: SamplingWell, label: string, P: number, n: number, s: LabelSummary, random: Rng, locate: (ranks: number[]) => number[]): PatchOrigin[] {
  const r = foregroundRanks(well, label, P, n, s, random);
  return 'uniform' in r ? r.uniform : centred(well, label, P, locate(r.ranks));
}

/** {@link foreground} with an asynchronous `locate` (streamed labels). */
async function foregroundAsync(well: SamplingWell, label: string, P: number, n: number, s: LabelSummary, random: Rng, locate: (ranks: number[]) => Promise<number[]>): Promise<PatchOrigin[]> {
  const r = foregroundRanks(well, label, P, n, s, random);
  return 'uniform' in r ? r.uniform : centred(well, label, P, await locate(r.ranks));
}

function foregroundRanks(well: SamplingWell, label: string, P: number, n: number, s: LabelSummary, random: Rng): { uniform: PatchOrigin[] } | { ranks: number[] } {
  // Constant image: no foreground to aim at.
  if (!(s.max > s.min)) return { uniform: Array.from({ length: n }, () => ({ y: random.int(well.height - P + 1), x: random.int(well.width - P + 1), reason: `uniform:${label}` })) };
  const m = s.matches();
  return { ranks: Array.from({ length: n }, () => random.int(m)) };
}

function centred(well: SamplingWell, label: string, P: number, pixels: readonly number[]): PatchOrigin[] {
  const half = P >> 1;
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return pixels.map((i) => ({ y: clamp(Math.floor(i / well.width) - half, well.height - P), x: clamp((i % well.width) - half, well.width - P), reason: `foreground:${label}` }));
}

function count(a: Float32Array, select: (v: number) => boolean): number {
  let c = 0;
  for (let i = 0; i < a.length; i++) if (select(a[i])) c++;
  return c;
}

/** Raster indices of the selected pixels of the given ranks (among the selected, in raster order). */
function locate(a: Float32Array, select: (v: number) => boolean, ranks: readonly number[]): number[] {
  const idx = new Uint32Array(count(a, select));
  let k = 0;
  for (let i = 0; i < a.length; i++) if (select(a[i])) idx[k++] = i;
  return ranks.map((r) => idx[r]);
}

/**
 * Foreground threshold of an image in [0, 1] from its 65536-bin histogram of n pixels: the larger
 * of Otsu's threshold (separates sparse bright cells from background) and the q-quantile (keeps
 * dense labels to their brightest part). Exact for canonical 16-bit images.
 */
function foregroundThreshold(hist: Float64Array, n: number, q: number): number {
  let quantileBin = 65535;
  for (let b = 0, acc = 0; b < 65536; b++) {
    acc += hist[b];
    if (acc > q * n) {
      quantileBin = b;
      break;
    }
  }
  // Otsu: maximise the between-class variance w0 w1 (mu0 - mu1)^2 over split points.
  let total = 0;
  for (let b = 0; b < 65536; b++) total += b * hist[b];
  let w0 = 0;
  let sum0 = 0;
  let best = -1;
  let otsuBin = 0;
  for (let b = 0; b < 65535; b++) {
    w0 += hist[b];
    sum0 += b * hist[b];
    const w1 = n - w0;
    if (!w0 || !w1) continue;
    const d = sum0 / w0 - (total - sum0) / w1;
    const between = w0 * w1 * d * d;
    if (between > best) {
      best = between;
      otsuBin = b;
    }
  }
  return Math.max(otsuBin, quantileBin) / 65535;
}

function permutation(n: number, random: Rng): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export interface CutPatchOptions {
  readonly patchSize: number;
  readonly split: Split;
  /** Labels to cut (default all the well has); labels the well lacks are left out (null in shards). */
  readonly labels?: readonly string[];
  /** Optional per-pixel validity (1 = valid) per label, same size as the well; default all valid. */
  readonly masks?: ReadonlyMap<string, Plane<'uint8'>>;
}

/**
 * Cuts the patch at `origin` from `well` as 16-bit counts (round(value x 65535), clipped; NaN -> 0),
 * which are exactly the canonical PNG values for a well read from canonical PNGs.
 * @throws IslError BAD_OPTION when the patch does not fit in the well
 */
export function cutPatch(well: Well, origin: { y: number; x: number }, options: CutPatchOptions): ShardPatch {
  const P = options.patchSize;
  const { y, x } = origin;
  if (!Number.isInteger(P) || P <= 0) throw badOption('patchSize', 'a positive integer (px)', P);
  if (!Number.isInteger(y) || !Number.isInteger(x) || y < 0 || x < 0 || y + P > well.height || x + P > well.width) {
    throw badOption('origin', `an integer origin with the ${P}px patch inside well ${well.well} (${well.width}x${well.height})`, `${y},${x}`);
  }
  const { stack } = well.transmitted;
  const input = new Uint16Array(stack.depth * P * P);
  for (let z = 0; z < stack.depth; z++) {
    copyCounts(stack.data, (z * stack.height + y) * stack.width + x, stack.width, input, z * P * P, P);
  }
  const labels = new Map<string, ShardLabel>();
  for (const name of options.labels ?? well.labels.keys()) {
    const img = well.labels.get(name);
    if (!img) continue;
    const data = new Uint16Array(P * P);
    copyCounts(img.data, y * img.width + x, img.width, data, 0, P);
    const m = options.masks?.get(name);
    let mask: Uint8Array | undefined;
    if (m) {
      if (m.width !== img.width || m.height !== img.height) throw badOption(`masks.${name}`, `a ${img.width}x${img.height} plane like the label`, `${m.width}x${m.height}`);
      mask = new Uint8Array(P * P);
      for (let r = 0; r < P; r++) mask.set(m.data.subarray((y + r) * m.width + x, (y + r) * m.width + x + P), r * P);
    }
    labels.set(name, mask ? { data, mask } : { data });
  }
  return { well: well.well, y, x, split: options.split, input, labels };
}

/** Copies a P x P window (row stride `stride`) of [0, 1] floats as rounded, clipped uint16 counts. */
function copyCounts(src: Float32Array, start: number, stride: number, dst: Uint16Array, at: number, P: number): void {
  for (let r = 0; r < P; r++) {
    const s = start + r * stride;
    const d = at + r * P;
    for (let c = 0; c < P; c++) {
      const v = Math.round(src[s + c] * 65535);
      dst[d + c] = v > 0 ? (v < 65535 ? v : 65535) : 0;
    }
  }
}

/**
 * Samples origins with {@link samplePatches} and cuts them lazily, one {@link ShardPatch} at a time.
 */
export function* wellPatches(well: Well, options: SamplePatchesOptions & { readonly split: Split; readonly masks?: ReadonlyMap<string, Plane<'uint8'>> }): Generator<ShardPatch> {
  for (const o of samplePatches(well, options)) yield cutPatch(well, o, { patchSize: options.patchSize, split: options.split, labels: options.labels, masks: options.masks });
}

/** A train/test split of wells (both lists sorted). */
export interface WellSplit {
  readonly train: string[];
  readonly test: string[];
}

/**
 * Splits wells into train and test, by well (patches of one well never cross the split).
 * The test set has round(n x testFraction) wells, but at least one when testFraction > 0 and
 * at most n - 1 when testFraction < 1 (n >= 2). Independent of the input order.
 * @throws IslError BAD_OPTION for duplicate or empty well names or a fraction outside [0, 1]
 */
export function splitWells(wells: readonly string[], options: { readonly testFraction: number; readonly seed: number }): WellSplit {
  const { testFraction, seed } = options;
  if (!(testFraction >= 0 && testFraction <= 1)) throw badOption('testFraction', 'a number in [0, 1]', testFraction);
  if (!Number.isFinite(seed)) throw badOption('seed', 'a finite number', seed);
  const sorted = [...wells].sort();
  for (let i = 0; i < sorted.length; i++) {
    if (!sorted[i]) throw badOption('wells', 'non-empty well names', sorted[i]);
    if (i && sorted[i] === sorted[i - 1]) throw badOption('wells', 'distinct well names', sorted[i]);
  }
  const n = sorted.length;
  let nTest = Math.round(n * testFraction);
  if (n >= 2 && testFraction > 0) nTest = Math.max(1, nTest);
  if (n >= 2 && testFraction < 1) nTest = Math.min(n - 1, nTest);
  const order = permutation(n, rng(deriveSeed(seed, 'split')));
  const test = order.slice(0, nTest).map((i) => sorted[i]).sort();
  const testSet = new Set(test);
  return { train: sorted.filter((w) => !testSet.has(w)), test };
}
