/**
 * `npm run bench -- isl_real [--config NAME] [--minutes M | --marks 5,10,20,40,60] [--split-row Y]
 *   [--window PX] [--patch PX] [--batch N] [--lr F] [--warmup N] [--decay none|cosine|step]
 *   [--decay-steps N] [--decay-factor F] [--gain-jitter G] [--offset-jitter O] [--threads N]
 *   [--run NAME] [--out DIR]`
 *
 * The model on real data: ../shared/data/isl-condition-b-top (a published, already canonical
 * Condition B well: 13 phase-contrast z-planes + DAPI/MAP2/NFH, 1024 x 640 px). Its rows above
 * `--split-row` are the training well, the rows below it the validation well; the two are written
 * as separate canonical wells so no training patch and no prediction input crosses the split.
 * Then: preprocess (canonical graph: normalize + shards of `--patch` px, the same for every
 * config) -> train `--config` (default `small`) with 13 z-slots -> at each of `--marks` (minutes of
 * training, cumulative; default the one mark `--minutes`) predict the validation well (fast mode)
 * and evaluate, resuming the training between marks. Prints one JSON line per mark (Pearson r per
 * label on the validation rows) and the curve as a table. The recipe options are `train`'s
 * (unset: its defaults); `--window` defaults to the largest valid input of the config that leaves
 * 16 px of random crop in a patch. A run lives in `OUT/runs/RUN` (RUN defaults to the config name),
 * so runs of several configs share the preprocessed data; the marks count this invocation's
 * training time.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { readCanonicalWell, writeCanonicalWell } from '../io/canonical.ts';
import { plane, zStack, type Plane, type Well } from '../core/image.ts';
import { buildPlan, configByName, withZSlots, type ModelConfig } from '../model/plan.ts';
import type { Decay } from '../model/schedule.ts';
import { train } from '../model/trainer.ts';
import { evaluate } from '../pipelines/evaluate.ts';
import { predict } from '../pipelines/predict.ts';
import { preprocess } from '../pipelines/preprocess.ts';
import { shardSource } from '../pipelines/train.ts';
import { sharedDataset } from '../test/helpers/shared.ts';

const { values: a } = parseArgs({
  options: {
    config: { type: 'string', default: 'small' },
    minutes: { type: 'string', default: '30' },
    marks: { type: 'string' },
    'split-row': { type: 'string', default: '448' },
    window: { type: 'string' },
    patch: { type: 'string', default: '102' },
    patches: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '16' },
    lr: { type: 'string', default: '1e-3' },
    warmup: { type: 'string' },
    decay: { type: 'string' },
    'decay-steps': { type: 'string' },
    'decay-factor': { type: 'string' },
    'gain-jitter': { type: 'string' },
    'offset-jitter': { type: 'string' },
    // 1 keeps a step fast on a busy machine (2 ONNX Runtime threads wait for each other per op).
    threads: { type: 'string', default: '2' },
    run: { type: 'string' },
    out: { type: 'string', default: 'tmp/isl_real' },
  },
});
const src = sharedDataset('isl-condition-b-top');
if (!src) {
  console.error('isl_real: ../shared/data/isl-condition-b-top is absent; this benchmark needs it');
  process.exit(2);
}
const out = resolve(a.out!);
const split = Number(a['split-row']);
const patch = Number(a.patch);
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const marks = (a.marks ?? a.minutes!).split(',').map(Number);
if (marks.some((m, i) => !(m > 0) || (i > 0 && m <= marks[i - 1]))) throw new Error(`--marks must be increasing positive minutes, got ${a.marks}`);
const runName = a.run ?? a.config!;
const runDir = join(out, 'runs', runName);

function rows(p: Plane<'float32'>, y0: number, y1: number): Plane<'float32'> {
  return plane('float32', p.width, y1 - y0, p.data.slice(y0 * p.width, y1 * p.width));
}

/** Rows [y0, y1) of a canonical well, as a well of its own. */
function cropRows(w: Well, y0: number, y1: number): Well {
  const s = w.transmitted.stack;
  const planes = Array.from({ length: s.depth }, (_, z) => plane('float32', s.width, y1 - y0, s.data.slice((z * s.height + y0) * s.width, (z * s.height + y1) * s.width)));
  return { ...w, height: y1 - y0, transmitted: { ...w.transmitted, stack: zStack(planes) }, labels: new Map([...w.labels].map(([c, p]) => [c, rows(p as Plane<'float32'>, y0, y1)])) };
}

