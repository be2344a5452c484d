/**
 * Predicts fluorescence labels for every well of a folder of canonical wells.
 *
 *   npx tsx pipelines/predict.ts --model MODELDIR --input WELLS --output OUT
 *       [--mode fast|exact] [--stats median,mean,mode,std,entropy] [--workers N]
 *       [--queue redis://HOST:PORT] [--resume] [--block-size PX]
 *
 * Per well, OUT/<well>/ receives one 16-bit PNG per label and statistic in the ISL convention
 * (`well-W,channel-LABEL,statistic-MEDIAN,is_mask-false.png`, value x 65535), one OME-TIFF with all
 * of them as float32, and `prediction.json` (mode, padding, normalization, timings). Wells run as
 * jobs of runners/ (a local worker-thread pool, or BullMQ jobs for `runners/worker.ts` processes);
 * OUT/.records/ holds one completion record per well, which `--resume` skips. OUT/plate.zarr holds
 * the same planes as the OME-TIFFs as one OME-Zarr plate (a channel per label and statistic).
 * `--input` may also be an OME-Zarr plate or image (io/zarr/read.ts).
 *
 * Huge wells (wider or taller than `--block-size`, default 2048 px) are split into blocks of whole
 * tiles: one job per block reads only the window of the well its passes need and writes its raw
 * maps to OUT/.blocks/<well>/; one merge job per well, run once all its blocks are done, puts them
 * together, normalizes and writes the outputs. Blocks run exactly the whole-well passes, so the
 * outputs are identical to an unsplit run. `--resume` also skips the blocks already done.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { readCanonicalWell } from '../io/canonical.ts';
import { imageInfo } from '../io/read.ts';
import { badInput, badOption } from '../core/errors.ts';
import { removeStaleTemps, writeFileAtomic } from '../io/atomic.ts';
import { plane, type Plane } from '../core/image.ts';
import { formatIslName, parseIslName } from '../io/isl_names.ts';
import { writeCanonicalPng, writeOmeTiff, type NamedPlane } from '../io/write.ts';
import { blockInput, createInferenceModel, predictStack, STATISTICS, tileBlocks, tiling, type InferenceModel, type Prediction, type Rect, type Statistic } from '../model/onnx/infer.ts';
import { readModelDir } from '../model/onnx/model_dir.ts';
import { applyAffine, IntensityStats, NORMALIZATION_TARGETS } from '../transforms/normalize.ts';
import { partKey, partRecords, recordPath, type JobContext, type Json } from '../runners/job.ts';
import { runWells, type RunSummary } from '../runners/run.ts';
import { command, isMain, number, positiveInt, runCli } from '../core/cli.ts';
import { isOmeZarr, listZarrWells, planesImage, writePlateMetadata, writePlateWell, zarrWellHeader } from '../io/zarr/index.ts';

/** OUT/plate.zarr: the statistics of every well as one OME-Zarr plate (io/zarr/). */
const PLATE = 'plate.zarr';

/** Options of {@link predict} (and of each well's job). */
export interface PredictOptions {
  /** Model directory: a checkpoint of pipelines/train.ts (model/checkpoint.ts). */
  model: string;
  /** Folder of canonical wells: one sub-folder per well, or one folder holding several wells' files. */
  input: string;
  /** Output folder. */
  output: string;
  /** `fast` (default) or `exact`. */
  mode?: 'fast' | 'exact';
  /** Statistics to write (default `['median']`). */
  stats?: Statistic[];
  /** Label heads to predict (default: all the model's labels). */
  labels?: string[];
  /** Largest network output per pass, px (default 520). */
  tile?: number;
  /** `paper` (default): the paper's global normalization of each predicted intensity image (mean 0.25, sd 0.125, clipped); `none`. */
  normalize?: 'paper' | 'none';
  /** ONNX Runtime execution providers, e.g. `['webgpu', 'cpu']` (default `['cpu']`). */
  providers?: string[];
  /** Local worker threads (default: cores). */
  workers?: number;
  /** ONNX Runtime threads per local worker (default: cores / workers, at least 1). Local mode only: queue workers take `runners/worker.ts --threads`. */
  threads?: number;
  /** `redis://HOST:PORT`: enqueue the wells for `runners/worker.ts` processes. */
  queue?: string;
  redisPassword?: string;
  /**
   * Wells wider or taller than this (px) are split into blocks of about this size (whole tiles),
   * one job each, then merged. 0: never split. Default 2048.
   */
  blockSize?: number;
  /** Skip wells with a completion record in OUT/.records (and, of split wells, the blocks done). */
  resume?: boolean;
  /** Progress reporting (default on). */
  progress?: boolean;
}

