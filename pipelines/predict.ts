/**
 * Predicts fluorescence labels for every well of a folder of canonical wells.
 *
 *   npx tsx pipelines/predict.ts --model MODELDIR --input WELLS --output OUT
 *       [--mode fast|exact] [--stats median,mean,mode,std,entropy] [--workers N]
 *       [--queue redis://HOST:PORT] [--resume]
 *
 * Per well, OUT/<well>/ receives one 16-bit PNG per label and statistic in the ISL convention
 * (`well-W,channel-LABEL,statistic-MEDIAN,is_mask-false.png`, value x 65535), one OME-TIFF with all
 * of them as float32, and `prediction.json` (mode, padding, normalization, timings). Wells run as
 * jobs of runners/ (a local worker-thread pool, or BullMQ jobs for `runners/worker.ts` processes);
 * OUT/.records/ holds one completion record per well, which `--resume` skips.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { readCanonicalWell } from '../io/canonical.ts';
import { badInput, badOption } from '../io/errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { plane, type Plane } from '../io/image.ts';
import { formatIslName, parseIslName } from '../io/isl_names.ts';
import { writeCanonicalPng, writeOmeTiff, type NamedPlane } from '../io/write.ts';
import { createInferenceModel, predictStack, STATISTICS, type InferenceModel, type Statistic } from '../model/onnx/infer.ts';
import { readModelDir } from '../model/onnx/model_dir.ts';
import { applyAffine, IntensityStats, NORMALIZATION_TARGETS } from '../transforms/normalize.ts';
import { removeStaleTemps, type JobContext, type Json } from '../runners/job.ts';
import { runWells, type RunSummary } from '../runners/run.ts';
import { command, isMain, positiveInt, runCli } from './cli.ts';

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
  /** `redis://HOST:PORT`: enqueue the wells for `runners/worker.ts` processes. */
  queue?: string;
  redisPassword?: string;
  /** Skip wells with a completion record in OUT/.records. */
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

function validate(opts: PredictOptions): JobOptions & { workers: number } {
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
  const providers = opts.providers ?? ['cpu'];
  if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => !/^[a-z]+$/.test(p))) throw badOption('--provider', 'a comma-separated list of execution providers (cpu, webgpu, cuda)', providers.join(','));
  return { model: resolve(opts.model), output: resolve(opts.output), mode, stats: [...new Set(stats)], tile, normalize, providers, labels: opts.labels, workers };
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
  const { workers, ...jobOptions } = o;
  // Fewer wells than workers: give each well more threads instead of idle workers.
  const used = opts.workers ?? Math.min(workers, wells.length);
  return runWells(wells, { module: 'pipelines/predict.ts', fn: 'predictWellJob', options: jobOptions as unknown as Json }, {
    records: join(o.output, '.records'),
    workers: used,
    queue: opts.queue,
    redisPassword: opts.redisPassword,
    resume: opts.resume,
    progress: opts.progress === false ? false : undefined,
  });
}

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
 * writes its outputs atomically. Idempotent: a retry overwrites the same files.
 * @param wellId a folder, or `folder#well` (see {@link listWells}).
 */
