/**
 * Well and channel names from a manifest or a queued job name folders and files under OUT: hostile
 * ones (`..`, `/`, absolute paths, NUL) are refused before any work and nothing is written outside
 * OUT; names that are safe but hashed in record file names (spaces, non-ASCII) resume.
 */
import test from 'ava';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IslError } from '../../core/errors.ts';
import { cachedDump } from '../../fixtures/truth.ts';
import { readDump } from '../../io/manifest.ts';
import { recordName } from '../../runners/job.ts';
import { checkQueuedWell } from '../../runners/worker.ts';
import { preprocess, preprocessWell } from '../../pipelines/preprocess.ts';

let root: string;
let dump: string;
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'isl-names-'));
  dump = await cachedDump({ preset: 'ci', seed: 7, wells: 2, labels: ['DAPI', 'MAP2'], truthCanvases: 'projection' });
});
test.after.always(() => rm(root, { recursive: true, force: true }));

const HOSTILE = ['../../evil', '..', 'a/b', '/tmp/isl-abs-evil', 'x\0y'];

/**
 * A dump at `dir` reading the cached dump's tiles (through a `raw` link), its manifest rewritten:
 * A2's rows renamed by `a2`, plus A2's rows once more under each `extra` well (and channel map).
 */
async function dumpWith(dir: string, a2: string, extra: { well: string; channel?: (c: string) => string }[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  await symlink(join(dump, 'raw'), join(dir, 'raw'), 'dir');
  await writeFile(join(dir, 'dump.json'), await readFile(join(dump, 'dump.json')));
  const [header, ...rows] = (await readFile(join(dump, 'manifest.csv'), 'utf8')).trim().split('\n');
  const cols = header.split(',');
  const wi = cols.indexOf('well');
  const ci = cols.indexOf('channel');
  const a2rows = rows.map((r) => r.split(',')).filter((f) => f[wi] === 'A2');
  const q = (s: string) => (/[",\n\0 ]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const out = [header, ...rows.filter((r) => r.split(',')[wi] !== 'A2')];
  for (const f of a2rows) out.push(f.map((v, i) => (i === wi ? q(a2) : v)).join(','));
  for (const e of extra) for (const f of a2rows) out.push(f.map((v, i) => (i === wi ? q(e.well) : i === ci && e.channel ? q(e.channel(v)) : v)).join(','));
  await writeFile(join(dir, 'manifest.csv'), out.join('\n') + '\n');
  return dir;
}

test('the manifest reader refuses hostile well and channel names per well (BAD_INPUT naming them)', async (t) => {
  const dir = await dumpWith(join(root, 'read'), 'A2', [...HOSTILE.map((well) => ({ well })), { well: 'C3', channel: (c) => (c === 'DAPI' ? '../DAPI' : c) }, { well: 'C4', channel: (c) => (c === 'DAPI' ? '/abs/DAPI' : c) }]);
  const d = await readDump(dir, { checkFiles: false });
  t.deepEqual([...d.wells.keys()], ['A1', 'A2']);
  for (const w of HOSTILE) {
    const e = d.badWells.get(w);
    t.true(IslError.is(e, 'BAD_INPUT'), JSON.stringify(w));
    t.true(e!.message.includes(`well name ${JSON.stringify(w)} `), e!.message);
  }
  t.regex(d.badWells.get('C3')!.message, /channel name "\.\.\/DAPI" contains a path separator/);
  t.regex(d.badWells.get('C4')!.message, /channel name "\/abs\/DAPI" contains a path separator/);
  t.regex(d.badWells.get('..')!.message, /is a relative folder reference/);
  t.regex(d.badWells.get('x\0y')!.message, /contains a NUL character/);
});

test('queued jobs and job calls with hostile names fail before any work', async (t) => {
  const job = { module: 'pipelines/preprocess.ts', fn: 'preprocessWell' };
  t.throws(() => checkQueuedWell({ well: '../../evil', job, records: '/tmp/r' }), { instanceOf: IslError, message: /queued job well/ });
  t.throws(() => checkQueuedWell({ well: '/data/wells/../../etc#A1', job, records: '/tmp/r' }), { message: /without `\.\.` path segments/ });
  t.throws(() => checkQueuedWell({ well: 'A1', job, records: '/tmp/r', part: '../x' }), { message: /queued job part/ });
  t.throws(() => checkQueuedWell({ well: 'A1', job, records: '/tmp/r', parts: ['x0y0w1h1', '..'] }), { message: /queued job parts/ });
  t.throws(() => checkQueuedWell({ well: 'A1', job, records: 'relative/records' }), { message: /absolute records folder/ });
  t.notThrows(() => checkQueuedWell({ well: '/data/wells#B 2', job, records: '/tmp/r', part: 'x0y0w8h8' }));
  const out = join(root, 'job-out');
  for (const well of HOSTILE) {
    const e = await t.throwsAsync(preprocessWell(well, { input: dump, output: out, mode: 'inference', graph: { name: 'g', stages: [] }, canonical: false }));
    t.true(IslError.is(e, 'BAD_INPUT'), `${JSON.stringify(well)}: ${e?.message}`);
  }
  t.false(existsSync(out));
});

test.serial('preprocess: hostile wells fail, nothing is written outside OUT; a hashed well name resumes', async (t) => {
  const base = join(root, 'run');
  const dir = await dumpWith(join(base, 'dump'), 'B 2', HOSTILE.map((well) => ({ well })));
  const parent = join(base, 'p');
  await mkdir(parent);
  const out = join(parent, 'out');
  const before = { base: (await readdir(base)).sort(), root: (await readdir(root)).sort(), tmp: existsSync('/tmp/isl-abs-evil') };
  const s = await preprocess({ input: dir, output: out, workers: 2, progress: false, shards: false });
  t.deepEqual(s.wells.done.sort(), ['A1', 'B 2']);
  t.deepEqual(s.wells.failed.map((f) => f.well).sort(), [...HOSTILE].sort());
  for (const f of s.wells.failed) t.true(f.error.includes(`well name ${JSON.stringify(f.well)} `), f.error);
  // Nothing outside OUT: its parent, the folders above it, and the absolute path are as before.
  t.deepEqual(await readdir(parent), ['out']);
  t.deepEqual((await readdir(base)).sort(), before.base);
  t.deepEqual((await readdir(root)).sort(), before.root);
  t.is(existsSync('/tmp/isl-abs-evil'), before.tmp);
  t.false(existsSync(join(base, 'evil.json')));
  t.deepEqual((await readdir(join(out, 'stitch'))).sort(), ['A1.json', 'B 2.json']);
  t.deepEqual((await readdir(join(out, 'wells'))).sort(), ['A1', 'B 2']);
  // 'B 2' passes the name check but its completion record has a hashed file name.
  t.not(recordName('B 2'), 'B 2.json');
  t.true(existsSync(join(out, 'records', recordName('B 2'))));
  const r = await preprocess({ input: dir, output: out, workers: 2, progress: false, shards: false, resume: true });
  t.deepEqual(r.wells.skipped.sort(), ['A1', 'B 2']);
  t.deepEqual(r.wells.done, []);
  const qc = JSON.parse(await readFile(join(out, 'qc', 'qc.json'), 'utf8')) as { wells: { well: string; metrics: Record<string, unknown> }[] };
  const b2 = qc.wells.find((w) => w.well === 'B 2')!;
  t.true(Object.keys(b2.metrics).length > 0, 'the resumed well keeps its QC metrics from its record');
});
