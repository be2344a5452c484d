import test from 'ava';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWells } from '../../runners/run.ts';
import { recordName } from '../../runners/job.ts';
import { redactUrl, redisConnection } from '../../runners/redis.ts';

const JOB = { module: 'test/runners/fixture-job.ts', fn: 'fixtureJob' };

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'isl-runners-'));
  return { dir, out: join(dir, 'out'), log: join(dir, 'log'), records: join(dir, 'records') };
}

function endCounts(log: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
    const [ev, well] = line.split(' ');
    if (ev === 'end') m.set(well, (m.get(well) ?? 0) + 1);
  }
  return m;
}

test('local pool runs every well once, retries, reports failures, and resume skips recorded wells', async (t) => {
  const s = scratch();
  const wells = ['A01', 'A02', 'B01', 'B02', 'C01'];
  const events: string[] = [];
  const r = await runWells(wells, { ...JOB, options: { out: s.out, log: s.log, ms: 50, failWells: ['B01'] } }, {
    records: s.records, workers: 2, attempts: 2, backoffMs: 10, progress: false, onProgress: (e) => events.push(`${e.status}:${e.well}`),
  });
  t.deepEqual(r.done.map((d) => d.well).sort(), ['A01', 'A02', 'B02', 'C01']);
  t.deepEqual(r.failed, [{ well: 'B01', error: 'fixture failure for B01' }]);
  const starts = readFileSync(s.log, 'utf8').split('\n').filter((l) => l.startsWith('start B01'));
  t.is(starts.length, 2, 'the failing well was attempted twice');
  t.deepEqual([...endCounts(s.log).values()], [1, 1, 1, 1]);
  t.true(existsSync(join(s.records, 'A01.json')));
  t.false(existsSync(join(s.records, 'B01.json')));
  t.is(events.length, 5);
  t.is((r.done[0].result as { threads: number }).threads, Math.max(1, Math.floor(availableParallelism() / 2)), 'cores are split among the workers');

  const again = await runWells(wells, { ...JOB, options: { out: s.out, log: s.log, ms: 1 } }, { records: s.records, workers: 2, resume: true, progress: false });
  t.deepEqual(again.skipped.sort(), ['A01', 'A02', 'B02', 'C01']);
  t.deepEqual(again.done.map((d) => d.well), ['B01']);
  rmSync(s.dir, { recursive: true, force: true });
});

test('split wells: one job per part, then one merge; a failed part fails its well; resume skips the parts done', async (t) => {
  const s = scratch();
  const job = { ...JOB, merge: 'fixtureMerge' };
  const parts = { A01: ['p0', 'p1', 'p2'], B01: ['p0', 'p1'] };
  const opts = { out: s.out, log: s.log, ms: 20, failWells: ['B01@p1'] };
  const r = await runWells(['A01', 'B01', 'C01'], { ...job, options: opts }, { records: s.records, workers: 2, parts, attempts: 2, backoffMs: 10, progress: false });
  t.deepEqual(r.done.map((d) => d.well).sort(), ['A01', 'C01']);
  t.deepEqual(r.failed, [{ well: 'B01', error: 'part p1: fixture failure for B01@p1' }]);
  t.deepEqual(r.parts, { done: 4, skipped: 0 });
  const ends = endCounts(s.log);
  t.deepEqual(['A01@p0', 'A01@p1', 'A01@p2', 'B01@p0', 'C01'].map((k) => ends.get(k)), [1, 1, 1, 1, 1]);
  const merges = readFileSync(s.log, 'utf8').split('\n').filter((l) => l.startsWith('merge-end'));
  t.deepEqual(merges.map((l) => l.split(' ')[1]), ['A01'], 'merged once, and not the failed well');
  const parts0 = ['p0', 'p1', 'p2'].map((p) => readFileSync(join(s.out, 'A01', `part-${p}.txt`), 'utf8'));
  t.is(readFileSync(join(s.out, 'A01', 'result.txt'), 'utf8'), parts0.join('\n'));

  // Resume: B01's part p0 is recorded, so only p1 runs (now without the failure), then the merge.
  const again = await runWells(['A01', 'B01', 'C01'], { ...job, options: { ...opts, failWells: [] } }, { records: s.records, workers: 2, parts, resume: true, progress: false });
  t.deepEqual(again.skipped.sort(), ['A01', 'C01']);
  t.deepEqual(again.done.map((d) => d.well), ['B01']);
  t.deepEqual(again.parts, { done: 1, skipped: 1 });
  t.is(readFileSync(s.log, 'utf8').split('\n').filter((l) => l.startsWith('start B01@p0')).length, 1, 'p0 was not rerun');
  await t.throwsAsync(runWells(['A01'], { ...JOB, options: opts }, { records: s.records, parts: { A01: ['p0'] } }), { message: /for job\.merge/ });
  rmSync(s.dir, { recursive: true, force: true });
});

test('bad options are rejected before any work', async (t) => {
  const s = scratch();
  await t.throwsAsync(runWells(['a'], JOB, { records: s.records, workers: 0 }), { message: 'Expected a positive integer for workers but received 0 (number)' });
  await t.throwsAsync(runWells(['a', 'a'], JOB, { records: s.records }), { message: 'Expected unique well identifiers for wells but received "a" (string)' });
  await t.throwsAsync(runWells(['a'], { module: '../outside.ts', fn: 'x' }, { records: s.records }), { message: /^Expected a module inside the project/ });
  await t.throwsAsync(runWells(['a'], JOB, { records: s.records, queue: 'http://host:1' }), { message: 'Expected a redis:// or rediss:// URL for --queue but received "http://host:1" (string)' });
  rmSync(s.dir, { recursive: true, force: true });
});

test('redis options: TLS, password precedence, and redaction', (t) => {
  const c = redisConnection({ url: 'rediss://user:s3cret@example.org:6380/2' }) as Record<string, unknown>;
  t.like(c, { host: 'example.org', port: 6380, db: 2, username: 'user', password: 's3cret', maxRetriesPerRequest: null });
  t.deepEqual(c.tls, {});
  t.is((redisConnection({ url: 'redis://h:1', password: 'p' }) as { password: string }).password, 'p');
  t.is(redactUrl('rediss://user:s3cret@example.org:6380'), 'rediss://***@example.org:6380');
  const err = t.throws(() => redisConnection({ url: 'redis://u:pw@h:1/x' }));
  t.false(err!.message.includes('pw'), 'no password in the message');
});

test('record names are file-safe and distinct', (t) => {
  t.is(recordName('A01'), 'A01.json');
  t.not(recordName('/data/p1/A01'), recordName('/data/p2/A01'));
  t.regex(recordName('/data/p1/A01'), /^[\w.-]+\.json$/);
});
