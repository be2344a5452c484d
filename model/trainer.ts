/**
 * Training loop: batches of shuffled patches (random crop to the network input, random flip /
 * 90-degree rotation applied to input and targets together), the ONNX Runtime training step
 * (model/onnxtrain.ts), Adam, batch-norm moving averages, `train.jsonl` and atomic checkpoints.
 *
 * Reproducibility: the weights start from the seed; the k-th example of the stream gets its crop
 * and augmentation from deriveSeed(seed, 'example', k); the stream itself is a deterministic
 * function of (seed, epoch). A checkpoint records the step and the examples consumed, so
 * `resume` replays the stream up to there and continues bit for bit.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deriveSeed, mulberry32 } from '../core/random.ts';
import { badInput, badOption } from '../core/errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { progress as startProgress } from '../core/progress.ts';
import { initialValues } from './network.ts';
import { loadCheckpoint, saveCheckpoint, type AdamState, type Checkpoint } from './checkpoint.ts';
import { OnnxTrainStep, type HeadFeed } from './onnxtrain.ts';
import { OnnxPredictor } from './onnx/predictor.ts';
import { pearson } from '../transforms/evaluate/pearson.ts';
import { buildPlan, withHeads, type ModelConfig, type Plan } from './plan.ts';
import { discretize } from './loss.ts';

/** One training example as the shard reader yields it (io/shards TrainingPatch). */
export interface PatchLike {
  /** z * P * P intensities in [0, 1], z-major. */
  input: Float32Array;
  /** One byte per z-plane, 1 = present. */
  inputMask: Uint8Array;
  /** Labels this patch has: P * P intensities and validity masks. */
  labels: Map<string, { data: Float32Array; mask: Uint8Array }>;
}

/** The data: patch geometry and a restartable, deterministic stream per epoch. */
export interface PatchSource {
  patchSize: number;
  zCount: number;
  /** Label names available in the data. */
  labels: string[];
  /** Patches of epoch `epoch` in a fixed order for a given seed (shuffled by the source). */
  epoch(epoch: number): AsyncIterable<PatchLike>;
  /** Held-out patches (other wells) for the final evaluation, if any. */
  test?(): AsyncIterable<PatchLike>;
}

/** Options of {@link train}. */
export interface TrainOptions {
  config: ModelConfig;
  out: string;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  /** Start from the weights of this model directory (fine-tuning; new label heads start fresh). */
  init?: string;
  /** Label heads to train (default: all labels of the source). */
  labels?: string[];
  /**
   * Input side the network is trained at, px (default `config.inputSize`): any
   * `config.inputSize + k * outputStride(config)`. The network is fully convolutional, so a larger
   * window trains the same weights on many more target pixels per FLOP. Kept by checkpoints.
   */
  window?: number;
  /** Steps between checkpoints (default 100; one is always written at the end). */
  checkpointEvery?: number;
  /** ONNX Runtime threads (default 2). */
  threads?: number;
  /** Progress: JSON lines (true), bar (false), or by TTY (undefined). */
  jsonProgress?: boolean;
  /** Stop (with a checkpoint) once this much wall time has passed, seconds. */
  maxSeconds?: number;
  /** Evaluate on the source's held-out patches at the end (default true; writes eval.json). */
  evaluate?: boolean;
  /** Held-out patches evaluated at most (default 512). */
  evalPatches?: number;
  /** Called after every step (tests). */
  onStep?: (step: number, loss: number) => void;
}

/** What a run ends with. */
export interface TrainResult {
  step: number;
  loss: number;
  examplesPerSecond: number;
  /** Pearson r of predicted vs true intensity per head on the held-out patches (when the source has them). */
  testPearson?: Record<string, number>;
}

/**
 * Predicts the held-out patches (centre crops) with the inference model `predict` runs
 * (model/onnx/predictor.ts: moving batch-norm statistics, the `mean` statistic = expected
 * intensity) and returns the Pearson r per head over all present target pixels, from at most
 * `maxPatches` patches.
 */
