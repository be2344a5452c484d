/**
 * `npx tsx pipelines/train.ts --shards DIR --config NAME --out MODELDIR --steps N`: trains an ISL
 * network on preprocessed shards (see model/trainer.ts for the loop and its reproducibility).
 */
import { readPatches, readShardMeta } from '../io/shards/reader.ts';
import { SCHEMA_VERSION } from '../io/shards/schema.ts';
import { badInput } from '../core/errors.ts';
import { deriveSeed } from '../core/random.ts';
import { configByName, withZSlots } from '../model/plan.ts';
import { train, type PatchSource } from '../model/trainer.ts';
import { command, isMain, number, positiveInt, runCli } from '../core/cli.ts';

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

export const program = command('train', 'Train an in silico labeling network on preprocessed shards')
  .requiredOption('--shards <dir>', 'folder of shard-*.parquet / .arrow files (preprocess output)')
  .requiredOption('--out <dir>', 'model folder: model.json + weights.bin checkpoints and train.jsonl')
  .option('--config <name>', 'network config: paper, small, tiny or phased (tiny, with 2 grid phases like paper)', 'small')
  .option('--steps <n>', 'optimizer steps to reach (with --resume: in total)', positiveInt, 1000)
  .option('--batch <n>', 'examples per step', positiveInt, 16)
  .option('--lr <rate>', 'Adam learning rate', number, 1e-4)
  .option('--seed <n>', 'seed of initialisation, shuffling and augmentation', positiveInt, 1)
  .option('--labels <names>', 'comma-separated labels to train (default: all in the shards)')
  .option('--resume', 'continue from the checkpoint in --out (bit for bit given the seed)')
  .option('--init <modeldir>', 'fine-tune from a trained model (may add new label heads)')
  .option('--z-slots <n>', 'input z-slots of the network (default: the config\'s; set it to the shards\' z count to use every plane)', positiveInt)
  .option('--window <px>', 'training input side: the config\'s input size + k x its output stride (larger = more target pixels per FLOP; default: the config\'s)', positiveInt)
  .option('--checkpoint-every <n>', 'steps between checkpoints', positiveInt, 100)
  .option('--shuffle-buffer <n>', 'patches held for shuffling', positiveInt, 256)
  .option('--threads <n>', 'ONNX Runtime threads', positiveInt, 2)
  .option('--max-minutes <m>', 'stop (with a checkpoint) after this much training time', number)
  .option('--eval-patches <n>', 'held-out (test split) patches evaluated at the end; 0 skips', (v: string) => Number(v), 512);

interface Opts {
  shards: string;
  out: string;
  config: string;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  labels?: string;
  resume?: boolean;
  init?: string;
  zSlots?: number;
  window?: number;
  checkpointEvery: number;
  shuffleBuffer: number;
  threads: number;
  maxMinutes?: number;
  evalPatches: number;
}

if (isMain(import.meta.url)) {
  await runCli(program, async (o: Opts) => {
    const source = await shardSource(o.shards, o.seed, o.shuffleBuffer);
    const r = await train(
      {
        config: o.zSlots ? withZSlots(configByName(o.config), o.zSlots) : configByName(o.config),
        out: o.out,
        steps: o.steps,
        batch: o.batch,
        lr: o.lr,
        seed: o.seed,
        resume: o.resume,
        init: o.init,
        labels: o.labels?.split(',').map((s) => s.trim()).filter(Boolean),
        window: o.window,
        checkpointEvery: o.checkpointEvery,
        threads: o.threads,
        maxSeconds: o.maxMinutes === undefined ? undefined : o.maxMinutes * 60,
        evaluate: o.evalPatches > 0,
        evalPatches: o.evalPatches,
      },
      source,
    );
    process.stdout.write(JSON.stringify({ event: 'trained', out: o.out, step: r.step, loss: r.loss, examples_per_s: Number(r.examplesPerSecond.toFixed(2)), test_pearson: r.testPearson }) + '\n');
  });
}
