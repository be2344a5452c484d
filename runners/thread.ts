/**
 * Entry of one pool thread (runners/pool.ts): runs job functions for the wells it is sent, one at
 * a time, so heavy CPU work stays off the main event loop (which renews queue locks).
 */
import { parentPort } from 'node:worker_threads';
import { badOption } from '../core/errors.ts';
import { serializeError, type SerializedError } from './errors.ts';
import { loadJob, type JobSpec, type Json, type WellJobFn } from './job.ts';

/** A task sent to a pool thread. */
export interface ThreadTask {
  readonly id: number;
  readonly spec: JobSpec;
  readonly well: string;
  readonly attempt: number;
  readonly threads: number;
  /** Part of a split well (calls `spec.fn`), or */
  readonly part?: string;
  /** all its parts (calls `spec.merge`). */
  readonly parts?: readonly string[];
}

/** A thread's answer: the job's result or its error as data (code, file, well and cause kept). */
export type ThreadReply =
  | { readonly id: number; readonly ok: true; readonly result: Json }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

const port = parentPort;
if (!port) throw new Error('runners/thread.ts must be started as a worker thread by runners/pool.ts');
const jobs = new Map<string, Promise<WellJobFn>>();

port.on('message', async (task: ThreadTask) => {
  try {
    const name = task.parts ? task.spec.merge : task.spec.fn;
    if (!name) throw badOption('job.merge', `a merge function of ${task.spec.module} for the parts of ${task.well}`, name);
    const key = `${task.spec.module}#${name}`;
    if (!jobs.has(key)) jobs.set(key, loadJob(task.spec, name));
    const fn = await jobs.get(key)!;
    const result = await fn(task.well, task.spec.options ?? null, { attempt: task.attempt, threads: task.threads, part: task.part, parts: task.parts });
    port.postMessage({ id: task.id, ok: true, result: result ?? null } satisfies ThreadReply);
  } catch (e) {
    port.postMessage({ id: task.id, ok: false, error: serializeError(e) } satisfies ThreadReply);
  }
});
