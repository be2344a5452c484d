import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { ShardWriter } from '../../io/shards/writer.ts';
import { SCHEMA_VERSION, type ShardMeta } from '../../io/shards/schema.ts';
import { tiny } from '../../model/plan.ts';
import { train } from '../../model/trainer.ts';
import { shardSource } from '../../pipelines/train.ts';

const P = 30;

async function writeShards(dir: string, z: number): Promise<void> {
  const meta: ShardMeta = {
    schema_version: SCHEMA_VERSION, labels: ['nuclei'], patch_size: P, z_count: z, transmitted_channel: 'PHASE_CONTRAST',
    normalization: { method: 'none' }, source: { test: true }, split: { train: ['A1'], test: ['B1'] }, seed: 1,
  };
  const u = mulberry32(5);
  const w = await ShardWriter.create(dir, { format: 'parquet', meta });
  for (let i = 0; i < 12; i++) {
    const input = Uint16Array.from({ length: z * P * P }, () => Math.floor(u() * 4) * 16384);
    const data = input.slice(0, P * P);
    await w.write({ well: i < 8 ? 'A1' : 'B1', y: i, x: 0, split: i < 8 ? 'train' : 'test', input, labels: new Map([['nuclei', { data }]]) });
  }
  await w.close();
}

test('trains from Parquet shards and learns a learnable label (test-split r); mismatched shards are clear errors', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'isl-train-shards-'));
  await writeShards(join(root, 'z2'), 2);
  await writeShards(join(root, 'z3'), 3);
  const base = { config: tiny, batch: 4, lr: 0.03, seed: 3, jsonProgress: true, threads: 1 };
  // The label is z-plane 0 of the input, so the test split's r is learnable: after 30 steps
  // (measured 0.89; one step: -0.07) it must be high and far above the barely trained model's.
  const untrained = await train({ ...base, out: join(root, 'm1'), steps: 1, evalPatches: 8 }, await shardSource(join(root, 'z2'), 3, 8));
  const r = await train({ ...base, out: join(root, 'm'), steps: 30, evalPatches: 8 }, await shardSource(join(root, 'z2'), 3, 8));
  t.is(r.step, 30);
  t.deepEqual(Object.keys(r.testPearson ?? {}).sort(), ['autoencoding_0', 'autoencoding_1', 'nuclei']);
  t.log(`test-split nuclei r: 1 step ${untrained.testPearson!.nuclei}, 30 steps ${r.testPearson!.nuclei}`);
  t.true(r.testPearson!.nuclei > 0.7, `nuclei r ${r.testPearson!.nuclei} after 30 steps`);
  t.true(r.testPearson!.nuclei > untrained.testPearson!.nuclei + 0.5, 'training raised the test-split r');
  await t.throwsAsync(train({ ...base, out: join(root, 'm3'), steps: 1 }, await shardSource(join(root, 'z3'), 3)), { message: /z_count 3 does not fit config tiny \(2 z-slots\)/ });
  await t.throwsAsync(train({ ...base, out: join(root, 'm4'), steps: 1, labels: ['MAP2'] }, await shardSource(join(root, 'z2'), 3)), { message: /label "MAP2" is absent from all shards \(they have: nuclei\)/ });
  await rm(root, { recursive: true });
});
