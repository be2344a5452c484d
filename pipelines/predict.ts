/**
 * Predicts fluorescence labels for every well of a folder of canonical wells.
 *
 *   npx tsx pipelines/predict.ts --model MODELDIR|PACKAGE.zip --input WELLS --output OUT
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
 *
 * This file orchestrates; the concerns live elsewhere: options and defaults in
 * `predict_options.ts`, well discovery in `io/well_ids.ts`, the block file in
 * `io/prediction_blocks.ts`, normalization in `transforms/normalize_prediction.ts`, the output
 * files in `io/prediction_files.ts`, the OUT/ layout in `io/out_layout.ts`.
 */
import { mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import { isMainThread } from 'node:worker_threads';
import { readCanonicalWell } from '../io/canonical.ts';
import { badInput, badOption } from '../core/errors.ts';
import { removeStaleTemps, writeFileAtomic } from '../io/atomic.ts';
import { plane } from '../core/image.ts';
import { predictOut } from '../io/out_layout.ts';
import { listWells, splitWellId, wellHeader } from '../io/well_ids.ts';
import { blockId, decodeBlock, encodeBlock, parseBlockId, type BlockHeader } from '../io/prediction_blocks.ts';
import { writePredictionFiles, type PredictedMap } from '../io/prediction_files.ts';
import { blockInput, predictStack, STATISTICS, tileBlocks, tiling, type InferenceModel, type Prediction, type Rect, type Statistic } from '../model/onnx/infer.ts';
import { describeModel, openModel, preparePackageStack } from '../model/bioimageio/open.ts';
import { predictStackTta } from '../model/onnx/tta.ts';
import { NORMALIZATION_TARGETS } from '../transforms/normalize.ts';
import { labelAffine, normalizeStatistic } from '../transforms/normalize_prediction.ts';
import { partKey, partRecords, recordPath, type JobContext, type Json } from '../runners/job.ts';
import { runWells, type RunSummary } from '../runners/run.ts';
import { command, isMain, number, positiveInt, runCli } from '../core/cli.ts';
import { checkPredictOptions, PREDICT_DEFAULTS, type JobOptions, type PredictOptions } from './predict_options.ts';
import { planesImage, writePlateMetadata, writePlateWell } from '../io/zarr/index.ts';

export { listWells, splitWellId } from '../io/well_ids.ts';
export { PREDICT_DEFAULTS, type PredictOptions } from './predict_options.ts';

/**
 * Predicts every well of `opts.input` (see the module comment for the outputs).
 * @returns the runner's summary; `failed` lists wells that failed after retries.
 * @throws IslError BAD_OPTION / BAD_INPUT for invalid options or an empty input, before any work.
 */
export async function predict(opts: PredictOptions): Promise<RunSummary> {
  const o = checkPredictOptions(opts);
  const wells = listWells(opts.input);
  // Fail fast on a bad model (checkpoint or bioimage.io package), before any worker starts.
  const { config, wholeImage } = await describeModel(o.model, { heads: o.labels, statistics: o.stats, tile: o.tile });
  for (const l of o.labels ?? []) if (!config.heads.labels.includes(l)) throw badOption('labels', `labels of the model (${config.heads.labels.join(', ')})`, l);
  await mkdir(o.output, { recursive: true });
  const { workers, blockSize, ...jobOptions } = o;
  // TTA, and a package's preprocessing with statistics of the whole well, predict wells whole
  // (TTA's transforms do not commute with block borders).
  const { parts, names } = await splitHugeWells(wells, o.tta || wholeImage ? 0 : blockSize, (w, h) => tiling(config, w, h, o.tile));
  // Fewer jobs than workers: give each job more threads instead of idle workers.
  const jobs = wells.reduce((n, w) => n + (parts[w]?.length ?? 1), 0);
  const used = opts.workers ?? Math.min(workers, jobs);
  const records = predictOut.records(o.output);
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
  await removeMergedBlocks(o.output, records, [...summary.done.map((d) => d.well), ...summary.skipped], parts, names);
  if (summary.done.length > 0) await writePlateMetadata(predictOut.plate(o.output), { acquisition: 'predict' });
  return summary;
}

/**
 * The wells larger than a block, split into blocks (header reads only): well id -> block ids, and
 * well id -> well name. A well whose header cannot be read runs whole, and its job reports the error.
 */
async function splitHugeWells(wells: readonly string[], blockSize: number, tilingOf: (width: number, height: number) => ReturnType<typeof tiling>): Promise<{ parts: Record<string, string[]>; names: Map<string, string> }> {
  const parts: Record<string, string[]> = {};
  const names = new Map<string, string>();
  if (blockSize > 0)
    for (const id of wells) {
      const w = await wellHeader(id).catch(() => undefined);
      if (!w || (w.width <= blockSize && w.height <= blockSize)) continue;
      const blocks = tileBlocks(tilingOf(w.width, w.height), blockSize);
      if (blocks.length < 2) continue;
      parts[id] = blocks.map(blockId);
      names.set(id, w.well);
    }
  return { parts, names };
}

/** Block maps and block records of merged wells are no longer needed (a later --resume skips the whole well). */
async function removeMergedBlocks(output: string, records: string, merged: readonly string[], parts: Record<string, string[]>, names: Map<string, string>): Promise<void> {
  for (const id of merged) {
    const name = names.get(id);
    if (!name) continue;
    await rm(predictOut.wellBlocks(output, name), { recursive: true, force: true });
    await Promise.all(parts[id].map((p) => rm(recordPath(partRecords(records), partKey(id, p)), { force: true })));
  }
  await rmdir(predictOut.blocks(output)).catch(() => undefined);
  await rmdir(partRecords(records)).catch(() => undefined);
}

// One session per thread, reused across wells (building one costs ~2 s for the paper network).
let cached: { key: string; model: Promise<InferenceModel> } | undefined;

function modelFor(o: JobOptions, threads: number): Promise<InferenceModel> {
  const key = JSON.stringify([o.model, o.stats, o.labels, o.providers, o.tile, threads]);
  if (cached?.key !== key) {
    const prev = cached;
    cached = {
      key,
      model: (async () => {
        if (prev) await (await prev.model).session.release();
        return openModel(o.model, { heads: o.labels, statistics: o.stats, threads, providers: o.providers, tile: o.tile });
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
  const pred = await (o.tta ? predictStackTta : predictStack)(model, preparePackageStack(model, well.transmitted.stack, { name: well.well, source: dir }), { mode: o.mode, tile: o.tile });
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
  const pred = await predictStack(model, preparePackageStack(model, well.transmitted.stack, { name: well.well, source: dir }), { mode: o.mode, tile: o.tile, block, image: { width: head.width, height: head.height, x: win.x, y: win.y } });
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
  await removeStaleTemps(predictOut.wellBlocks(o.output, well.well), `${ctx.part}.f32`);
  await writeFileAtomic(predictOut.block(o.output, well.well, ctx.part!), encodeBlock(header, pred));
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
    const path = predictOut.block(o.output, head.well, part);
    const bytes = await readFile(path).catch((e: Error) => {
      throw badInput(path, `block ${part} of well ${head.well} is missing (${e.message.split(':')[0]}); rerun without --resume`, head.well);
    });
    const { header: h, maps } = decodeBlock(bytes, path);
    const b = parseBlockId(part);
    if (h.image.width !== width || h.image.height !== height || blockId(h.block) !== part) throw badInput(path, `block ${part} was predicted for a ${h.image.width}x${h.image.height} well, not this ${width}x${height} one`, head.well);
    if (h.model !== o.model || h.mode !== o.mode || h.tile !== o.tile) throw badInput(path, `block ${part} was predicted with other settings (${h.mode} mode, tile ${h.tile}, model ${h.model}); rerun without --resume`, head.well);
    if (first && (h.heads.join() !== first.heads.join() || h.statistics.join() !== first.statistics.join())) throw badInput(path, `block ${part} holds other labels or statistics than block ${blockId(first.block)}`, head.well);
    first ??= h;
    pred ??= new Map(h.heads.map((l) => [l, new Map((h.statistics as Statistic[]).map((s) => [s, new Float32Array(width * height)]))]));
    for (const [l, stats] of maps)
      for (const [s, src] of stats) {
        const dst = pred.get(l)!.get(s as Statistic)!;
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
 * Normalizes a well's prediction and writes its outputs (io/prediction_files.ts), with `extra`
 * merged into prediction.json. Returns the files, relative to the output folder.
 */
async function writePrediction(o: JobOptions, well: { well: string; source: string; width: number; height: number }, pred: Prediction, bins: number, extra: Record<string, Json>): Promise<string[]> {
  const { width, height } = well;
  const maps: PredictedMap[] = [];
  const normalization: Record<string, { scale: number; offset: number } | null> = {};
  for (const [label, stats] of pred) {
    const affine = o.normalize === 'paper' ? labelAffine(stats, width, height) : { scale: 1, offset: 0 };
    normalization[label] = o.normalize === 'paper' ? affine : null;
    for (const [statistic, values] of stats) {
      const raw = plane('float32', width, height, values);
      const canonical = normalizeStatistic(raw, statistic, affine, bins);
      maps.push({ label, statistic, canonical, ome: statistic === 'entropy' ? raw : canonical });
    }
  }
  await writePlateWell(predictOut.plate(o.output), planesImage(well.well, maps.map((m) => ({ name: `${m.label}:${m.statistic.toUpperCase()}`, plane: m.ome })), { kind: 'prediction', intensity: 'as the OME-TIFF: float32, normalized like the PNGs; ENTROPY in bits' }));
  const { seconds, ...rest } = extra;
  return writePredictionFiles(o.output, well.well, maps, (write) => ({
    well: well.well,
    source: well.source,
    model: o.model,
    mode: o.mode,
    tta: o.tta,
    statistics: o.stats,
    labels: [...pred.keys()],
    size: { width, height },
    padding: 'reflect (numpy "reflect": mirrored about the edge pixel, not repeating it), so border pixels are predicted too',
    tile: o.tile,
    normalization: o.normalize === 'paper' ? { method: 'paper', target: NORMALIZATION_TARGETS.fluorescence, clip: [0, 1], fittedOn: 'median', affine: normalization } : { method: 'none' },
    pngScale: { intensity: 'value x 65535', entropy: `bits / ${Math.log2(bins)} x 65535` },
    omeTiff: 'float32; intensities normalized as the PNGs, entropy in bits',
    seconds: { ...(seconds as Record<string, number>), write },
    ...rest,
  }));
}

/** CLI entry. */
export async function main(argv = process.argv): Promise<void> {
  const program = command('predict', 'Predict fluorescence labels for every well of a folder of canonical wells (ISL convention).')
    .requiredOption('--model <dir|pkg.zip>', 'a checkpoint of pipelines/train.ts (model.json + weights.bin), or a bioimage.io model package (zip or folder) with ONNX weights')
    .requiredOption('--input <dir>', 'folder of canonical wells (one sub-folder per well, or several wells in one folder), or an OME-Zarr plate/image')
    .requiredOption('--output <dir>', 'output folder: OUT/<well>/ gets PNGs, an OME-TIFF and prediction.json')
    .option('--mode <mode>', 'fast (one pass per tile) or exact (the paper\'s per-patch definition, 4 passes)', PREDICT_DEFAULTS.mode)
    .option('--tta', 'test-time augmentation: average over the 8 flips/rotations (8x the time; fast mode; wells are predicted whole)', PREDICT_DEFAULTS.tta)
    .option('--stats <list>', `comma-separated statistics: ${STATISTICS.join(',')}`, PREDICT_DEFAULTS.stats.join(','))
    .option('--labels <list>', 'comma-separated label heads (default: all of the model)')
    .option('--tile <px>', 'largest network output per pass (memory ~ 7 GB at 520 for the paper network)', positiveInt, PREDICT_DEFAULTS.tile)
    .option('--normalize <how>', "paper (mean 0.25, sd 0.125 per predicted image, clipped) or none", PREDICT_DEFAULTS.normalize)
    .option('--provider <list>', 'ONNX Runtime execution providers in order of preference: cpu, webgpu (bundled), cuda (if installed)', PREDICT_DEFAULTS.providers.join(','))
    .option('--workers <n>', 'local worker threads, each with its own session and cores / workers threads (default: min(cores, 2), at most one per job)', positiveInt)
    .option('--threads <n>', 'ONNX Runtime threads per local worker (default: cores / workers)', positiveInt)
    .option('--queue <url>', 'redis://HOST:PORT or rediss://...: run wells as BullMQ jobs pulled by `npx tsx runners/worker.ts --queue URL`')
    .option('--redis-password <password>', 'Redis password (or ISL_REDIS_PASSWORD)')
    .option('--block-size <px>', 'split wells wider or taller than this into blocks of whole tiles of about this size, one job each (0: never)', number, PREDICT_DEFAULTS.blockSize)
    .option('--resume', 'skip wells already predicted (completion record in OUT/.records), and blocks already done', false);
  const flags = { providers: '--provider' };
  await runCli(program, async (o: Record<string, string | number | boolean | undefined>) => {
    const summary = await predict({
      model: o.model as string,
      input: o.input as string,
      output: o.output as string,
      mode: o.mode as 'fast' | 'exact',
      tta: o.tta as boolean,
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
  }, argv, flags);
}

// Worker threads import this module for predictWellJob and see the same argv: only the main thread runs the CLI.
if (isMainThread && isMain(import.meta.url)) await main();
