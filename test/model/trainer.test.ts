import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { loadCheckpoint } from '../../model/checkpoint.ts';
import { tiny } from '../../model/plan.ts';
import { train, type PatchLike, type PatchSource } from '../../model/trainer.ts';
import { memoryPatchSource } from '../helpers/patch_source.ts';

const P = 30;
const Z = 2;

/** Patches of four intensity levels whose "nuclei" label is plane 0 scaled: learnable from the input. */
function memorySource(n: number, seed: number, labels = ['nuclei']): PatchSource {
  const u = mulberry32(seed);
  const patches: PatchLike[] = Array.from({ length: n }, () => {
    const input = Float32Array.from({ length: Z * P * P }, () => Math.floor(u() * 4) / 4);
    const data = Float32Array.from({ length: P * P }, (_, i) => input[i] * 0.8);
    return { input, inputMask: Uint8Array.of(1, 1), labels: new Map([['nuclei', { data, mask: new Uint8Array(P * P).fill(1) }]]) };
  });
  return memoryPatchSource(patches, { patchSize: P, zCount: Z, labels });
}

const base = { config: tiny, batch: 4, lr: 1e-3, seed: 7, jsonProgress: true, threads: 1 };

test('training lowers the loss, logs train.jsonl and writes a loadable checkpoint', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'isl-train-'));
  const losses: number[] = [];
  const r = await train({ ...base, lr: 0.03, out, steps: 30, checkpointEvery: 10, onStep: (_s, l) => losses.push(l) }, memorySource(12, 1));
  t.is(r.step, 30);
  const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
  t.true(first > 0.9 && first < 1.2, `first losses ${first}`);
  // Four levels per head: learning just their frequencies takes the loss to ln(4)/ln(256) = 0.25.
  t.true(last < 0.75, `loss ${first} -> ${last}`);
  const lines = (await readFile(join(out, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.is(lines.length, 30);
  t.deepEqual(Object.keys(lines[0].losses).sort(), ['autoencoding_0', 'autoencoding_1', 'nuclei']);
  t.true(lines[0].examples_per_s > 0);
  const ck = await loadCheckpoint(out);
  t.is(ck.train?.step, 30);
  t.is(ck.optimizer?.t, 30);
  t.deepEqual(ck.config.heads.labels, ['nuclei']);
  await rm(out, { recursive: true });
});

test('--window trains the same weights on a larger input; the checkpoint keeps it', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'isl-train-window-'));
  const losses: number[] = [];
  // tiny: 26 px input -> 4 px output, stride 2; 30 px -> 8 px (4x the target pixels).
  await train({ ...base, lr: 0.03, out, steps: 20, window: 30, onStep: (_s, l) => losses.push(l) }, memorySource(12, 1));
  t.true(losses[19] < losses[0] - 0.2, `loss ${losses[0]} -> ${losses[19]}`);
  const ck = await loadCheckpoint(out);
  t.is(ck.train?.options.window, 30);
  t.deepEqual(ck.config, { ...tiny, heads: { autoencoding: 2, labels: ['nuclei'] } });
  await t.throwsAsync(train({ ...base, out, steps: 2, window: 27 }, memorySource(4, 1)), { message: /26 \+ k \* 2 px/ });
  await t.throwsAsync(train({ ...base, out, steps: 2, window: 32 }, memorySource(4, 1)), { message: /patch_size 30 is smaller than the tiny network input \(32 px\)/ });
  await rm(out, { recursive: true });
});

test('--resume continues bit for bit', async (t) => {
  const a = await mkdtemp(join(tmpdir(), 'isl-train-a-'));
  const b = await mkdtemp(join(tmpdir(), 'isl-train-b-'));
  await train({ ...base, out: a, steps: 6 }, memorySource(10, 2));
  await train({ ...base, out: b, steps: 3 }, memorySource(10, 2));
  await train({ ...base, out: b, steps: 6, resume: true }, memorySource(10, 2));
  const [ca, cb] = [await loadCheckpoint(a), await loadCheckpoint(b)];
  t.is(cb.train?.step, 6);
  t.is(cb.train?.examples, ca.train?.examples);
  let differ = 0;
  for (const [name, w] of ca.weights) {
    const v = cb.weights.get(name)!;
    for (let i = 0; i < w.length; i++) if (w[i] !== v[i]) differ++;
  }
  t.is(differ, 0);
  await rm(a, { recursive: true });
  await rm(b, { recursive: true });
});

test('--init fine-tunes with a new label head and keeps the trained weights', async (t) => {
  const a = await mkdtemp(join(tmpdir(), 'isl-train-init-a-'));
  const b = await mkdtemp(join(tmpdir(), 'isl-train-init-b-'));
  await train({ ...base, out: a, steps: 2 }, memorySource(8, 3));
  const src = memorySource(8, 3, ['nuclei', 'dead']);
  const dead: PatchSource = {
    ...src,
    labels: ['dead'],
    epoch: async function* (e) {
      for await (const p of src.epoch(e)) yield { ...p, labels: new Map([['dead', p.labels.get('nuclei')!]]) };
    },
  };
  await train({ ...base, out: b, steps: 1, init: a }, dead);
  const ca = await loadCheckpoint(a);
  const cb = await loadCheckpoint(b);
  t.deepEqual(cb.config.heads.labels, ['nuclei', 'dead']);
  t.true(cb.weights.has('head/dead/conv/filter'));
  // One step of Adam moves each weight by at most ~lr.
  const w0 = ca.weights.get('projection/conv/filter')!;
  const w1 = cb.weights.get('projection/conv/filter')!;
  t.true(w0.every((v, i) => Math.abs(v - w1[i]) <= 1.01e-3));
  await rm(a, { recursive: true });
  await rm(b, { recursive: true });
});

test('bad data and unreadable checkpoints give clear errors', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'isl-train-bad-'));
  const small = { ...memorySource(4, 4), patchSize: 20 };
  await t.throwsAsync(train({ ...base, out, steps: 1 }, small), { message: /patch_size 20 is smaller than the tiny network input \(26 px\)/ });
  await t.throwsAsync(train({ ...base, out, steps: 1 }, { ...memorySource(4, 4), zCount: 3 }), { message: /z_count 3 does not fit config tiny \(2 z-slots\)/ });
  await t.throwsAsync(train({ ...base, out, steps: 1, labels: ['dead'] }, memorySource(4, 4)), { message: /label "dead" is absent from all shards \(they have: nuclei\)/ });
  await t.throwsAsync(train({ ...base, out, steps: 1, resume: true }, memorySource(4, 4)), { message: /model\.json: cannot read the checkpoint \(ENOENT\)/ });
  await writeFile(join(out, 'model.json'), '{"format": "isl-checkpoint", "version": 1, tru');
  await t.throwsAsync(train({ ...base, out, steps: 1, resume: true }, memorySource(4, 4)), { message: /unreadable checkpoint: not valid JSON/ });
  await rm(out, { recursive: true });
});
