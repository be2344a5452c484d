/**
 * How good are the predictions? Compares predicted label images with the true ones, at the pixel
 * level (Pearson r from one million seeded random pixels and over the whole image, true-vs-
 * predicted heatmaps, error images of the top-left crop) and at the object level (nuclei
 * segmented in both and matched: split, merged, added, missed, accuracy; live vs dead nuclear
 * sizes with a KS test), and writes `metrics.json` plus a one-page offline `index.html`.
 *
 *   npx tsx pipelines/evaluate.ts --pred OUT --truth WELLS --out REPORT [--cells truth/cells.json]
 *
 * Predictions: canonical 16-bit PNGs named in the ISL convention with `channel-<LABEL>` and
 * `statistic-MEDIAN`; truth: canonical wells (the `depth_computation-MAXPROJECT` label images).
 * Either folder may hold the files directly or one sub-folder per well; wells are matched by the
 * `well-` token of the file names.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { badInput, badOption } from '../core/errors.ts';
import { plane, toFloat32, type Plane } from '../core/image.ts';
import { readPlane } from '../io/read.ts';
import { isProjectedLabel, scanIslFolders } from '../io/isl_folders.ts';
import { readCanonicalPlane } from '../io/canonical.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { reportOut } from '../io/out_layout.ts';
import {
  sampledPearson, DEFAULT_PEARSON_SAMPLES, jointHistogram, heatmapPng, errorImage, greyPng, rgbPng,
  DEFAULT_CROP, displayGain, topLeftCrop, segmentNuclei, matchObjects, ksTwoSample, outlineImage,
  ceilingFromClean, ceilingFromNoiseSd, ceilingFromReplicates, cellListLabels, parseCellList,
  IDENTITY_FRAME, alignCellList, clearBorder, objectMeans, otsuThreshold,
  type Segmentation, type NoiseCeiling, type CellFrame, type NucleusRecord, type Labels,
} from '../transforms/evaluate/index.ts';
import type { LabelMetrics, LiveDead, Metrics, ObjectMetrics, WellMetrics } from './report/metrics.ts';
import { reportHtml } from './report/html.ts';
import { parseTrainLog, trainCurveSvg } from './report/train_curve.ts';
import { InvalidArgumentError } from 'commander';
import { command, isMain, number, positiveInt, runCli } from '../core/cli.ts';

/** Options of {@link evaluate}. Only pred, truth and out are required. */
export interface EvaluateOptions {
  /** Folder of predictions (files, or one sub-folder per well). */
  readonly pred: string;
  /** Folder of canonical true wells (files, or one sub-folder per well). */
  readonly truth: string;
  /** Report folder; created if absent. */
  readonly out: string;
  /** Seed of the random pixel sample; default 0. */
  readonly seed?: number;
  /** Pixels drawn for Pearson r; default 1,000,000. */
  readonly samples?: number;
  /** Side of the top-left crop shown, px; default 256. */
  readonly crop?: number;
  /** QC report to link from the page: an HTML file, or a folder (linked to its index.html when present). */
  readonly qcReport?: string;
  /** Training log (`train.jsonl`, lines {step, loss, ...}) to plot and link. */
  readonly trainLog?: string;
  /**
   * True cell lists from fixtures/generate.ts: a `cells.json` file (single well), or a folder
   * holding `<well>/cells.json` (+ `positions.json`, `clean_<LABEL>.tif`), i.e. a generated dump's
   * `truth/`. Default: `cells.json` in each truth well folder, when present.
   */
  readonly cells?: string;
  /**
   * Labels to evaluate; default every label, and then predicted and true label sets must be equal
   * (a label present in one only is an error naming it). With a list, only those are compared.
   */
  readonly labels?: readonly string[];
  /** Label of the nuclear stain for object metrics; default the first label matching DAPI or HOECHST. */
  readonly nuclearLabel?: string;
  /** Label marking dead cells; default the first label matching DEAD or PROPIDIUM. */
  readonly deadLabel?: string;
  /** Noise standard deviation per label (canonical units) for the noise ceiling. */
  readonly noiseSd?: Readonly<Record<string, number>>;
  /** Folder of replicate true wells (same layout as truth) for the noise ceiling. */
  readonly replicate?: string;
}