export async function evaluate(plan: Plan, weights: Map<string, Float32Array>, source: PatchSource, batch: number, maxPatches = 512, threads = 2): Promise<Record<string, number>> {
  if (!source.test) return {};
  const predictor = await OnnxPredictor.create(plan, weights, batch, threads, EVAL_STATISTIC);
  const S = plan.inputSize;
  const so = plan.outputSize;
  const C = plan.config.inputChannels;
  const input = new Float32Array(batch * C * S * S);
  const targets = new Map(plan.heads.map((h) => [h.name, { values: new Float32Array(batch * so * so), mask: new Uint8Array(batch * so * so) }]));
  const pred = new Map<string, number[]>(plan.heads.map((h) => [h.name, []]));
  const truth = new Map<string, number[]>(plan.heads.map((h) => [h.name, []]));
  let b = 0;
  let seen = 0;
  const flush = async () => {
    const out = await predictor.run(input);
    for (const h of plan.heads) {
      const t = targets.get(h.name)!;
      const o = out.get(h.name)!;
      for (let i = 0; i < b * so * so; i++) if (t.mask[i]) { pred.get(h.name)!.push(o[i]); truth.get(h.name)!.push(t.values[i]); }
    }
    b = 0;
  };
  try {
    for await (const p of source.test()) {
      if (seen++ >= maxPatches) break;
      assembleExample(plan, p, source.patchSize, source.zCount, null, input, b * C * S * S, targets, b * so * so);
      if (++b === batch) await flush();
    }
    if (b > 0) await flush();
  } finally {
    await predictor.release();
  }
  const r: Record<string, number> = {};
  for (const h of plan.heads) {
    const a = Float32Array.from(pred.get(h.name)!);
    if (a.length > 1) r[h.name] = Number(pearson(a, truth.get(h.name)!).toFixed(4));
  }
  return r;
}

/** The statistic of each head's bins that training-time evaluation scores (`predict --stats mean`). */
export const EVAL_STATISTIC = 'mean';

const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

/**
 * Checks the data against the config.
 * @throws IslError BAD_INPUT when the patches are smaller than the network input, the z count
 *   does not divide the config's z-slots, or a requested label is absent from the data.
 */
export function checkSource(config: ModelConfig, source: PatchSource, labels: string[], where: string, window = config.inputSize): void {
  if (source.patchSize < window) {
    throw badInput(where, `patch_size ${source.patchSize} is smaller than the ${config.name} network input (${window} px); reshard with --patch-size ${window} or larger`);
  }
  if (config.zSlots % source.zCount !== 0) {
    throw badInput(where, `z_count ${source.zCount} does not fit config ${config.name} (${config.zSlots} z-slots); use shards with ${config.zSlots} planes (or a divisor), another config, or --z-slots ${source.zCount}`);
  }
  for (const l of labels) {
    if (!source.labels.includes(l)) throw badInput(where, `label "${l}" is absent from all shards (they have: ${source.labels.join(', ') || 'none'})`);
  }
}

/** Dihedral transform of the square [0, S): transpose, then flips. */
interface Dihedral {
  transpose: boolean;
  flipY: boolean;
  flipX: boolean;
}

/** One example cut to the network: input NCHW slice, head targets. Exported for tests. */
export function assembleExample(
  plan: Plan,
  p: PatchLike,
  patchSize: number,
  zCount: number,
  exampleSeed: number | null,
  inputOut: Float32Array,
  inputOffset: number,
  heads: Map<string, { values: Float32Array; mask: Uint8Array }>,
  targetOffset: number,
): void {
  const S = plan.inputSize;
  const so = plan.outputSize;
  const cfg = plan.config;
  // No seed: centre crop, no flip or rotation (evaluation).
  const u = exampleSeed === null ? () => 0.5 : mulberry32(exampleSeed);
  const oy = Math.floor(u() * (patchSize - S + 1));
  const ox = Math.floor(u() * (patchSize - S + 1));
  const r = exampleSeed === null ? 0 : Math.floor(u() * 8);
  const d: Dihedral = { transpose: (r & 1) === 1, flipY: (r & 2) === 2, flipX: (r & 4) === 4 };
  // Source pixel index in the patch for crop pixel (a, b).
  const src = (a: number, b: number): number => {
    let y = d.transpose ? b : a;
    let x = d.transpose ? a : b;
    if (d.flipY) y = S - 1 - y;
    if (d.flipX) x = S - 1 - x;
    return (oy + y) * patchSize + ox + x;
  };
  const P2 = patchSize * patchSize;
  const S2 = S * S;
  for (let slot = 0; slot < cfg.zSlots; slot++) {
    const z = Math.floor((slot * zCount) / cfg.zSlots);
    const present = p.inputMask[z] ? 1 : 0;
    const img = inputOffset + 2 * slot * S2;
    const msk = img + S2;
    const plane = z * P2;
    for (let a = 0; a < S; a++) {
      for (let b = 0; b < S; b++) {
        inputOut[img + a * S + b] = present ? p.input[plane + src(a, b)] : 0;
        inputOut[msk + a * S + b] = present;
      }
    }
  }
  const m = (S - so) / 2;
  for (const h of plan.heads) {
    const t = heads.get(h.name)!;
    let data: Float32Array | undefined;
    let mask: Uint8Array | undefined;
    let planeOff = 0;
    if (h.kind === 'autoencoding') {
      const slot = Number(h.name.slice('autoencoding_'.length));
      const z = Math.floor((slot * zCount) / cfg.zSlots);
      if (p.inputMask[z]) {
        data = p.input;
        planeOff = z * P2;
      }
    } else {
      const l = p.labels.get(h.name);
      if (l) {
        data = l.data;
        mask = l.mask;
      }
    }
    for (let a = 0; a < so; a++) {
      for (let b = 0; b < so; b++) {
        const i = targetOffset + a * so + b;
        if (!data) {
          t.values[i] = 0;
          t.mask[i] = 0;
          continue;
        }
        const s = src(m + a, m + b);
        t.values[i] = data[planeOff + s];
        t.mask[i] = mask ? mask[s] : 1;
      }
    }
  }
}

