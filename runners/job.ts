/**
 * Per-well jobs: what a runner runs for one well, where it records that the well is done, and
 * how a job module is found. Shared by the local pool (runners/pool.ts), the BullMQ producer
 * (runners/run.ts) and queue workers (runners/worker.ts), so every mode runs the same code.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { badOption, IslError } from '../core/errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';

/** JSON-serialisable values: what crosses thread, process and Redis boundaries. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The repository root; job modules are named relative to it so any machine with a clone can run them. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * What to run for each well: `fn` exported by `module` (a path relative to the project root,
 * e.g. `pipelines/predict.ts`), called as `fn(well, options, context)`. A well split into parts
 * (RunOptions.parts) gets one `fn` call per part (`context.part`), then one `merge` call
 * (`context.parts`) once every part is done.
 */
export interface JobSpec {
  readonly module: string;
  readonly fn: string;
  /** Function of the same module that assembles a split well from its parts. */
  readonly merge?: string;
  /** Options passed to every call (JSON: they travel through Redis in distributed mode). */
  readonly options?: Json;
}

/** Context of one attempt at one well. */
export interface JobContext {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Compute threads this job may use (cores divided among the concurrent jobs of its process). */
  readonly threads: number;
  /** The part of the well this call computes (split wells only). */
  readonly part?: string;
  /** Every part of the well, in order (set for the `merge` call only). */
  readonly parts?: readonly string[];
}

/** Signature of a job function. It must be idempotent: write outputs atomically, overwrite on retry. */
export type WellJobFn = (well: string, options: Json, ctx: JobContext) => Promise<Json | void> | Json | void;

/** Validates a job spec and resolves its module to an absolute path inside the project. */
export function resolveJobModule(spec: JobSpec): string {
  if (!spec || typeof spec.module !== 'string' || spec.module === '') throw badOption('job.module', 'a module path relative to the project root', spec?.module);
  if (typeof spec.fn !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(spec.fn)) throw badOption('job.fn', 'an exported function name', spec.fn);
  if (spec.merge !== undefined && (typeof spec.merge !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(spec.merge))) throw badOption('job.merge', 'an exported function name', spec.merge);
  const abs = isAbsolute(spec.module) ? spec.module : resolve(PROJECT_ROOT, spec.module);
  // Queue messages name the code a worker imports: only modules of this project may be run.
  const rel = relative(PROJECT_ROOT, abs);
  if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('node_modules')) {
    throw badOption('job.module', `a module inside the project (${PROJECT_ROOT})`, spec.module);
  }
  if (!existsSync(abs)) throw badOption('job.module', 'an existing module file', spec.module);
  return abs;
}

/** Imports a job module and returns its function `name` (default `spec.fn`). */
export async function loadJob(spec: JobSpec, name: string = spec.fn): Promise<WellJobFn> {
  const abs = resolveJobModule(spec);
  const mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  const fn = mod[name];
  if (typeof fn !== 'function') throw new IslError('BAD_OPTION', `Module ${spec.module} does not export a function ${name}`);
  return fn as WellJobFn;
}

/** What a runner records when a well is done. */
export interface CompletionRecord {
  readonly well: string;
  readonly result: Json;
  readonly attempt: number;
  readonly host: string;
  readonly pid: number;
  readonly finishedAt: string;
  readonly seconds: number;
}

/** File name of a well's completion record: readable, and collision-free even for paths. */
export function recordName(well: string): string {
  const safe = well.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-80);
  return safe === well ? `${well}.json` : `${safe}-${createHash('sha1').update(well).digest('hex').slice(0, 8)}.json`;
}

/** Record key of one part of a split well: its records live in `recordDir/parts/`. */
export function partKey(well: string, part: string): string {
  return `${well}@${part}`;
}

/** Directory of the part records of split wells. */
export function partRecords(recordDir: string): string {
  return join(recordDir, 'parts');
}

/** Path of a well's completion record in `recordDir`. */
export function recordPath(recordDir: string, well: string): string {
  return join(recordDir, recordName(well));
}

/** The completion record of a well, or undefined when it is not done (or the record is unreadable). */
export function readRecord(recordDir: string, well: string): CompletionRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(recordDir, well), 'utf8')) as CompletionRecord;
  } catch {
    return undefined;
  }
}

/** Atomically records that a well is done (written after all its outputs were renamed into place). */
export async function writeRecord(recordDir: string, well: string, result: Json, attempt: number, seconds: number): Promise<CompletionRecord> {
  const rec: CompletionRecord = { well, result, attempt, host: hostname(), pid: process.pid, finishedAt: new Date().toISOString(), seconds };
  await writeFileAtomic(recordPath(recordDir, well), JSON.stringify(rec, null, 1) + '\n');
  return rec;
}