type JobOptions = Required<Pick<PredictOptions, 'model' | 'output' | 'mode' | 'stats' | 'tile' | 'normalize' | 'providers'>> & { labels?: string[] };

/** Separator between a folder and a well name in a job's well id, for folders holding several wells. */
const WELL_SEP = '#';

/**
 * The wells of an input folder, as job ids: a sub-folder per well (`DIR/A01`), or `DIR#A01` for
 * each well whose files sit directly in DIR.
 * @throws IslError BAD_INPUT when the folder is missing or holds no ISL-convention images.
 */
export function listWells(input: string): string[] {
  if (isOmeZarr(input)) return listZarrWells(input).map((e) => `${resolve(input)}${WELL_SEP}${e.well}`);
  let names: string[];
  try {
    names = readdirSync(input).sort();
  } catch (e) {
    throw badInput(input, 'cannot list the --input folder (does it exist?)', undefined, e);
  }
  const isWellFile = (f: string) => {
    const n = parseIslName(f);
    return !!n && !n.isMask && n.statistic === undefined && n.z !== undefined;
  };
  const direct = [...new Set(names.filter(isWellFile).map((f) => parseIslName(f)!.well))].sort();
  const dirs = names.filter((f) => !f.startsWith('.') && statSync(join(input, f)).isDirectory() && readdirSync(join(input, f)).some(isWellFile));
  const ids = [...dirs.map((d) => resolve(input, d)), ...direct.map((w) => `${resolve(input)}${WELL_SEP}${w}`)];
  if (ids.length === 0) throw badInput(input, 'no canonical wells found (expected sub-folders or files named …,well-W,…,z_depth-N,channel-C,is_mask-false.png)');
  return ids;
}

function validate(opts: PredictOptions): JobOptions & { workers: number; blockSize: number } {
  for (const k of ['model', 'input', 'output'] as const) if (typeof opts[k] !== 'string' || opts[k] === '') throw badOption(`--${k}`, 'a path', opts[k]);
  const mode = opts.mode ?? 'fast';
  if (mode !== 'fast' && mode !== 'exact') throw badOption('--mode', 'fast or exact', mode);
  const stats = opts.stats ?? ['median'];
  if (!Array.isArray(stats) || stats.length === 0) throw badOption('--stats', `a comma-separated list of ${STATISTICS.join(', ')}`, stats);
  for (const s of stats) if (!STATISTICS.includes(s)) throw badOption('--stats', `a comma-separated list of ${STATISTICS.join(', ')}`, s);
  const tile = opts.tile ?? 520;
  if (!Number.isInteger(tile) || tile < 1) throw badOption('--tile', 'a positive integer (px)', tile);
  const normalize = opts.normalize ?? 'paper';
  if (normalize !== 'paper' && normalize !== 'none') throw badOption('--normalize', 'paper or none', normalize);
  // Default: two wells at a time (one core each on this kind of machine); see predict() for one well.
  const workers = opts.workers ?? Math.min(availableParallelism(), 2);
  if (!Number.isInteger(workers) || workers < 1) throw badOption('--workers', 'a positive integer', workers);
  const blockSize = opts.blockSize ?? 2048;
  if (!Number.isInteger(blockSize) || blockSize < 0) throw badOption('--block-size', 'a non-negative integer (px; 0 never splits wells)', blockSize);
  const providers = opts.providers ?? ['cpu'];
  if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => !/^[a-z]+$/.test(p))) throw badOption('--provider', 'a comma-separated list of execution providers (cpu, webgpu, cuda)', providers.join(','));
  return { model: resolve(opts.model), output: resolve(opts.output), mode, stats: [...new Set(stats)], tile, normalize, providers, labels: opts.labels, workers, blockSize };
}

