/**
 * Options of pipelines/predict.ts: their defaults, declared once, and their one check at the
 * boundary (errors name the API key; the CLI maps it to its flag).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { badOption } from '../core/errors.ts';
import { STATISTICS, type Statistic } from '../model/onnx/infer.ts';

/** Options of {@link predict} (and of each well's job). */
export interface PredictOptions {
  /**
   * A checkpoint directory of pipelines/train.ts (model/checkpoint.ts), or a bioimage.io model
   * package, zip or folder (model/bioimageio/open.ts): ours from `export --bioimageio`, or another
   * tool's with ONNX weights and one 2-D `(batch, channel, y, x)` input.
   */
  model: string;
  /** Folder of canonical wells: one sub-folder per well, or one folder holding several wells' files. */
  input: string;
  /** Output folder. */
  output: string;
  /** `fast` (default) or `exact`. */
  mode?: 'fast' | 'exact';
  /** Test-time augmentation: average the statistics over the 8 flips/rotations (model/onnx/tta.ts; fast mode only; wells are not split into blocks). */
  tta?: boolean;
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
  /** Local worker threads (default: min(cores, 2), and no more than there are jobs). */
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

/** The defaults of {@link PredictOptions}, declared once (the CLI shows the same). */
export const PREDICT_DEFAULTS = Object.freeze({
  mode: 'fast' as const,
  tta: false,
  stats: Object.freeze(['median'] as Statistic[]),
  tile: 520,
  normalize: 'paper' as const,
  providers: Object.freeze(['cpu']),
  blockSize: 2048,
  /** Two wells at a time (one core each on this kind of machine): `min(cores, 2)`. */
  workers: (): number => Math.min(availableParallelism(), 2),
});

/** What each well's job receives. */
export type JobOptions = Required<Pick<PredictOptions, 'model' | 'output' | 'mode' | 'tta' | 'stats' | 'tile' | 'normalize' | 'providers'>> & { labels?: string[] };

/** Checked options with defaults filled in: the job options plus what only the run needs. */
export interface CheckedPredictOptions extends JobOptions {
  workers: number;
  blockSize: number;
}

/**
 * Checks {@link PredictOptions} and fills in the defaults.
 * @throws IslError BAD_OPTION naming the API key (`mode`, `blockSize`, ...)
 */
export function checkPredictOptions(opts: PredictOptions): CheckedPredictOptions {
  for (const k of ['model', 'input', 'output'] as const) if (typeof opts[k] !== 'string' || opts[k] === '') throw badOption(k, 'a path', opts[k]);
  const d = PREDICT_DEFAULTS;
  const mode = opts.mode ?? d.mode;
  if (mode !== 'fast' && mode !== 'exact') throw badOption('mode', 'fast or exact', mode);
  const tta = opts.tta ?? d.tta;
  if (typeof tta !== 'boolean') throw badOption('tta', 'true or false', tta);
  if (tta && mode === 'exact') throw badOption('tta', 'off with --mode exact (test-time augmentation averages fast-mode predictions)', tta);
  const stats = opts.stats ?? [...d.stats];
  if (!Array.isArray(stats) || stats.length === 0) throw badOption('stats', `a comma-separated list of ${STATISTICS.join(', ')}`, stats);
  for (const s of stats) if (!STATISTICS.includes(s)) throw badOption('stats', `a comma-separated list of ${STATISTICS.join(', ')}`, s);
  const tile = opts.tile ?? d.tile;
  if (!Number.isInteger(tile) || tile < 1) throw badOption('tile', 'a positive integer (px)', tile);
  const normalize = opts.normalize ?? d.normalize;
  if (normalize !== 'paper' && normalize !== 'none') throw badOption('normalize', 'paper or none', normalize);
  const workers = opts.workers ?? d.workers();
  if (!Number.isInteger(workers) || workers < 1) throw badOption('workers', 'a positive integer', workers);
  const blockSize = opts.blockSize ?? d.blockSize;
  if (!Number.isInteger(blockSize) || blockSize < 0) throw badOption('blockSize', 'a non-negative integer (px; 0 never splits wells)', blockSize);
  const providers = opts.providers ?? [...d.providers];
  if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => !/^[a-z]+$/.test(p))) throw badOption('providers', 'a comma-separated list of execution providers (cpu, webgpu, cuda)', providers.join(','));
  if (opts.labels !== undefined && (!Array.isArray(opts.labels) || opts.labels.length === 0)) throw badOption('labels', 'a non-empty list of label heads', opts.labels);
  return { model: resolve(opts.model), output: resolve(opts.output), mode, tta, stats: [...new Set(stats)], tile, normalize, providers, labels: opts.labels, workers, blockSize };
}