export async function predictWellJob(wellId: string, options: Json, ctx: JobContext): Promise<Json> {
  const o = options as unknown as JobOptions;
  const t0 = Date.now();
  const cut = wellId.lastIndexOf(WELL_SEP);
  const [dir, wellName] = cut > 0 ? [wellId.slice(0, cut), wellId.slice(cut + 1)] : [wellId, undefined];
  const [model, well] = await Promise.all([modelFor(o, ctx.threads), readCanonicalWell(dir, { well: wellName })]);
  const tRead = Date.now();
  const pred = await predictStack(model, well.transmitted.stack, { mode: o.mode, tile: o.tile });
  const tPredict = Date.now();
  const outDir = join(o.output, well.well);
  await mkdir(outDir, { recursive: true });
  await removeStaleTemps(outDir);

  const { width, height } = well;
  const files: string[] = [];
  const ome: NamedPlane[] = [];
  const normalization: Record<string, { scale: number; offset: number } | null> = {};
  const entropyScale = 1 / Math.log2(model.config.bins);
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
  const meta = {
    well: well.well,
    source: dir,
    model: o.model,
    mode: o.mode,
    statistics: o.stats,
    labels: [...pred.keys()],
    size: { width, height },
    padding: 'reflect (numpy "reflect": mirrored about the edge pixel, not repeating it), so border pixels are predicted too',
    tile: o.tile,
    normalization: o.normalize === 'paper' ? { method: 'paper', target: NORMALIZATION_TARGETS.fluorescence, clip: [0, 1], fittedOn: 'median', affine: normalization } : { method: 'none' },
    pngScale: { intensity: 'value x 65535', entropy: `bits / ${Math.log2(model.config.bins)} x 65535` },
    omeTiff: 'float32; intensities normalized as the PNGs, entropy in bits',
    seconds: { read: (tRead - t0) / 1000, predict: (tPredict - tRead) / 1000, write: (Date.now() - tPredict) / 1000 },
    threads: ctx.threads,
    provider: model.provider,
    attempt: ctx.attempt,
  };
  await writeFileAtomic(join(outDir, 'prediction.json'), JSON.stringify(meta, null, 1) + '\n');
  return { well: well.well, files: files.map((f) => f.slice(o.output.length + 1)), seconds: (Date.now() - t0) / 1000 };
}

/** CLI entry. */
export async function main(argv = process.argv): Promise<void> {
  const program = command('predict', 'Predict fluorescence labels for every well of a folder of canonical wells (ISL convention).')
    .requiredOption('--model <dir>', 'model directory: a checkpoint of pipelines/train.ts (model.json + weights.bin)')
    .requiredOption('--input <dir>', 'folder of canonical wells (one sub-folder per well, or several wells in one folder)')
    .requiredOption('--output <dir>', 'output folder: OUT/<well>/ gets PNGs, an OME-TIFF and prediction.json')
    .option('--mode <mode>', 'fast (one pass per tile) or exact (the paper\'s per-patch definition, 4 passes)', 'fast')
    .option('--stats <list>', `comma-separated statistics: ${STATISTICS.join(',')}`, 'median')
    .option('--labels <list>', 'comma-separated label heads (default: all of the model)')
    .option('--tile <px>', 'largest network output per pass (memory ~ 7 GB at 520 for the paper network)', positiveInt, 520)
    .option('--normalize <how>', "paper (mean 0.25, sd 0.125 per predicted image, clipped) or none", 'paper')
    .option('--provider <list>', 'ONNX Runtime execution providers in order of preference: cpu, webgpu (bundled), cuda (if installed)', 'cpu')
    .option('--workers <n>', 'local worker threads (each with its own session and cores / workers threads)', positiveInt)
    .option('--queue <url>', 'redis://HOST:PORT or rediss://...: run wells as BullMQ jobs pulled by `npx tsx runners/worker.ts --queue URL`')
    .option('--redis-password <password>', 'Redis password (or ISL_REDIS_PASSWORD)')
    .option('--resume', 'skip wells already predicted (completion record in OUT/.records)', false);
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
      queue: o.queue as string | undefined,
      redisPassword: o.redisPassword as string | undefined,
      resume: o.resume as boolean,
    });
    process.stderr.write(`predict: ${summary.done.length} wells predicted, ${summary.skipped.length} skipped, ${summary.failed.length} failed in ${summary.seconds.toFixed(1)} s\n`);
    if (summary.failed.length > 0) {
      for (const f of summary.failed) process.stderr.write(`  failed: ${f.well}: ${f.error}\n`);
      return 1;
    }
  }, argv);
}

// Worker threads import this module for predictWellJob and see the same argv: only the main thread runs the CLI.
if (isMainThread && isMain(import.meta.url)) await main();
