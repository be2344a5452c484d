/**
 * The paper's baselines (`unet`, `deeplab`): plan shapes and size rules, the training graph's
 * forward (loss vs tfjs) and backward (directional finite differences on whole weight tensors),
 * the exported model vs tfjs, and tiled prediction vs one pass.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { mulberry32 } from '../../core/random.ts';
import { zStack, plane } from '../../core/image.ts';
import { buildPlan, countMacs, countParams, deeplab, outputStride, unet, type ModelConfig, type Plan } from '../../model/plan.ts';
import { createWeights, disposeWeights, forward, initialValues } from '../../model/network.ts';
import { islLoss } from '../../model/loss.ts';
import { OnnxTrainStep } from '../../model/onnxtrain.ts';
import { headFeeds } from '../../model/trainer.ts';
import { exportOnnx, onnxOutputName } from '../../model/onnx/export.ts';
import { closeInferenceModel, createInferenceModel, predictStack } from '../../model/onnx/infer.ts';
import { randomWeights } from '../helpers/weights.ts';

await tf.setBackend('cpu');
tf.env().set('IS_TEST', true);

const heads = { autoencoding: 1, labels: ['nuclei'] };
/** The configs' structure at test widths (2 z-slots, a few channels). */
const unetT: ModelConfig = { ...structuredClone(unet), name: 'unet-test', zSlots: 2, inputChannels: 4, widths: [4, 6, 8], heads };
const deeplabT: ModelConfig = { ...structuredClone(deeplab), name: 'deeplab-test', zSlots: 2, inputChannels: 4, widths: [4, 6, 8], asppDepth: 6, decoderDepth: 4, heads };

function shapeOf(plan: Plan, name: string) {
  const op = plan.ops.find((o) => o.output === name);
  if (!op) throw new Error(`no tensor ${name}`);
  return op.shape;
}

test('unet and deeplab plans: shapes, fully convolutional sizes, same weights at any size', (t) => {
  const u = buildPlan(unet);
  t.is(u.outputSize, 44);
  t.deepEqual(shapeOf(u, 'down2/conv1/conv'), [14, 14, 128]);
  // the decoder's skip: encoder level 0 (80 px) centre-cropped to the upconv's 48 px
  t.deepEqual(shapeOf(u, 'up0/upconv/conv_transpose'), [48, 48, 32]);
  t.deepEqual(shapeOf(u, 'up0/skip/crop'), [48, 48, 32]);
  t.deepEqual(shapeOf(u, 'up0/concat'), [48, 48, 64]);
  const d = buildPlan(deeplab);
  t.is(d.outputSize, 44);
  // ASPP at stride 4: 18 px in, the rate-3 branch loses 3 px a side, the others are cropped to it
  t.deepEqual(shapeOf(d, 'aspp/branch3/conv'), [12, 12, 64]);
  t.deepEqual(shapeOf(d, 'aspp/branch0/crop'), [12, 12, 64]);
  t.deepEqual(shapeOf(d, 'decoder/upsample'), [48, 48, 64]);
  t.is(d.ops.find((o) => o.output === 'aspp/branch2/conv' && o.op === 'conv' && o.dilation === 2)?.shape[0], 14);
  for (const cfg of [unet, deeplab]) {
    t.is(outputStride(cfg), 4);
    const big = buildPlan(cfg, { inputSize: cfg.inputSize + 3 * 4 });
    t.is(big.outputSize, cfg.outputWindow + 12);
    t.deepEqual(big.weights.map((w) => [w.name, w.shape]), buildPlan(cfg).weights.map((w) => [w.name, w.shape]));
    t.throws(() => buildPlan(cfg, { inputSize: cfg.inputSize + 2 }), { message: new RegExp(`Expected ${cfg.inputSize} \\+ k \\* 4 px`) });
  }
  // Sizes recorded in model/README.md (13 z-slots, one label head).
  t.deepEqual([countParams(u), countMacs(u)], [955_616, 722_486_528]);
  t.deepEqual([countParams(d), countMacs(d)], [791_704, 609_852_352]);
  t.throws(() => buildPlan({ ...structuredClone(unet), widths: [8] } as ModelConfig), { message: /Expected at least two depths .* for unet.widths/ });
});

