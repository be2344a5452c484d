/**
 * Queue worker: pulls per-well jobs that `runWells(..., {queue})` (e.g. `pipelines/predict.ts
 * --queue ...`) put in Redis, and runs them in its own worker threads.
 *
 *   npx tsx runners/worker.ts --queue redis://HOST:PORT [--concurrency N] [--redis-password P]
 *
 * Start it on any machine with a clone of this project and access to the wells' paths. A worker
 * killed mid-job loses its lock; another worker picks the job up after about
 * lock-duration + stalled-interval. Jobs run off the main thread so the lock keeps renewing.
 */
import { isAbsolute } from 'node:path';
import { availableParallelism } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { command, isMain, number, positiveInt, runCli } from '../core/cli.ts';
import { badOption } from '../core/errors.ts';
import { isPermanent } from './errors.ts';
import { partKey, partRecords, resolveJobModule, writeRecord, type Json } from './job.ts';
import { ThreadPool } from './pool.ts';
import { redactUrl, redisConnection } from './redis.ts';
import { DEFAULT_QUEUE_NAME, type QueuedWell } from './run.ts';
import { unsafeName } from '../io/out_layout.ts';

export interface WorkerOptions {
  /** `redis://HOST:PORT` or `rediss://...`. */
  readonly queue: string;
  readonly redisPassword?: string;
  readonly queueName?: string;
  /** Wells processed at once by this process (default 1). */
  readonly concurrency?: number;
  /** Compute threads per job (default: cores / concurrency). */
  readonly threads?: number;
  /** Lock lifetime in ms, renewed at half of it while a job runs (default 30000). */
  readonly lockDurationMs?: number;
  /** How often stalled jobs (dead workers) are looked for, ms (default 30000). */
  readonly stalledIntervalMs?: number;
  /** Exit after this many seconds without a job (default: never). */
  readonly idleExitS?: number;
  /** Log lines (JSON) go here; default stderr. */
  readonly log?: (line: Record<string, unknown>) => void;
}

/** A running worker; `close()` finishes the current jobs and disconnects. */
export interface RunningWorker {
  close(): Promise<void>;
  /** Resolves when the worker stopped (closed or idle exit). */
  readonly stopped: Promise<void>;
}

/** Starts pulling and running jobs. */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw badOption('concurrency', 'a positive integer', opts.concurrency);
  const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / concurrency));
  if (!Number.isInteger(threads) || threads < 1) throw badOption('threads', 'a positive integer', opts.threads);
  const lockDuration = opts.lockDurationMs ?? 30000;
  const stalledInterval = opts.stalledIntervalMs ?? 30000;
  for (const [k, v] of [['lockDurationMs', lockDuration], ['stalledIntervalMs', stalledInterval]] as const) {
    if (!Number.isFinite(v) || v < 100) throw badOption(k, 'a number of milliseconds >= 100', v);
  }
  const log = opts.log ?? ((l) => process.stderr.write(JSON.stringify(l) + '\n'));
  const connection = redisConnection({ url: opts.queue, password: opts.redisPassword });
  const pool = new ThreadPool(concurrency);
  let idleTimer: NodeJS.Timeout | undefined;
  let active = 0;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  const worker = new Worker<QueuedWell, Json>(
    opts.queueName ?? DEFAULT_QUEUE_NAME,
    async (job: Job<QueuedWell, Json>) => {
      const attempt = job.attemptsMade + 1;
      const t = Date.now();
      try {
        const { well, job: spec, records, part, parts } = checkQueuedWell(job.data);
        const what = part !== undefined ? { part } : parts ? { merge: parts.length } : {};
        log({ event: 'start', well, ...what, job: job.id, attempt, pid: process.pid });
        const result = await pool.run(spec, well, attempt, threads, { part, parts });
        if (part !== undefined) await writeRecord(partRecords(records), partKey(well, part), result, attempt, (Date.now() - t) / 1000);
        else await writeRecord(records, well, result, attempt, (Date.now() - t) / 1000);
        log({ event: 'done', well, ...what, job: job.id, seconds: (Date.now() - t) / 1000 });
        return result;
      } catch (e) {
        // A bad option or bad input fails the same way on every attempt: no BullMQ retries.
        if (isPermanent(e)) throw new UnrecoverableError((e as Error).message);
        throw e;
      }
    },
    { connection, concurrency, lockDuration, stalledInterval, maxStalledCount: 2, autorun: false },
  );
  worker.on('failed', (job, err) => log({ event: 'failed', well: job?.data.well, job: job?.id, attempt: job?.attemptsMade, error: err.message }));
  worker.on('error', (err) => log({ event: 'error', error: err.message }));
  const armIdle = () => {
    if (opts.idleExitS === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => void close(), opts.idleExitS * 1000);
  };
  worker.on('active', () => {
    active++;
    clearTimeout(idleTimer);
  });
  const settled = () => {
    active--;
    if (active === 0) armIdle();
  };
  worker.on('completed', settled);
  worker.on('failed', settled);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearTimeout(idleTimer);
      await worker.close();
      await pool.close();
      log({ event: 'stopped', pid: process.pid });
      resolveStopped();
    })());

  await worker.waitUntilReady().catch((e: Error) => {
    throw badOption('queue', `a reachable Redis (${e.message})`, redactUrl(opts.queue));
  });
  log({ event: 'ready', queue: redactUrl(opts.queue), name: opts.queueName ?? DEFAULT_QUEUE_NAME, concurrency, threads, pid: process.pid });
  void worker.run();
  armIdle();
  return { close, stopped };
}

