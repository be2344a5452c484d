/**
 * `npx tsx pipelines/preprocess.ts --input DUMP --output OUT`: a lab's raw dump (or already
 * canonical wells) to canonical wells, estimated fields, stitch reports, a QC report and
 * Arrow/Parquet training shards.
 *
 *   0. denoise (training mode, when the graph starts read -> ... -> salt_and_pepper with its
 *      cache on): per well, on the same runners as step 2 (both cores), the salt-and-pepper
 *      median of every fluorescence plane, stored under OUT/cache/ (stages/salt_and_pepper.ts);
 *      steps 1 and 2 read it instead of recomputing. OUT/cache is removed after step 2
 *   1. estimation passes: for each estimated stage of the graph (fluorescence dust, flat-field,
 *      transmitted dust), stream every tile of the dump through the stages before it and into its
 *      estimator; save the field under OUT/fields/ (skipped on --resume when already saved)
 *   2. per well (runners/: worker threads, or BullMQ with --queue): the whole graph on that well's
 *      tiles, ending in OUT/wells/<well>/ and a completion record OUT/records/<well>.json
 *   3. QC report (OUT/qc/), shards of the wells that passed (OUT/shards/), OUT/run.json
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../io/atomic.ts';
import { IslError } from '../core/errors.ts';
import { type Plane } from '../core/image.ts';
import { MANIFEST, DUMP_CONFIG, nameProblem, readDump, type Dump } from '../io/manifest.ts';
import { readPlane } from '../io/read.ts';
import { toFloat32 } from '../core/image.ts';
import { runWells, type RunSummary } from '../runners/run.ts';
import { readRecord, type Json } from '../runners/job.ts';
import { progress } from '../core/progress.ts';
import { parseGraph, runGraph, validateGraph, type GraphSpec, type StageKind } from './graph.ts';
import { command, isMain, positiveInt, number, runCli } from '../core/cli.ts';
import { PREPROCESS_REGISTRY, TRAINING_ONLY, isFieldKind, newContext, type PreprocessContext } from './stages/index.ts';
import { fieldPath } from './stages/fields.ts';
import { saltAndPepper } from './stages/salt_and_pepper.ts';
import { z } from 'zod';
import { findCanonicalWells } from '../io/isl_folders.ts';
import { writeQcReport, type WellQc } from './qc_report.ts';
import { SHARD_DEFAULTS, writeShards, type ShardOptions } from './shards.ts';
import { finishPlate, withZarrStage } from './stages/write_zarr.ts';
import { isOmeZarr, listZarrWells } from '../io/zarr/index.ts';
import { preprocessOut } from '../io/out_layout.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const MIB = 2 ** 20;
/** Wells processed at once when `workers` is not given. */
export const PREPROCESS_WORKERS = 2;
export const DEFAULT_GRAPH = join(HERE, 'preprocess.yaml');
export const CANONICAL_GRAPH = join(HERE, 'canonical.yaml');

export interface PreprocessOptions {
  readonly input: string;
  readonly output: string;
  /** `training` (default) runs every stage; `inference` drops training-only stages and needs no labels. */
  readonly mode?: 'training' | 'inference';
  /** Graph file (YAML/JSON); default preprocess.yaml for raw dumps, canonical.yaml for canonical input. */
  readonly graph?: string;
  /** Local worker threads for wells (default 2), or a Redis URL to fan wells out with BullMQ. */
  readonly workers?: number;
  readonly queue?: string;
  readonly redisPassword?: string;
  /** Skip wells (and estimated fields) finished by an earlier run. */
  readonly resume?: boolean;
  /** Keep wells that fail QC in the shards (default false: they are excluded and listed). */
  readonly keepFailedQc?: boolean;
  readonly shards?: Partial<ShardOptions> | false;
  /** Progress reporting: false silences it (tests). */
  readonly progress?: boolean;
  /** Also write the canonical wells as an OME-Zarr plate, OUT/plate.zarr (stages/write_zarr.ts). */
  readonly zarr?: boolean;
}

