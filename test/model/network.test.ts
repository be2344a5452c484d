import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../core/random.ts';
import { buildPlan, tiny, withHeads } from '../../model/plan.ts';
import { createWeights, forward, initialValues } from '../../model/network.ts';
import { discretize, headLoss, islLoss } from '../../model/loss.ts';
import { OnnxTrainStep } from '../../model/onnxtrain.ts';
import { headFeeds } from '../../model/trainer.ts';
import { loadCheckpoint, saveCheckpoint } from '../../model/checkpoint.ts';

await tf.setBackend('cpu');
tf.env().set('IS_TEST', true);

const plan = buildPlan(tiny);
const B = 2;
const S = plan.inputSize;
const C = tiny.inputChannels;
const so = plan.outputSize;
const u = mulberry32(11);
const inputNhwc = Float32Array.from({ length: B * S * S * C }, () => u());
const n = B * so * so;
const targets = new Map(plan.heads.map((h) => [h.name, { values: Float32Array.from({ length: n }, () => u()), mask: Uint8Array.from({ length: n }, () => (u() < 0.8 ? 1 : 0)) }]));

function toNchw(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) for (let c = 0; c < C; c++) out[((b * C + c) * S + y) * S + xx] = x[((b * S + y) * S + xx) * C + c];
  return out;
}

test('tfjs network output shapes and inference mode', (t) => {
  const W = createWeights(plan, 1);
  const out = tf.tidy(() => {
    const logits = forward(plan, W, tf.tensor4d(inputNhwc, [B, S, S, C]), { training: false });
    return plan.heads.map((h) => logits.get(h.name)!.shape);
  });
  for (const s of out) t.deepEqual(s, [B, so, so, 256]);
  t.throws(() => forward(plan, W, tf.zeros([1, S - 1, S - 1, C]) as tf.Tensor4D, { training: false }), { message: /network input must be \[N, 26, 26, 4\]/ });
  W.forEach((v) => v.dispose());
});

test('uniform logits score exactly 1.0; discretisation rounds v * 255', (t) => {
  const l = headLoss(tf.zeros([2, 3, 3, 256]) as tf.Tensor4D, { values: new Float32Array(18).fill(0.3), mask: new Uint8Array(18).fill(1) })!;
  t.true(Math.abs(l.dataSync()[0] - 1) < 1e-6);
  t.deepEqual([...discretize(Float32Array.of(0, 0.5 / 255, 0.499, 1, 1.2, -0.1), 256)], [0, 1, 127, 255, 255, 0]);
  t.is(headLoss(tf.zeros([1, 1, 1, 256]) as tf.Tensor4D, { values: new Float32Array(1), mask: new Uint8Array(1) }), null);
});

// Its gradients are checked tensor by tensor in test/model/onnxtrain.test.ts.
test('the ONNX training graph computes the tfjs loss', async (t) => {
  const W = createWeights(plan, 3);
  const tfLoss = tf.tidy(() => islLoss(plan.heads, forward(plan, W, tf.tensor4d(inputNhwc, [B, S, S, C]), { training: true }), targets).total.dataSync()[0]);
  W.forEach((v) => v.dispose());
  const step = await OnnxTrainStep.create(plan, B, 1);
  const feeds = headFeeds(plan, targets);
  const weights = new Map(plan.weights.filter((w) => w.trainable).map((w) => [w.name, initialValues(w, 3)]));
  const r = await step.run(toNchw(inputNhwc), feeds, weights);
  let s = 0;
  for (const [h, f] of feeds) s += f.coef * r.losses.get(h)!;
  t.true(Math.abs(s - tfLoss) < 1e-5, `onnx ${s} tfjs ${tfLoss}`);
  await step.release();
});

test('checkpoints round-trip and reject damaged files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'isl-ckpt-'));
  const cfg = withHeads(tiny, { autoencoding: 2, labels: ['nuclei', 'dead'] });
  const p = buildPlan(cfg);
  const weights = new Map(p.weights.map((w) => [w.name, initialValues(w, 5)]));
  const m = new Map([['projection/conv/bias', Float32Array.of(1, 2, 3, 4)]]);
  await saveCheckpoint(dir, { config: cfg, weights, optimizer: { lr: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, t: 3, m, v: m }, train: { seed: 1, step: 3, examples: 48, options: {} } });
  const back = await loadCheckpoint(dir);
  t.deepEqual(back.config, cfg);
  t.deepEqual([...back.weights.get('head/dead/conv/filter')!], [...weights.get('head/dead/conv/filter')!]);
  t.deepEqual([...back.optimizer!.m.get('projection/conv/bias')!], [1, 2, 3, 4]);
  t.is(back.train?.examples, 48);
  const bin = await readFile(join(dir, 'weights.bin'));
  bin[100] ^= 0xff;
  await writeFile(join(dir, 'weights.bin'), bin);
  await t.throwsAsync(loadCheckpoint(dir), { message: /weights\.bin: weights\.bin does not belong to model\.json/ });
  await writeFile(join(dir, 'model.json'), '{"format": "something-else"}');
  await t.throwsAsync(loadCheckpoint(dir), { message: /unreadable checkpoint: format is "something-else", expected "isl-checkpoint"/ });
  await rm(dir, { recursive: true });
});
