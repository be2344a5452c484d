import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A temp path beside `path` (same directory, so the final rename is atomic on one filesystem). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes a file atomically: `produce` writes to a temp file beside `path`, which is renamed onto
 * `path` only after it succeeded, so a crash never leaves a half-written `path`.
 */
export async function writeAtomic(path: string, produce: (tmp: string) => Promise<unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    await produce(tmp);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Atomic write of bytes or text. */
export function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  return writeAtomic(path, (tmp) => writeFile(tmp, data));
}
