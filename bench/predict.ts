/**
 * Prediction speed: `npm run bench -- predict [--parts fast,exact,flops,workers,queue,torch] [--tile 520] [--size 1024]`
 *
 * - fast / exact: the paper network with 9 label heads (seeded random weights: speed does not
 *   depend on the values) on one 1024x1024 image with 13 z-planes; wall time of predictStack on
 *   2 threads. Targets: fast <= 60 s, exact <= 5x fast. `--size 128` is a quick smoke run.
 * - flops: achieved GFLOP/s of those passes (FLOPs = 2 x the plan's conv MACs at the pass input
 *   size) against the machine's FP32 peak (~157 GFLOP/s for 2 cores at nominal clock, FACTS.md).
 * - workers: many small wells (16 wells of 256x256, `small` config) through pipelines/predict with
 *   1 vs 2 local workers of one ONNX Runtime thread each (target >= 1.8x), plus one worker with
 *   a thread per core (the default for `--workers 1`).
 * - queue: the same wells through BullMQ with two `runners/worker.ts` processes vs 2 local workers
 *   (target within 15%). Needs redis-server.
 * - torch: ../shared/tools/isl_torch_ref.py --out 1024 (PyTorch 1.13, 2 threads) as the reference.
 * - blocks (not in the default set): one large well (`--block-well 1536` px, `small` config, 3
 *   labels) as one job (2 threads) vs split into blocks (`--block-size 512`) on 2 local workers;
 *   checks the outputs are identical.
 * - agreement (not in the default set): `--parts agreement --model DIR --input WELLS [--tile PX]`
 *   predicts every well of WELLS with a trained model in fast and exact mode and prints, per
 *   label, Pearson r between the two median images (raw, before normalization), their max |diff|,
 *   and each mode's r against the true label when the well has it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { report } from './lib.ts';
import { HAVE_REDIS, exited, startRedis } from '../test/helpers/redis.ts';
import { mulberry32 } from '../core/random.ts';
import { plane, zStack, type ZStack } from '../core/image.ts';
import { writeCanonicalWell } from '../io/canonical.ts';
import { buildPlan, paper, small, withHeads, type ModelConfig } from '../model/plan.ts';
import { initialValues } from '../model/network.ts';
import { createInferenceModel, predictStack, closeInferenceModel, passMacs, tiling } from '../model/onnx/infer.ts';
import { readModelDir } from '../model/onnx/model_dir.ts';
import { readCanonicalWell } from '../io/canonical.ts';
import { pearson } from '../transforms/evaluate/pearson.ts';
import { writeModelDir } from '../model/onnx/model_dir.ts';
import { predict } from '../pipelines/predict.ts';
import { runWells } from '../runners/run.ts';
import { listWells, splitWellId } from '../pipelines/predict.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const parts = new Set(arg('parts', 'fast,exact,flops,workers,queue,torch').split(','));
const tile = Number(arg('tile', '520'));
const PEAK = 157;
const LABELS = Array.from({ length: 9 }, (_, i) => `LABEL_${i}`);

function weightsOf(config: ModelConfig, seed: number): Map<string, Float32Array> {
  return new Map(buildPlan(config).weights.map((s) => [s.name, initialValues(s, seed)]));
}

function syntheticStack(w: number, h: number, depth: number, seed: number): ZStack {
  const u = mulberry32(seed);
  const planes = Array.from({ length: depth }, (_, z) =>
    plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => 0.5 + 0.25 * Math.sin((i % w) / 9 + z / 3) * Math.cos(Math.floor(i / w) / 7) + 0.05 * u())),
  );
  return zStack(planes);
}

const load = () => (spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ')[0] ?? '?');

if (parts.has('fast') || parts.has('exact') || parts.has('flops')) {
  const config = withHeads(paper, { autoencoding: 0, labels: LABELS });
  const model = await createInferenceModel(config, weightsOf(config, 1), { statistics: ['median'], threads: 2 });
  const size = Number(arg('size', '1024'));
  let stack = syntheticStack(size, size, 13, 2);
  const passSizes: number[] = [];
  let cpu = 0;
  const run = async (mode: 'fast' | 'exact') => {
    passSizes.length = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await predictStack(model, stack, { mode, tile, onPass: () => passSizes.push(0) });
    const c = process.cpuUsage(c0);
    cpu = (c.user + c.system) / 1e6;
    return (performance.now() - t0) / 1000;
  };
  // Pass input side for this tile setting, as infer.ts picks it (square image: same on both axes).
  const L = tiling(config, size, size, tile).rows.out + 2 * model.margin;
  const flopsPerPass = 2 * passMacs(buildPlan(config), L);
  const loadBefore = load();
  const fast = await run('fast');
  const fastPasses = passSizes.length;
  const fastFlops = fastPasses * flopsPerPass;
  const fastCpu = cpu;
  report(`predict.fast.paper.${size}.9labels`, fast, 60, { target: '<= 60 s (ref_s is the target)', cpu_s: +fastCpu.toFixed(1), idle_2core_estimate_s: +(fastCpu / 2).toFixed(1), passes: fastPasses, pass_input_px: L, tile, load: loadBefore, rss_gb: +(process.memoryUsage().rss / 1e9).toFixed(2) });
  report('predict.flops.fast', fast, fastFlops / (PEAK * 1e9), {
    gflop: +(fastFlops / 1e9).toFixed(1),
    gflops: +(fastFlops / 1e9 / fast).toFixed(1),
    peak_gflops: PEAK,
    fraction_of_peak: +(fastFlops / 1e9 / fast / PEAK).toFixed(3),
    gflops_per_cpu_s: +(fastFlops / 1e9 / fastCpu).toFixed(1),
    per_core_peak_gflops: PEAK / 2,
    note: 'ref_s = time at peak FP32; ratio = 1 / fraction of peak',
  });
  if (parts.has('exact')) {
    // --exact-size 512 compares both modes on a smaller image when the machine is busy (same tile logic).
    const side = Number(arg('exact-size', String(size)));
    let fastRef = fast;
    let fastRefCpu = fastCpu;
    if (side !== size) {
      stack = syntheticStack(side, side, 13, 2);
      fastRef = await run('fast');
      fastRefCpu = cpu;
    }
    const exact = await run('exact');
    report(`predict.exact_vs_fast.paper.${side}.9labels`, exact, fastRef, { target: 'ratio <= 5', cpu_s: +cpu.toFixed(1), fast_cpu_s: +fastRefCpu.toFixed(1), cpu_ratio: +(cpu / fastRefCpu).toFixed(2), passes: passSizes.length, load: load() });
  }
  await closeInferenceModel(model);
}

/** Wall seconds of a run that must not fail. */
async function timeRun(name: string, f: () => Promise<{ failed: unknown[] }>): Promise<number> {
  const t0 = performance.now();
  const r = await f();
  if (r.failed.length) throw new Error(`${name}: ${JSON.stringify(r.failed)}`);
  return (performance.now() - t0) / 1000;
}

