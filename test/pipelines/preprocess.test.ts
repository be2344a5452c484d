import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { cachedDump, readTruthPlane } from '../../fixtures/truth.ts';
import { downscale2x } from '../../transforms/downscale.ts';
import { pearson } from '../transforms/synth.ts';
import { readCanonicalWell } from '../../io/canonical.ts';
import { readPlane } from '../../io/read.ts';
import { readShardMeta, readPatches } from '../../io/shards/reader.ts';
import { DEFAULT_GRAPH, preprocess } from '../../pipelines/preprocess.ts';
import { runGraph } from '../../pipelines/graph.ts';
import { PREPROCESS_REGISTRY, newContext } from '../../pipelines/stages/index.ts';
import { readDump } from '../../io/manifest.ts';
import { sharedDataset, withShared } from '../helpers/shared.ts';

// One small dump for the whole file (shared read-only through the fixtures cache): 2 wells,
// 3x3 tiles of 256 px, 5 z, DAPI + MAP2.
let root: string;
let dump: string;
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'isl-preprocess-'));
  dump = await cachedDump({ preset: 'ci', seed: 7, wells: 2, labels: ['DAPI', 'MAP2'], truthCanvases: 'projection' });
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

async function duckRows(glob: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql.replaceAll('$GLOB', glob.replaceAll("'", "''")))).getRowObjects() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

