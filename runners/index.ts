/**
 * Per-well job running, shared by predict and preprocess: a local worker-thread pool or BullMQ
 * jobs pulled by `runners/worker.ts` processes, with retries, completion records and progress.
 */
export { runWells, DEFAULT_QUEUE_NAME, type RunOptions, type RunSummary, type WellEvent, type QueuedWell } from './run.ts';
export { startWorker, type WorkerOptions, type RunningWorker } from './worker.ts';
export { ThreadPool } from './pool.ts';
export { readRecord, writeRecord, recordPath, PROJECT_ROOT, type JobSpec, type JobContext, type WellJobFn, type Json, type CompletionRecord } from './job.ts';
export { redisConnection, redactUrl, type RedisOptions } from './redis.ts';
export { progress, type Progress, type ProgressOptions } from '../core/progress.ts';
