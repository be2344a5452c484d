import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { buildPlan, tiny, withHeads, type Plan } from '../../../model/plan.ts';
import { createWeights, disposeWeights, forward } from '../../../model/network.ts';
import { randomWeights } from '../../helpers/weights.ts';
import { exportOnnx, onnxOutputName } from '../../../model/onnx/export.ts';
import { mulberry32 } from '../../../core/random.ts';

test('ONNX Runtime matches the TF.js forward pass (tiny config, random weights)', async (t) => {
  const config = withHeads(tiny, { autoencoding: 1, labels: ['nuclei', 'neurons'] });
  const plan = buildPlan(config, { inputSize: tiny.inputSize + 2 * 8 });
  const values = randomWeights(plan, 7);
  const bytes = exportOnnx(plan, values, { outputs: ['probabilities', 'logits'] });
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  t.deepEqual([...session.outputNames].sort(), ['logits/neurons', 'logits/nuclei', 'probabilities/neurons', 'probabilities/nuclei']);

  const n = 2, L = plan.inputSize, C = config.inputChannels;
  const u = mulberry32(3);
  const nhwc = Float32Array.from({ length: n * L * L * C }, () => u());
  const nchw = new Float32Array(nhwc.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < L; y++) for (let x = 0; x < L; x++) for (let c = 0; c < C; c++) nchw[((b * C + c) * L + y) * L + x] = nhwc[((b * L + y) * L + x) * C + c];
  const out = await session.run({ input: new ort.Tensor('float32', nchw, [n, C, L, L]) });

  const weights = createWeights(plan, 0, values);
  const ref = new Map<string, { logits: Float32Array; probs: Float32Array }>();
  tf.tidy(() => {
    const logits = forward(plan, weights, tf.tensor4d(nhwc, [n, L, L, C]), { training: false });
    for (const [k, v] of logits) ref.set(k, { logits: v.dataSync() as Float32Array, probs: tf.softmax(v).dataSync() as Float32Array });
  });
  disposeWeights(weights);
  const S = plan.outputSize, B = config.bins;
  for (const head of ['nuclei', 'neurons']) {
    const p = out[onnxOutputName(head, 'probabilities')];
    const l = out[onnxOutputName(head, 'logits')];
    t.deepEqual(p.dims, [n, B, S, S]);
    let maxDp = 0, maxDl = 0;
    const pd = p.data as Float32Array, ld = l.data as Float32Array;
    const r = ref.get(head)!;
    for (let b = 0; b < n; b++) for (let k = 0; k < B; k++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      const o = ((b * B + k) * S + y) * S + x, q = ((b * S + y) * S + x) * B + k;
      maxDp = Math.max(maxDp, Math.abs(pd[o] - r.probs[q]));
      maxDl = Math.max(maxDl, Math.abs(ld[o] - r.logits[q]));
    }
    t.log(`${head}: max |dp| = ${maxDp.toExponential(2)}, max |dlogit| = ${maxDl.toExponential(2)}`);
    t.true(maxDp <= 1e-4, `max |dp| ${maxDp}`);
    t.true(maxDl <= 1e-5, `max |dlogit| ${maxDl}`);
  }
});

test('export rejects unknown heads and missing weights', (t) => {
  const plan = buildPlan(tiny);
  const values = randomWeights(plan, 1);
  t.throws(() => exportOnnx(plan, values, { heads: ['dapi'] }), { message: 'Expected one of autoencoding_0, autoencoding_1, nuclei for heads but received "dapi" (string)' });
  values.delete('head/nuclei/conv/filter');
  t.throws(() => exportOnnx(plan, values), { message: /weight head\/nuclei\/conv\/filter is missing/ });
});