test('training graph of the baselines: loss equals tfjs, gradients match finite differences on whole tensors', async (t) => {
  for (const cfg of [unetT, deeplabT]) {
    const plan = buildPlan(cfg);
    const B = 1, S = plan.inputSize, C = cfg.inputChannels, so = plan.outputSize;
    const u = mulberry32(21);
    const nhwc = Float32Array.from({ length: B * S * S * C }, () => u());
    const nchw = new Float32Array(nhwc.length);
    for (let b = 0; b < B; b++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < C; c++) nchw[((b * C + c) * S + y) * S + x] = nhwc[((b * S + y) * S + x) * C + c];
    const n = B * so * so;
    const targets = new Map(plan.heads.map((h) => [h.name, { values: Float32Array.from({ length: n }, () => u()), mask: Uint8Array.from({ length: n }, () => (u() < 0.8 ? 1 : 0)) }]));
    const weights = new Map(plan.weights.filter((w) => w.trainable).map((w) => [w.name, initialValues(w, 5)]));
    const W = createWeights(plan, 5);
    const tfLoss = tf.tidy(() => islLoss(plan.heads, forward(plan, W, tf.tensor4d(nhwc, [B, S, S, C]), { training: true }), targets).total.dataSync()[0]);
    disposeWeights(W);
    const step = await OnnxTrainStep.create(plan, B, 1);
    const feeds = headFeeds(plan, targets);
    const total = async (ws: Map<string, Float32Array>) => {
      const r = await step.run(nchw, feeds, ws);
      let s = 0;
      for (const [h, f] of feeds) s += f.coef * r.losses.get(h)!;
      return { s, r };
    };
    const { s, r } = await total(weights);
    t.true(Math.abs(s - tfLoss) < 1e-5, `${cfg.name}: onnx ${s} tfjs ${tfLoss}`);
    // Per weight tensor: the loss's central difference along v = g/|g| + e/|e| (e random)
    // against <g, v>; a gradient wrong in any direction or scale moves one of the two terms.
    const eps = 1e-3;
    let worst = 0;
    for (const [name, w] of weights) {
      const g = r.grads.get(name)!;
      const gn = Math.hypot(...g);
      const e = Float32Array.from(g, () => u() - 0.5);
      const en = Math.hypot(...e);
      const v = Float32Array.from(g, (gi, i) => (gn > 0 ? gi / gn : 0) + e[i] / en);
      let dot = 0;
      for (let i = 0; i < g.length; i++) dot += g[i] * v[i];
      const at = (sign: number) => new Map(weights).set(name, Float32Array.from(w, (x, i) => x + sign * eps * v[i]));
      const fd = ((await total(at(1))).s - (await total(at(-1))).s) / (2 * eps);
      const err = Math.abs(fd - dot) / (Math.abs(dot) + 1e-3);
      worst = Math.max(worst, err);
      t.true(Math.abs(fd - dot) <= 0.03 * Math.abs(dot) + 2e-4, `${cfg.name} ${name}: fd ${fd} vs graph ${dot}`);
    }
    t.log(`${cfg.name}: ${weights.size} weight tensors, worst relative error ${worst.toExponential(2)}`);
    await step.release();
  }
});

test('exported baselines match the tfjs forward pass; tiled prediction equals one pass', async (t) => {
  for (const cfg of [unetT, deeplabT]) {
    const plan = buildPlan(cfg, { inputSize: cfg.inputSize + 8 });
    const values = randomWeights(plan, 9);
    const session = await ort.InferenceSession.create(exportOnnx(plan, values, { outputs: ['logits'] }), { intraOpNumThreads: 1 });
    const L = plan.inputSize, C = cfg.inputChannels;
    const u = mulberry32(4);
    const nhwc = Float32Array.from({ length: L * L * C }, () => u());
    const nchw = new Float32Array(nhwc.length);
    for (let y = 0; y < L; y++) for (let x = 0; x < L; x++) for (let c = 0; c < C; c++) nchw[(c * L + y) * L + x] = nhwc[(y * L + x) * C + c];
    const out = await session.run({ input: new ort.Tensor('float32', nchw, [1, C, L, L]) });
    const W = createWeights(plan, 0, values);
    const ref = tf.tidy(() => forward(plan, W, tf.tensor4d(nhwc, [1, L, L, C]), { training: false }).get('nuclei')!.dataSync() as Float32Array);
    disposeWeights(W);
    const l = out[onnxOutputName('nuclei', 'logits')];
    const S = plan.outputSize, K = cfg.bins;
    t.deepEqual(l.dims, [1, K, S, S]);
    let maxD = 0;
    const ld = l.data as Float32Array;
    for (let k = 0; k < K; k++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) maxD = Math.max(maxD, Math.abs(ld[(k * S + y) * S + x] - ref[(y * S + x) * K + k]));
    t.true(maxD <= 1e-4, `${cfg.name}: max |dlogit| ${maxD}`);
    await session.release();

    // predict: a 100 x 91 well in 44 px tiles (seams) and in one tile give the same pixels.
    const w = 100, h = 91;
    const planes = [0, 1].map((z) => plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => 0.5 + 0.3 * Math.sin((i % w) / 3 + z) * Math.cos(Math.floor(i / w) / 4))));
    const model = await createInferenceModel(cfg, randomWeights(buildPlan(cfg), 9), { statistics: ['mean'], threads: 1 });
    const one = await predictStack(model, zStack(planes), { tile: 1000 });
    const tiled = await predictStack(model, zStack(planes), { tile: 44 });
    await closeInferenceModel(model);
    const a = one.get('nuclei')!.get('mean')!;
    const b = tiled.get('nuclei')!.get('mean')!;
    t.is(a.length, w * h);
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    t.true(d <= 1e-4, `${cfg.name}: tiled vs one pass max diff ${d}`);
  }
});