/** Feeds of one batch: head pixel weights and coefficients from the presence masks (see model/loss.ts). */
export function headFeeds(plan: Plan, heads: Map<string, { values: Float32Array; mask: Uint8Array }>): Map<string, HeadFeed> {
  const present = new Map<string, number>();
  for (const h of plan.heads) present.set(h.name, heads.get(h.name)!.mask.reduce((a, b) => a + (b ? 1 : 0), 0));
  const nAe = plan.heads.filter((h) => h.kind === 'autoencoding' && present.get(h.name)! > 0).length;
  const nL = plan.heads.filter((h) => h.kind === 'label' && present.get(h.name)! > 0).length;
  const groups = (nAe > 0 ? 1 : 0) + (nL > 0 ? 1 : 0);
  const feeds = new Map<string, HeadFeed>();
  const lnBins = Math.log(plan.config.bins);
  for (const h of plan.heads) {
    const t = heads.get(h.name)!;
    const n = present.get(h.name)!;
    const groupSize = h.kind === 'autoencoding' ? nAe : nL;
    const coef = n > 0 ? 1 / (groups * groupSize) : 0;
    const bins = discretize(t.values, plan.config.bins);
    feeds.set(h.name, {
      target: BigInt64Array.from(bins, (v) => BigInt(v)),
      weight: Float32Array.from(t.mask, (v) => (n > 0 && v ? 1 / (n * lnBins) : 0)),
      coef,
    });
  }
  return feeds;
}

/** One Adam update of `weights` in place from `grads` (bias-corrected moments, as PyTorch). */
export function adamUpdate(state: AdamState, weights: Map<string, Float32Array>, grads: Map<string, Float32Array>): void {
  state.t++;
  const { lr, beta1, beta2, epsilon, t } = state;
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  for (const [name, g] of grads) {
    const w = weights.get(name)!;
    const m = state.m.get(name)!;
    const v = state.v.get(name)!;
    for (let i = 0; i < w.length; i++) {
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      w[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + epsilon);
    }
  }
}

/**
 * Trains `options.config` on `source`, writing `train.jsonl` and checkpoints into `options.out`.
 * @throws IslError BAD_OPTION / BAD_INPUT for bad options, data that does not fit the config,
 *   and unreadable checkpoints (`--resume`, `--init`).
 */
