/**
 * The ISL network on the `@tensorflow/tfjs` API: interprets a {@link Plan} op by op. Weights are
 * `tf.Variable`s keyed by the plan's weight names; batch norm uses batch statistics in training
 * (and updates the moving averages) and the moving averages in inference.
 */
import * as tf from '@tensorflow/tfjs';
import { deriveSeed, mulberry32 } from '../core/random.ts';
import { badInput } from '../core/errors.ts';
import type { Plan, PlanOp, WeightSpec } from './plan.ts';

/** Weights of a network by plan weight name. */
export type Weights = Map<string, tf.Variable>;

/** Values of one weight, for initialisation: uniform by a seeded PRNG derived from the seed and the weight name. */
export function initialValues(spec: WeightSpec, seed: number): Float32Array {
  const n = spec.shape.reduce((a, d) => a * d, 1);
  const v = new Float32Array(n);
  if (spec.init.kind === 'constant') return v.fill(spec.init.value);
  const u = mulberry32(deriveSeed(seed, 'init', spec.name));
  const l = spec.init.limit;
  for (let i = 0; i < n; i++) v[i] = (2 * u() - 1) * l;
  return v;
}

/**
 * Creates the plan's weights as variables, initialised from `seed` (each weight from its own
 * derived stream, so adding a head leaves the other weights unchanged). `existing` values
 * (e.g. from a checkpoint) are used where present and must have the plan's shapes.
 * @throws IslError BAD_INPUT when an existing weight has another shape.
 */
export function createWeights(plan: Plan, seed: number, existing?: Map<string, Float32Array>): Weights {
  const weights: Weights = new Map();
  for (const spec of plan.weights) {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const given = existing?.get(spec.name);
    if (given && given.length !== n) {
      throw badInput(spec.name, `weight ${spec.name} has ${given.length} values but the plan needs shape [${spec.shape.join(', ')}] (${n})`);
    }
    weights.set(spec.name, tf.variable(tf.tensor(given ?? initialValues(spec, seed), spec.shape, 'float32'), spec.trainable));
  }
  return weights;
}

/** Disposes all variables. */
export function disposeWeights(weights: Weights): void {
  for (const v of weights.values()) v.dispose();
}

/** Options of {@link forward}. */
export interface ForwardOptions {
  /** Batch statistics in batch norm and moving-average updates (true), or moving averages (false). */
  training: boolean;
}

function w(weights: Weights, name: string): tf.Variable {
  const v = weights.get(name);
  if (!v) throw new Error(`missing weight ${name}`);
  return v;
}

/** Repeats the edge pixels `p` times on each spatial side of NHWC `x`. */
function padEdge(x: tf.Tensor4D, p: number): tf.Tensor4D {
  const [, h, wd] = x.shape;
  const top = tf.tile(tf.slice(x, [0, 0, 0, 0], [-1, 1, -1, -1]), [1, p, 1, 1]);
  const bottom = tf.tile(tf.slice(x, [0, h - 1, 0, 0], [-1, 1, -1, -1]), [1, p, 1, 1]);
  const y = tf.concat([top, x, bottom], 1);
  const left = tf.tile(tf.slice(y, [0, 0, 0, 0], [-1, -1, 1, -1]), [1, 1, p, 1]);
  const right = tf.tile(tf.slice(y, [0, 0, wd - 1, 0], [-1, -1, 1, -1]), [1, 1, p, 1]);
  return tf.concat([left, y, right], 2);
}