/**
 * Predicts every well of `opts.input` (see the module comment for the outputs).
 * @returns the runner's summary; `failed` lists wells that failed after retries.
 * @throws IslError BAD_OPTION / BAD_INPUT for invalid options or an empty input, before any work.
 */
export async function predict(opts: PredictOptions): Promise<RunSummary> {
  const o = validate(opts);
  const wells = listWells(opts.input);
  const { config } = await readModelDir(o.model); // fail fast on a bad model, before any worker starts
  for (const l of o.labels ?? []) if (!config.heads.labels.includes(l)) throw badOption('--labels', `labels of the model (${config.heads.labels.join(', ')})`, l);
  await mkdir(o.output, { recursive: true });
  const { workers, blockSize, ...jobOptions } = o;
  // Split the wells larger than a block (header reads only). A well whose header cannot be read
  // runs whole, and its job reports the error.
  const parts: Record<string, string[]> = {};
  const names = new Map<string, string>();
  if (blockSize > 0)
    for (const id of wells) {
      const w = await wellHeader(id).catch(() => undefined);
      if (!w || (w.width <= blockSize && w.height <= blockSize)) continue;
      const blocks = tileBlocks(tiling(config, w.width, w.height, o.tile), blockSize);
      if (blocks.length < 2) continue;
      parts[id] = blocks.map(blockId);
      names.set(id, w.well);
    }
  // Fewer jobs than workers: give each job more threads instead of idle workers.
  const jobs = wells.reduce((n, w) => n + (parts[w]?.length ?? 1), 0);
  const used = opts.workers ?? Math.min(workers, jobs);
  const records = join(o.output, '.records');
  const summary = await runWells(wells, { module: 'pipelines/predict.ts', fn: 'predictWellJob', merge: 'mergeWellJob', options: jobOptions as unknown as Json }, {
    records,
    workers: used,
    threads: opts.threads,
    parts,
    queue: opts.queue,
    redisPassword: opts.redisPassword,
    resume: opts.resume,
    progress: opts.progress === false ? false : undefined,
  });
  // Block maps and block records of merged wells are no longer needed (a later --resume skips the whole well).
  for (const id of [...summary.done.map((d) => d.well), ...summary.skipped]) {
    const name = names.get(id);
    if (!name) continue;
    await rm(join(o.output, '.blocks', name), { recursive: true, force: true });
    await Promise.all(parts[id].map((p) => rm(recordPath(partRecords(records), partKey(id, p)), { force: true })));
  }
  await rmdir(join(o.output, '.blocks')).catch(() => undefined);
  if (summary.done.length > 0) await writePlateMetadata(join(o.output, PLATE), { acquisition: 'predict' });
  await rmdir(partRecords(records)).catch(() => undefined);
  return summary;
}

/** Separates a folder and a well name in a well id of {@link listWells}: the folder, and the well name when given. */
export function splitWellId(wellId: string): [string, string | undefined] {
  const cut = wellId.lastIndexOf(WELL_SEP);
  return cut > 0 ? [wellId.slice(0, cut), wellId.slice(cut + 1)] : [wellId, undefined];
}

/** Name and size of a well from the header of one of its z-planes (no pixels decoded). */
async function wellHeader(wellId: string): Promise<{ well: string; width: number; height: number }> {
  const [dir, name] = splitWellId(wellId);
  if (isOmeZarr(dir)) return zarrWellHeader(dir, name);
  const z = readdirSync(dir)
    .map((f) => ({ f, n: parseIslName(f) }))
    .filter(({ n }) => n && !n.isMask && n.statistic === undefined && n.z !== undefined && (name === undefined || n.well === name));
  const wells = new Set(z.map(({ n }) => n!.well));
  if (wells.size !== 1) throw badInput(dir, `expected the z-planes of one well, found ${wells.size}`);
  const info = await imageInfo(join(dir, z[0].f));
  return { well: z[0].n!.well, width: info.width, height: info.height };
}

