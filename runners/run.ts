/**
 * runWells: runs one job per well, on a local pool of worker threads or, with `queue`, as BullMQ
 * jobs pulled by `runners/worker.ts` processes on any machine. Both modes run the same job
 * function, retry failed wells with exponential backoff, write a completion record per well
 * (what `resume` skips), report progress with an ETA, and return the wells that failed.
 * A huge well can be split into parts (`parts`): one job per part, then one merge job once all
 * of them are done (a BullMQ flow in queue mode); each part has its own record, so `resume`
 * skips the parts already done.
 */
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { FlowProducer, Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { badOption, IslError } from '../core/errors.ts';
import { isPermanent } from './errors.ts';
import { partKey, partRecords, readRecord, resolveJobModule, writeRecord, type JobSpec, type Json } from './job.ts';
import { ThreadPool } from './pool.ts';
import { progress as startProgress, type ProgressOptions } from '../core/progress.ts';
import { redactUrl, redisConnection } from './redis.ts';

/** Default BullMQ queue name shared by producers and `runners/worker.ts`. */
export const DEFAULT_QUEUE_NAME = 'isl-wells';

export interface RunOptions {
  /** Directory of per-well completion records (`<well>.json`); `resume` skips wells recorded there. */
  readonly records: string;
  /**
   * Local worker threads (default here: available cores; the pipelines pass their own: predict
   * min(cores, 2), PREDICT_DEFAULTS.workers; preprocess 2, PREPROCESS_WORKERS). Ignored with
   * `queue`: workers run the jobs.
   */
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
  /**
   * Wells split into parts: well -> part ids (unique, non-empty). The job's `fn` runs once per
   * part, then `job.merge` once for the well. Other wells run whole.
   */
  readonly parts?: Readonly<Record<string, readonly string[]>>;
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
  /** Wells that failed after every attempt (or at once, for a permanent error), with the last error and its code when it had one. */
  readonly failed: { well: string; error: string; code?: string }[];
  /** Parts of split wells run in this run, and skipped by `resume`. */
  readonly parts: { readonly done: number; readonly skipped: number };
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
  // Parts still to run per split well.
  const partsTodo = new Map<string, string[]>();
  let partsSkipped = 0;
  for (const w of todo) {
    const all = o.parts[w];
    if (!all) continue;
    const left = o.resume ? all.filter((p) => readRecord(partRecords(o.records), partKey(w, p)) === undefined) : [...all];
    partsSkipped += all.length - left.length;
    partsTodo.set(w, left);
  }
  let partsDone = 0;
  const done: RunSummary['done'] = [];
  const failed: RunSummary['failed'] = [];
  // Progress units: a whole well is one, a split well one per part left plus its merge.
  const units = (w: string) => (partsTodo.get(w)?.length ?? 0) + 1;
  const ticked = new Map<string, number>();
  const total = todo.reduce((n, w) => n + units(w), 0);
  const bar = opts.progress === false ? undefined : startProgress(`${partsTodo.size ? 'wells and parts' : 'wells'}${o.queue ? ' (queue)' : ''}`, total, opts.progress);
  const tick = (well: string, n: number, fields: Record<string, unknown> = {}) => {
    ticked.set(well, (ticked.get(well) ?? 0) + n);
    bar?.tick(n, { well, ...fields });
  };
  const emit = (well: string, status: WellEvent['status'], error?: string) => {
    if (status !== 'skipped') tick(well, units(well) - (ticked.get(well) ?? 0), status === 'failed' ? { failed: failed.length } : {});
    opts.onProgress?.({ well, status, error, done: done.length, failed: failed.length, total: wells.length });
  };
  for (const w of skipped) emit(w, 'skipped');
  try {
    const cb: Callbacks = {
      done(well, result) {
        done.push({ well, result });
        emit(well, 'done');
      },
      fail(well, error, code) {
        failed.push({ well, error, ...(code ? { code } : {}) });
        emit(well, 'failed', error);
      },
      partDone(well, part) {
        partsDone++;
        if ((ticked.get(well) ?? 0) < units(well) - 1) tick(well, 1, { part });
      },
    };
    if (o.queue) await runQueued(todo, partsTodo, job, o, cb);
    else await runLocal(todo, partsTodo, job, o, cb);
  } finally {
    bar?.stop();
  }
  return { done, skipped, failed, parts: { done: partsDone, skipped: partsSkipped }, seconds: (Date.now() - t0) / 1000 };
}

interface Callbacks {
  done(well: string, result: Json): void;
  fail(well: string, error: string, code?: string): void;
  partDone(well: string, part: string): void;
}

type Resolved = Required<Pick<RunOptions, 'records' | 'workers' | 'resume' | 'attempts' | 'backoffMs' | 'threads' | 'queueName' | 'parts'>> &
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
  const parts = opts.parts ?? {};
  if (typeof parts !== 'object' || parts === null) throw badOption('parts', 'an object: well -> part ids', parts);
  for (const [w, p] of Object.entries(parts)) {
    if (!wells.includes(w)) throw badOption('parts', 'parts of listed wells only', w);
    if (!Array.isArray(p) || p.length === 0 || p.some((x) => typeof x !== 'string' || x === '') || new Set(p).size !== p.length) throw badOption(`parts of ${w}`, 'a non-empty array of unique non-empty strings', p);
    if (!job.merge) throw badOption('job.merge', 'a merge function for wells split into parts', job.merge);
  }
  // Absolute: queued jobs carry it to workers that may run in another folder.
  return { records: resolve(opts.records), workers, parts, resume: opts.resume ?? false, attempts, backoffMs, threads, queueName, queue: opts.queue, redisPassword: opts.redisPassword };
}

