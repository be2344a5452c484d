/**
 * runWells: runs one job per well, on a local pool of worker threads or, with `queue`, as BullMQ
 * jobs pulled by `runners/worker.ts` processes on any machine. Both modes run the same job
 * function, retry failed wells with exponential backoff, write a completion record per well
 * (what `resume` skips), report progress with an ETA, and return the wells that failed.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Queue, QueueEvents } from 'bullmq';
import { badOption, IslError } from '../io/errors.ts';
import { readRecord, resolveJobModule, writeRecord, type JobSpec, type Json } from './job.ts';
import { ThreadPool } from './pool.ts';
import { progress as startProgress, type ProgressOptions } from './progress.ts';
import { redactUrl, redisConnection } from './redis.ts';

/** Default BullMQ queue name shared by producers and `runners/worker.ts`. */
export const DEFAULT_QUEUE_NAME = 'isl-wells';

export interface RunOptions {
  /** Directory of per-well completion records (`<well>.json`); `resume` skips wells recorded there. */
  readonly records: string;
  /** Local worker threads (default: available cores). Ignored with `queue`: workers run the jobs. */
  readonly workers?: number;
  /** `redis://HOST:PORT` or `rediss://...`: enqueue one BullMQ job per well instead of running locally. */
  readonly queue?: string;
  /** Redis password (else the URL's, else $ISL_REDIS_PASSWORD / $REDIS_PASSWORD). Never logged. */
  readonly redisPassword?: string;
  /** BullMQ queue name (default `isl-wells`); workers must use the same. */
  readonly queueName?: string;
  /** Skip wells that already have a completion record. Default false: every well is (re)run. */
  readonly resume?: boolean;
  /** Attempts per well before it counts as failed (default 3). */
  readonly attempts?: number;
  /** First retry delay in ms, doubled on each later retry (default 1000). */
  readonly backoffMs?: number;
  /** Compute threads per job (default: cores / workers, at least 1). Local mode only. */
  readonly threads?: number;
  /** Called after each well finishes, fails, or is skipped. */
  readonly onProgress?: (e: WellEvent) => void;
  /** Progress reporter options; `false` turns it off (default: bar on a TTY, JSON lines otherwise). */
  readonly progress?: ProgressOptions | false;
}

/** One well's outcome, as reported to `onProgress`. */
export interface WellEvent {
  readonly well: string;
  readonly status: 'done' | 'failed' | 'skipped';
  readonly error?: string;
  readonly done: number;
  readonly failed: number;
  readonly total: number;
}

/** The outcome of a run. */
export interface RunSummary {
  /** Wells that completed in this run, with their job results. */
  readonly done: { well: string; result: Json }[];
  /** Wells skipped by `resume` (already recorded). */
  readonly skipped: string[];
  /** Wells that failed after every attempt, with the last error. */
  readonly failed: { well: string; error: string }[];
  readonly seconds: number;
}

/**
 * Runs `job` once per well (locally or through a BullMQ queue) and waits for all of them.
 *
 * @param wells well identifiers passed to the job (names or paths; unique).
 * @param job the module (relative to the project root) and function to run, plus JSON options.
 * @returns the done, skipped and failed wells; it does not throw for failed wells (callers exit non-zero).
 * @throws IslError BAD_OPTION for invalid options (before any work starts).
 */
export async function runWells(wells: readonly string[], job: JobSpec, opts: RunOptions): Promise<RunSummary> {
  const o = validate(wells, job, opts);
  const t0 = Date.now();
  const skipped = o.resume ? wells.filter((w) => readRecord(o.records, w) !== undefined) : [];
  const todo = wells.filter((w) => !skipped.includes(w));
  const done: RunSummary['done'] = [];
  const failed: RunSummary['failed'] = [];
  const bar = opts.progress === false ? undefined : startProgress(o.queue ? 'wells (queue)' : 'wells', todo.length, opts.progress);
  const emit = (well: string, status: WellEvent['status'], error?: string) => {
    if (status !== 'skipped') bar?.tick(1, { well, ...(status === 'failed' ? { failed: failed.length } : {}) });
    opts.onProgress?.({ well, status, error, done: done.length, failed: failed.length, total: wells.length });
  };
  for (const w of skipped) emit(w, 'skipped');
  try {
    const onDone = (well: string, result: Json) => {
      done.push({ well, result });
      emit(well, 'done');
    };
    const onFail = (well: string, error: string) => {
      failed.push({ well, error });
      emit(well, 'failed', error);
    };
    if (o.queue) await runQueued(todo, job, o, onDone, onFail);
    else await runLocal(todo, job, o, onDone, onFail);
  } finally {
    bar?.stop();
  }
  return { done, skipped, failed, seconds: (Date.now() - t0) / 1000 };
}

type Resolved = Required<Pick<RunOptions, 'records' | 'workers' | 'resume' | 'attempts' | 'backoffMs' | 'threads' | 'queueName'>> &
  Pick<RunOptions, 'queue' | 'redisPassword'>;

