import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCanonicalWell } from '../../io/canonical.ts';
import { readPlane } from '../../io/read.ts';
import { buildPlan, tiny, type ModelConfig } from '../../model/plan.ts';
import { writeModelDir } from '../../model/onnx/model_dir.ts';
import { createInferenceModel, predictStack, closeInferenceModel } from '../../model/onnx/infer.ts';
import { listWells, predict } from '../../pipelines/predict.ts';
import { randomWeights } from '../helpers/weights.ts';
import { exited, startRedis, withRedis } from '../helpers/redis.ts';
import { syntheticWell } from '../helpers/synthetic_well.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const config: ModelConfig = { ...structuredClone(tiny), heads: { autoencoding: 0, labels: ['DAPI', 'TUJ1'] } };

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'isl-predict-'));
  const weights = randomWeights(buildPlan(config), 4);
  await writeModelDir(join(dir, 'model'), config, weights);
  const wells = [syntheticWell('A01', 37, 30, 1), syntheticWell('A02', 30, 41, 2), syntheticWell('B07', 45, 33, 3)];
  for (const w of wells) await writeCanonicalWell(join(dir, 'wells', w.well), w);
  return { dir, weights, wells };
}

function pngValues(path: string) {
  return readPlane(path).then((p) => p.data as Uint16Array);
}

test('predicts every well (local pool): ISL-named 16-bit PNGs, OME-TIFF, metadata; values match predictStack + normalization', async (t) => {
  const { dir, weights, wells } = await setup();
  const out = join(dir, 'out');
  t.is(listWells(join(dir, 'wells')).length, 3);
  const r = await predict({ model: join(dir, 'model'), input: join(dir, 'wells'), output: out, stats: ['median', 'entropy'], workers: 2, progress: false });
  t.deepEqual(r.failed, []);
  t.is(r.done.length, 3);
  const files = readdirSync(join(out, 'A02')).sort();
  t.deepEqual(files, [
    'prediction.json',
    'well-A02,channel-DAPI,statistic-ENTROPY,is_mask-false.png',
    'well-A02,channel-DAPI,statistic-MEDIAN,is_mask-false.png',
    'well-A02,channel-TUJ1,statistic-ENTROPY,is_mask-false.png',
    'well-A02,channel-TUJ1,statistic-MEDIAN,is_mask-false.png',
    'well-A02,prediction.ome.tif',
  ]);
  const meta = JSON.parse(readFileSync(join(out, 'A02', 'prediction.json'), 'utf8'));
  t.regex(meta.padding, /^reflect/);
  t.is(meta.normalization.method, 'paper');

  // Independent check of the median PNG: predictStack, then mean 0.25 / sd 0.125, clip, x65535.
  const model = await createInferenceModel(config, weights, { statistics: ['median'], threads: 1 });
  const pred = await predictStack(model, wells[1].transmitted.stack);
  await closeInferenceModel(model);
  const med = pred.get('DAPI')!.get('median')!;
  const mean = med.reduce((a, v) => a + v, 0) / med.length;
  const sd = Math.sqrt(med.reduce((a, v) => a + (v - mean) ** 2, 0) / med.length);
  const png = await pngValues(join(out, 'A02', 'well-A02,channel-DAPI,statistic-MEDIAN,is_mask-false.png'));
  t.is(png.length, 30 * 41);
  let worst = 0;
  med.forEach((v, i) => {
    const want = Math.round(Math.min(1, Math.max(0, (v - mean) * (0.125 / sd) + 0.25)) * 65535);
    worst = Math.max(worst, Math.abs(png[i] - want));
  });
  t.true(worst <= 1, `PNG differs from the expected normalized median by ${worst} counts`);
  t.true(sd > 0, 'the prediction has contrast');

  // --resume skips everything; no temp files anywhere.
  const again = await predict({ model: join(dir, 'model'), input: join(dir, 'wells'), output: out, stats: ['median', 'entropy'], workers: 2, resume: true, progress: false });
  t.is(again.skipped.length, 3);
  t.is(again.done.length, 0);
  for (const w of ['A01', 'A02', 'B07']) t.false(readdirSync(join(out, w)).some((f) => f.endsWith('.tmp')));
  rmSync(dir, { recursive: true, force: true });
});