test.serial('training run: canonical wells, fields, stitch reports, QC, shards DuckDB reads, run.json; rerun resumes', async (t) => {
  const out = join(root, 'out');
  const s = await preprocess({ input: dump, output: out, workers: 2, progress: false, shards: { patchSize: 64, patchesPerWell: 6, testFraction: 0.5, seed: 3 } });
  t.deepEqual(s.wells.failed, []);
  t.deepEqual(s.wells.done.sort(), ['A1', 'A2']);

  // Canonical wells: 5 transmitted planes + the projected labels, in [0,1], about 3 tiles minus overlaps at half size.
  const w = await readCanonicalWell(join(out, 'wells', 'A1'), { well: 'A1' });
  t.is(w.transmitted.stack.depth, 5);
  t.deepEqual([...w.labels.keys()].sort(), ['DAPI', 'MAP2']);
  t.true(w.width > 128 * 2.5 && w.width < 128 * 3, `stitched width ${w.width}`);
  let sum = 0;
  for (const v of w.transmitted.stack.data) sum += v;
  t.true(Math.abs(sum / w.transmitted.stack.data.length - 0.5) < 0.02, 'transmitted normalized to mean 0.5');

  // The stitched canvas matches the truth: positions within 1 raw px of the generator's.
  const report = JSON.parse(await readFile(join(out, 'stitch', 'A1.json'), 'utf8'));
  const truth = JSON.parse(await readFile(join(dump, 'truth', 'A1', 'positions.json'), 'utf8'));
  const t0 = truth.tiles.find((x: { row: number; col: number }) => x.row === 0 && x.col === 0);
  for (const tile of report.tilesRawPx as { row: number; col: number; x: number; y: number }[]) {
    const tt = truth.tiles.find((x: { row: number; col: number }) => x.row === tile.row && x.col === tile.col);
    const r0 = report.tilesRawPx.find((x: { row: number; col: number }) => x.row === 0 && x.col === 0);
    t.true(Math.hypot(tile.x - r0.x - (tt.x - t0.x), tile.y - r0.y - (tt.y - t0.y)) < 1.5, `tile r${tile.row}c${tile.col} within 1.5 raw px of truth`);
  }

  // Fields are float32 TIFFs a person can open.
  const ff = await readPlane(join(out, 'fields', 'flat_field_DAPI_field.tif'));
  t.is(ff.dtype, 'float32');
  const fieldsInfo = JSON.parse(await readFile(join(out, 'fields', 'flat_field.json'), 'utf8'));
  t.is(fieldsInfo.channels.DAPI.images + fieldsInfo.channels.DAPI.rejected, 2 * 9 * 5, 'flat-field saw every DAPI tile of both wells');
  t.is(fieldsInfo.channels.DAPI.selection, 'background', 'fluorescence tiles are selected by default');
  t.is(fieldsInfo.channels.PHASE_CONTRAST?.selection ?? 'all', 'all');
  // The fluorescence fields follow the fixture's true vignetting (half size: after the downscale).
  for (const [ch, minR] of [['DAPI', 0.95], ['MAP2', 0.85], ['PHASE_CONTRAST', 0.99]] as const) {
    const est = await readPlane(join(out, 'fields', `flat_field_${ch}_field.tif`));
    const r = pearson(est.data, downscale2x(await readTruthPlane(dump, 'A1', `flatfield_${ch}`)).data);
    t.true(r >= minR, `${ch} flat-field vs truth r ${r}`);
  }

  // QC with reasons; both synthetic wells pass.
  const qc = JSON.parse(await readFile(join(out, 'qc', 'qc.json'), 'utf8'));
  t.deepEqual(qc.passed, ['A1', 'A2']);
  t.true((await readFile(join(out, 'qc', 'index.html'), 'utf8')).includes('<img src="thumbs/A1_'));

  // Shards: an independent reader (DuckDB) sees every patch with the right blob sizes and the metadata.
  const meta = await readShardMeta(join(out, 'shards'));
  t.deepEqual(meta.labels, ['DAPI', 'MAP2']);
  t.is(meta.z_count, 5);
  t.deepEqual([...meta.split.train, ...meta.split.test].sort(), ['A1', 'A2']);
  const [row] = await duckRows(join(out, 'shards', '*.parquet'), `select count(*)::int n, min(octet_length(input))::int i, min(octet_length(label_DAPI))::int d, count(distinct split)::int splits from read_parquet('$GLOB')`);
  t.deepEqual(row, { n: 12, i: 5 * 64 * 64 * 2, d: 64 * 64 * 2, splits: 2 });
  // Lossless w.r.t. the canonical images: a patch read back equals the PNG values.
  for await (const p of readPatches(join(out, 'shards'))) {
    if (p.well !== 'A1') continue;
    t.is(p.input[3 * 64 + 5], w.transmitted.stack.data[(p.y + 3) * w.width + p.x + 5]);
    t.is(p.labels.get('DAPI')!.data[64 * 10 + 2], w.labels.get('DAPI')!.data[(p.y + 10) * w.width + p.x + 2]);
    break;
  }

  const run = JSON.parse(await readFile(s.runJson, 'utf8'));
  t.is(typeof run.inputs.checksums_sha256['manifest.csv'], 'string');
  t.true(run.timings_s.stitch > 0 && run.timings_s.flat_field > 0);
  t.truthy(run.versions.sharp);

  // Rerun with --resume: nothing recomputed, outputs untouched.
  const before = (await stat(join(out, 'fields', 'flat_field_DAPI_field.tif'))).mtimeMs;
  const again = await preprocess({ input: dump, output: out, resume: true, progress: false, shards: false });
  t.deepEqual(again.wells.skipped.sort(), ['A1', 'A2']);
  t.deepEqual(again.wells.done, []);
  t.is((await stat(join(out, 'fields', 'flat_field_DAPI_field.tif'))).mtimeMs, before);
});