export interface PreprocessSummary {
  readonly wells: { done: string[]; skipped: string[]; failed: { well: string; error: string }[] };
  readonly qc?: WellQc[];
  readonly shards?: { files: string[]; rows: number };
  readonly runJson: string;
}

/** What a per-well job receives (JSON: it may travel through Redis). */
interface WellJobOptions {
  input: string;
  output: string;
  mode: 'training' | 'inference';
  graph: GraphSpec;
  canonical: boolean;
}

/** Loads a graph file and drops training-only stages in inference mode. */
export async function loadGraph(file: string, mode: 'training' | 'inference'): Promise<GraphSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new IslError('BAD_OPTION', `cannot read the graph file: ${(e as Error).message}`, { file });
  }
  const g = parseGraph(text, file);
  if (mode === 'inference') return { ...g, stages: g.stages.map((s) => (TRAINING_ONLY.has(s.kind) ? { ...s, enabled: false } : s)) };
  return g;
}

/** The enabled estimated-field stages of a validated graph, in order. */
function fieldStages(graph: ReturnType<typeof validateGraph>) {
  return graph.stages.filter((s) => s.enabled && isFieldKind(PREPROCESS_REGISTRY.get(s.kind)));
}

/** Loads the saved fields of every estimated stage into a context (per-well jobs, --resume). */
async function loadFields(ctx: PreprocessContext, graph: GraphSpec): Promise<void> {
  for (const s of fieldStages(validateGraph(graph))) {
    const infoFile = preprocessOut.fieldInfo(ctx.output, s.name);
    const info = JSON.parse(await readFile(infoFile, 'utf8')) as { channels: Record<string, Record<string, unknown>> };
    const fields = new Map<string, Plane<'float32'>>();
    for (const ch of Object.keys(info.channels)) fields.set(ch, toFloat32(await readPlane(fieldPath(ctx.output, s.name, ch))));
    ctx.fields.set(s.name, { fields, info: new Map(Object.entries(info.channels)) });
  }
}

/**
 * A job's well must be a name usable under OUT (io/manifest.ts checks the manifest's; this covers
 * queued jobs and canonical input, whose names come from file names), before any work.
 */
function checkWellName(well: string): void {
  const problem = nameProblem(well);
  if (problem) throw new IslError('BAD_INPUT', `well name ${JSON.stringify(well)} ${problem}`, { well });
}

/** Sink that drops what it gets: ends the denoise prefix of the graph. */
const DISCARD: StageKind = { id: 'isl:internal:discard:v1', params: z.object({}).strict(), create: () => ({ type: 'sink', write: () => undefined }) };
const DENOISE_REGISTRY = new Map([...PREPROCESS_REGISTRY, [DISCARD.id, DISCARD]]);

/**
 * The graph the denoise step (module comment, step 0) runs: its stages up to the first enabled
 * salt_and_pepper stage with its cache on, then a discarding sink. Undefined when there is no
 * such stage, or when a field stage or an explicit `input` comes before it (a prefix could not
 * reproduce what that stage sees).
 */
function denoisePrefix(graph: GraphSpec): GraphSpec | undefined {
  const g = validateGraph(graph);
  const enabled = g.stages.filter((s) => s.enabled);
  const i = enabled.findIndex((s) => PREPROCESS_REGISTRY.get(s.kind)?.id === saltAndPepper.id && (s.params as { cache?: unknown }).cache !== false);
  if (i < 0) return undefined;
  const prefix = enabled.slice(0, i + 1);
  if (prefix.some((s) => s.input !== undefined || isFieldKind(PREPROCESS_REGISTRY.get(s.kind)))) return undefined;
  return { ...g, name: `${g.name}/denoise`, stages: [...prefix, { name: '_discard', kind: DISCARD.id }] };
}