const well = await readCanonicalWell(src);
const config = withZSlots(configByName(a.config!), well.transmitted.stack.depth);

/** The largest input side <= `max` that `config` accepts (inputSize + k * stride). */
function largestWindow(c: ModelConfig, max: number): number {
  for (let s = max; s > 0; s--) {
    try {
      buildPlan(c, { inputSize: s });
      return s;
    } catch {
      // not a valid size of this config
    }
  }
  throw new Error(`config ${c.name} accepts no input side <= ${max} px; raise --patch`);
}
const window = num(a.window) ?? largestWindow(config, patch - 16);
if (window > patch) throw new Error(`--window ${window} exceeds --patch ${patch}`);
if (!(split > patch && split < well.height - 64)) throw new Error(`--split-row must leave >= ${patch} training rows and >= 64 validation rows of ${well.height}`);
for (const [name, y0, y1] of [['train', 0, split], ['val', split, well.height]] as const) {
  const dir = join(out, 'wells', name);
  if (!existsSync(dir)) {
    await mkdir(dir, { recursive: true });
    await writeCanonicalWell(dir, cropRows(well, y0, y1), { omeTiff: false });
  }
}
const log = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

// The same patches for every config (102 px: the small config's 86 px window + 16 px of random crop).
const preTrain = join(out, patch === 102 ? 'pre-train' : `pre-train-${patch}`);
await preprocess({ input: join(out, 'wells', 'train'), output: preTrain, resume: true, progress: false, shards: { patchSize: patch, patchesPerWell: Number(a.patches), testFraction: 0, seed: 1 } });
await preprocess({ input: join(out, 'wells', 'val'), output: join(out, 'pre-val'), resume: true, progress: false, shards: false });

const model = join(runDir, 'model');
const recipe = {
  batch: Number(a.batch), lr: Number(a.lr), window, warmup: num(a.warmup), decay: a.decay as Decay | undefined, decaySteps: num(a['decay-steps']),
  decayFactor: num(a['decay-factor']), gainJitter: num(a['gain-jitter']), offsetJitter: num(a['offset-jitter']),
};
const curve: { minutes: number; steps: number; pearson: Record<string, number> }[] = [];
let trainedS = 0;
for (const mark of marks) {
  const t0 = performance.now();
  const r = await train(
    { ...recipe, config, out: model, steps: 1_000_000, seed: 1, maxSeconds: Math.max(1, mark * 60 - trainedS), checkpointEvery: 100, threads: Number(a.threads), jsonProgress: true, evaluate: false, resume: existsSync(join(model, 'model.json')) },
    await shardSource(join(preTrain, 'shards'), 1),
  );
  trainedS += (performance.now() - t0) / 1000;
  const pred = join(runDir, `pred-${mark}min`);
  const p = await predict({ model, input: join(out, 'pre-val', 'wells'), output: pred, resume: false, progress: false });
  if (p.failed.length) throw new Error(`prediction failed: ${JSON.stringify(p.failed)}`);
  const e = await evaluate({ pred, truth: join(out, 'pre-val', 'wells'), out: join(runDir, `report-${mark}min`), seed: 1 });
  const metrics = JSON.parse(await readFile(e.metricsJson, 'utf8')) as { wells: { labels: { label: string; r: number; rWhole: number }[] }[] };
  const pearson = Object.fromEntries(metrics.wells[0].labels.map((l) => [l.label, l.r]));
  curve.push({ minutes: mark, steps: r.step, pearson });
  log({
    name: 'isl-condition-b-top: train rows < split, validate on rows >= split (evaluate: whole validation well, fast mode)',
    run: runName, config: `${config.name}, ${config.zSlots} z-slots`, split_row: split, patch, recipe, mark_min: mark, train_min: Number((trainedS / 60).toFixed(1)), steps: r.step,
    examples_per_s: Number(r.examplesPerSecond.toFixed(2)),
    pearson: Object.fromEntries(metrics.wells[0].labels.map((l) => [l.label, { r: l.r, r_whole: l.rWhole }])),
    report: e.indexHtml,
  });
}
const labels = Object.keys(curve[0].pearson);
console.log(`\n${runName}: validation r per label (rows >= ${split}) by training minutes`);
console.log(['min', 'steps', ...labels].join('\t'));
for (const c of curve) console.log([c.minutes, c.steps, ...labels.map((l) => c.pearson[l].toFixed(3))].join('\t'));