export async function train(options: TrainOptions, source: PatchSource): Promise<TrainResult> {
  const { out, steps, batch, seed } = options;
  if (!Number.isInteger(steps) || steps < 1) throw badOption('--steps', 'a positive integer', steps);
  if (!Number.isInteger(batch) || batch < 1) throw badOption('--batch', 'a positive integer', batch);
  if (!(options.lr > 0)) throw badOption('--lr', 'a positive learning rate', options.lr);
  const labels = options.labels ?? source.labels;
  let config = withHeads(options.config, { autoencoding: options.config.zSlots, labels });
  let ckpt: Checkpoint | undefined;
  if (options.resume) {
    ckpt = await loadCheckpoint(out);
    config = ckpt.config;
  } else if (options.init) {
    const init = await loadCheckpoint(options.init);
    // Fine-tuning keeps the trained architecture, its heads, and adds the new labels.
    const keep = init.config.heads.labels;
    config = withHeads(init.config, { autoencoding: init.config.heads.autoencoding, labels: [...keep, ...labels.filter((l) => !keep.includes(l))] });
    ckpt = { config, weights: init.weights };
  }
  const window = options.window ?? (options.resume && typeof ckpt?.train?.options.window === 'number' ? ckpt.train.options.window : config.inputSize);
  const plan = buildPlan(config, { inputSize: window });
  checkSource(config, source, labels, out, window);
  const weights = new Map<string, Float32Array>();
  for (const w of plan.weights) weights.set(w.name, ckpt?.weights.get(w.name) ?? initialValues(w, seed));
  const trainableNames = plan.weights.filter((w) => w.trainable).map((w) => w.name);
  const adam: AdamState =
    options.resume && ckpt?.optimizer
      ? ckpt.optimizer
      : { lr: options.lr, ...ADAM, t: 0, m: new Map(trainableNames.map((n) => [n, new Float32Array(weights.get(n)!.length)])), v: new Map(trainableNames.map((n) => [n, new Float32Array(weights.get(n)!.length)])) };
  adam.lr = options.lr;
  let step = options.resume ? (ckpt?.train?.step ?? 0) : 0;
  let examples = options.resume ? (ckpt?.train?.examples ?? 0) : 0;
  const runSeed = options.resume ? (ckpt?.train?.seed ?? seed) : seed;
  if (step >= steps) return { step, loss: NaN, examplesPerSecond: 0 };

  await mkdir(out, { recursive: true });
  const logPath = join(out, 'train.jsonl');
  if (!options.resume) await writeFile(logPath, '');
  const stepper = await OnnxTrainStep.create(plan, batch, options.threads ?? 2);

  // The example stream, replayed from the start of the run up to `examples` on resume.
  let epoch = 0;
  let iter = source.epoch(0)[Symbol.asyncIterator]();
  let inEpoch = 0;
  const next = async (): Promise<PatchLike> => {
    for (;;) {
      const r = await iter.next();
      if (!r.done) {
        inEpoch++;
        return r.value;
      }
      if (inEpoch === 0) throw badInput(out, 'the shards hold no training patches');
      epoch++;
      inEpoch = 0;
      iter = source.epoch(epoch)[Symbol.asyncIterator]();
    }
  };
  for (let i = 0; i < examples; i++) await next();

  const S = plan.inputSize;
  const so = plan.outputSize;
  const C = config.inputChannels;
  const input = new Float32Array(batch * C * S * S);
  const targets = new Map(plan.heads.map((h) => [h.name, { values: new Float32Array(batch * so * so), mask: new Uint8Array(batch * so * so) }]));
  const bar = startProgress('train', steps, { json: options.jsonProgress });
  bar.tick(step);
  const save = async () => {
    await saveCheckpoint(out, {
      config,
      weights,
      optimizer: adam,
      train: { seed: runSeed, step, examples, options: { batch, lr: options.lr, window } },
    });
  };
  const t0 = performance.now();
  let lastLoss = NaN;
  let done = 0;
  try {
    while (step < steps) {
      const ts = performance.now();
      for (let b = 0; b < batch; b++) {
        const p = await next();
        assembleExample(plan, p, source.patchSize, source.zCount, deriveSeed(runSeed, 'example', examples), input, b * C * S * S, targets, b * so * so);
        examples++;
      }
      const feeds = headFeeds(plan, targets);
      const r = await stepper.run(input, feeds, weights);
      adamUpdate(adam, weights, r.grads);
      for (const bn of stepper.graph.bnStats) {
        const mm = weights.get(bn.movingMean)!;
        const mv = weights.get(bn.movingVariance)!;
        const mean = r.bnMean.get(bn.op)!;
        const v = r.bnVar.get(bn.op)!;
        const k = bn.momentum;
        const unbias = bn.count / Math.max(bn.count - 1, 1);
        for (let i = 0; i < mm.length; i++) {
          mm[i] = (1 - k) * mm[i] + k * mean[i];
          mv[i] = (1 - k) * mv[i] + k * v[i] * unbias;
        }
      }
      let loss = 0;
      for (const [h, f] of feeds) loss += f.coef * r.losses.get(h)!;
      step++;
      done++;
      lastLoss = loss;
      const eps = batch / ((performance.now() - ts) / 1000);
      const losses: Record<string, number> = {};
      for (const [h, f] of feeds) if (f.coef > 0) losses[h] = r.losses.get(h)!;
      await appendFile(logPath, JSON.stringify({ step, loss, losses, examples_per_s: Number(eps.toFixed(2)), elapsed_s: Number(((performance.now() - t0) / 1000).toFixed(2)) }) + '\n');
      bar.tick(1, { loss: loss, 'ex/s': eps });
      options.onStep?.(step, loss);
      const timeUp = options.maxSeconds !== undefined && (performance.now() - t0) / 1000 >= options.maxSeconds;
      if (step % (options.checkpointEvery ?? 100) === 0 || step === steps || timeUp) await save();
      if (timeUp) break;
    }
  } finally {
    bar.stop();
    await stepper.release();
    // Close the shard readers of an epoch left part-way (their file handles).
    await iter.return?.();
  }
  const examplesPerSecond = (done * batch) / ((performance.now() - t0) / 1000);
  if (!source.test || options.evaluate === false) return { step, loss: lastLoss, examplesPerSecond };
  const testPearson = await evaluate(plan, weights, source, batch, options.evalPatches ?? 512, options.threads ?? 2);
  await writeFileAtomic(join(out, 'eval.json'), JSON.stringify({ step, split: 'test', statistic: EVAL_STATISTIC, pearson: testPearson }, null, 1) + '\n');
  return { step, loss: lastLoss, examplesPerSecond, testPearson };
}