/**
 * Checks a queued job's data before any work: anyone who can write to the queue chooses it, so
 * its well id, records folder and parts must be plain strings (no NUL) and its module one of
 * this project's (runners/job.ts). The job function then checks the well name for its own use.
 * @throws IslError BAD_OPTION naming the bad field
 */
export function checkQueuedWell(data: unknown): QueuedWell {
  const d = (data ?? {}) as Partial<QueuedWell>;
  const text = (v: unknown) => typeof v === 'string' && v !== '' && !v.includes('\0');
  if (!text(d.well)) throw badOption('queued job well', 'a non-empty well id without NUL', d.well);
  if (!text(d.records)) throw badOption('queued job records', 'a records folder path without NUL', d.records);
  // Well ids may be folders (predict) but never climb out with `..`; part ids become file names.
  if ((d.well as string).split(/[/\\#]/).includes('..')) throw badOption('queued job well', 'a well id without `..` path segments', d.well);
  const partName = (v: unknown) => text(v) && unsafeName(v) === undefined;
  if (d.part !== undefined && !partName(d.part)) throw badOption('queued job part', 'a part id that is one file name (no NUL, separators or `..`)', d.part);
  if (d.parts !== undefined && (!Array.isArray(d.parts) || !d.parts.every(partName))) throw badOption('queued job parts', 'a list of part ids that are file names (no NUL, separators or `..`)', d.parts);
  if (!isAbsolute(d.records as string)) throw badOption('queued job records', 'an absolute records folder path', d.records);
  resolveJobModule(d.job!);
  return d as QueuedWell;
}

/** The `worker` command line: exits 2 for bad usage (bad flag, unreachable Redis), 1 when it fails after starting. */
export async function main(argv = process.argv): Promise<void> {
  const program = command('worker', 'Pull per-well jobs (predict, preprocess) from a Redis queue and run them.')
    .requiredOption('--queue <url>', 'redis://HOST:PORT[/DB] or rediss://... (TLS)')
    .option('--redis-password <password>', 'Redis password (or set ISL_REDIS_PASSWORD)')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'wells processed at once by this worker', positiveInt, 1)
    .option('--threads <n>', 'compute threads per job (default: cores / concurrency)', positiveInt)
    .option('--lock-duration <ms>', "job lock lifetime; a killed worker's job is retried after about this plus --stalled-interval", number, 30000)
    .option('--stalled-interval <ms>', 'how often to look for jobs of dead workers', number, 30000)
    .option('--idle-exit <s>', 'exit after this many seconds without jobs', number);
  await runCli(program, async (o) => {
    const w = await startWorker({
      queue: o.queue,
      redisPassword: o.redisPassword,
      queueName: o.queueName,
      concurrency: o.concurrency,
      threads: o.threads,
      lockDurationMs: o.lockDuration,
      stalledIntervalMs: o.stalledInterval,
      idleExitS: o.idleExit,
    });
    const stop = () => void w.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await w.stopped;
  }, argv, { lockDurationMs: '--lock-duration', stalledIntervalMs: '--stalled-interval', idleExitS: '--idle-exit' });
}

if (isMain(import.meta.url)) await main();
