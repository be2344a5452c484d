/**
 * `npm start`: the whole chain on a freshly generated dump, so a person who has just cloned the
 * repository sees a real prediction of nuclei from transmitted light:
 *
 *   fixtures (demo preset) ─► preprocess ─► train (small config) ─► predict ─► evaluate ─► index.html
 *
 * Prediction and evaluation use the held-out (test split) wells only, so the r shown is honest.
 *
 * Every step is the same code the commands run; outputs land in --out (default out/demo) and a
 * rerun resumes where it stopped (each step is skipped when its output is complete).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { generateDump, type GenerateOptions } from '../fixtures/generate.ts';
import { configByName } from '../model/plan.ts';
import { train } from '../model/trainer.ts';
import { command, isMain, positiveInt, runCli } from '../core/cli.ts';
import { evaluate } from './evaluate.ts';
import { predict } from './predict.ts';
import { preprocess } from './preprocess.ts';
import { shardSource } from './train.ts';
import { demoOut, inside, preprocessOut } from '../io/out_layout.ts';

export interface DemoOptions {
  readonly out: string;
  readonly seed: number;
  readonly steps: number;
  readonly config: string;
  /** Size of the generated dump (default: the `demo` preset, 4 wells of 3x3 tiles of 256 px); a test runs a smaller one. */
  readonly dump?: Pick<GenerateOptions, 'wells' | 'grid' | 'tile'>;
}

function step(name: string, detail: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ event: 'step', step: name, ...detail }) + '\n');
}

/** Runs the chain; returns the report's index.html. */
export async function demo(o: DemoOptions): Promise<string> {
  const out = resolve(o.out);
  const { dump, pre, model, pred, report, heldOut } = demoOut(out);
  const config = configByName(o.config);

  if (!existsSync(join(dump, 'truth', 'summary.json'))) {
    step('generate', { dump });
    // As many z-planes as the config's z-slots (small 5, tiny 2; the paper config takes 13).
    await generateDump({ ...o.dump, out: dump, preset: 'demo', seed: o.seed, z: config.zSlots });
  }
  step('preprocess', { output: pre });
  const s = await preprocess({ input: dump, output: pre, resume: true, shards: { patchSize: 86, patchesPerWell: 400, testFraction: 0.25, seed: o.seed } });
  if (s.wells.failed.length) throw new Error(`preprocessing failed for ${s.wells.failed.map((f) => `${f.well} (${f.error})`).join(', ')}`);
  step('train', { model, config: config.name, steps: o.steps });
  await train({ config, out: model, steps: o.steps, batch: 16, lr: 1e-3, seed: o.seed, resume: existsSync(join(model, 'model.json')) }, await shardSource(preprocessOut.shards(pre), o.seed));
  // Judge on the held-out wells only: predict a folder of links to the test split's wells; evaluate
  // skips (and lists) true wells without predictions.
  const split = JSON.parse(await readFile(preprocessOut.split(pre), 'utf8')) as { test: string[] };
  await rm(heldOut, { recursive: true, force: true });
  await mkdir(heldOut, { recursive: true });
  for (const w of split.test) await symlink(preprocessOut.well(pre, w), inside(heldOut, w), 'dir');
  step('predict', { output: pred, wells: split.test });
  await rm(pred, { recursive: true, force: true });
  const p = await predict({ model, input: heldOut, output: pred, resume: false });
  if (p.failed.length) throw new Error(`prediction failed for ${p.failed.map((f) => `${f.well} (${f.error})`).join(', ')}`);
  step('evaluate', { report });
  const r = await evaluate({ pred, truth: preprocessOut.wells(pre), out: report, seed: o.seed, qcReport: preprocessOut.qc(pre), trainLog: join(model, 'train.jsonl'), cells: join(dump, 'truth') });
  return r.indexHtml;
}

export async function main(argv = process.argv): Promise<void> {
  const program = command('demo', 'Generate a synthetic dump, preprocess it, train a small network, predict and evaluate; prints the report path.')
    .option('--out <dir>', 'output folder', 'out/demo')
    .option('--seed <n>', 'seed of every random choice', positiveInt, 1)
    .option('--steps <n>', 'training steps (~1 s each on 2 idle cores)', positiveInt, 400)
    .option('--config <name>', 'network config (small or tiny; paper is for real data)', 'small');
  await runCli(program, async (o: DemoOptions) => {
    const html = await demo(o);
    process.stdout.write(`${html}\n`);
  }, argv);
}

if (isMain(import.meta.url)) await main();
