/**
 * `npm run bench -- isl_real [--minutes M] [--split-row Y] [--window PX] [--threads N] [--out DIR]`
 *
 * The model on real data: ../shared/data/isl-condition-b-top (a published, already canonical
 * Condition B well: 13 phase-contrast z-planes + DAPI/MAP2/NFH, 1024 x 640 px). Its rows above
 * `--split-row` are the training well, the rows below it the validation well; the two are written
 * as separate canonical wells so no training patch and no prediction input crosses the split.
 * Then: preprocess (canonical graph: normalize + shards) -> train the `small` config with 13
 * z-slots for `--minutes` -> predict the validation well (fast mode) -> evaluate. Prints the
 * Pearson r per label on the validation rows and the training time.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { readCanonicalWell, writeCanonicalWell } from '../io/canonical.ts';
import { plane, zStack, type Plane, type Well } from '../core/image.ts';
import { configByName, withZSlots } from '../model/plan.ts';
import { train } from '../model/trainer.ts';
import { evaluate } from '../pipelines/evaluate.ts';
import { predict } from '../pipelines/predict.ts';
import { preprocess } from '../pipelines/preprocess.ts';
import { shardSource } from '../pipelines/train.ts';
import { sharedDataset } from '../test/helpers/shared.ts';

const { values: a } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'split-row': { type: 'string', default: '448' },
    window: { type: 'string', default: '86' },
    patches: { type: 'string', default: '3000' },
    lr: { type: 'string', default: '1e-3' },
    // 1 keeps a step fast on a busy machine (2 ONNX Runtime threads wait for each other per op).
    threads: { type: 'string', default: '2' },
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
const window = Number(a.window);

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
if (!(split > window && split < well.height - 64)) throw new Error(`--split-row must leave >= ${window} training rows and >= 64 validation rows of ${well.height}`);
for (const [name, y0, y1] of [['train', 0, split], ['val', split, well.height]] as const) {
  const dir = join(out, 'wells', name);
  if (!existsSync(dir)) {
    await mkdir(dir, { recursive: true });
    await writeCanonicalWell(dir, cropRows(well, y0, y1), { omeTiff: false });
  }
}
const log = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

// Patches 16 px larger than the training window: random crops on top of flips and rotations.
await preprocess({ input: join(out, 'wells', 'train'), output: join(out, 'pre-train'), resume: true, progress: false, shards: { patchSize: window + 16, patchesPerWell: Number(a.patches), testFraction: 0, seed: 1 } });
await preprocess({ input: join(out, 'wells', 'val'), output: join(out, 'pre-val'), resume: true, progress: false, shards: false });

const config = withZSlots(configByName('small'), well.transmitted.stack.depth);
const model = join(out, 'model');
const t0 = performance.now();
const r = await train(
  { config, out: model, steps: 1_000_000, batch: 16, lr: Number(a.lr), seed: 1, window, maxSeconds: Number(a.minutes) * 60, checkpointEvery: 100, threads: Number(a.threads), jsonProgress: true, evaluate: false, resume: existsSync(join(model, 'model.json')) },
  await shardSource(join(out, 'pre-train', 'shards'), 1),
);
const trainS = (performance.now() - t0) / 1000;
log({ event: 'trained', steps: r.step, train_s: Math.round(trainS), examples_per_s: Number(r.examplesPerSecond.toFixed(2)) });

const pred = join(out, 'pred');
const p = await predict({ model, input: join(out, 'pre-val', 'wells'), output: pred, resume: false, progress: false });
if (p.failed.length) throw new Error(`prediction failed: ${JSON.stringify(p.failed)}`);
const e = await evaluate({ pred, truth: join(out, 'pre-val', 'wells'), out: join(out, 'report'), seed: 1 });
const metrics = JSON.parse(await readFile(e.metricsJson, 'utf8')) as { wells: { labels: { label: string; r: number; rWhole: number }[] }[] };
log({
  name: 'isl-condition-b-top: train rows < split, validate on rows >= split',
  split_row: split, window, config: 'small, 13 z-slots', steps: r.step, train_min: Number((trainS / 60).toFixed(1)),
  pearson: Object.fromEntries(metrics.wells[0].labels.map((l) => [l.label, { r: l.r, r_whole: l.rWhole }])),
  report: e.indexHtml,
});
