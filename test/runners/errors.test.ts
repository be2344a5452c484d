import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IslError } from '../../core/errors.ts';
import { ThreadPool } from '../../runners/pool.ts';
import { runWells } from '../../runners/run.ts';
import { checkQueuedWell } from '../../runners/worker.ts';
import { reviveError, serializeError } from '../../runners/errors.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FAILING = { module: 'test/runners/fixture-job.ts', fn: 'failingJob' };

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'isl-runner-errors-'));
  return { log: join(dir, 'log'), records: join(dir, 'records') };
}
const starts = (log: string, well: string) => readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith(`start ${well} `)).length;

test('the pool keeps an IslError\'s code, file, well, stage and cause across the thread boundary', async (t) => {
  const s = scratch();
  const pool = new ThreadPool(1);
  try {
    const e = await t.throwsAsync(pool.run({ ...FAILING, options: { log: s.log, code: 'BAD_INPUT' } }, 'A01', 1, 1));
    t.true(IslError.is(e, 'BAD_INPUT'), String(e));
    const x = e as IslError;
    t.is(x.message, 'stage fixture, A01.tif: fixture BAD_INPUT of A01'); // not prefixed twice
    t.deepEqual([x.file, x.well, x.stage], ['A01.tif', 'A01', 'fixture']);
    t.is((x.cause as Error).message, 'root cause');
    t.is((x.cause as { code?: string }).code, 'ENOSPC');
    t.regex(x.stack ?? '', /failingJob/, 'the stack is the thread\'s');
    const plain = await t.throwsAsync(pool.run({ ...FAILING, options: { log: s.log } }, 'A02', 1, 1));
    t.false(plain instanceof IslError);
    t.is(plain!.message, 'plain failure of A02');
  } finally {
    await pool.close();
  }
});

test('serializeError/reviveError round-trip a WRITE_FAILED error with its cause chain', (t) => {
  const e = new IslError('WRITE_FAILED', 'cannot write', { file: '/out/x.png', cause: new IslError('BAD_INPUT', 'inner', { well: 'B2' }) });
  const back = reviveError(structuredClone(serializeError(e)));
  t.true(IslError.is(back, 'WRITE_FAILED'));
  t.is(back.message, e.message);
  t.true(IslError.is(back.cause, 'BAD_INPUT'));
  t.is((back.cause as IslError).well, 'B2');
});

test('runWells fails bad options and bad input at once, retries other errors, and reports the code', async (t) => {
  for (const code of ['BAD_OPTION', 'BAD_INPUT', 'BAD_MANIFEST'] as const) {
    const s = scratch();
    const r = await runWells(['A01'], { ...FAILING, options: { log: s.log, code } }, { records: s.records, workers: 1, attempts: 3, backoffMs: 1, progress: false });
    t.is(starts(s.log, 'A01'), 1, `${code} is not retried`);
    t.deepEqual(r.failed, [{ well: 'A01', error: `stage fixture, A01.tif: fixture ${code} of A01`, code }]);
  }
  for (const code of ['WRITE_FAILED', undefined] as const) {
    const s = scratch();
    const r = await runWells(['A01'], { ...FAILING, options: { log: s.log, ...(code ? { code } : {}) } }, { records: s.records, workers: 1, attempts: 3, backoffMs: 1, progress: false });
    t.is(starts(s.log, 'A01'), 3, `${code ?? 'a plain Error'} is retried`);
    t.is(r.failed[0].code, code);
  }
});

test('a queued job is checked before any work: NUL, empty well, foreign module', (t) => {
  const job = { module: 'test/runners/fixture-job.ts', fn: 'fixtureJob' };
  t.deepEqual(checkQueuedWell({ well: 'A01', job, records: '/r' }), { well: 'A01', job, records: '/r' });
  t.throws(() => checkQueuedWell({ well: 'A\0', job, records: '/r' }), { message: /^Expected a non-empty well id without NUL for queued job well but received "A\\u0000"/ });
  t.throws(() => checkQueuedWell({ well: '', job, records: '/r' }), { message: /for queued job well/ });
  t.throws(() => checkQueuedWell({ well: 'A01', job, records: '/r', parts: ['p0', 'x\0'] }), { message: /for queued job parts/ });
  const e = t.throws(() => checkQueuedWell({ well: 'A01', job: { module: '/etc/passwd', fn: 'x' }, records: '/r' }));
  t.true(IslError.is(e, 'BAD_OPTION'));
});

test('runners/worker.ts CLI: exit 2 and a one-line reason for bad usage, naming the flag', (t) => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'runners/worker.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
  const missing = run();
  t.is(missing.status, 2);
  t.regex(missing.stderr, /required option '--queue <url>' not specified/);
  const zero = run('--queue', 'redis://127.0.0.1:1', '--concurrency', '0');
  t.is(zero.status, 2);
  t.regex(zero.stderr, /--concurrency/);
  const lock = run('--queue', 'redis://127.0.0.1:1', '--lock-duration', '5');
  t.is(lock.status, 2);
  t.regex(lock.stderr, /^worker: Expected a number of milliseconds >= 100 for --lock-duration but received 5 \(number\)$/m);
});