/** Step 0's per-well job: the fluorescence tiles of one well through the denoise prefix. */
export async function denoiseWell(well: string, options: Json): Promise<Json> {
  checkWellName(well);
  const o = options as unknown as WellJobOptions;
  const dump = await readDump(o.input, { checkFiles: false });
  const ctx = newContext({ dump, mode: o.mode, wells: [well], output: o.output, readModality: 'fluorescence' });
  await runGraph(o.graph, DENOISE_REGISTRY, ctx);
  return JSON.parse(JSON.stringify({ timings: ctx.timings })) as Json;
}

/**
 * Step 0 (module comment): fills the salt-and-pepper cache on the well runners. Its completion
 * records live in OUT/cache too, so a rerun after a kill skips wells already denoised. Failures
 * are left to the later steps, which report them.
 */
async function denoise(dump: Dump, graph: GraphSpec, opts: PreprocessOptions, wells: string[], timings: Record<string, number>): Promise<void> {
  const prefix = denoisePrefix(graph);
  const labels = new Set(dump.config.labels);
  // On --resume with every field saved, only the wells still to run need their planes.
  const fieldsSaved = fieldStages(validateGraph(graph)).every((s) => existsSync(preprocessOut.fieldInfo(opts.output, s.name)));
  const pending = opts.resume && fieldsSaved ? wells.filter((w) => readRecord(preprocessOut.records(opts.output), w) === undefined) : wells;
  const todo = pending.filter((w) => dump.wells.get(w)?.rows.some((r) => labels.has(r.channel)));
  if (!prefix || todo.length === 0) return;
  const bar = opts.progress === false ? undefined : progress('denoise (salt_and_pepper)', todo.length);
  const job: WellJobOptions = { input: resolve(opts.input), output: opts.output, mode: 'training', graph: prefix, canonical: false };
  const run = await runWells(todo, { module: 'pipelines/preprocess.ts', fn: 'denoiseWell', options: job as unknown as Json }, {
    records: preprocessOut.denoiseRecords(opts.output),
    workers: opts.workers ?? PREPROCESS_WORKERS,
    queue: opts.queue,
    redisPassword: opts.redisPassword,
    resume: true,
    attempts: 1,
    progress: false,
    onProgress: (e) => e.status !== 'skipped' && bar?.tick(),
  });
  bar?.stop();
  for (const d of run.done) for (const [k, v] of Object.entries(((d.result as { timings?: Record<string, number> }).timings ?? {}))) timings[k] = (timings[k] ?? 0) + v;
}

/**
 * Estimation passes (module comment, step 1): one streaming pass over the dump per estimated
 * stage, through the stages before it. Wells whose tiles cannot be read are recorded and skipped.
 */
async function estimateFields(dump: Dump, graph: GraphSpec, opts: PreprocessOptions, wells: string[], failed: Map<string, string>, timings: Record<string, number>): Promise<void> {
  const g = validateGraph(graph);
  const mode = opts.mode ?? 'training';
  for (const s of fieldStages(g)) {
    const kind = PREPROCESS_REGISTRY.get(s.kind);
    if (!isFieldKind(kind)) continue;
    const ctx = newContext({ dump, mode, wells: wells.filter((w) => !failed.has(w)), output: opts.output, estimating: s.name, readModality: kind.appliesTo(s.params) });
    if (opts.resume && existsSync(preprocessOut.fieldInfo(opts.output, s.name))) continue;
    await loadFields(ctx, { ...graph, stages: g.stages.slice(0, g.stages.indexOf(s)) });
    const transmitted = (ch: string) => dump.config.transmitted.includes(ch);
    // The tiles read_tiles will yield: this pass's modality, and no labels in inference mode.
    const needed = (ch: string) => (mode === 'training' || transmitted(ch)) && (ctx.readModality === 'all' || (ctx.readModality === 'transmitted') === transmitted(ch));
    const tiles = ctx.wells.reduce((n, w) => n + (dump.wells.get(w)?.rows.filter((r) => needed(r.channel)).length ?? 0), 0);
    const bar = opts.progress === false ? undefined : progress(`estimate ${s.name}`, tiles);
    const stages = g.stages.slice(0, g.stages.indexOf(s) + 1);
    await runGraph({ ...g, name: `${g.name}/estimate/${s.name}`, stages }, PREPROCESS_REGISTRY, { ...ctx, onTile: () => bar?.tick() });
    bar?.stop();
    for (const [w, e] of ctx.failedWells) failed.set(w, e);
    for (const [k, v] of Object.entries(ctx.timings)) timings[k] = (timings[k] ?? 0) + v;
  }
}

