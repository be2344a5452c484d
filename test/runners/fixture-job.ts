/**
 * A per-well job for the runner tests: blocks its thread for `ms` (like CPU-bound inference),
 * writes a deterministic output atomically in two halves (so a kill mid-job leaves a temp file),
 * and appends `start`/`end` lines to a log so tests can count how often each well finished.
 * Split wells: each part writes `part-P.txt` (logged as `WELL@P`); `fixtureMerge` joins them into
 * `result.txt` and logs `merge-start`/`merge-end`.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { IslError, type IslErrorCode } from '../../core/errors.ts';
import { removeStaleTemps, writeAtomic, writeFileAtomic } from '../../io/atomic.ts';
import type { Json, JobContext } from '../../runners/job.ts';

export interface FixtureOptions {
  out: string;
  log: string;
  ms: number;
  failWells?: string[];
}

const block = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export async function fixtureJob(well: string, options: Json, ctx: JobContext): Promise<Json> {
  const o = options as unknown as FixtureOptions;
  const dir = join(o.out, well);
  mkdirSync(dir, { recursive: true });
  const file = ctx.part === undefined ? 'result.txt' : `part-${ctx.part}.txt`;
  const label = ctx.part === undefined ? well : `${well}@${ctx.part}`;
  await removeStaleTemps(dir, file);
  appendFileSync(o.log, `start ${label} ${process.pid} ${ctx.attempt}\n`);
  if (o.failWells?.includes(label)) throw new Error(`fixture failure for ${label}`);
  const text = Array.from({ length: 64 }, (_, i) => createHash('sha256').update(`${label}:${i}`).digest('hex')).join('\n');
  await writeAtomic(join(dir, file), async (tmp) => {
    const f = await open(tmp, 'w');
    try {
      await f.write(text.slice(0, text.length >> 1));
      block(o.ms);
      await f.write(text.slice(text.length >> 1));
    } finally {
      await f.close();
    }
  });
  appendFileSync(o.log, `end ${label} ${process.pid} ${ctx.attempt}\n`);
  return { bytes: text.length, threads: ctx.threads };
}

export async function fixtureMerge(well: string, options: Json, ctx: JobContext): Promise<Json> {
  const o = options as unknown as FixtureOptions;
  const dir = join(o.out, well);
  appendFileSync(o.log, `merge-start ${well} ${process.pid} ${ctx.attempt}\n`);
  const texts = await Promise.all(ctx.parts!.map((p) => readFile(join(dir, `part-${p}.txt`), 'utf8')));
  await writeFileAtomic(join(dir, 'result.txt'), texts.join('\n'));
  appendFileSync(o.log, `merge-end ${well} ${process.pid} ${ctx.attempt}\n`);
  return { parts: ctx.parts!.length };
}

/** Logs a start line, then throws an IslError with `options.code` (or a plain Error when absent), with a cause. */
export async function failingJob(well: string, options: Json, ctx: JobContext): Promise<Json> {
  const o = options as unknown as { log: string; code?: IslErrorCode };
  appendFileSync(o.log, `start ${well} ${process.pid} ${ctx.attempt}\n`);
  const cause = Object.assign(new Error('root cause'), { code: 'ENOSPC', syscall: 'write' });
  if (o.code === undefined) throw new Error(`plain failure of ${well}`, { cause });
  throw new IslError(o.code, `fixture ${o.code} of ${well}`, { file: `${well}.tif`, well, stage: 'fixture', cause });
}
