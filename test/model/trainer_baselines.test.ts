import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { ShardWriter } from '../../io/shards/writer.ts';
import { SCHEMA_VERSION, type ShardMeta } from '../../io/shards/schema.ts';
import { configByName } from '../../model/plan.ts';
import { loadCheckpoint } from '../../model/checkpoint.ts';
import { train } from '../../model/trainer.ts';
import { shardSource } from '../../pipelines/train.ts';

const P = 104;
// One plane (and --z-slots 1: one autoencoding head) keeps the test cheap; the nets are the configs'.
const Z = 1;

/** Shards whose "nuclei" label is the plane at 80 % (four intensity levels in 4 px blocks): learnable from the input. */
async function writeShards(dir: string): Promise<void> {
  const meta: ShardMeta = {
    schema_version: SCHEMA_VERSION, labels: ['nuclei'], patch_size: P, z_count: Z, transmitted_channel: 'PHASE_CONTRAST',
    normalization: { method: 'none' }, source: { test: true }, split: { train: ['A1'], test: [] }, seed: 1,
  };
  const u = mulberry32(5);
  const w = await ShardWriter.create(dir, { format: 'parquet', meta });
  for (let i = 0; i < 8; i++) {
    const blocks = Float64Array.from({ length: (P / 4) ** 2 }, () => Math.floor(u() * 4));
    const plane = Uint16Array.from({ length: P * P }, (_, k) => blocks[Math.floor(Math.floor(k / P) / 4) * (P / 4) + Math.floor((k % P) / 4)] * 16384);
    const input = plane;
    const data = plane.map((v) => Math.round(v * 0.8));
    await w.write({ well: 'A1', y: i * P, x: 0, split: 'train', input, labels: new Map([['nuclei', { data }]]) });
  }
  await w.close();
}

test('--config unet and deeplab train from shards: the loss falls, the checkpoint keeps the config', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'isl-train-baselines-'));
  await writeShards(join(root, 'shards'));
  for (const name of ['unet', 'deeplab'] as const) {
    const losses: number[] = [];
    const out = join(root, name);
    const r = await train({ config: configByName(name), out, steps: 12, batch: 2, zSlots: 1, lr: 3e-3, seed: 3, threads: 2, jsonProgress: true, onStep: (_s, l) => losses.push(l) }, await shardSource(join(root, 'shards'), 3));
    t.is(r.step, 12);
    const first = losses.slice(0, 2).reduce((a, b) => a + b) / 2;
    const last = losses.slice(-2).reduce((a, b) => a + b) / 2;
    t.log(`${name}: loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
    t.true(first > 0.8 && first < 1.3, `${name} first losses ${first}`);
    // Four levels: their frequencies alone take the loss to ln(4)/ln(256) = 0.25.
    t.true(last < 0.7 * first, `${name}: loss ${first} -> ${last}`);
    const ck = await loadCheckpoint(out);
    t.is(ck.config.arch, name);
    t.deepEqual(ck.config.heads, { autoencoding: 1, labels: ['nuclei'] });
  }
  await rm(root, { recursive: true });
});