/** A block's part id: its rectangle in the well, e.g. `x0y2048w2048h1024`. */
function blockId(b: Rect): string {
  return `x${b.x}y${b.y}w${b.width}h${b.height}`;
}

function parseBlockId(id: string): Rect {
  const m = /^x(\d+)y(\d+)w(\d+)h(\d+)$/.exec(id);
  if (!m) throw badOption('part', 'a block id like x0y0w512h512', id);
  return { x: +m[1], y: +m[2], width: +m[3], height: +m[4] };
}

/** Header of a block file (OUT/.blocks/<well>/<block>.f32): JSON, then the maps as float32, heads x statistics. */
interface BlockHeader {
  block: Rect;
  /** What produced the maps: a resumed run must not mix blocks of other settings. */
  model: string;
  mode: 'fast' | 'exact';
  tile: number;
  image: { width: number; height: number };
  heads: string[];
  statistics: Statistic[];
  bins: number;
  seconds: { read: number; predict: number };
  threads: number;
  provider: string;
}

const blockPath = (o: JobOptions, well: string, part: string) => join(o.output, '.blocks', well, `${part}.f32`);

// One session per thread, reused across wells (building one costs ~2 s for the paper network).
let cached: { key: string; model: Promise<InferenceModel> } | undefined;

function modelFor(o: JobOptions, threads: number): Promise<InferenceModel> {
  const key = JSON.stringify([o.model, o.stats, o.labels, o.providers, threads]);
  if (cached?.key !== key) {
    const prev = cached;
    cached = {
      key,
      model: (async () => {
        if (prev) await (await prev.model).session.release();
        const { config, weights } = await readModelDir(o.model);
        return createInferenceModel(config, weights, { heads: o.labels ?? config.heads.labels, statistics: o.stats, threads, providers: o.providers });
      })(),
    };
  }
  return cached.model;
}

/**
 * The per-well job (run by runners/ in a worker thread): reads the canonical well, predicts,
 * writes its outputs atomically. Idempotent: a retry overwrites the same files. With
 * `ctx.part` (a block of a split well) it predicts that block only and writes its raw maps.
 * @param wellId a folder, or `folder#well` (see {@link listWells}).
 */
export async function predictWellJob(wellId: string, options: Json, ctx: JobContext): Promise<Json> {
  const o = options as unknown as JobOptions;
  if (ctx.part !== undefined) return predictBlock(wellId, o, ctx, parseBlockId(ctx.part));
  const t0 = Date.now();
  const [dir, wellName] = splitWellId(wellId);
  const [model, well] = await Promise.all([modelFor(o, ctx.threads), readCanonicalWell(dir, { well: wellName })]);
  const tRead = Date.now();
  const pred = await predictStack(model, well.transmitted.stack, { mode: o.mode, tile: o.tile });
  const tPredict = Date.now();
  const files = await writePrediction(o, { well: well.well, source: dir, width: well.width, height: well.height }, pred, model.config.bins, {
    seconds: { read: (tRead - t0) / 1000, predict: (tPredict - tRead) / 1000 },
    threads: ctx.threads,
    provider: model.provider,
    attempt: ctx.attempt,
  });
  return { well: well.well, files, seconds: (Date.now() - t0) / 1000 };
}

