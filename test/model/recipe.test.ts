import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { IslError } from '../../core/errors.ts';
import { resolveRecipe, TRAIN_DEFAULTS } from '../../model/recipe.ts';
import { learningRate, type Schedule } from '../../model/schedule.ts';
import { checkTrainOptions } from '../../model/trainer.ts';

const lr = 0.5;
const at = (s: Partial<Schedule>, ts: number[]) => ts.map((t) => learningRate({ lr, warmup: 0, decay: 'none', decaySteps: 1, decayFactor: 0.1, ...s }, t));

test('schedule: warm-up then constant, cosine and step decay, exact at given updates', (t) => {
  t.deepEqual(at({ warmup: 4 }, [1, 2, 4, 5, 100]), [0.125, 0.25, 0.5, 0.5, 0.5]);
  // cosine over 4 updates after a 2-update warm-up: k = t - 3 in 0..4, then 0.
  t.deepEqual(at({ warmup: 2, decay: 'cosine', decaySteps: 4 }, [1, 2, 3, 5, 7, 9]), [0.25, 0.5, 0.5, 0.25, 0, 0]);
  t.is(at({ warmup: 2, decay: 'cosine', decaySteps: 4 }, [4])[0], (0.5 * (1 + Math.cos(Math.PI / 4))) / 2);
  t.deepEqual(at({ decay: 'step', decaySteps: 3, decayFactor: 0.5 }, [1, 3, 4, 6, 7, 10]), [0.5, 0.5, 0.25, 0.25, 0.125, 0.0625]);
  t.deepEqual(at({ warmup: 1, decay: 'step', decaySteps: 2, decayFactor: 0.5 }, [1, 2, 3, 4]), [0.5, 0.5, 0.5, 0.25]);
});

test('recipe: given wins over the checkpoint, the checkpoint over the defaults; cosine length defaults to steps - warmup', (t) => {
  const d = resolveRecipe({}, undefined, 1000);
  t.like(d, { batch: TRAIN_DEFAULTS.batch, lr: TRAIN_DEFAULTS.lr, warmup: 0, decay: 'none', gainJitter: 0, offsetJitter: 0, valRows: undefined });
  const saved = { batch: 8, lr: 3e-4, decay: 'cosine', warmup: 10, decaySteps: 90, gainJitter: 0.1 };
  t.like(resolveRecipe({ lr: 1e-3 }, saved, 5000), { batch: 8, lr: 1e-3, decay: 'cosine', warmup: 10, decaySteps: 90, gainJitter: 0.1 });
  t.is(resolveRecipe({ decay: 'cosine', warmup: 100 }, undefined, 1000).decaySteps, 900);
});

test('every recipe and run option is validated: BAD_OPTION naming its key', (t) => {
  const bad: [string, unknown][] = [
    ['batch', 0], ['batch', 2.5], ['lr', -1], ['lr', Infinity], ['warmup', -1], ['warmup', 1.5], ['decay', 'linear'],
    ['decaySteps', 0], ['decayFactor', 0], ['decayFactor', 1.5], ['window', 0], ['gainJitter', 1], ['gainJitter', -0.1],
    ['offsetJitter', -0.1], ['offsetJitter', 2], ['valRows', 0], ['valEvery', 0], ['valPatches', 0],
    ['steps', 0], ['seed', 0.5], ['checkpointEvery', 0], ['checkpointEvery', -5], ['threads', 0], ['evalPatches', -1], ['evalPatches', 1.5], ['maxSeconds', 0], ['zSlots', 0],
  ];
  for (const [key, value] of bad) {
    const e = t.throws(() => checkTrainOptions({ out: 'x', [key]: value }), undefined, `${key}=${value}`);
    t.true(IslError.is(e, 'BAD_OPTION') && e.option === key, `${key}=${String(value)}: ${e?.message}`);
  }
  const e = t.throws(() => checkTrainOptions({ out: 'x', decay: 'step' }));
  t.true(IslError.is(e, 'BAD_OPTION') && e.option === 'decaySteps' && /required with decay step/.test(e.message));
  t.notThrows(() => checkTrainOptions({ out: 'x', decay: 'step', decaySteps: 10, evalPatches: 0 }));
});

test('CLI: bad values exit 2 naming the flag, before any shard is read', async (t) => {
  const run = (args: string[]) => promisify(execFile)('npx', ['tsx', 'pipelines/train.ts', '--shards', '/nonexistent', '--out', '/nonexistent', ...args]).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
  const r1 = await run(['--eval-patches', 'abc']);
  t.is(r1.code, 2);
  t.regex(r1.stderr, /--eval-patches.*non-negative integer/);
  const r2 = await run(['--decay', 'linear']);
  t.is(r2.code, 2);
  t.regex(r2.stderr, /one of none, cosine, step for --decay but received "linear"/);
});