/** What {@link evaluate} wrote. */
export interface EvaluateResult {
  readonly metrics: Metrics;
  /** Absolute paths of the written report files. */
  readonly indexHtml: string;
  readonly metricsJson: string;
}

const NUCLEAR = /DAPI|HOECHST/i;
const DEAD = /DEAD|PROPIDIUM/i;

/** Per well, its folder and its label files (label -> path). */
interface WellFiles {
  readonly dir: string;
  readonly labels: Map<string, string>;
}

/**
 * Collects label images under `root` (the folder itself and its direct sub-folders).
 * kind 'pred': `statistic-MEDIAN` images; kind 'truth': projected labels (no z_depth, no statistic).
 */
function collect(root: string, kind: 'pred' | 'truth'): Map<string, WellFiles> {
  const what = kind === 'pred' ? 'predictions' : 'true images';
  const wells = new Map<string, WellFiles>();
  for (const { dir, path, name: n } of scanIslFolders(root, what)) {
    if (n.isMask || n.extension !== 'png') continue;
    const wanted = kind === 'pred' ? n.statistic === 'MEDIAN' : isProjectedLabel(n);
    if (!wanted) continue;
    const w = wells.get(n.well) ?? { dir, labels: new Map<string, string>() };
    wells.set(n.well, w);
    const prev = w.labels.get(n.channel);
    if (prev) throw badInput(path, `duplicate ${kind === 'pred' ? 'prediction' : 'true image'} of ${n.channel} for well ${n.well} (also ${prev})`, n.well);
    w.labels.set(n.channel, path);
  }
  if (wells.size === 0) {
    const example = kind === 'pred' ? '...,well-A1,...,channel-DAPI_CONFOCAL,...,statistic-MEDIAN,....png' : '...,well-A1,...,depth_computation-MAXPROJECT,channel-DAPI_CONFOCAL,is_mask-false.png';
    throw badInput(root, `no ${what} found; expected 16-bit PNGs named like ${example}`);
  }
  return wells;
}

/** Throws a clear error for an image with a single intensity (nothing to correlate or segment). */
function assertNotBlank(p: Plane<'float32'>, path: string, well: string, what: string): void {
  const v = p.data[0];
  for (let i = 1; i < p.data.length; i++) if (p.data[i] !== v) return;
  throw badInput(path, `${what} is blank: all ${p.width}x${p.height} pixels equal ${v} (an empty image; Pearson r and nuclei are undefined)`, well);
}

/** A file-name-safe version of a well or label name. */
function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function validate(o: EvaluateOptions): void {
  for (const k of ['pred', 'truth', 'out'] as const) if (typeof o[k] !== 'string' || !o[k]) throw badOption(k, 'a folder path', o[k]);
  if (o.seed !== undefined && (typeof o.seed !== 'number' || !Number.isFinite(o.seed))) throw badOption('seed', 'a finite number', o.seed);
  if (o.samples !== undefined && (!Number.isInteger(o.samples) || o.samples <= 0)) throw badOption('samples', 'a positive integer', o.samples);
  if (o.crop !== undefined && (!Number.isInteger(o.crop) || o.crop <= 0)) throw badOption('crop', 'a positive integer (px)', o.crop);
  for (const [label, sd] of Object.entries(o.noiseSd ?? {})) if (!(sd >= 0) || !Number.isFinite(sd)) throw badOption(`noiseSd.${label}`, 'a finite number >= 0 (canonical intensity units)', sd);
  if (o.labels !== undefined && (!Array.isArray(o.labels) || o.labels.length === 0)) throw badOption('labels', 'a non-empty list of label names', o.labels);
}