/** One block of a split well: reads the window its passes need, predicts, writes the raw maps atomically. */
async function predictBlock(wellId: string, o: JobOptions, ctx: JobContext, block: Rect): Promise<Json> {
  const t0 = Date.now();
  const [dir, wellName] = splitWellId(wellId);
  const [model, head] = await Promise.all([modelFor(o, ctx.threads), wellHeader(wellId)]);
  const t = tiling(model.config, head.width, head.height, o.tile);
  const win = blockInput(t, block, o.mode);
  const well = await readCanonicalWell(dir, { well: wellName ?? head.well, region: win });
  const tRead = Date.now();
  const pred = await predictStack(model, well.transmitted.stack, { mode: o.mode, tile: o.tile, block, image: { width: head.width, height: head.height, x: win.x, y: win.y } });
  const tPredict = Date.now();
  const header: BlockHeader = {
    block,
    model: o.model,
    mode: o.mode,
    tile: o.tile,
    image: { width: head.width, height: head.height },
    heads: [...pred.keys()],
    statistics: [...model.statistics],
    bins: model.config.bins,
    seconds: { read: (tRead - t0) / 1000, predict: (tPredict - tRead) / 1000 },
    threads: ctx.threads,
    provider: model.provider,
  };
  const json = Buffer.from(JSON.stringify(header));
  // Maps start at a multiple of 4 bytes: 4-byte length, JSON, space padding.
  const start = Math.ceil((4 + json.length) / 4) * 4;
  const bytes = new Uint8Array(start + header.heads.length * header.statistics.length * block.width * block.height * 4).fill(32, 4, start);
  new DataView(bytes.buffer).setUint32(0, start - 4, true);
  bytes.set(json, 4);
  const maps = new Float32Array(bytes.buffer, start);
  let k = 0;
  for (const h of header.heads) for (const s of header.statistics) maps.set(pred.get(h)!.get(s)!, k++ * block.width * block.height);
  const path = blockPath(o, well.well, ctx.part!);
  await removeStaleTemps(join(o.output, '.blocks', well.well), `${ctx.part}.f32`);
  await writeFileAtomic(path, bytes);
  return { well: well.well, block: ctx.part!, window: win as unknown as Json, seconds: (Date.now() - t0) / 1000 };
}

/**
 * The merge job of a split well (run once all its blocks are done): puts the blocks' maps
 * together and writes the same outputs as {@link predictWellJob} on the whole well.
 */