test('--threads sets the ONNX Runtime threads of each local worker (recorded in prediction.json)', async (t) => {
  const { dir } = await setup();
  const base = { model: join(dir, 'model'), input: join(dir, 'wells'), stats: ['median' as const], progress: false };
  const threadsOf = (out: string) => JSON.parse(readFileSync(join(out, 'A01', 'prediction.json'), 'utf8')).threads;
  t.deepEqual((await predict({ ...base, output: join(dir, 'one'), workers: 1, threads: 1 })).failed, []);
  t.is(threadsOf(join(dir, 'one')), 1);
  t.deepEqual((await predict({ ...base, output: join(dir, 'wide'), workers: 1 })).failed, []);
  t.is(threadsOf(join(dir, 'wide')), availableParallelism(), 'default: cores / workers');
  rmSync(dir, { recursive: true, force: true });
});

test('bad options and inputs give clear errors', async (t) => {
  const { dir } = await setup();
  const base = { model: join(dir, 'model'), input: join(dir, 'wells'), output: join(dir, 'out'), progress: false };
  await t.throwsAsync(predict({ ...base, mode: 'slow' as 'fast' }), { message: 'Expected fast or exact for mode but received "slow" (string)' });
  await t.throwsAsync(predict({ ...base, stats: ['median', 'p99' as 'mean'] }), { message: 'Expected a comma-separated list of median, mean, mode, std, entropy for stats but received "p99" (string)' });
  await t.throwsAsync(predict({ ...base, labels: ['GFP'] }), { message: 'Expected labels of the model (DAPI, TUJ1) for labels but received "GFP" (string)' });
  await t.throwsAsync(predict({ ...base, model: join(dir, 'nope') }), { message: /model\.json: cannot read the checkpoint/ });
  await t.throwsAsync(predict({ ...base, input: join(dir, 'model') }), { message: /no canonical wells found/ });
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/predict.ts', '--help'], { cwd: ROOT, encoding: 'utf8' });
  t.is(cli.status, 0);
  t.regex(cli.stdout, /--mode <mode>/);
  rmSync(dir, { recursive: true, force: true });
});

withRedis(test)(`queue mode gives the same files as local mode`, async (t) => {
  const { dir } = await setup();
  const redis = await startRedis();
  const workers: ChildProcess[] = [];
  try {
    const url = redis.url;
    for (let i = 0; i < 2; i++) workers.push(spawn(process.execPath, ['--import', 'tsx', 'runners/worker.ts', '--queue', url, '--queue-name', 'predict-test'], { cwd: ROOT, stdio: 'ignore' }));
    const base = { model: join(dir, 'model'), input: join(dir, 'wells'), stats: ['median' as const], progress: false };
    const local = await predict({ ...base, output: join(dir, 'local'), workers: 1 });
    t.deepEqual(local.failed, []);
    // predict() uses the default queue name; route through the test queue via runWells' option.
    const { runWells } = await import('../../runners/run.ts');
    const o = { model: join(dir, 'model'), output: join(dir, 'dist'), mode: 'fast', stats: ['median'], tile: 520, normalize: 'paper' };
    const dist = await runWells(listWells(join(dir, 'wells')), { module: 'pipelines/predict.ts', fn: 'predictWellJob', options: o }, { queue: url, queueName: 'predict-test', records: join(dir, 'dist', '.records'), progress: false });
    t.deepEqual(dist.failed, []);
    t.is(dist.done.length, 3);
    for (const w of ['A01', 'A02', 'B07']) {
      const name = `well-${w},channel-TUJ1,statistic-MEDIAN,is_mask-false.png`;
      t.deepEqual(await pngValues(join(dir, 'dist', w, name)), await pngValues(join(dir, 'local', w, name)));
    }
    t.is(readdirSync(join(dir, 'dist', '.records')).filter((f) => f.endsWith('.json')).length, 3, 'one completion record per well');
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(exited));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