/** Live vs dead nuclear areas of one segmentation, given each object's dead flag. */
function liveDead(seg: Segmentation, dead: (k: number) => boolean | undefined): LiveDead {
  const liveAreas: number[] = [];
  const deadAreas: number[] = [];
  for (let k = 1; k <= seg.labels.count; k++) {
    const d = dead(k);
    if (d === undefined) continue;
    (d ? deadAreas : liveAreas).push(seg.areas[k]);
  }
  return { liveAreas, deadAreas, ...(liveAreas.length && deadAreas.length ? { ks: ksTwoSample(liveAreas, deadAreas) } : {}) };
}

/** Dead flag per object: mean of the dead-cell image inside it above that image's Otsu threshold. */
function deadByStain(seg: Segmentation, deadImage: Plane<'float32'>): (k: number) => boolean {
  const means = objectMeans(seg.labels, deadImage);
  const t = otsuThreshold(deadImage);
  return (k) => means[k] > t;
}

/** Dead flag per object from the cell list: the alive flag of the cell whose nucleus it overlaps most. */
function deadByCells(labels: Labels, cellLabels: Labels, cells: readonly NucleusRecord[]): (k: number) => boolean | undefined {
  const overlap = new Map<number, Map<number, number>>();
  for (let i = 0; i < labels.data.length; i++) {
    const a = labels.data[i];
    const c = cellLabels.data[i];
    if (!a || !c) continue;
    const m = overlap.get(a) ?? new Map<number, number>();
    overlap.set(a, m);
    m.set(c, (m.get(c) ?? 0) + 1);
  }
  return (k) => {
    const m = overlap.get(k);
    if (!m) return undefined;
    let best = 0;
    let bestN = 0;
    for (const [c, n] of m) if (n > bestN) (best = c, bestN = n);
    return !cells[best - 1].alive;
  };
}

/** A well's cell list and the frame guessed from the generator's tile positions. */
interface CellTruth {
  readonly cells: NucleusRecord[];
  /** Folder of cells.json (the generator's truth folder of the well). */
  readonly dir: string;
  readonly guess: CellFrame;
}

/**
 * Reads a well's cell list and guesses where the stitched image sits in the generator's canvas
 * from `positions.json` beside it: origin = the top-left tile's canvas position; scale = image
 * width / stitched width when they differ by more than 5% (a downscaled well), else 1.
 * The list is `cells` itself (a file, single-well runs), `cells/<well>/cells.json` (a folder such
 * as a generated dump's `truth/`), or else `cells.json` in the truth well folder when present.
 */
async function loadCells(cellsOpt: string | undefined, truthDir: string, well: string, width: number): Promise<CellTruth | undefined> {
  let path = join(truthDir, 'cells.json');
  if (cellsOpt) {
    const isDir = await stat(cellsOpt).then((s) => s.isDirectory(), () => false);
    path = isDir ? join(cellsOpt, well, 'cells.json') : cellsOpt;
    if (!(await exists(path))) throw badInput(path, `cell list of well ${well} not found`, well);
  } else if (!(await exists(path))) {
    return undefined;
  }
  const cells = parseCellList(await readFile(path, 'utf8'), path);
  const posPath = join(dirname(path), 'positions.json');
  if (!(await exists(posPath))) return { cells, dir: dirname(path), guess: IDENTITY_FRAME };
  let pos: { tileSize?: unknown; tiles?: { x: number; y: number }[] };
  try {
    pos = JSON.parse(await readFile(posPath, 'utf8'));
  } catch (e) {
    throw badInput(posPath, 'expected JSON tile positions ({"tileSize": [w, h], "tiles": [{"x", "y"}, ...]})', undefined, e);
  }
  const tiles = Array.isArray(pos.tiles) ? pos.tiles.filter((t) => typeof t?.x === 'number' && typeof t?.y === 'number') : [];
  const tileW = Array.isArray(pos.tileSize) && typeof pos.tileSize[0] === 'number' ? pos.tileSize[0] : undefined;
  if (!tiles.length || tileW === undefined) throw badInput(posPath, 'expected "tileSize": [w, h] and "tiles": [{"x", "y"}, ...]');
  const originX = Math.min(...tiles.map((t) => t.x));
  const originY = Math.min(...tiles.map((t) => t.y));
  const ratio = width / (Math.max(...tiles.map((t) => t.x)) + tileW - originX);
  return { cells, dir: dirname(path), guess: { originX, originY, scale: Math.abs(ratio - 1) > 0.05 ? ratio : 1 } };
}

