/**
 * The one rule for tests whose prerequisite may be absent (../shared data, redis-server, Chromium,
 * Debian python3 modules): outside CI the test is skipped, its title naming what is missing and how
 * to get it; under CI=true (.ci/run, GitHub Actions) it runs and fails with that message, because
 * CI installs every prerequisite and a silent skip there would hide a broken setup.
 */
const UNDER_CI = process.env.CI === 'true';

/**
 * Prerequisite names to treat as missing (comma-separated, `*` for all), so the rule itself can be
 * checked: `ISL_TEST_MISSING=redis-server CI=true npx ava test/pipelines/predict.test.ts` must fail.
 */
const PRETEND_MISSING = new Set((process.env.ISL_TEST_MISSING ?? '').split(',').map((s) => s.trim()).filter(Boolean));

/** An ava registrar (`test`, `test.serial`, ...). */
export type Register = (title: string, ...rest: any[]) => unknown;

/**
 * `test` itself when `available`, otherwise a stand-in registering the same titles as skipped
 * (outside CI) or as failing with `${name} is missing (${how})` (under CI=true). Works for any ava
 * registrar with a `.skip` (`test`, `test.serial`); stand-ins chain (two prerequisites: wrap twice).
 */
export function requirePrerequisite<T extends Register & { skip: Register }>(test: T, name: string, available: boolean, how: string): T {
  if (available && !PRETEND_MISSING.has(name) && !PRETEND_MISSING.has('*')) return test;
  const reason = `${name} is missing (${how})`;
  const standIn = UNDER_CI
    ? (title: string) => test(title, (t: { fail(m: string): void }) => t.fail(`CI=true requires every prerequisite: ${reason}`))
    : (title: string, ...rest: unknown[]) => test.skip(`${title} [skipped: ${reason}]`, ...rest);
  return Object.assign(standIn, { skip: test.skip }) as unknown as T;
}
