import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** `../shared/data` beside the repository (present in CI, absent in a user's clone). */
export const SHARED_DATA = fileURLToPath(new URL('../../../shared/data', import.meta.url));

/**
 * Path of a folder in ../shared/data, or undefined when it is absent. Tests that need it call
 * `t.log(SKIP_MESSAGE)` and pass without asserting, via `sharedOrSkip`.
 */
export function sharedDataset(name: string): string | undefined {
  const p = join(SHARED_DATA, name);
  return existsSync(p) ? p : undefined;
}

/** ava's `test` or `test.skip` depending on whether the dataset exists, with a clear reason in the title. */
export function withShared<T extends (...a: any[]) => any>(test: T & { skip: T }, name: string): T {
  if (sharedDataset(name)) return test;
  const skipped = ((title: string, ...rest: unknown[]) =>
    test.skip(`${title} [skipped: ../shared/data/${name} not found beside the repository]`, ...rest)) as unknown as T;
  return skipped;
}
