/**
 * Distributed mode against a real redis-server: two worker processes, one SIGKILLed mid-job;
 * every well must finish exactly once and match the local pool's outputs.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runWells } from '../../runners/run.ts';
import { exited, startRedis, withRedis } from '../helpers/redis.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const JOB = { module: 'test/runners/fixture-job.ts', fn: 'fixtureJob' };
const maybe = withRedis(test.serial);

function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, ms = 20000): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} from pid ${child.pid}: ${buf}`)), ms);
    child[stream]!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}


maybe(`two queue workers, one killed mid-job: every well done exactly once, same outputs as local`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'isl-queue-'));
  const redis = await startRedis();
  const workers: ChildProcess[] = [];
  try {
    const url = redis.url;
    const wells = Array.from({ length: 8 }, (_, i) => `W${i}`);

    const local = { out: join(dir, 'local'), log: join(dir, 'local.log'), ms: 50 };
    const l = await runWells(wells, { ...JOB, options: local }, { records: join(dir, 'local-rec'), workers: 2, progress: false });
    t.is(l.failed.length, 0);

    for (let i = 0; i < 2; i++) {
      const w = spawn(process.execPath, ['--import', 'tsx', 'runners/worker.ts', '--queue', url, '--lock-duration', '1500', '--stalled-interval', '1000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      workers.push(w);
    }
    await Promise.all(workers.map((w) => waitForLine(w, 'stderr', /"event":"ready"/)));
    const victim = workers[0];

    const dist = { out: join(dir, 'dist'), log: join(dir, 'dist.log'), ms: 400 };
    let killedWell: string | undefined;
    // Kill the victim as soon as it has started a well (the job is then half-written).
    const watcher = setInterval(() => {
      if (killedWell || !existsSync(dist.log)) return;
      const m = readFileSync(dist.log, 'utf8').match(new RegExp(`^start (\\S+) ${victim.pid} `, 'm'));
      if (m) {
        killedWell = m[1];
        victim.kill('SIGKILL');
      }
    }, 20);
    const r = await runWells(wells, { ...JOB, options: dist }, { queue: url, records: join(dir, 'dist-rec'), attempts: 3, backoffMs: 100, progress: false });
    clearInterval(watcher);

    t.truthy(killedWell, 'a worker was killed mid-job');
    t.deepEqual(r.failed, []);
    t.deepEqual(r.done.map((d) => d.well).sort(), wells);
    const log = readFileSync(dist.log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    for (const w of wells) t.is(log.filter(([ev, well]) => ev === 'end' && well === w).length, 1, `${w} finished exactly once`);
    t.false(log.some(([ev, well, pid]) => ev === 'end' && well === killedWell && pid === String(victim.pid)));
    t.true(log.some(([ev, well, pid]) => ev === 'end' && well === killedWell && pid === String(workers[1].pid)), 'the survivor finished the killed job');
    for (const w of wells) {
      t.deepEqual(readdirSync(join(dist.out, w)), ['result.txt'], `${w}: one output, no temp files`);
      t.is(readFileSync(join(dist.out, w, 'result.txt'), 'utf8'), readFileSync(join(local.out, w, 'result.txt'), 'utf8'));
      t.true(existsSync(join(dir, 'dist-rec', `${w}.json`)));
    }

    // A well that always fails is retried, then reported with its error; the others complete.
    const bad = { out: join(dir, 'bad'), log: join(dir, 'bad.log'), ms: 10, failWells: ['W2'] };
    const b = await runWells(wells.slice(0, 4), { ...JOB, options: bad }, { queue: url, records: join(dir, 'bad-rec'), attempts: 2, backoffMs: 50, progress: false });
    t.deepEqual(b.failed, [{ well: 'W2', error: 'fixture failure for W2' }]);
    t.is(b.done.length, 3);
    t.is(readFileSync(bad.log, 'utf8').split('\n').filter((l) => l.startsWith('start W2 ')).length, 2, 'two attempts');
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(exited));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

maybe(`split wells in the queue: a worker killed mid-part, every part and every merge done exactly once, same outputs as local`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'isl-queue-parts-'));
  const redis = await startRedis();
  const workers: ChildProcess[] = [];
  try {
    const wells = ['W0', 'W1', 'W2'];
    const parts = Object.fromEntries(wells.map((w) => [w, ['a', 'b', 'c']]));
    const job = { ...JOB, merge: 'fixtureMerge' };
    const local = { out: join(dir, 'local'), log: join(dir, 'local.log'), ms: 20 };
    t.deepEqual((await runWells(wells, { ...job, options: local }, { records: join(dir, 'local-rec'), workers: 2, parts, progress: false })).failed, []);

    for (let i = 0; i < 2; i++) workers.push(spawn(process.execPath, ['--import', 'tsx', 'runners/worker.ts', '--queue', redis.url, '--lock-duration', '1500', '--stalled-interval', '1000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    await Promise.all(workers.map((w) => waitForLine(w, 'stderr', /"event":"ready"/)));
    const victim = workers[0];
    const dist = { out: join(dir, 'dist'), log: join(dir, 'dist.log'), ms: 400 };
    let killed: string | undefined;
    const watcher = setInterval(() => {
      if (killed || !existsSync(dist.log)) return;
      const m = readFileSync(dist.log, 'utf8').match(new RegExp(`^start (\\S+@\\S+) ${victim.pid} `, 'm'));
      if (m) {
        killed = m[1];
        victim.kill('SIGKILL');
      }
    }, 20);
    const r = await runWells(wells, { ...job, options: dist }, { queue: redis.url, records: join(dir, 'dist-rec'), parts, attempts: 3, backoffMs: 100, progress: false });
    clearInterval(watcher);
    t.truthy(killed, 'a worker was killed mid-part');
    t.deepEqual(r.failed, []);
    t.deepEqual(r.done.map((d) => d.well).sort(), wells);
    t.is(r.parts.done, 9);
    const log = readFileSync(dist.log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    for (const w of wells) {
      for (const p of parts[w]) t.is(log.filter(([ev, k]) => ev === 'end' && k === `${w}@${p}`).length, 1, `${w}@${p} finished exactly once`);
      t.is(log.filter(([ev, k]) => ev === 'merge-end' && k === w).length, 1, `${w} merged exactly once`);
      // The merge started only after its last part ended.
      const lastPart = Math.max(...parts[w].map((p) => log.findIndex(([ev, k]) => ev === 'end' && k === `${w}@${p}`)));
      t.true(log.findIndex(([ev, k]) => ev === 'merge-start' && k === w) > lastPart);
      t.is(readFileSync(join(dist.out, w, 'result.txt'), 'utf8'), readFileSync(join(local.out, w, 'result.txt'), 'utf8'));
      t.false(readdirSync(join(dist.out, w)).some((f) => f.endsWith('.tmp')), `${w}: no temp files`);
    }
    t.true(log.some(([ev, k, pid]) => ev === 'end' && k === killed && pid === String(workers[1].pid)), 'the survivor finished the killed part');
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(exited));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
