import test from 'ava';
import * as ort from 'onnxruntime-node';
import { buildPlan, countMacs, phased, tiny, type ModelConfig } from '../../../model/plan.ts';
import { exportOnnx, onnxOutputName } from '../../../model/onnx/export.ts';
import { createInferenceModel, predictStack, reflectIndex, slotPlanes, closeInferenceModel, passMacs } from '../../../model/onnx/infer.ts';
import { mulberry32 } from '../../../core/random.ts';
import type { ZStack } from '../../../core/image.ts';
import { randomWeights } from '../../helpers/weights.ts';

function randomStack(w: number, h: number, depth: number, seed: number): ZStack {
  const u = mulberry32(seed);
  // Smooth-ish structure plus noise, so neighbouring patches differ.
  const data = Float32Array.from({ length: w * h * depth }, (_, i) => {
    const x = i % w, y = Math.floor(i / w) % h, z = Math.floor(i / (w * h));
    return 0.5 + 0.3 * Math.sin(x / 3 + z) * Math.cos(y / 4) + 0.2 * (u() - 0.5);
  });
  return { width: w, height: h, depth, data };
}

/** The paper's definition, naively: one network run per output block on the reflected patch centred on it. */
async function perPatch(config: ModelConfig, weights: Map<string, Float32Array>, stack: ZStack, head: string, stat: 'mean' | 'median') {
  const plan = buildPlan(config);
  const session = await ort.InferenceSession.create(exportOnnx(plan, weights, { heads: [head], outputs: [stat] }), { intraOpNumThreads: 1 });
  const L = config.inputSize, ow = config.outputWindow, m = (L - ow) / 2, C = config.inputChannels;
  const { width: W, height: H } = stack;
  const slots = slotPlanes(stack.depth, config.zSlots);
  const out = new Float32Array(W * H);
  for (let by = 0; by < H; by += ow)
    for (let bx = 0; bx < W; bx += ow) {
      const x = new Float32Array(C * L * L);
      for (let s = 0; s < config.zSlots; s++)
        for (let i = 0; i < L; i++)
          for (let j = 0; j < L; j++) {
            x[(2 * s * L + i) * L + j] = stack.data[(slots[s] * H + reflectIndex(by - m + i, H)) * W + reflectIndex(bx - m + j, W)];
            x[((2 * s + 1) * L + i) * L + j] = 1;
          }
      const r = (await session.run({ input: new ort.Tensor('float32', x, [1, C, L, L]) }))[onnxOutputName(head, stat)].data as Float32Array;
      for (let i = 0; i < ow && by + i < H; i++) for (let j = 0; j < ow && bx + j < W; j++) out[(by + i) * W + bx + j] = r[i * ow + j];
    }
  await session.release();
  return out;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('exact mode equals the naive per-patch reference; fast mode does not at the other grid phases', async (t) => {
  const weights = randomWeights(buildPlan(phased), 11);
  const stack = randomStack(41, 29, 3, 5);
  const model = await createInferenceModel(phased, weights, { statistics: ['mean', 'median'], threads: 1 });
  t.is(model.stride, 4);
  // Small tiles, so the test covers several tiles, reflection at every border and all phases.
  const exact = await predictStack(model, stack, { mode: 'exact', tile: 18 });
  const fast = await predictStack(model, stack, { mode: 'fast', tile: 18 });
  const whole = await predictStack(model, stack, { mode: 'fast', tile: 200 });
  for (const head of ['nuclei', 'neurons']) {
    const ref = await perPatch(phased, weights, stack, head, 'mean');
    const d = maxDiff(exact.get(head)!.get('mean')!, ref);
    t.log(`${head}: exact vs per-patch max |d mean| = ${d.toExponential(2)}; fast vs per-patch ${maxDiff(fast.get(head)!.get('mean')!, ref).toExponential(2)}`);
    t.true(d <= 1e-4, `exact differs from per-patch by ${d}`);
    t.true(maxDiff(fast.get(head)!.get('mean')!, ref) > 1e-4, 'fast mode is not exact at the shifted phases (the test can fail)');
    t.true(maxDiff(fast.get(head)!.get('mean')!, whole.get(head)!.get('mean')!) <= 1e-5, 'tiles join without seams');
    const med = await perPatch(phased, weights, stack, head, 'median');
    t.true(maxDiff(exact.get(head)!.get('median')!, med) <= 1e-6);
  }
  await closeInferenceModel(model);
});

test('statistics match their definitions on the bin distribution', async (t) => {
  const config = { ...structuredClone(tiny), heads: { autoencoding: 0, labels: ['nuclei'] } };
  const plan = buildPlan(config, { inputSize: 34 });
  const weights = randomWeights(plan, 2);
  const stats = ['median', 'mean', 'mode', 'std', 'entropy'] as const;
  const session = await ort.InferenceSession.create(exportOnnx(plan, weights, { outputs: ['probabilities', ...stats], layout: 'nhwc' }), { intraOpNumThreads: 1 });
  const u = mulberry32(9);
  const L = 34, C = config.inputChannels;
  const r = await session.run({ input: new ort.Tensor('float32', Float32Array.from({ length: C * L * L }, () => u()), [1, C, L, L]) });
  const p = r['probabilities/nuclei'].data as Float32Array;
  const B = config.bins, n = p.length / B;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const q = p.subarray(i * B, (i + 1) * B);
    let cdf = 0, med = -1, mean = 0, m2 = 0, ent = 0, mode = 0;
    for (let b = 0; b < B; b++) {
      cdf += q[b];
      if (med < 0 && cdf >= 0.5) med = b;
      mean += q[b] * b / 255; m2 += q[b] * (b / 255) ** 2;
      if (q[b] > 0) ent -= q[b] * Math.log2(q[b]);
      if (q[b] > q[mode]) mode = b;
    }
    const want = { median: med / 255, mean, mode: mode / 255, std: Math.sqrt(Math.max(0, m2 - mean * mean)), entropy: ent };
    for (const s of stats) worst = Math.max(worst, Math.abs((r[`${s}/nuclei`].data as Float32Array)[i] - want[s]) / (s === 'median' ? 1 : 1));
  }
  t.log(`worst |d| over ${n} pixels: ${worst.toExponential(2)}`);
  t.true(worst <= 2e-4);
  // The distribution is not degenerate (entropy well above 0), so the check means something.
  t.true((r['entropy/nuclei'].data as Float32Array)[0] > 1);
});