export async function mergeWellJob(wellId: string, options: Json, ctx: JobContext): Promise<Json> {
  const o = options as unknown as JobOptions;
  const t0 = Date.now();
  const parts = ctx.parts ?? [];
  if (parts.length === 0) throw badOption('parts', 'the blocks of the well', parts);
  const head = await wellHeader(wellId);
  const { width, height } = head;
  let pred: Prediction | undefined;
  let first: BlockHeader | undefined;
  const seconds = { read: 0, predict: 0 };
  for (const part of parts) {
    const path = blockPath(o, head.well, part);
    const bytes = await readFile(path).catch((e: Error) => {
      throw badInput(path, `block ${part} of well ${head.well} is missing (${e.message.split(':')[0]}); rerun without --resume`, head.well);
    });
    const start = 4 + bytes.readUInt32LE(0);
    const h = JSON.parse(bytes.subarray(4, start).toString()) as BlockHeader;
    const b = parseBlockId(part);
    if (h.image.width !== width || h.image.height !== height || blockId(h.block) !== part) throw badInput(path, `block ${part} was predicted for a ${h.image.width}x${h.image.height} well, not this ${width}x${height} one`, head.well);
    if (h.model !== o.model || h.mode !== o.mode || h.tile !== o.tile) throw badInput(path, `block ${part} was predicted with other settings (${h.mode} mode, tile ${h.tile}, model ${h.model}); rerun without --resume`, head.well);
    if (first && (h.heads.join() !== first.heads.join() || h.statistics.join() !== first.statistics.join())) throw badInput(path, `block ${part} holds other labels or statistics than block ${blockId(first.block)}`, head.well);
    first ??= h;
    pred ??= new Map(h.heads.map((l) => [l, new Map(h.statistics.map((s) => [s, new Float32Array(width * height)]))]));
    const maps = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
    let k = 0;
    for (const l of h.heads)
      for (const s of h.statistics) {
        const src = maps.subarray(k++ * b.width * b.height);
        const dst = pred.get(l)!.get(s)!;
        for (let y = 0; y < b.height; y++) dst.set(src.subarray(y * b.width, (y + 1) * b.width), (b.y + y) * width + b.x);
      }
    seconds.read += h.seconds.read;
    seconds.predict += h.seconds.predict;
  }
  const [dir] = splitWellId(wellId);
  const files = await writePrediction(o, { well: head.well, source: dir, width, height }, pred!, first!.bins, {
    seconds: { ...seconds, merge: (Date.now() - t0) / 1000 },
    blocks: parts.length,
    threads: first!.threads,
    provider: first!.provider,
    attempt: ctx.attempt,
  });
  return { well: head.well, files, blocks: parts.length, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Writes a well's outputs atomically: PNGs per label and statistic, the OME-TIFF and
 * prediction.json (with `extra` merged in). Returns the files, relative to the output folder.
 */
async function writePrediction(o: JobOptions, well: { well: string; source: string; width: number; height: number }, pred: Prediction, bins: number, extra: Record<string, Json>): Promise<string[]> {
  const t0 = Date.now();
  const outDir = join(o.output, well.well);
  await mkdir(outDir, { recursive: true });
  await removeStaleTemps(outDir);
  const { width, height } = well;
  const files: string[] = [];
  const ome: NamedPlane[] = [];
  const normalization: Record<string, { scale: number; offset: number } | null> = {};
  const entropyScale = 1 / Math.log2(bins);
  for (const [head, maps] of pred) {
    // The paper's global normalization, fitted on the median image and applied to every intensity statistic.
    let affine = { scale: 1, offset: 0 };
    if (o.normalize === 'paper') {
      const basis = maps.get('median') ?? maps.get('mean') ?? maps.get('mode');
      if (basis) {
        const s = new IntensityStats();
        s.add(plane('float32', width, height, basis));
        try {
          affine = s.affine('fluorescence');
        } catch {
          // A constant prediction (e.g. an empty field) has no contrast to scale: only shift its level.
          affine = { scale: 1, offset: NORMALIZATION_TARGETS.fluorescence.mean - s.mean };
        }
      }
    }
    normalization[head] = o.normalize === 'paper' ? affine : null;
    for (const [stat, values] of maps) {
      const raw = plane('float32', width, height, values);
      let img: Plane<'float32'>;
      if (stat === 'entropy') img = applyAffine(raw, { scale: entropyScale, offset: 0 });
      else if (stat === 'std') img = applyAffine(raw, { scale: Math.abs(affine.scale), offset: 0 });
      else img = applyAffine(raw, affine);
      const name = formatIslName({ well: well.well, channel: head, statistic: stat.toUpperCase(), isMask: false, extension: 'png' });
      const path = join(outDir, name);
      await writeCanonicalPng(path, img);
      files.push(path);
      ome.push({ name: `${head}:${stat.toUpperCase()}`, plane: stat === 'entropy' ? raw : img });
    }
  }
  const omePath = join(outDir, `well-${well.well},prediction.ome.tif`);
  await writeOmeTiff(omePath, ome, { imageName: `${well.well} prediction` });
  files.push(omePath);
  await writePlateWell(join(o.output, PLATE), planesImage(well.well, ome, { kind: 'prediction', intensity: 'as the OME-TIFF: float32, normalized like the PNGs; ENTROPY in bits' }));
  const { seconds, ...rest } = extra;
  const meta = {
    well: well.well,
    source: well.source,
    model: o.model,
    mode: o.mode,
    statistics: o.stats,
    labels: [...pred.keys()],
    size: { width, height },
    padding: 'reflect (numpy "reflect": mirrored about the edge pixel, not repeating it), so border pixels are predicted too',
    tile: o.tile,
    normalization: o.normalize === 'paper' ? { method: 'paper', target: NORMALIZATION_TARGETS.fluorescence, clip: [0, 1], fittedOn: 'median', affine: normalization } : { method: 'none' },
    pngScale: { intensity: 'value x 65535', entropy: `bits / ${Math.log2(bins)} x 65535` },
    omeTiff: 'float32; intensities normalized as the PNGs, entropy in bits',
    seconds: { ...(seconds as Record<string, number>), write: (Date.now() - t0) / 1000 },
    ...rest,
  };
  await writeFileAtomic(join(outDir, 'prediction.json'), JSON.stringify(meta, null, 1) + '\n');
  return files.map((f) => f.slice(o.output.length + 1));
}

/** CLI entry. */
export async function main(argv = process.argv): Promise<void> {
  const program = command('predict', 'Predict fluorescence labels for every well of a folder of canonical wells (ISL convention).')
    .requiredOption('--model <dir>', 'model directory: a checkpoint of pipelines/train.ts (model.json + weights.bin)')
    .requiredOption('--input <dir>', 'folder of canonical wells (one sub-folder per well, or several wells in one folder), or an OME-Zarr plate/image')
    .requiredOption('--output <dir>', 'output folder: OUT/<well>/ gets PNGs, an OME-TIFF and prediction.json')
    .option('--mode <mode>', 'fast (one pass per tile) or exact (the paper\'s per-patch definition, 4 passes)', 'fast')
    .option('--stats <list>', `comma-separated statistics: ${STATISTICS.join(',')}`, 'median')
    .option('--labels <list>', 'comma-separated label heads (default: all of the model)')
    .option('--tile <px>', 'largest network output per pass (memory ~ 7 GB at 520 for the paper network)', positiveInt, 520)
    .option('--normalize <how>', "paper (mean 0.25, sd 0.125 per predicted image, clipped) or none", 'paper')
    .option('--provider <list>', 'ONNX Runtime execution providers in order of preference: cpu, webgpu (bundled), cuda (if installed)', 'cpu')
    .option('--workers <n>', 'local worker threads (each with its own session and cores / workers threads)', positiveInt)
    .option('--threads <n>', 'ONNX Runtime threads per local worker (default: cores / workers)', positiveInt)
    .option('--queue <url>', 'redis://HOST:PORT or rediss://...: run wells as BullMQ jobs pulled by `npx tsx runners/worker.ts --queue URL`')
    .option('--redis-password <password>', 'Redis password (or ISL_REDIS_PASSWORD)')
    .option('--block-size <px>', 'split wells wider or taller than this into blocks of whole tiles of about this size, one job each (0: never)', number, 2048)
    .option('--resume', 'skip wells already predicted (completion record in OUT/.records), and blocks already done', false);
  await runCli(program, async (o: Record<string, string | number | boolean | undefined>) => {
    const summary = await predict({
      model: o.model as string,
      input: o.input as string,
      output: o.output as string,
      mode: o.mode as 'fast' | 'exact',
      stats: String(o.stats).split(',').map((s) => s.trim()).filter(Boolean) as Statistic[],
      labels: o.labels === undefined ? undefined : String(o.labels).split(',').map((s) => s.trim()).filter(Boolean),
      tile: o.tile as number,
      normalize: o.normalize as 'paper' | 'none',
      providers: String(o.provider).split(',').map((s) => s.trim()).filter(Boolean),
      workers: o.workers as number | undefined,
      threads: o.threads as number | undefined,
      queue: o.queue as string | undefined,
      redisPassword: o.redisPassword as string | undefined,
      blockSize: o.blockSize as number,
      resume: o.resume as boolean,
    });
    const blocks = summary.parts.done + summary.parts.skipped > 0 ? ` (blocks of split wells: ${summary.parts.done} predicted, ${summary.parts.skipped} skipped)` : '';
    process.stderr.write(`predict: ${summary.done.length} wells predicted, ${summary.skipped.length} skipped, ${summary.failed.length} failed in ${summary.seconds.toFixed(1)} s${blocks}\n`);
    if (summary.failed.length > 0) {
      for (const f of summary.failed) process.stderr.write(`  failed: ${f.well}: ${f.error}\n`);
      return 1;
    }
  }, argv);
}

// Worker threads import this module for predictWellJob and see the same argv: only the main thread runs the CLI.
if (isMainThread && isMain(import.meta.url)) await main();
