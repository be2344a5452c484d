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
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { Worker, type Job } from 'bullmq';
import { badOption } from '../core/errors.ts';
import { partKey, partRecords, writeRecord, type Json } from './job.ts';
import { ThreadPool } from './pool.ts';
import { redactUrl, redisConnection } from './redis.ts';
import { DEFAULT_QUEUE_NAME, type QueuedWell } from './run.ts';

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
  if (!Number.isInteger(concurrency) || concurrency < 1) throw badOption('--concurrency', 'a positive integer', opts.concurrency);
  const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / concurrency));
  if (!Number.isInteger(threads) || threads < 1) throw badOption('--threads', 'a positive integer', opts.threads);
  const lockDuration = opts.lockDurationMs ?? 30000;
  const stalledInterval = opts.stalledIntervalMs ?? 30000;
  for (const [k, v] of [['--lock-duration', lockDuration], ['--stalled-interval', stalledInterval]] as const) {
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
      const { well, job: spec, records, part, parts } = job.data;
      const attempt = job.attemptsMade + 1;
      const t = Date.now();
      const what = part !== undefined ? { part } : parts ? { merge: parts.length } : {};
      log({ event: 'start', well, ...what, job: job.id, attempt, pid: process.pid });
      const result = await pool.run(spec, well, attempt, threads, { part, parts });
      if (part !== undefined) await writeRecord(partRecords(records), partKey(well, part), result, attempt, (Date.now() - t) / 1000);
      else await writeRecord(records, well, result, attempt, (Date.now() - t) / 1000);
      log({ event: 'done', well, ...what, job: job.id, seconds: (Date.now() - t) / 1000 });
      return result;
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
    throw badOption('--queue', `a reachable Redis (${e.message})`, redactUrl(opts.queue));
  });
  log({ event: 'ready', queue: redactUrl(opts.queue), name: opts.queueName ?? DEFAULT_QUEUE_NAME, concurrency, threads, pid: process.pid });
  void worker.run();
  armIdle();
  return { close, stopped };
}

/** CLI entry. */
export async function main(argv: string[]): Promise<void> {
  const cmd = new Command('runners/worker.ts')
    .description('Pull per-well jobs (predict, preprocess) from a Redis queue and run them.')
    .requiredOption('--queue <url>', 'redis://HOST:PORT[/DB] or rediss://... (TLS)')
    .option('--redis-password <password>', 'Redis password (or set ISL_REDIS_PASSWORD)')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'wells processed at once by this worker', '1')
    .option('--threads <n>', 'compute threads per job (default: cores / concurrency)')
    .option('--lock-duration <ms>', 'job lock lifetime; a killed worker\'s job is retried after about this plus --stalled-interval', '30000')
    .option('--stalled-interval <ms>', 'how often to look for jobs of dead workers', '30000')
    .option('--idle-exit <s>', 'exit after this many seconds without jobs')
    .parse(argv);
  const o = cmd.opts<Record<string, string | undefined>>();
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw badOption(name, 'a number', v);
    return n;
  };
  const w = await startWorker({
    queue: o.queue!,
    redisPassword: o.redisPassword,
    queueName: o.queueName,
    concurrency: num('--concurrency', o.concurrency),
    threads: num('--threads', o.threads),
    lockDurationMs: num('--lock-duration', o.lockDuration),
    stalledIntervalMs: num('--stalled-interval', o.stalledInterval),
    idleExitS: num('--idle-exit', o.idleExit),
  });
  const stop = () => void w.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await w.stopped;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