test.serial('kill -9 mid-run leaves no corrupt file; --resume finishes with the same bytes as an uninterrupted run', async (t) => {
  const out = join(root, 'killed');
  const child = spawn(process.execPath, ['--import', 'tsx', 'pipelines/preprocess.ts', '--input', dump, '--output', out, '--workers', '1', '--no-shards'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  // Kill as soon as the first well is recorded, while the second is being written.
  const deadline = Date.now() + 300_000;
  while (!existsSync(join(out, 'records', 'A1.json')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGKILL');
  await exited;
  // The kill landed mid-run: one well recorded, the other not.
  t.true(existsSync(join(out, 'records', 'A1.json')), 'A1 recorded before the kill');
  t.false(existsSync(join(out, 'records', 'A2.json')), 'A2 not finished at the kill');
  // The denoised planes cached by the estimation passes survive the kill; the resumed run uses them.
  t.true(existsSync(join(out, 'cache', 'salt_and_pepper')), 'salt-and-pepper cache left for the resume');
  // Whatever was left decodes: every image under wells/ is whole (temp files are the only partial ones).
  const wellFiles = existsSync(join(out, 'wells')) ? (await readdir(join(out, 'wells'), { recursive: true })).map(String).filter((f) => f.endsWith('.png')) : [];
  for (const f of wellFiles) await t.notThrowsAsync(readPlane(join(out, 'wells', f)), f);
  const s = await preprocess({ input: dump, output: out, workers: 1, resume: true, progress: false, shards: false });
  t.deepEqual(s.wells.failed, []);
  t.deepEqual(s.wells.skipped, ['A1']);
  t.deepEqual(s.wells.done, ['A2'], 'the resumed run did the work the kill interrupted');
  t.false(existsSync(join(out, 'cache')), 'cache removed when the run completes');
  const clean = join(root, 'out', 'wells', 'A2');
  for (const f of (await readdir(clean)).filter((x) => x.endsWith('.png'))) {
    t.true((await readFile(join(out, 'wells', 'A2', f))).equals(await readFile(join(clean, f))), `A2 ${f} identical`);
  }
});

test.serial('salt-and-pepper cache: wells, fields and stitch reports byte-identical to a run that recomputes every median', async (t) => {
  const graphText = (await readFile(DEFAULT_GRAPH, 'utf8')).replace('cache: true', 'cache: false');
  t.true(graphText.includes('cache: false'));
  const graph = join(root, 'uncached.yaml');
  await writeFile(graph, graphText);
  const cached = join(root, 'cached');
  const uncached = join(root, 'uncached');
  await preprocess({ input: dump, output: cached, workers: 2, progress: false, shards: false });
  await preprocess({ input: dump, output: uncached, graph, workers: 2, progress: false, shards: false });
  t.false(existsSync(join(cached, 'cache')), 'OUT/cache removed at the end');
  t.false(existsSync(join(uncached, 'cache')));
  let n = 0;
  for (const dir of ['wells', 'fields', 'stitch']) {
    const files = (await readdir(join(cached, dir), { recursive: true })).map(String).sort();
    t.deepEqual((await readdir(join(uncached, dir), { recursive: true })).map(String).sort(), files);
    for (const f of files) {
      if ((await stat(join(cached, dir, f))).isDirectory()) continue;
      t.true((await readFile(join(cached, dir, f))).equals(await readFile(join(uncached, dir, f))), `${dir}/${f} identical`);
      n++;
    }
  }
  const secs = async (o: string) => JSON.parse(await readFile(join(o, 'run.json'), 'utf8')).timings_s.salt_and_pepper as number;
  t.log(`${n} files identical; salt_and_pepper stage seconds: ${await secs(cached)} cached, ${await secs(uncached)} recomputed in every pass`);
  t.true(n > 20);
});

test.serial('one corrupt tile fails its well only; the CLI exits 1 naming the file', async (t) => {
  const bad = join(root, 'bad');
  await cp(dump, bad, { recursive: true });
  const victim = join(bad, 'raw', 'A2', 'A2_r1_c1_z2_DAPI.tif');
  await truncate(victim, 300);
  const out = join(root, 'bad-out');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/preprocess.ts', '--input', bad, '--output', out, '--no-shards'], { encoding: 'utf8' });
  t.is(r.status, 1, r.stderr);
  const done = JSON.parse(r.stdout.trim().split('\n').pop()!);
  t.is(done.wells, 1);
  t.is(done.failed.length, 1);
  t.is(done.failed[0].well, 'A2');
  t.true(done.failed[0].error.includes('A2_r1_c1_z2_DAPI.tif'), done.failed[0].error);
  t.true(existsSync(join(out, 'wells', 'A1')));
  t.false(existsSync(join(out, 'wells', 'A2')));
  const qc = JSON.parse(await readFile(join(out, 'qc', 'qc.json'), 'utf8'));
  t.deepEqual(qc.failed, ['A2']);
});

test.serial('inference mode drops training-only stages and needs no labels', async (t) => {
  const tl = join(root, 'transmitted-only');
  await cp(dump, tl, { recursive: true });
  const manifest = (await readFile(join(tl, 'manifest.csv'), 'utf8')).split('\n').filter((l) => !/_(DAPI|MAP2)\.tif/.test(l)).join('\n');
  await writeFile(join(tl, 'manifest.csv'), manifest);
  const cfg = JSON.parse(await readFile(join(tl, 'dump.json'), 'utf8'));
  await writeFile(join(tl, 'dump.json'), JSON.stringify({ ...cfg, labels: [] }));
  const out = join(root, 'inference-out');
  const s = await preprocess({ input: tl, output: out, mode: 'inference', progress: false, shards: false });
  t.deepEqual(s.wells.done.sort(), ['A1', 'A2']);
  const w = await readCanonicalWell(join(out, 'wells', 'A2'), { well: 'A2' });
  t.is(w.labels.size, 0);
  t.is(w.transmitted.stack.depth, 5);
  t.false(existsSync(join(out, 'qc')));
  t.deepEqual((await readdir(join(out, 'fields'))).filter((f) => f.endsWith('.json')).sort(), ['flat_field.json', 'transmitted_dust.json']);
});

test.serial('a 3-stage graph (read -> downscale -> write) given as data runs on the dump', async (t) => {
  const out = join(root, 'tiles-out');
  const d = await readDump(dump);
  const ctx = newContext({ dump: d, mode: 'training', wells: ['A1'], output: out });
  await runGraph({ name: 'downscale-only', stages: [
    { name: 'read', kind: 'read_tiles', params: { channels: 'transmitted' } },
    { name: 'halve', kind: 'downscale' },
    { name: 'write', kind: 'write_tiles' },
  ] }, PREPROCESS_REGISTRY, ctx);
  const files = await readdir(join(out, 'tiles', 'A1'));
  t.is(files.length, 9 * 5);
  const p = await readPlane(join(out, 'tiles', 'A1', 'A1_r1_c2_z3_PHASE_CONTRAST.tif'));
  const raw = await readPlane(join(dump, 'raw', 'A1', 'A1_r1_c2_z3_PHASE_CONTRAST.tif'));
  t.deepEqual([p.width, p.height, p.dtype], [128, 128, 'uint16']);
  const mean = (raw.data[0] + raw.data[1] + raw.data[256] + raw.data[257]) / 4;
  t.true(Math.abs(p.data[0] - mean) <= 0.5);
});

withShared(test, 'isl-condition-b-top')('the real ISL well (already canonical) is normalized and sharded; DuckDB reads it', async (t) => {
  const out = join(root, 'isl-out');
  const s = await preprocess({ input: sharedDataset('isl-condition-b-top')!, output: out, progress: false, shards: { patchSize: 128, patchesPerWell: 10, seed: 1 } });
  t.deepEqual(s.wells.done, ['A4']);
  const meta = await readShardMeta(join(out, 'shards'));
  t.deepEqual(meta.labels, ['DAPI_CONFOCAL', 'MAP2_CONFOCAL', 'NFH_CONFOCAL']);
  t.is(meta.z_count, 13);
  t.is(meta.transmitted_channel, 'PHASE_CONTRAST');
  const [row] = await duckRows(join(out, 'shards', '*.parquet'), `select count(*)::int n, min(octet_length(input))::int i, count(label_NFH_CONFOCAL)::int nfh from read_parquet('$GLOB')`);
  t.deepEqual(row, { n: 10, i: 13 * 128 * 128 * 2, nfh: 10 });
});

test('CLI: --help exits 0; a missing input exits 2 with one line', (t) => {
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/preprocess.ts', '--help'], { encoding: 'utf8' });
  t.is(help.status, 0);
  t.true(help.stdout.includes('--input <dir>'));
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/preprocess.ts', '--input', '/nonexistent/dump', '--output', join(tmpdir(), 'x')], { encoding: 'utf8' });
  t.is(bad.status, 2);
  t.is(bad.stderr.trim(), 'preprocess: input folder not found: /nonexistent/dump');
});
