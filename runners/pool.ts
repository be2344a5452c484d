/**
 * A fixed pool of worker threads that run per-well jobs (runners/thread.ts). Raw worker_threads
 * rather than piscina: they scaled better here (1.78x vs 1.35x on 2 cores, ../shared/FACTS.md),
 * and jobs exchange only paths and small JSON results, so transfer lists do not matter.
 * Memory is bounded by the pool size: each thread holds one well at a time.
 */
import { Worker } from 'node:worker_threads';
import { IslError } from '../core/errors.ts';
import { reviveError } from './errors.ts';
import type { JobSpec, Json } from './job.ts';
import type { ThreadReply, ThreadTask } from './thread.ts';

const THREAD_URL = new URL('./thread.ts', import.meta.url).href;
// Node 20 does not pass tsx's ESM loader to worker threads: register it inside the thread first.
const TSX_API = import.meta.resolve('tsx/esm/api');
const BOOT = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(THREAD_URL)}); });`;

interface Slot {
  worker: Worker;
  busy?: { id: number; resolve: (r: Json) => void; reject: (e: Error) => void };
}

/** Runs one job function call per well on `size` threads; calls beyond that wait in FIFO order. */
export class ThreadPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly waiting: { task: Omit<ThreadTask, 'id'>; resolve: (r: Json) => void; reject: (e: Error) => void }[] = [];
  private nextId = 1;
  private closed = false;

  /** @param size number of threads (>= 1). */
  constructor(size: number) {
    this.size = size;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /**
   * Runs `spec.fn(well, spec.options, {attempt, threads, part})` in a free thread, or
   * `spec.merge(...)` when `split.parts` is given; rejects with the job's error (same code, file,
   * well and cause), or IslError WELL_FAILED when the thread died.
   */
  run(spec: JobSpec, well: string, attempt: number, threads: number, split: { part?: string; parts?: readonly string[] } = {}): Promise<Json> {
    if (this.closed) return Promise.reject(new Error('ThreadPool is closed'));
    return new Promise<Json>((resolve, reject) => {
      this.waiting.push({ task: { spec, well, attempt, threads, ...split }, resolve, reject });
      this.dispatch();
    });
  }

  /** Terminates every thread; pending calls are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new Error('ThreadPool closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(BOOT, { eval: true }) };
    slot.worker.on('message', (reply: ThreadReply) => {
      const busy = slot.busy;
      if (!busy || busy.id !== reply.id) return;
      slot.busy = undefined;
      if (reply.ok) busy.resolve(reply.result);
      else busy.reject(reviveError(reply.error));
      this.dispatch();
    });
    // A thread that dies (uncaught error, out of memory) fails its well and is replaced.
    const onDeath = (why: string) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      const busy = slot.busy;
      slot.busy = undefined;
      if (this.closed) return;
      this.slots[i] = this.spawn();
      busy?.reject(new IslError('WELL_FAILED', `worker thread died: ${why}`));
      this.dispatch();
    };
    slot.worker.on('error', (e) => onDeath(e.message));
    slot.worker.on('exit', (code) => onDeath(`exit code ${code}`));
    return slot;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy || this.waiting.length === 0) continue;
      const next = this.waiting.shift()!;
      const id = this.nextId++;
      slot.busy = { id, resolve: next.resolve, reject: next.reject };
      slot.worker.postMessage({ id, ...next.task } satisfies ThreadTask);
    }
  }
}