test('reflection and slot mapping', (t) => {
  t.deepEqual([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((i) => reflectIndex(i, 4)), [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
  t.is(reflectIndex(-5, 1), 0);
  t.deepEqual(slotPlanes(13, 26).slice(0, 6), [0, 0, 1, 1, 2, 2]);
  t.deepEqual(slotPlanes(26, 26), Array.from({ length: 26 }, (_, i) => i));
});

test('bad inference options are rejected', async (t) => {
  const config = { ...structuredClone(tiny), heads: { autoencoding: 0, labels: ['nuclei'] } };
  const weights = randomWeights(buildPlan(config), 1);
  await t.throwsAsync(createInferenceModel(config, weights, { statistics: ['average' as 'mean'] }), { message: 'Expected some of median, mean, mode, std, entropy for statistics but received "average" (string)' });
  const model = await createInferenceModel(config, weights, { threads: 1 });
  await t.throwsAsync(predictStack(model, randomStack(8, 8, 2, 1), { mode: 'slow' as 'fast' }), { message: 'Expected fast or exact for mode but received "slow" (string)' });
  await closeInferenceModel(model);
});

test('passMacs counts the same network at any pass size', (t) => {
  const plan = buildPlan(phased);
  t.is(passMacs(plan, phased.inputSize), countMacs(plan));
  // A larger pass costs more in total but less per output pixel (shared context).
  const ow = phased.outputWindow, extra = 4 * 8;
  const big = passMacs(plan, phased.inputSize + extra);
  t.true(big > countMacs(plan));
  t.true(big / (ow + extra) ** 2 < countMacs(plan) / ow ** 2);
});

test('execution providers fall through to the next one that starts', async (t) => {
  const config = { ...structuredClone(tiny), heads: { autoencoding: 0, labels: ['nuclei'] } };
  const weights = randomWeights(buildPlan(config), 1);
  const model = await createInferenceModel(config, weights, { threads: 1, providers: ['webgpu', 'cpu'] });
  t.true(['webgpu', 'cpu'].includes(model.provider), model.provider);
  const p = await predictStack(model, randomStack(9, 7, 2, 3));
  t.is(p.get('nuclei')!.get('median')!.length, 63);
  await closeInferenceModel(model);
  await t.throwsAsync(createInferenceModel(config, weights, { providers: ['nosuch'] }), { message: /^No execution provider could start \(nosuch: .*\); add cpu to the providers$/ });
});