/** A canonical well of synthetic planes. */
async function writeSyntheticWell(dir: string, name: string, side: number, seed: number): Promise<void> {
  const stack = syntheticStack(side, side, 5, seed);
  const n = side * side;
  const planes = Array.from({ length: stack.depth }, (_, z) => plane('float32', side, side, stack.data.slice(z * n, (z + 1) * n)));
  await writeCanonicalWell(join(dir, name), { well: name, width: side, height: side, transmitted: { channel: 'BRIGHTFIELD', stack: zStack(planes) }, labels: new Map() });
}

if (parts.has('workers') || parts.has('queue')) {
  const dir = mkdtempSync(join(tmpdir(), 'isl-bench-predict-'));
  try {
    const config = withHeads(small, { autoencoding: 0, labels: LABELS.slice(0, 3) });
    await writeModelDir(join(dir, 'model'), config, weightsOf(config, 3));
    const nWells = Number(arg('wells', '16'));
    for (let i = 0; i < nWells; i++) await writeSyntheticWell(join(dir, 'wells'), `W${String(i).padStart(2, '0')}`, 256, 10 + i);
    const base = { model: join(dir, 'model'), input: join(dir, 'wells'), stats: ['median' as const], progress: false };
    // The pool's scaling: workers of one thread each. By default one worker takes every core
    // (threads = cores / workers), so that run is reported too: what the pool adds over it.
    const one = await timeRun('1 worker, 1 thread', () => predict({ ...base, output: join(dir, 'o1'), workers: 1, threads: 1 }));
    const two = await timeRun('2 workers, 1 thread each', () => predict({ ...base, output: join(dir, 'o2'), workers: 2, threads: 1 }));
    const oneWide = await timeRun('1 worker, all cores', () => predict({ ...base, output: join(dir, 'o1w'), workers: 1 }));
    report(`predict.workers.2_vs_1.small.${nWells}x256`, two, one, { speedup: +(one / two).toFixed(2), target: 'speedup >= 1.8', wells: nWells, one_worker_all_cores_s: +oneWide.toFixed(2), speedup_vs_one_worker_all_cores: +(oneWide / two).toFixed(2), load: load() });
    if (parts.has('queue') && HAVE_REDIS) {
      const redis = await startRedis();
      const workers: ChildProcess[] = [];
      try {
        const url = redis.url;
        for (let i = 0; i < 2; i++) workers.push(spawn(process.execPath, ['--import', 'tsx', 'runners/worker.ts', '--queue', url, '--threads', '1'], { cwd: ROOT, stdio: 'ignore' }));
        await new Promise((r) => setTimeout(r, 3000)); // workers start (tsx + onnxruntime import), as a cluster would be up already
        const opts = { model: join(dir, 'model'), output: join(dir, 'oq'), mode: 'fast', stats: ['median'], tile: 520, normalize: 'paper' };
        const q = await timeRun('queue', () => runWells(listWells(join(dir, 'wells')), { module: 'pipelines/predict.ts', fn: 'predictWellJob', options: opts }, { queue: url, records: join(dir, 'oq', '.records'), progress: false }));
        report('predict.queue_2workers_vs_local_2workers', q, two, { target: 'ratio <= 1.15', load: load() });
      } finally {
        for (const w of workers) w.kill('SIGTERM');
        await Promise.all(workers.map(exited));
        await redis.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (parts.has('torch')) {
  const t0 = performance.now();
  const out = arg('torch-out', '1024');
  const r = spawnSync('/usr/bin/python3', [join(ROOT, '..', 'shared', 'tools', 'isl_torch_ref.py'), '--out', out, '--threads', '2', '--heads', '9'], { encoding: 'utf8' });
  const m = /input (\d+) -> output .* with 9 heads: ([\d.]+) s wall/.exec(r.stdout);
  if (r.status !== 0 || !m) console.log(JSON.stringify({ name: 'predict.torch', error: (r.stderr || r.stdout).trim().split('\n').pop() }));
  else {
    const L = Number(m[1]);
    const config = withHeads(paper, { autoencoding: 0, labels: LABELS });
    const model = await createInferenceModel(config, weightsOf(config, 1), { statistics: ['median'], threads: 2 });
    // Our engine on the same single pass (same input size), right after the reference.
    const c0 = process.cpuUsage();
    const t1 = performance.now();
    // Side whose single tile is exactly this pass (kept rows are a multiple of the stride).
    const side = L - 2 * model.margin - (model.stride - config.outputWindow);
    let passes = 0;
    await predictStack(model, syntheticStack(side, side, 13, 2), { tile: L - 2 * model.margin, onPass: () => passes++ });
    if (passes !== 1) throw new Error(`expected one pass, ran ${passes}`);
    const ours = (performance.now() - t1) / 1000;
    const c = process.cpuUsage(c0);
    await closeInferenceModel(model);
    report(`predict.vs_torch.paper.pass${L}.9heads`, ours, Number(m[2]), { ours_cpu_s: +((c.user + c.system) / 1e6).toFixed(1), note: 'one fully convolutional pass, 2 threads each; ours includes median statistics', torch_total_s: +((t1 - t0) / 1000).toFixed(1), load: load() });
  }
}

if (parts.has('agreement')) {
  const modelDir = arg('model', '');
  const input = arg('input', '');
  if (!modelDir || !input) throw new Error('--parts agreement needs --model DIR (a trained model) and --input WELLS (canonical wells)');
  const { config, weights } = await readModelDir(modelDir);
  const model = await createInferenceModel(config, weights, { statistics: ['median'], threads: 2 });
  for (const id of listWells(input)) {
    const [dir, name] = splitWellId(id);
    const well = await readCanonicalWell(dir, { well: name });
    const t = tiling(config, well.width, well.height, tile);
    const run = async (mode: 'fast' | 'exact') => {
      let passes = 0;
      const c0 = process.cpuUsage();
      const pred = await predictStack(model, well.transmitted.stack, { mode, tile, onPass: () => passes++ });
      const c = process.cpuUsage(c0);
      return { pred, passes, cpu_s: +((c.user + c.system) / 1e6).toFixed(1) };
    };
    const fast = await run('fast');
    const exact = await run('exact');
    const round = (x: number) => (Number.isNaN(x) ? null : +x.toFixed(6));
    const labels = Object.fromEntries(
      model.heads.map((h) => {
        const f = fast.pred.get(h)!.get('median')!;
        const e = exact.pred.get(h)!.get('median')!;
        const truth = well.labels.get(h)?.data as Float32Array | undefined;
        let maxDiff = 0;
        for (let i = 0; i < f.length; i++) maxDiff = Math.max(maxDiff, Math.abs(f[i] - e[i]));
        return [h, { r_fast_exact: round(pearson(f, e)), max_abs_diff: maxDiff, ...(truth ? { r_fast_truth: round(pearson(f, truth)), r_exact_truth: round(pearson(e, truth)) } : {}) }];
      }),
    );
    console.log(
      JSON.stringify({
        name: `predict.agreement.${config.name}.${well.well}`,
        model: modelDir,
        size: `${well.width}x${well.height}`,
        phases_per_axis: t.exactPhases.length,
        note: t.exactPhases.length === 1 ? `output window ${config.outputWindow} is a multiple of the network stride ${t.stride}: every patch is on the pass grid, so exact mode runs the same passes as fast mode` : undefined,
        passes: { fast: fast.passes, exact: exact.passes },
        cpu_s: { fast: fast.cpu_s, exact: exact.cpu_s },
        labels,
        load: load(),
      }),
    );
  }
  await closeInferenceModel(model);
}

if (parts.has('blocks')) {
  const dir = mkdtempSync(join(tmpdir(), 'isl-bench-blocks-'));
  try {
    const side = Number(arg('block-well', '1536'));
    const blockSize = Number(arg('block-size', '512'));
    const config = withHeads(small, { autoencoding: 0, labels: LABELS.slice(0, 3) });
    await writeModelDir(join(dir, 'model'), config, weightsOf(config, 3));
    await writeSyntheticWell(join(dir, 'wells'), 'W00', side, 4);
    const base = { model: join(dir, 'model'), input: join(dir, 'wells'), stats: ['median' as const], tile, progress: false };
    const whole = await timeRun('whole', () => predict({ ...base, output: join(dir, 'whole'), blockSize: 0 }));
    let blocks = 0;
    const split = await timeRun('blocks', async () => {
      const r = await predict({ ...base, output: join(dir, 'split'), blockSize, workers: 2 });
      blocks = r.parts.done;
      return r;
    });
    const files = readdirSync(join(dir, 'whole', 'W00')).filter((f) => f !== 'prediction.json');
    const identical = files.every((f) => readFileSync(join(dir, 'whole', 'W00', f)).equals(readFileSync(join(dir, 'split', 'W00', f))));
    report(`predict.blocks.small.${side}`, split, whole, { blocks, block_size: blockSize, identical_outputs: identical, note: 'ours_s: 2 workers on blocks; ref_s: one whole-well job on 2 threads', load: load() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
