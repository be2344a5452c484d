/**
 * One training step (forward, ISL loss, backward, Adam) of a config at a batch size: ours (the
 * whole step as one ONNX Runtime graph, model/onnxtrain.ts, 2 threads) vs PyTorch CPU (Debian
 * python3-torch, 2 threads, bench/train_step_ref.py built on ../shared/tools/isl_torch_ref.py),
 * measured in the same run. Also the tfjs `cpu` backend with our ONNX Runtime conv kernels
 * (bench/ortkernels.ts) for one step when `--tfjs` is given (slow: minutes).
 * Usage: npm run bench -- train_step [--config small] [--batch 16] [--reps 3] [--tfjs]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { report } from './lib.ts';
import { buildPlan, configByName, countMacs, countParams, withHeads } from '../model/plan.ts';
import { initialValues } from '../model/network.ts';
import { OnnxTrainStep } from '../model/onnxtrain.ts';
import { adamUpdate, headFeeds } from '../model/trainer.ts';
import { mulberry32 } from '../core/random.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const configName = arg('config', 'small');
const batch = Number(arg('batch', '16'));
const reps = Number(arg('reps', '3'));
const base = configByName(configName);
const config = withHeads(base, { autoencoding: base.zSlots, labels: ['nuclei'] });
const plan = buildPlan(config);
const u = mulberry32(1);
const S = plan.inputSize;
const so = plan.outputSize;
const input = Float32Array.from({ length: batch * config.inputChannels * S * S }, () => u());
const targets = new Map(plan.heads.map((h) => [h.name, { values: Float32Array.from({ length: batch * so * so }, () => u()), mask: new Uint8Array(batch * so * so).fill(1) }]));
const feeds = headFeeds(plan, targets);
const weights = new Map(plan.weights.map((w) => [w.name, initialValues(w, 1)]));
const trainable = plan.weights.filter((w) => w.trainable).map((w) => w.name);
const adam = { lr: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, t: 0, m: new Map(trainable.map((n) => [n, new Float32Array(weights.get(n)!.length)])), v: new Map(trainable.map((n) => [n, new Float32Array(weights.get(n)!.length)])) };

const stepper = await OnnxTrainStep.create(plan, batch, 2);
const step = async () => {
  const r = await stepper.run(input, feeds, weights);
  adamUpdate(adam, weights, r.grads);
};
await step();
const times: number[] = [];
for (let i = 0; i < reps; i++) {
  const t0 = performance.now();
  await step();
  times.push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
const ours = times[Math.floor(times.length / 2)];
await stepper.release();

const script = fileURLToPath(new URL('./train_step_ref.py', import.meta.url));
const py = spawnSync('/usr/bin/python3', [script, JSON.stringify(config), String(batch), String(reps), '2'], { encoding: 'utf8' });
if (py.status !== 0) throw new Error(`PyTorch reference failed (run bench/setup first?): ${py.stderr.trim().split('\n').pop()}`);
const lines = py.stdout.trim().split('\n');
const ref = Number(lines[lines.length - 1]);
const refParams = Number(lines.find((l) => l.startsWith('params'))?.split(' ')[1]);
const gflop = (3 * 2 * countMacs(plan) * batch) / 1e9;
report(`train_step_${configName}_b${batch}`, ours, ref, {
  throughput_vs_torch: Number((ref / ours).toFixed(3)),
  params: countParams(plan),
  torch_params: refParams,
  conv_gflop_per_step: Number(gflop.toFixed(2)),
  ours_gflops: Number((gflop / ours).toFixed(1)),
  torch_gflops: Number((gflop / ref).toFixed(1)),
  loadavg_1m: Number(loadavg()[0].toFixed(1)),
});

if (process.argv.includes('--tfjs')) {
  const tf = await import('@tensorflow/tfjs');
  const { registerOrtConvKernels } = await import('./ortkernels.ts');
  const { createWeights, forward } = await import('../model/network.ts');
  const { islLoss } = await import('../model/loss.ts');
  await tf.setBackend('cpu');
  registerOrtConvKernels(2);
  const W = createWeights(plan, 1);
  const x = tf.tensor4d(input.slice(0, batch * S * S * config.inputChannels), [batch, S, S, config.inputChannels]);
  const t0 = performance.now();
  const { value, grads } = tf.variableGrads(() => islLoss(plan.heads, forward(plan, W, x, { training: true }), targets).total);
  await value.data();
  const s = (performance.now() - t0) / 1000;
  tf.dispose([value, ...Object.values(grads)]);
  report(`train_step_${configName}_b${batch}_tfjs_cpu_ort_convs`, s, ref, { throughput_vs_torch: Number((ref / s).toFixed(4)) });
}
