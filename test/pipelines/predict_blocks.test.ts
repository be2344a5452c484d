/**
 * Huge wells split into blocks of tiles (pipelines/predict.ts --block-size): the merged outputs
 * must equal the unsplit run exactly, locally and through a real redis-server queue, and
 * --resume must skip the blocks already done.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCanonicalWell } from '../../io/canonical.ts';
import { pageCount, readPlane } from '../../io/read.ts';
import { buildPlan, phased, type ModelConfig } from '../../model/plan.ts';
import { writeModelDir } from '../../model/onnx/model_dir.ts';
import { blockInput, tileBlocks, tiling } from '../../model/onnx/infer.ts';
import { predict, predictWellJob } from '../../pipelines/predict.ts';
import { partKey, partRecords, writeRecord } from '../../runners/job.ts';
import { randomWeights } from '../helpers/weights.ts';
import { exited, startRedis, withRedis } from '../helpers/redis.ts';
import { syntheticWell } from '../helpers/synthetic_well.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Stride 4 > output window 6: exact mode runs shifted passes, which blocks must reproduce too.
const config: ModelConfig = { ...structuredClone(phased), heads: { autoencoding: 0, labels: ['DAPI', 'TUJ1'] } };
// Tiles keep 12 px; blocks of 24 px: the 80x37 well splits into 2 x 4 blocks, the 20x15 one stays whole.
const TILE = 12;
const BLOCK = 24;

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'isl-blocks-'));
  await writeModelDir(join(dir, 'model'), config, randomWeights(buildPlan(config), 7));
  for (const w of [syntheticWell('A01', 80, 37, 1), syntheticWell('B02', 20, 15, 2)]) await writeCanonicalWell(join(dir, 'wells', w.well), w);
  const base = { model: join(dir, 'model'), input: join(dir, 'wells'), tile: TILE, stats: ['median' as const, 'std' as const], progress: false };
  return { dir, base };
}

/** Every PNG and every OME-TIFF page of a prediction folder, by file (and page). */
async function outputs(out: string) {
  const m = new Map<string, number[]>();
  for (const well of ['A01', 'B02'])
    for (const f of readdirSync(join(out, well)).filter((f) => f.endsWith('.png') || f.endsWith('.tif'))) {
      const path = join(out, well, f);
      const pages = f.endsWith('.tif') ? await pageCount(path) : 1;
      for (let p = 0; p < pages; p++) m.set(`${well}/${f}#${p}`, Array.from((await readPlane(path, { page: p })).data));
    }
  return m;
}

test('block plan: whole tiles, covering the well once; each block reads only its window', (t) => {
  const tl = tiling(config, 80, 37, TILE);
  const blocks = tileBlocks(tl, BLOCK);
  t.is(blocks.length, 8);
  t.deepEqual(blocks[7], { x: 72, y: 24, width: 8, height: 13 });
  const cover = new Uint8Array(80 * 37);
  for (const b of blocks) for (let y = b.y; y < b.y + b.height; y++) for (let x = b.x; x < b.x + b.width; x++) cover[y * 80 + x]++;
  t.true(cover.every((c) => c === 1));
  // Margin 16 px; the block's tiles at 0 and 12 run 14 px passes, shifted by up to 2 px in exact
  // mode: columns -16 .. 12 + 2 + 14 + 16 - 1 = 43, reflected into 0..43 (0..41 in fast mode).
  t.deepEqual(blockInput(tl, blocks[0], 'exact'), { x: 0, y: 0, width: 44, height: 37 });
  t.deepEqual(blockInput(tl, blocks[0], 'fast'), { x: 0, y: 0, width: 42, height: 37 });
  t.deepEqual(blockInput(tl, blocks[2], 'exact'), { x: 48 - 16, y: 0, width: 80 - 32, height: 37 });
});

for (const mode of ['fast', 'exact'] as const) {
  test(`${mode} mode, local pool: a well split into blocks gives exactly the unsplit outputs; resume skips blocks done`, async (t) => {
    const { dir, base } = await setup();
    const whole = await predict({ ...base, mode, output: join(dir, 'whole'), blockSize: 0, workers: 2 });
    t.deepEqual(whole.failed, []);
    t.deepEqual(whole.parts, { done: 0, skipped: 0 });
    const split = await predict({ ...base, mode, output: join(dir, 'split'), blockSize: BLOCK, workers: 2 });
    t.deepEqual(split.failed, []);
    t.deepEqual(split.parts, { done: 8, skipped: 0 }, 'A01 in 8 blocks, B02 whole');
    const want = await outputs(join(dir, 'whole'));
    t.is(want.size, 2 * (4 + 4));
    t.deepEqual(await outputs(join(dir, 'split')), want);
    t.false(existsSync(join(dir, 'split', '.blocks')), 'block maps are removed once merged');
    t.false(existsSync(partRecords(join(dir, 'split', '.records'))) && readdirSync(partRecords(join(dir, 'split', '.records'))).length > 0, 'block records are removed once merged');

    // An interrupted run: 4 of A01's blocks done (maps and records), nothing merged.
    const out = join(dir, 'resumed');
    const records = join(out, '.records');
    const id = join(dir, 'wells', 'A01');
    const jobOptions = { model: base.model, output: out, mode, stats: base.stats, tile: TILE, normalize: 'paper', providers: ['cpu'] };
    const blocks = tileBlocks(tiling(config, 80, 37, TILE), BLOCK).map((b) => `x${b.x}y${b.y}w${b.width}h${b.height}`);
    for (const part of blocks.slice(0, 4)) {
      const r = await predictWellJob(id, jobOptions, { attempt: 1, threads: 1, part });
      await writeRecord(partRecords(records), partKey(id, part), r, 1, 0);
    }
    const resumed = await predict({ ...base, mode, output: out, blockSize: BLOCK, workers: 2, resume: true });
    t.deepEqual(resumed.failed, []);
    t.deepEqual(resumed.parts, { done: 4, skipped: 4 });
    t.deepEqual(await outputs(out), want);
    rmSync(dir, { recursive: true, force: true });
  });
}

withRedis(test)(`queue mode (real redis-server, two workers): split well identical to the unsplit local run`, async (t) => {
  const { dir, base } = await setup();
  const redis = await startRedis();
  const workers: ChildProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) workers.push(spawn(process.execPath, ['--import', 'tsx', 'runners/worker.ts', '--queue', redis.url, '--threads', '1'], { cwd: ROOT, stdio: 'ignore' }));
    const whole = await predict({ ...base, mode: 'exact', output: join(dir, 'whole'), blockSize: 0, workers: 1 });
    t.deepEqual(whole.failed, []);
    const dist = await predict({ ...base, mode: 'exact', output: join(dir, 'dist'), blockSize: BLOCK, queue: redis.url });
    t.deepEqual(dist.failed, []);
    t.is(dist.done.length, 2);
    t.deepEqual(dist.parts, { done: 8, skipped: 0 });
    t.deepEqual(await outputs(join(dir, 'dist')), await outputs(join(dir, 'whole')));
    t.false(existsSync(join(dir, 'dist', '.blocks')));
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(exited));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
