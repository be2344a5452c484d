/**
 * `npx tsx pipelines/train.ts --shards DIR --config NAME --out MODELDIR --steps N`: trains an ISL
 * network on preprocessed shards (see model/trainer.ts for the loop and its reproducibility).
 */
import { readPatches, readShardMeta } from '../io/shards/reader.ts';
import { SCHEMA_VERSION } from '../io/shards/schema.ts';
import { badInput } from '../core/errors.ts';
import { deriveSeed } from '../core/random.ts';
import { configByName, configs } from '../model/plan.ts';
import { TRAIN_DEFAULTS } from '../model/recipe.ts';
import { DECAYS } from '../model/schedule.ts';
import { checkTrainOptions, train, type PatchSource, type TrainOptions } from '../model/trainer.ts';
import { command, isMain, nonNegativeInt, number, positiveInt, runCli } from '../core/cli.ts';

/**
 * The training split of the shards in `dir` as a {@link PatchSource}: a bounded shuffle buffer
 * over several shard readers, reshuffled per epoch from (seed, epoch).
 * @throws IslError BAD_INPUT when the shards' schema version is not ours.
 */
export async function shardSource(dir: string, seed: number, shuffleBuffer = 256): Promise<PatchSource> {
  const meta = await readShardMeta(dir);
  if (meta.schema_version !== SCHEMA_VERSION) {
    throw badInput(dir, `shards have schema_version ${meta.schema_version}, this trainer reads ${SCHEMA_VERSION}; re-run preprocess`);
  }
  return {
    patchSize: meta.patch_size,
    zCount: meta.z_count,
    labels: meta.labels,
    epoch: (e) => readPatches(dir, { split: 'train', shuffleBuffer, seed: deriveSeed(seed, 'epoch', e), readers: 2 }),
    test: () => readPatches(dir, { split: 'test' }),
  };
}

const D = TRAIN_DEFAULTS;

// No commander defaults: an option left out takes the resumed checkpoint's value, else TRAIN_DEFAULTS (model/recipe.ts).
export const program = command('train', 'Train an in silico labeling network on preprocessed shards')
  .requiredOption('--shards <dir>', 'folder of shard-*.parquet / .arrow files (preprocess output)')
  .requiredOption('--out <dir>', 'model folder: model.json + weights.bin checkpoints, train.jsonl, best/ (with --val-rows)')
  .option('--config <name>', `network config: ${Object.keys(configs).join(', ')} (default ${D.config}; with --init/--resume: the model's)`)
  .option('--steps <n>', `optimizer steps to reach (with --resume: in total; default ${D.steps})`, positiveInt)
  .option('--batch <n>', `examples per step (default ${D.batch})`, positiveInt)
  .option('--lr <rate>', `Adam learning rate, the schedule's peak (default ${D.lr})`, number)
  .option('--warmup <n>', `linear learning-rate warm-up, updates (default ${D.warmup})`, nonNegativeInt)
  .option('--decay <kind>', `learning-rate decay after the warm-up: ${DECAYS.join(', ')} (default ${D.decay})`)
  .option('--decay-steps <n>', 'cosine length (default: steps - warmup) or step-decay interval (required with --decay step), updates', positiveInt)
  .option('--decay-factor <f>', `step-decay multiplier per interval (default ${D.decayFactor})`, number)
  .option('--gain-jitter <g>', `input intensity augmentation: per-example gain in [1-g, 1+g] (default ${D.gainJitter}: off)`, number)
  .option('--offset-jitter <o>', `input intensity augmentation: per-example offset in [-o, o] (default ${D.offsetJitter}: off)`, number)
  .option('--val-rows <row>', 'validate on patches wholly at rows >= ROW of the training wells (trained on: patches wholly above); keeps the best model in OUT/best/', positiveInt)
  .option('--val-every <n>', `steps between validations (default ${D.valEvery})`, positiveInt)
  .option('--val-patches <n>', `validation patches evaluated at most (default ${D.valPatches})`, positiveInt)
  .option('--seed <n>', `seed of initialisation, shuffling and augmentation (default ${D.seed})`, nonNegativeInt)
  .option('--labels <names>', 'comma-separated labels to train (default: all in the shards)')
  .option('--resume', 'continue from the checkpoint in --out (bit for bit given the seed)')
  .option('--init <modeldir>', 'fine-tune from a trained model (may add new label heads)')
  .option('--z-slots <n>', 'input z-slots of the network (default: the config\'s; set it to the shards\' z count to use every plane)', positiveInt)
  .option('--window <px>', 'training input side: the config\'s input size + k x its output stride (larger = more target pixels per FLOP; default: the config\'s)', positiveInt)
  .option('--checkpoint-every <n>', `steps between checkpoints (default ${D.checkpointEvery})`, positiveInt)
  .option('--shuffle-buffer <n>', 'patches held for shuffling (default 256)', positiveInt, 256)
  .option('--threads <n>', `ONNX Runtime threads (default ${D.threads})`, positiveInt)
  .option('--max-minutes <m>', 'stop (with a checkpoint) after this much training time', number)
  .option('--eval-patches <n>', `held-out (test split) patches evaluated at the end; 0 skips (default ${D.evalPatches})`, nonNegativeInt);

type Opts = { shards: string; out: string; config?: string; labels?: string; resume?: boolean; init?: string; shuffleBuffer: number; maxMinutes?: number } & Omit<TrainOptions, 'config' | 'out' | 'labels' | 'resume' | 'init' | 'maxSeconds'>;

if (isMain(import.meta.url)) {
  await runCli(program, async ({ shards, config, labels, shuffleBuffer, maxMinutes, ...o }: Opts) => {
    const options: TrainOptions = {
      ...o,
      config: config === undefined ? undefined : configByName(config),
      labels: labels?.split(',').map((s) => s.trim()).filter(Boolean),
      maxSeconds: maxMinutes === undefined ? undefined : maxMinutes * 60,
    };
    checkTrainOptions(options); // bad options are usage errors, reported before the shards are read
    const r = await train(options, await shardSource(shards, o.seed ?? D.seed, shuffleBuffer));
    process.stdout.write(JSON.stringify({ event: 'trained', out: o.out, step: r.step, loss: r.loss, examples_per_s: Number(r.examplesPerSecond.toFixed(2)), best: r.best, val_pearson: r.valPearson, test_pearson: r.testPearson }) + '\n');
  });
}