/**
 * Noise ceiling from the generator's noise-free canvas `clean_<LABEL>.tif` beside cells.json,
 * cropped at the well's frame: r(clean, truth). Undefined when there is no such file, the well is
 * rescaled, or the crop leaves the canvas.
 */
async function cleanCeiling(dir: string, label: string, frame: CellFrame, truth: Plane<'float32'>): Promise<NoiseCeiling | undefined> {
  const path = join(dir, `clean_${label}.tif`);
  if (frame.scale !== 1 || !(await exists(path))) return undefined;
  const canvas = toFloat32(await readPlane(path));
  const x0 = Math.round(frame.originX);
  const y0 = Math.round(frame.originY);
  if (x0 < 0 || y0 < 0 || x0 + truth.width > canvas.width || y0 + truth.height > canvas.height) return undefined;
  const crop = plane('float32', truth.width, truth.height);
  for (let y = 0; y < truth.height; y++) crop.data.set(canvas.data.subarray((y0 + y) * canvas.width + x0, (y0 + y) * canvas.width + x0 + truth.width), y * truth.width);
  return ceilingFromClean(crop, truth);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/**
 * Evaluates predictions against true images and writes the report.
 *
 * @param opts see {@link EvaluateOptions}.
 * @returns the metrics and the paths of `index.html` and `metrics.json` (both written atomically,
 *   after every image they reference).
 * @throws IslError BAD_OPTION for invalid options; BAD_INPUT when a folder holds no images, a
 *   predicted well or label has no true counterpart (or a requested label is missing), prediction
 *   and truth differ in size, or an image is blank.
 * @example await evaluate({ pred: 'out/predict', truth: 'out/canonical', out: 'out/report', seed: 0 })
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluateResult> {
  const o = checkEvaluateOptions(opts);
  const predWells = collect(opts.pred, 'pred');
  const truthWells = collect(opts.truth, 'truth');
  const replicateWells = opts.replicate ? collect(opts.replicate, 'truth') : undefined;
  const links = await readLinks(opts);
  if (opts.cells && predWells.size > 1 && !(await stat(opts.cells).then((s) => s.isDirectory(), () => false))) {
    throw badOption('cells', 'a folder holding <well>/cells.json when several wells are evaluated (e.g. the generated dump\'s truth/)', opts.cells);
  }
  const wells: WellMetrics[] = [];
  for (const [well, pw] of [...predWells].sort((a, b) => a[0].localeCompare(b[0]))) {
    const tw = truthWells.get(well);
    if (!tw) throw badInput(pw.dir, `well ${well} has predictions but no true images in ${opts.truth} (true wells: ${[...truthWells.keys()].join(', ')})`, well);
    wells.push(await evaluateWell(o, well, pw, tw, replicateWells?.get(well)));
  }
  const metrics: Metrics = {
    version: 1,
    seed: o.seed,
    pred: resolve(opts.pred),
    truth: resolve(opts.truth),
    wells,
    summary: summarize(wells),
    links: { ...(links.qcPage ? { qcReport: href(o.out, links.qcPage) } : {}), ...(opts.trainLog ? { trainLog: href(o.out, opts.trainLog) } : {}) },
    skippedWells: [...truthWells.keys()].filter((w) => !predWells.has(w)).sort(),
  };
  const trainSvg = links.trainText !== undefined ? trainCurveSvg(parseTrainLog(links.trainText, opts.trainLog!)) : undefined;
  const metricsJson = reportOut.metrics(o.out);
  const indexHtml = reportOut.index(o.out);
  await writeFileAtomic(metricsJson, `${JSON.stringify(metrics, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1)}\n`);
  await writeFileAtomic(indexHtml, reportHtml(metrics, trainSvg));
  return { metrics, indexHtml, metricsJson };
}

/** Checked options with defaults filled in. */
type CheckedOptions = EvaluateOptions & { readonly seed: number; readonly samples: number; readonly crop: number; readonly out: string };

/** Defaults of {@link EvaluateOptions}, declared once (the CLI shows the same). */
export const EVALUATE_DEFAULTS = Object.freeze({ seed: 0, samples: DEFAULT_PEARSON_SAMPLES, crop: DEFAULT_CROP });

function checkEvaluateOptions(o: EvaluateOptions): CheckedOptions {
  validate(o);
  return { ...o, seed: o.seed ?? EVALUATE_DEFAULTS.seed, samples: o.samples ?? EVALUATE_DEFAULTS.samples, crop: o.crop ?? EVALUATE_DEFAULTS.crop, out: resolve(o.out) };
}

/** A report link: `path` relative to the report folder, with forward slashes. */
const href = (out: string, path: string) => relative(out, resolve(path)).split('\\').join('/');

/** The training log's text and the QC page to link, read before any work so a bad path fails fast. */
async function readLinks(opts: EvaluateOptions): Promise<{ trainText?: string; qcPage?: string }> {
  const trainText = opts.trainLog ? await readFile(opts.trainLog, 'utf8').catch((e) => { throw badInput(opts.trainLog!, 'cannot read the training log', undefined, e); }) : undefined;
  let qcPage: string | undefined;
  if (opts.qcReport) {
    const st = await stat(opts.qcReport).catch((e) => { throw badInput(opts.qcReport!, 'QC report not found', undefined, e); });
    // A QC report folder (preprocess's OUT/qc/) links to its index.html when it has one.
    qcPage = st.isDirectory() && (await exists(join(opts.qcReport, 'index.html'))) ? join(opts.qcReport, 'index.html') : opts.qcReport;
  }
  return { trainText, qcPage };
}

/** Mean r per label over the wells. */
function summarize(wells: readonly WellMetrics[]): Metrics['summary'] {
  const byLabel = new Map<string, number[]>();
  for (const w of wells) for (const l of w.labels) byLabel.set(l.label, [...(byLabel.get(l.label) ?? []), l.r]);
  return [...byLabel].sort((a, b) => a[0].localeCompare(b[0])).map(([label, rs]) => ({ label, wells: rs.length, meanR: rs.reduce((a, b) => a + b, 0) / rs.length }));
}

/** One well: its labels, images, object metrics and per-label metrics (writing its report images). */
async function evaluateWell(o: CheckedOptions, well: string, pw: WellFiles, tw: WellFiles, replicates: WellFiles | undefined): Promise<WellMetrics> {
  const labels = labelsToCompare(o, well, pw, tw);
  const { truth, pred, width, height } = await readPairs(well, labels, pw, tw);
  const nuclear = o.nuclearLabel ?? labels.find((l) => NUCLEAR.test(l));
  if (o.nuclearLabel && !labels.includes(o.nuclearLabel)) throw badOption('nuclearLabel', `one of the evaluated labels (${labels.join(', ')})`, o.nuclearLabel);
  const obj = nuclear ? await objectMetrics(o, well, labels, nuclear, truth, pred, tw.dir) : undefined;
  const labelMetrics: LabelMetrics[] = [];
  for (const l of labels) labelMetrics.push(await labelMetricsOf(o, well, l, truth.get(l)!, pred.get(l)!, replicates?.labels.get(l), obj?.cleanFrame));
  return { well, width, height, labels: labelMetrics, ...(obj ? { objects: obj.objects } : {}) };
}

/** The labels compared in a well; without a label list, predicted and true label sets must be equal. */
function labelsToCompare(o: EvaluateOptions, well: string, pw: WellFiles, tw: WellFiles): string[] {
  const labels = o.labels ? [...o.labels] : [...pw.labels.keys()].sort();
  if (!o.labels) {
    const unpredicted = [...tw.labels.keys()].filter((l) => !pw.labels.has(l)).sort();
    if (unpredicted.length) throw badInput(pw.dir, `well ${well}: true label${unpredicted.length > 1 ? 's' : ''} ${unpredicted.join(', ')} ${unpredicted.length > 1 ? 'have' : 'has'} no prediction (predicted: ${[...pw.labels.keys()].sort().join(', ')}); pass labels/--labels to evaluate a subset`, well);
  }
  for (const l of labels) {
    if (!pw.labels.has(l)) throw badInput(pw.dir, `well ${well}: label ${l} was requested but has no prediction (predicted: ${[...pw.labels.keys()].join(', ')})`, well);
    if (!tw.labels.has(l)) throw badInput(tw.dir, `well ${well}: label ${l} is predicted but has no true image (true labels: ${[...tw.labels.keys()].join(', ')}); pass labels/--labels to evaluate a subset`, well);
  }
  return labels;
}

/** True and predicted images of each label, checked to be non-blank and of one size. */
async function readPairs(well: string, labels: readonly string[], pw: WellFiles, tw: WellFiles): Promise<{ truth: Map<string, Plane<'float32'>>; pred: Map<string, Plane<'float32'>>; width: number; height: number }> {
  const truth = new Map<string, Plane<'float32'>>();
  const pred = new Map<string, Plane<'float32'>>();
  for (const l of labels) {
    const t = await readCanonicalPlane(tw.labels.get(l)!, { well });
    const p = await readCanonicalPlane(pw.labels.get(l)!, { well });
    if (t.width !== p.width || t.height !== p.height) throw badInput(pw.labels.get(l)!, `prediction of ${l} is ${p.width}x${p.height} but the true image is ${t.width}x${t.height} (${tw.labels.get(l)!})`, well);
    assertNotBlank(t, tw.labels.get(l)!, well, `true image of ${l}`);
    assertNotBlank(p, pw.labels.get(l)!, well, `prediction of ${l}`);
    truth.set(l, t);
    pred.set(l, p);
  }
  const { width, height } = truth.get(labels[0])!;
  for (const l of labels) {
    const t = truth.get(l)!;
    if (t.width !== width || t.height !== height) throw badInput(tw.labels.get(l)!, `true image of ${l} is ${t.width}x${t.height} but ${labels[0]} is ${width}x${height}`, well);
  }
  return { truth, pred, width, height };
}

/**
 * Nuclei segmented in truth and prediction and matched; live vs dead sizes (by the dead stain, else
 * the cell list); the cell list's frame, also used by the clean-canvas noise ceiling.
 */
async function objectMetrics(o: CheckedOptions, well: string, labels: readonly string[], nuclear: string, truth: Map<string, Plane<'float32'>>, pred: Map<string, Plane<'float32'>>, truthDir: string): Promise<{ objects: ObjectMetrics; cleanFrame?: { dir: string; frame: CellFrame } }> {
  const t = truth.get(nuclear)!;
  const { width, height } = t;
  const tSeg = segmentNuclei(t);
  const pSeg = segmentNuclei(pred.get(nuclear)!);
  const cellTruth = await loadCells(o.cells, truthDir, well, width);
  const cells = cellTruth?.cells;
  const cellFrame = cellTruth ? alignCellList(cellTruth.cells, tSeg.labels, cellTruth.guess) : undefined;
  const cellLabels = cellTruth && cellFrame ? cellListLabels(cellTruth.cells, width, height, cellFrame) : undefined;
  const deadLabel = o.deadLabel ?? labels.find((l) => DEAD.test(l));
  if (o.deadLabel && !labels.includes(o.deadLabel)) throw badOption('deadLabel', `one of the evaluated labels (${labels.join(', ')})`, o.deadLabel);
  let ld: ObjectMetrics['liveDead'];
  if (deadLabel) {
    ld = { deadLabel, truth: liveDead(tSeg, deadByStain(tSeg, truth.get(deadLabel)!)), pred: liveDead(pSeg, deadByStain(pSeg, pred.get(deadLabel)!)) };
  } else if (cells && cellLabels) {
    ld = { deadLabel: 'cell list (alive flag)', truth: liveDead(tSeg, deadByCells(tSeg.labels, cellLabels, cells)), pred: liveDead(pSeg, deadByCells(pSeg.labels, cellLabels, cells)) };
  }
  const tc = topLeftCrop(t, o.crop);
  const image = reportOut.image(o.out, safe(well), `${safe(nuclear)}_nuclei.png`);
  await writeFileAtomic(image.path, await rgbPng(outlineImage(tc, displayGain(tc), tSeg.labels, pSeg.labels)));
  const objects: ObjectMetrics = {
    label: nuclear,
    thresholds: { truth: tSeg.threshold, pred: pSeg.threshold },
    match: matchObjects(tSeg.labels, pSeg.labels),
    // Nuclei cut by the border are left out of the cell-list checks: the list and the image
    // cannot agree on them (a sliver may fall below minArea, or lie just outside).
    ...(cellLabels && cellFrame ? { cellFrame, truthVsCells: matchObjects(clearBorder(cellLabels), clearBorder(tSeg.labels)), predVsCells: matchObjects(clearBorder(cellLabels), clearBorder(pSeg.labels)) } : {}),
    ...(ld ? { liveDead: ld } : {}),
    image: image.href,
  };
  return { objects, ...(cellTruth && cellFrame ? { cleanFrame: { dir: cellTruth.dir, frame: cellFrame } } : {}) };
}

/** Pearson r, joint histogram, noise ceiling and crop images of one label (writing its images). */
async function labelMetricsOf(o: CheckedOptions, well: string, l: string, t: Plane<'float32'>, p: Plane<'float32'>, replicate: string | undefined, cleanFrame: { dir: string; frame: CellFrame } | undefined): Promise<LabelMetrics> {
  const r = sampledPearson(t, p, { samples: o.samples, seed: o.seed });
  const hist = jointHistogram(t, p, 10);
  let ceiling: NoiseCeiling | undefined;
  if (replicate) {
    const t2 = await readCanonicalPlane(replicate, { well });
    if (t2.width !== t.width || t2.height !== t.height) throw badInput(replicate, `replicate of ${l} is ${t2.width}x${t2.height} but the true image is ${t.width}x${t.height}`, well);
    ceiling = ceilingFromReplicates(t, t2);
  } else if (o.noiseSd?.[l] !== undefined) {
    ceiling = ceilingFromNoiseSd(t, o.noiseSd[l]);
  } else if (cleanFrame) {
    ceiling = await cleanCeiling(cleanFrame.dir, l, cleanFrame.frame, t);
  }
  const tc = topLeftCrop(t, o.crop);
  const pc = topLeftCrop(p, o.crop);
  const gain = displayGain(tc);
  const img = (kind: string) => reportOut.image(o.out, safe(well), `${safe(l)}_${kind}.png`);
  const files = { heatmap: img('heatmap'), truth: img('true'), pred: img('pred'), error: img('error') };
  await writeFileAtomic(files.heatmap.path, await heatmapPng(hist, { title: `${well} ${l}: r = ${r.sampled.toFixed(3)}` }));
  await writeFileAtomic(files.truth.path, await greyPng(tc, gain));
  await writeFileAtomic(files.pred.path, await greyPng(pc, gain));
  await writeFileAtomic(files.error.path, await rgbPng(errorImage(tc, pc, gain)));
  return {
    label: l,
    r: r.sampled,
    rWhole: r.whole,
    samples: o.samples,
    ...(ceiling ? { ceiling } : {}),
    heatmap: { bins: hist.bins, perThousand: [...hist.perThousand] },
    images: { heatmap: files.heatmap.href, truth: files.truth.href, pred: files.pred.href, error: files.error.href },
    crop: { width: tc.width, height: tc.height, gain },
  };
}

/** Parses repeatable `--noise-sd LABEL=SD`. */
function noiseSdOption(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const m = /^([^=]+)=(.+)$/.exec(value);
  const sd = m ? Number(m[2]) : NaN;
  if (!m || !(sd >= 0)) throw new InvalidArgumentError(`Expected LABEL=SD with SD >= 0 in canonical units (e.g. DAPI_CONFOCAL=0.02) but received ${JSON.stringify(value)}`);
  return { ...previous, [m[1]]: sd };
}

/** CLI entry. */
export async function main(argv = process.argv): Promise<void> {
  const program = command('evaluate', 'Compare predicted label images with the true ones and write metrics.json and index.html.')
    .requiredOption('--pred <dir>', 'predictions (ISL-named 16-bit PNGs with statistic-MEDIAN; files or one folder per well)')
    .requiredOption('--truth <dir>', 'canonical true wells (depth_computation-MAXPROJECT label PNGs)')
    .requiredOption('--out <dir>', 'report folder')
    .option('--seed <n>', 'seed of the random pixel sample', number, EVALUATE_DEFAULTS.seed)
    .option('--samples <n>', 'pixels drawn for Pearson r', positiveInt, EVALUATE_DEFAULTS.samples)
    .option('--crop <px>', 'side of the top-left crop shown', positiveInt, EVALUATE_DEFAULTS.crop)
    .option('--cells <path>', 'true cell lists: cells.json (one well) or a folder of <well>/cells.json such as DUMP/truth; default <truth well>/cells.json when present')
    .option('--labels <list>', 'comma-separated labels to evaluate (default: every predicted label)')
    .option('--nuclear-label <label>', 'nuclear stain for object metrics (default: first label matching DAPI|HOECHST)')
    .option('--dead-label <label>', 'dead-cell stain (default: first label matching DEAD|PROPIDIUM)')
    .option('--noise-sd <label=sd>', 'noise sd of a true label (canonical units) for the noise ceiling; repeatable', noiseSdOption)
    .option('--replicate <dir>', 'replicate true wells for the noise ceiling')
    .option('--qc-report <path>', 'QC report to link')
    .option('--train-log <file>', 'train.jsonl to plot');
  await runCli(program, async (o) => {
    const res = await evaluate({
      pred: o.pred,
      truth: o.truth,
      out: o.out,
      seed: o.seed,
      samples: o.samples,
      crop: o.crop,
      cells: o.cells,
      labels: o.labels ? String(o.labels).split(',').filter(Boolean) : undefined,
      nuclearLabel: o.nuclearLabel,
      deadLabel: o.deadLabel,
      noiseSd: o.noiseSd,
      replicate: o.replicate,
      qcReport: o.qcReport,
      trainLog: o.trainLog,
    });
    for (const w of res.metrics.wells) for (const l of w.labels) process.stderr.write(`${w.well} ${l.label}: r = ${l.r.toFixed(3)} (whole image ${l.rWhole.toFixed(3)})\n`);
    process.stdout.write(`${res.indexHtml}\n`);
  }, argv);
}

if (isMain(import.meta.url)) await main();
