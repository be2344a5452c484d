import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { requirePrerequisite } from './prerequisite.ts';

/** `../shared/data` beside the repository (present in CI, absent in a user's clone). */
export const SHARED_DATA = fileURLToPath(new URL('../../../shared/data', import.meta.url));

/** Path of a folder in ../shared/data, or undefined when it is absent (tests gate on it with {@link withShared}). */
export function sharedDataset(name: string): string | undefined {
  const p = join(SHARED_DATA, name);
  return existsSync(p) ? p : undefined;
}

/** ava's `test` when the dataset exists, otherwise skipped, or failing under CI=true ({@link requirePrerequisite}). */
export function withShared<T extends (...a: any[]) => any>(test: T & { skip: T }, name: string): T {
  return requirePrerequisite(test, `../shared/data/${name}`, sharedDataset(name) !== undefined, 'a folder of ../shared/data beside the repository');
}