/**
 * The per-well job (runners/ calls it in a worker thread or a queue worker): runs the graph on
 * one well with the saved fields. Returns the well's notes (QC verdict, normalization, timings).
 */
export async function preprocessWell(well: string, options: Json): Promise<Json> {
  checkWellName(well);
  const o = options as unknown as WellJobOptions;
  const dump = o.canonical ? undefined : await readDump(o.input, { checkFiles: false });
  if (dump && !dump.wells.has(well)) throw new IslError('BAD_INPUT', dump.badWells.get(well)?.message ?? `well ${well} is not in the manifest`, { well });
  const ctx = Object.assign(newContext({ dump, mode: o.mode, wells: [well], output: o.output }), { input: o.input });
  await loadFields(ctx, o.graph);
  await runGraph(o.graph, PREPROCESS_REGISTRY, ctx);
  const notes = ctx.wellNotes.get(well) ?? {};
  return JSON.parse(JSON.stringify({ ...notes, timings: ctx.timings })) as Json;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Versions of Node, this toolkit and the libraries that shape the output (from their package.json). */
function versions(): Record<string, string> {
  const root = join(HERE, '..');
  const v: Record<string, string> = { node: process.version };
  for (const p of ['.', 'sharp', 'apache-arrow', 'hyparquet-writer', 'parquet-wasm', 'zod', 'bullmq']) {
    try {
      v[p === '.' ? 'toolkit' : p] = (JSON.parse(readFileSync(join(root, p === '.' ? '' : join('node_modules', p), 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      /* not installed */
    }
  }
  return v;
}

/** Runs the whole preprocessing (see the module comment). Does not throw for failed wells: they are listed. */
export async function preprocess(opts: PreprocessOptions): Promise<PreprocessSummary> {
  const t0 = Date.now();
  const input = resolve(opts.input);
  const output = resolve(opts.output);
  const mode = opts.mode ?? 'training';
  if (mode !== 'training' && mode !== 'inference') throw new IslError('BAD_OPTION', `Expected 'training' or 'inference' for mode but received ${JSON.stringify(mode)}`);
  if (!existsSync(input)) throw new IslError('BAD_OPTION', `input folder not found: ${input}`);
  const canonical = !existsSync(join(input, MANIFEST));
  const loaded = await loadGraph(opts.graph ?? (canonical ? CANONICAL_GRAPH : DEFAULT_GRAPH), mode);
  const graph = opts.zarr ? withZarrStage(loaded) : loaded;
  await mkdir(output, { recursive: true });

  const timings: Record<string, number> = {};
  const failed = new Map<string, string>();
  let dump: Dump | undefined;
  let wells: string[];
  const inputs: Record<string, string> = {};
  if (canonical) {
    const found = isOmeZarr(input) ? new Map(listZarrWells(input).map((e) => [e.well, input])) : findCanonicalWells(input);
    if (found.size === 0) throw new IslError('BAD_INPUT', `no ${MANIFEST} and no ISL-convention images in ${input}: write a manifest with \`npm run discover -- --input ${input}\``, { file: input });
    wells = [...found.keys()];
  } else {
    dump = await readDump(input);
    for (const [w, e] of dump.badWells) failed.set(w, e.message);
    wells = [...dump.wells.keys()];
    if (wells.length === 0) throw new IslError('BAD_INPUT', `every well of the dump failed its checks: ${[...dump.badWells.values()].map((e) => e.message).join('; ')}`, { file: join(input, MANIFEST) });
    inputs[MANIFEST] = await sha256(join(input, MANIFEST));
    inputs[DUMP_CONFIG] = await sha256(join(input, DUMP_CONFIG));
    if (mode === 'training') await denoise(dump, graph, { ...opts, output }, wells.filter((w) => !failed.has(w)), timings);
    await estimateFields(dump, graph, { ...opts, output }, wells, failed, timings);
  }

  const job: WellJobOptions = { input, output, mode, graph, canonical };
  const todo = wells.filter((w) => !failed.has(w));
  const run: RunSummary = await runWells(todo, { module: 'pipelines/preprocess.ts', fn: 'preprocessWell', options: job as unknown as Json }, {
    records: preprocessOut.records(output),
    workers: opts.workers ?? PREPROCESS_WORKERS,
    queue: opts.queue,
    redisPassword: opts.redisPassword,
    resume: opts.resume,
    attempts: opts.queue ? 3 : 1, // local failures are deterministic (bad input); queued ones may be lost workers
    progress: opts.progress === false ? false : undefined,
  });
  for (const f of run.failed) failed.set(f.well, f.error);
  if (opts.zarr) await finishPlate(output, [...run.done.map((d) => d.well), ...run.skipped]);
  // Denoised planes cached by salt_and_pepper for the later passes (stages/salt_and_pepper.ts):
  // no longer needed; a --resume of failed wells recomputes what it needs.
  await rm(preprocessOut.cache(output), { recursive: true, force: true });
  const results = new Map<string, Record<string, unknown>>();
  for (const d of run.done) results.set(d.well, d.result as Record<string, unknown>);
  for (const w of run.skipped) {
    // The runner names records (runners/job.ts hashes unsafe well names): read them through it.
    const rec = readRecord(preprocessOut.records(output), w);
    if (!rec) throw new IslError('BAD_INPUT', `well ${w} was skipped as done but its completion record cannot be read`, { file: preprocessOut.records(output), well: w });
    results.set(w, rec.result as Record<string, unknown>);
  }
  for (const r of results.values()) for (const [k, v] of Object.entries((r.timings ?? {}) as Record<string, number>)) timings[k] = (timings[k] ?? 0) + v;

  let qc: WellQc[] | undefined;
  if (mode === 'training') qc = await writeQcReport(output, results, failed);
  const shardWells = [...results.keys()].filter((w) => opts.keepFailedQc || !qc || qc.find((q) => q.well === w)?.pass !== false).sort();
  let shards: PreprocessSummary['shards'];
  if (opts.shards !== false && shardWells.length > 0) {
    const t = Date.now();
    shards = await writeShards(output, shardWells, { ...opts.shards, mode, source: { input, checksums: inputs } });
    timings.shards = (Date.now() - t) / 1000;
  }

  const runJson = preprocessOut.runJson(output);
  const inputBytes = dump ? (await Promise.all([...dump.wells.values()].flatMap((w) => w.rows.map((r) => stat(r.file).then((s) => s.size, () => 0))))).reduce((a, b) => a + b, 0) : undefined;
  const seconds = (Date.now() - t0) / 1000;
  await writeFileAtomic(runJson, JSON.stringify({
    config: { input, output, mode, workers: opts.workers ?? PREPROCESS_WORKERS, queue: opts.queue ? 'yes (URL not recorded: it may hold credentials)' : undefined, resume: !!opts.resume, keepFailedQc: !!opts.keepFailedQc, shards: opts.shards, graph },
    versions: versions(),
    inputs: { checksums_sha256: inputs, wells: wells.length, bytes: inputBytes },
    wells: { done: run.done.map((d) => d.well), skipped: run.skipped, failed: [...failed].map(([well, error]) => ({ well, error })) },
    timings_s: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Number(v.toFixed(3))])),
    seconds,
    throughput_MB_s: inputBytes ? Number((inputBytes / 1e6 / seconds).toFixed(2)) : undefined,
    shards,
  }, null, 2));
  return { wells: { done: run.done.map((d) => d.well), skipped: run.skipped, failed: [...failed].map(([well, error]) => ({ well, error })) }, qc, shards, runJson };
}

export async function main(argv = process.argv): Promise<void> {
  const program = command('preprocess', 'Raw microscope dump (manifest.csv + dump.json) or canonical ISL wells -> canonical wells, fields, stitch reports, QC and training shards.')
    .requiredOption('--input <dir>', 'dump folder (with manifest.csv), folder of canonical ISL-convention wells, or an OME-Zarr plate/image')
    .requiredOption('--output <dir>', 'output folder')
    .option('--mode <mode>', 'training (all stages) or inference (drops training-only stages; no labels needed)', 'training')
    .option('--graph <file>', 'pipeline graph (YAML/JSON); default pipelines/preprocess.yaml (raw) or pipelines/canonical.yaml (canonical input)')
    .option('--workers <n>', 'wells processed at once in worker threads', positiveInt, PREPROCESS_WORKERS)
    .option('--queue <url>', 'redis://HOST:PORT: run wells as BullMQ jobs (start workers with runners/worker.ts)')
    .option('--redis-password <pw>', 'Redis password (or $ISL_REDIS_PASSWORD)')
    .option('--resume', 'skip wells and fields finished by an earlier run')
    .option('--keep-failed-qc', 'keep wells that fail QC in the shards')
    .option('--zarr', 'also write the canonical wells as an OME-Zarr plate, OUT/plate.zarr (napari-ome-zarr, vizarr, Fiji MoBIE)')
    .option('--no-shards', 'do not write training shards')
    .option('--shard-format <format>', 'parquet or arrow', SHARD_DEFAULTS.format)
    .option('--patch-size <px>', 'patch side', positiveInt, SHARD_DEFAULTS.patchSize)
    .option('--patches-per-well <n>', 'patches sampled per well', positiveInt, SHARD_DEFAULTS.patchesPerWell)
    .option('--test-fraction <f>', 'fraction of wells held out as the test split', number, SHARD_DEFAULTS.testFraction)
    .option('--seed <n>', 'seed of patch sampling and the train/test split of wells', positiveInt, SHARD_DEFAULTS.seed)
    .option('--shard-max-mib <mib>', 'largest shard file, MiB (2^20 bytes)', positiveInt, SHARD_DEFAULTS.maxBytes / MIB);
  await runCli(program, async (o) => {
    const s = await preprocess({
      input: o.input, output: o.output, mode: o.mode, graph: o.graph, workers: o.workers, queue: o.queue, redisPassword: o.redisPassword ?? process.env.ISL_REDIS_PASSWORD,
      resume: o.resume, keepFailedQc: o.keepFailedQc, zarr: o.zarr,
      shards: o.shards === false ? false : { format: o.shardFormat, patchSize: o.patchSize, patchesPerWell: o.patchesPerWell, testFraction: o.testFraction, seed: o.seed, maxBytes: o.shardMaxMib * MIB },
    });
    const failedQc = s.qc?.filter((q) => !q.pass).map((q) => q.well) ?? [];
    process.stdout.write(JSON.stringify({ event: 'done', output: resolve(o.output), wells: s.wells.done.length + s.wells.skipped.length, failed: s.wells.failed, failedQc, shards: s.shards?.files.length ?? 0, runJson: s.runJson }) + '\n');
    return s.wells.failed.length ? 1 : 0;
  }, argv);
}

if (isMain(import.meta.url)) await main();