function validate(wells: readonly string[], job: JobSpec, opts: RunOptions): Resolved {
  if (!Array.isArray(wells) || wells.some((w) => typeof w !== 'string' || w === '')) throw badOption('wells', 'an array of non-empty strings', wells);
  const dup = wells.find((w, i) => wells.indexOf(w) !== i);
  if (dup !== undefined) throw badOption('wells', 'unique well identifiers', dup);
  resolveJobModule(job);
  if (typeof opts.records !== 'string' || opts.records === '') throw badOption('records', 'a directory path', opts.records);
  const cores = availableParallelism();
  const workers = opts.workers ?? cores;
  if (!Number.isInteger(workers) || workers < 1) throw badOption('workers', 'a positive integer', workers);
  const attempts = opts.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw badOption('attempts', 'a positive integer', attempts);
  const backoffMs = opts.backoffMs ?? 1000;
  if (!Number.isFinite(backoffMs) || backoffMs < 0) throw badOption('backoffMs', 'a non-negative number of milliseconds', backoffMs);
  const threads = opts.threads ?? Math.max(1, Math.floor(cores / workers));
  if (!Number.isInteger(threads) || threads < 1) throw badOption('threads', 'a positive integer', threads);
  if (opts.queue !== undefined) redisConnection({ url: opts.queue, password: opts.redisPassword });
  const queueName = opts.queueName ?? DEFAULT_QUEUE_NAME;
  if (!/^[\w.-]+$/.test(queueName)) throw badOption('queueName', 'letters, digits, dots, dashes or underscores', queueName);
  return { records: opts.records, workers, resume: opts.resume ?? false, attempts, backoffMs, threads, queueName, queue: opts.queue, redisPassword: opts.redisPassword };
}

async function runLocal(
  wells: string[],
  job: JobSpec,
  o: Resolved,
  onDone: (w: string, r: Json) => void,
  onFail: (w: string, e: string) => void,
): Promise<void> {
  if (wells.length === 0) return;
  const pool = new ThreadPool(Math.min(o.workers, wells.length));
  try {
    await Promise.all(
      wells.map(async (well) => {
        for (let attempt = 1; ; attempt++) {
          const t = Date.now();
          try {
            const result = await pool.run(job, well, attempt, o.threads);
            await writeRecord(o.records, well, result, attempt, (Date.now() - t) / 1000);
            onDone(well, result);
            return;
          } catch (e) {
            if (attempt >= o.attempts) {
              onFail(well, (e as Error).message);
              return;
            }
            await sleep(o.backoffMs * 2 ** (attempt - 1));
          }
        }
      }),
    );
  } finally {
    await pool.close();
  }
}

/** Data of one queued well job (what `runners/worker.ts` receives). */
export interface QueuedWell {
  readonly well: string;
  readonly job: JobSpec;
  readonly records: string;
}

async function runQueued(
  wells: string[],
  job: JobSpec,
  o: Resolved,
  onDone: (w: string, r: Json) => void,
  onFail: (w: string, e: string) => void,
): Promise<void> {
  if (wells.length === 0) return;
  const connection = redisConnection({ url: o.queue!, password: o.redisPassword });
  const queue = new Queue<QueuedWell>(o.queueName, { connection });
  const events = new QueueEvents(o.queueName, { connection });
  // A fresh run id keeps job ids unique across runs, so a rerun is never deduplicated away.
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const idToWell = new Map<string, string>(wells.map((w, i) => [`${runId}-${i}`, w]));
  const pending = new Set(idToWell.keys());
  let finish!: () => void;
  const allDone = new Promise<void>((r) => (finish = r));
  const settle = (id: string, ok: boolean, value: Json | string) => {
    if (!pending.delete(id)) return;
    const well = idToWell.get(id)!;
    if (ok) onDone(well, value as Json);
    else onFail(well, String(value));
    if (pending.size === 0) finish();
  };
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]).catch((e: Error) => {
      throw new IslError('BAD_OPTION', `Cannot connect to the queue at ${redactUrl(o.queue!)}: ${e.message}. Is Redis running and reachable?`);
    });
    events.on('completed', ({ jobId, returnvalue }) => settle(jobId, true, parseReturn(returnvalue)));
    events.on('failed', ({ jobId, failedReason }) => settle(jobId, false, failedReason));
    await queue.addBulk(
      wells.map((well, i) => ({
        name: 'well',
        data: { well, job, records: o.records },
        opts: {
          jobId: `${runId}-${i}`,
          attempts: o.attempts,
          backoff: { type: 'exponential', delay: o.backoffMs },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      })),
    );
    // Events are fire-and-forget: poll states too, so a missed event cannot hang the producer.
    const poll = setInterval(async () => {
      for (const id of [...pending]) {
        const j = await queue.getJob(id).catch(() => undefined);
        if (!j) continue;
        const state = await j.getState().catch(() => 'unknown');
        if (state === 'completed') settle(id, true, (j.returnvalue ?? null) as Json);
        else if (state === 'failed') settle(id, false, j.failedReason);
      }
    }, 3000);
    try {
      await allDone;
    } finally {
      clearInterval(poll);
    }
  } finally {
    await Promise.allSettled([events.close(), queue.close()]);
  }
}

function parseReturn(v: unknown): Json {
  if (typeof v !== 'string') return (v ?? null) as Json;
  try {
    return JSON.parse(v) as Json;
  } catch {
    return v;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