/**
 * Calls `run(attempt)` until it succeeds or `attempts` are used up, with exponential backoff.
 * A permanent error (bad option, bad input: runners/errors.ts) fails at once: a retry would
 * only repeat it.
 */
async function withRetries(o: Resolved, run: (attempt: number) => Promise<Json>): Promise<{ ok: true; result: Json } | { ok: false; error: string; code?: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, result: await run(attempt) };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (attempt >= o.attempts || isPermanent(e)) return { ok: false, error: (e as Error).message, ...(typeof code === 'string' ? { code } : {}) };
      await sleep(o.backoffMs * 2 ** (attempt - 1));
    }
  }
}

async function runLocal(wells: string[], partsTodo: ReadonlyMap<string, string[]>, job: JobSpec, o: Resolved, cb: Callbacks): Promise<void> {
  if (wells.length === 0) return;
  const jobsAtOnce = wells.reduce((n, w) => n + Math.max(1, partsTodo.get(w)?.length ?? 1), 0);
  const pool = new ThreadPool(Math.min(o.workers, jobsAtOnce));
  // Runs one call and records it; the record is part of the attempt (a failed write is retried).
  const attempt = (well: string, record: [string, string], split: { part?: string; parts?: readonly string[] }) =>
    withRetries(o, async (a) => {
      const t = Date.now();
      const result = await pool.run(job, well, a, o.threads, split);
      await writeRecord(record[0], record[1], result, a, (Date.now() - t) / 1000);
      return result;
    });
  try {
    await Promise.all(
      wells.map(async (well) => {
        const left = partsTodo.get(well);
        if (left) {
          const results = await Promise.all(
            left.map(async (part) => {
              const r = await attempt(well, [partRecords(o.records), partKey(well, part)], { part });
              if (r.ok) cb.partDone(well, part);
              return { part, r };
            }),
          );
          const bad = results.find((x) => !x.r.ok);
          if (bad && !bad.r.ok) return cb.fail(well, `part ${bad.part}: ${bad.r.error}`, bad.r.code);
        }
        const r = await attempt(well, [o.records, well], left ? { parts: o.parts[well] } : {});
        if (r.ok) cb.done(well, r.result);
        else cb.fail(well, r.error, r.code);
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
  /** A part of a split well (runs `job.fn` with this part), or */
  readonly part?: string;
  /** the merge of a split well (runs `job.merge` with all its parts). */
  readonly parts?: readonly string[];
}

async function runQueued(wells: string[], partsTodo: ReadonlyMap<string, string[]>, job: JobSpec, o: Resolved, cb: Callbacks): Promise<void> {
  if (wells.length === 0) return;
  const connection = redisConnection({ url: o.queue!, password: o.redisPassword });
  const queue = new Queue<QueuedWell>(o.queueName, { connection });
  const events = new QueueEvents(o.queueName, { connection });
  const flow = [...partsTodo.values()].some((p) => p.length > 0) ? new FlowProducer({ connection }) : undefined;
  // A fresh run id keeps job ids unique across runs, so a rerun is never deduplicated away.
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const idToWell = new Map<string, string>(wells.map((w, i) => [`${runId}-${i}`, w]));
  const idToPart = new Map<string, { well: string; part: string }>();
  const partError = new Map<string, string>();
  const pending = new Set(idToWell.keys());
  let finish!: () => void;
  const allDone = new Promise<void>((r) => (finish = r));
  const settle = (id: string, ok: boolean, value: Json | string) => {
    if (!pending.delete(id)) return;
    const well = idToWell.get(id)!;
    if (ok) cb.done(well, value as Json);
    else cb.fail(well, partError.get(well) ?? String(value));
    if (pending.size === 0) finish();
  };
  const partSettled = (id: string, ok: boolean, reason?: string) => {
    const p = idToPart.get(id)!;
    idToPart.delete(id);
    if (ok) cb.partDone(p.well, p.part);
    else partError.set(p.well, `part ${p.part}: ${reason}`);
  };
  const jobOpts: JobsOptions = {
    attempts: o.attempts,
    backoff: { type: 'exponential', delay: o.backoffMs },
    removeOnComplete: { age: 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), flow?.waitUntilReady()]).catch((e: Error) => {
      throw new IslError('BAD_OPTION', `Cannot connect to the queue at ${redactUrl(o.queue!)}: ${e.message}. Is Redis running and reachable?`);
    });
    events.on('completed', ({ jobId, returnvalue }) => (idToPart.has(jobId) ? partSettled(jobId, true) : settle(jobId, true, parseReturn(returnvalue))));
    events.on('failed', ({ jobId, failedReason }) => (idToPart.has(jobId) ? partSettled(jobId, false, failedReason) : settle(jobId, false, failedReason)));
    const whole: { name: string; data: QueuedWell; opts: JobsOptions }[] = [];
    const split: Parameters<FlowProducer['addBulk']>[0] = [];
    wells.forEach((well, i) => {
      const jobId = `${runId}-${i}`;
      const left = partsTodo.get(well);
      const data: QueuedWell = { well, job, records: o.records, ...(left ? { parts: o.parts[well] } : {}) };
      // A split well's merge job waits for its parts (a BullMQ flow); a part that fails for good fails it.
      if (!left?.length) return whole.push({ name: left ? 'merge' : 'well', data, opts: { ...jobOpts, jobId } });
      const children = left.map((part, k) => {
        const id = `${jobId}-${k}`;
        idToPart.set(id, { well, part });
        return { name: 'part', queueName: o.queueName, data: { well, job, records: o.records, part } satisfies QueuedWell, opts: { ...jobOpts, jobId: id, failParentOnFailure: true } };
      });
      split.push({ name: 'merge', queueName: o.queueName, data, opts: { ...jobOpts, jobId }, children });
    });
    if (whole.length) await queue.addBulk(whole);
    if (split.length) await flow!.addBulk(split);
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
    await Promise.allSettled([events.close(), queue.close(), flow?.close()]);
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
