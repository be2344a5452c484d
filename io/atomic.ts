/**
 * Atomic writes: every output goes to a temp file beside its final path and is renamed into place
 * only once complete, so a crash or `kill -9` never leaves a half-written file. This module owns
 * the temp-file name (`.NAME.PID.RAND.tmp`): writers get it from {@link tempPathFor}, cleaners
 * recognise it with {@link tempTarget}.
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IslError } from '../core/errors.ts';

const TEMP_NAME = /^\.(.+)\.\d+\.[0-9a-f]{8}\.tmp$/;

/** A temp path beside `path` (same directory, so the final rename is atomic on one filesystem). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** The file name a temp file of {@link tempPathFor} stands for, or undefined when `name` is not one. */
export function tempTarget(name: string): string | undefined {
  return TEMP_NAME.exec(name)?.[1];
}

/**
 * Turns a failed file-system call while writing `path` into IslError WRITE_FAILED (disk full,
 * permission denied, read-only file system...); IslErrors and other errors pass unchanged.
 */
export function writeFailure(path: string, e: unknown): unknown {
  const sys = e as NodeJS.ErrnoException;
  if (e instanceof IslError || typeof sys?.syscall !== 'string') return e;
  return new IslError('WRITE_FAILED', `cannot write the file (${sys.code ?? sys.syscall}: ${sys.message})`, { file: path, cause: e });
}

/**
 * Writes a file atomically: `produce` writes to a temp file beside `path`, which is renamed onto
 * `path` only after it succeeded, so a crash never leaves a half-written `path`.
 * @throws IslError WRITE_FAILED when the file system refuses the write (see {@link writeFailure})
 */
export async function writeAtomic(path: string, produce: (tmp: string) => Promise<unknown>): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await mkdir(dirname(path), { recursive: true });
    await produce(tmp);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined); // the folder may not exist
    throw writeFailure(path, e);
  }
}

/** Atomic write of bytes or text. */
export function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  return writeAtomic(path, (tmp) => writeFile(tmp, data));
}

/**
 * Removes temp files left in `dir` by a writer that was killed mid-write, so a retried job leaves
 * no half files. Missing `dir` is fine.
 * @param target only the temps of this file name, or of the names it accepts (for folders that
 *   several jobs write at once); default every temp in `dir`.
 * @returns how many were removed
 */
export async function removeStaleTemps(dir: string, target?: string | ((name: string) => boolean)): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  const accept = typeof target === 'function' ? target : (t: string) => target === undefined || t === target;
  const stale = names.filter((n) => {
    const t = tempTarget(n);
    return t !== undefined && accept(t);
  });
  await Promise.all(stale.map((n) => rm(join(dir, n), { force: true })));
  return stale.length;
}