function runOp(op: PlanOp, env: Map<string, tf.Tensor4D>, weights: Weights, opts: ForwardOptions): tf.Tensor4D {
  const get = (name: string) => {
    const t = env.get(name);
    if (!t) throw new Error(`tensor ${name} not computed`);
    return t;
  };
  switch (op.op) {
    case 'input':
      return get(op.output);
    case 'conv': {
      let y = tf.conv2d(get(op.input), w(weights, op.filter) as tf.Tensor4D, op.stride, 'valid', 'NHWC', op.dilation ?? 1);
      if (op.bias) y = tf.add(y, w(weights, op.bias));
      return y;
    }
    case 'conv_transpose': {
      const x = get(op.input);
      let y = tf.conv2dTranspose(x, w(weights, op.filter) as tf.Tensor4D, [x.shape[0], op.shape[0], op.shape[1], op.shape[2]], op.stride, 'valid');
      if (op.bias) y = tf.add(y, w(weights, op.bias));
      return y;
    }
    case 'batchnorm': {
      const x = get(op.input);
      const gamma = w(weights, op.gamma) as tf.Tensor1D;
      const beta = w(weights, op.beta) as tf.Tensor1D;
      const mm = w(weights, op.movingMean);
      const mv = w(weights, op.movingVariance);
      if (!opts.training) return tf.batchNorm(x, mm as tf.Tensor1D, mv as tf.Tensor1D, beta, gamma, op.epsilon);
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const n = x.shape[0] * x.shape[1] * x.shape[2];
      const m = op.momentum;
      // Moving variance is unbiased, as in PyTorch; the update does not feed the loss.
      mm.assign(tf.add(tf.mul(mm, 1 - m), tf.mul(mean, m)));
      mv.assign(tf.add(tf.mul(mv, 1 - m), tf.mul(variance, (m * n) / Math.max(n - 1, 1))));
      return tf.batchNorm(x, mean as tf.Tensor1D, variance as tf.Tensor1D, beta, gamma, op.epsilon);
    }
    case 'relu_tanh_concat': {
      const x = get(op.input);
      return tf.concat([tf.relu(x), tf.tanh(x)], 3);
    }
    case 'maxpool':
      return tf.maxPool(get(op.input), op.kernel, op.stride, 'valid');
    case 'avgpool':
      return tf.avgPool(get(op.input), op.kernel, op.stride, 'valid');
    case 'crop':
      return tf.slice(get(op.input), [0, op.crop, op.crop, 0], [-1, op.shape[0], op.shape[1], -1]);
    case 'upsample_nearest':
      return tf.image.resizeNearestNeighbor(get(op.input), [op.shape[0], op.shape[1]]);
    case 'pad_edge':
      return padEdge(get(op.input), op.pad);
    case 'pad_channels': {
      const x = get(op.input);
      return tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, op.shape[2] - x.shape[3]]]);
    }
    case 'crop_channels':
      return tf.slice(get(op.input), [0, 0, 0, 0], [-1, -1, -1, op.shape[2]]);
    case 'add':
      return tf.addN(op.inputs.map(get));
    case 'concat':
      return tf.concat(op.inputs.map(get), 3);
  }
}

/**
 * Runs the network on a batch. Call inside `tf.tidy` (or a gradient function); intermediate
 * tensors are freed as soon as no later op needs them only when the caller's scope ends.
 * @param input `[batch, inputSize, inputSize, inputChannels]` NHWC, values in [0, 1].
 * @returns logits `[batch, outputSize, outputSize, bins]` per head name.
 * @throws Error when the input shape does not match the plan.
 */
export function forward(plan: Plan, weights: Weights, input: tf.Tensor4D, opts: ForwardOptions): Map<string, tf.Tensor4D> {
  const [, h, wd, c] = input.shape;
  if (h !== plan.inputSize || wd !== plan.inputSize || c !== plan.config.inputChannels) {
    throw new Error(`network input must be [N, ${plan.inputSize}, ${plan.inputSize}, ${plan.config.inputChannels}] but is [${input.shape.join(', ')}]`);
  }
  const env = new Map<string, tf.Tensor4D>([[plan.input, input]]);
  for (const op of plan.ops) {
    if (op.op === 'input') continue;
    env.set(op.output, runOp(op, env, weights, opts));
  }
  return new Map(plan.heads.map((hd) => [hd.name, env.get(hd.output)!]));
}
