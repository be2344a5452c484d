/**
 * Training loop: batches of shuffled patches (random crop to the network input, random flip /
 * 90-degree rotation applied to input and targets together, optional input gain / offset jitter),
 * the ONNX Runtime training step (model/onnxtrain.ts), Adam on a learning-rate schedule
 * (model/schedule.ts), batch-norm moving averages, `train.jsonl`, atomic checkpoints, and
 * validation on held-out rows with the best checkpoint kept in OUT/best/ (model/recipe.ts).
 *
 * Reproducibility: the weights start from the seed; the k-th example of the stream gets its crop
 * and augmentation from deriveSeed(seed, 'example', k) (crop y, crop x, transform, then gain and
 * offset only when enabled, so runs without intensity jitter draw as before); the stream itself is
 * a deterministic function of (seed, epoch). A checkpoint records the step, the examples consumed
 * and the recipe, so `resume` replays the stream up to there and continues bit for bit.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deriveSeed, mulberry32 } from '../core/random.ts';
import { badInput, badOption } from '../core/errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { progress as startProgress } from '../core/progress.ts';
import { dihedralSource, DIHEDRAL_COUNT } from '../transforms/dihedral.ts';
import { initialValues } from './network.ts';
import { loadCheckpoint, saveCheckpoint, type AdamState, type Checkpoint } from './checkpoint.ts';
import { OnnxTrainStep, type HeadFeed } from './onnxtrain.ts';
import { OnnxPredictor } from './onnx/predictor.ts';
import { pearson } from '../transforms/evaluate/pearson.ts';
import { buildPlan, configByName, withHeads, withZSlots, type ModelConfig, type Plan } from './plan.ts';
import { discretize } from './loss.ts';
import { RECIPE_KEYS, resolveRecipe, TRAIN_DEFAULTS, type Recipe } from './recipe.ts';
import { learningRate } from './schedule.ts';

/** One training example as the shard reader yields it (io/shards TrainingPatch). */
export interface PatchLike {
  /** z * P * P intensities in [0, 1], z-major. */
  input: Float32Array;
  /** One byte per z-plane, 1 = present. */
  inputMask: Uint8Array;
  /** Labels this patch has: P * P intensities and validity masks. */
  labels: Map<string, { data: Float32Array; mask: Uint8Array }>;
  /** Row of the patch's top edge in its well (needed for a validation split by rows). */
  y?: number;
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

/**
 * Options of {@link train}. The recipe fields (model/recipe.ts: batch, lr, schedule, window,
 * augmentation, validation) default to the resumed checkpoint's values, else TRAIN_DEFAULTS.
 */
export interface TrainOptions extends Partial<Recipe> {
  /** Network (default `TRAIN_DEFAULTS.config`; with `init`/`resume`: the model's, which this must match). */
  config?: ModelConfig;
  /** Input z-slots of the network (default: the config's; with `init`/`resume` it must match the model's). */
  zSlots?: number;
  out: string;
  /** Optimizer steps to reach (with `resume`: in total). */
  steps?: number;
  seed?: number;
  /** Continue from the checkpoint in `out`. */
  resume?: boolean;
  /** Start from the weights of this model directory (fine-tuning; new label heads start fresh). */
  init?: string;
  /** Label heads to train (default: all labels of the source). */
  labels?: string[];
  /** Steps between checkpoints (one is always written at the end). */
  checkpointEvery?: number;
  /** ONNX Runtime threads. */
  threads?: number;
  /** Progress: JSON lines (true), bar (false), or by TTY (undefined). */
  jsonProgress?: boolean;
  /** Stop (with a checkpoint) once this much wall time has passed, seconds. */
  maxSeconds?: number;
  /** Evaluate on the source's held-out patches at the end (default true; writes eval.json). */
  evaluate?: boolean;
  /** Held-out (test split) patches evaluated at the end at most; 0 skips the evaluation. */
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
  /** Pearson r per head on the validation rows at the last step (with `valRows`). */
  valPearson?: Record<string, number>;
  /** The best validation so far (mean r over the label heads), whose weights are in `out/best/`. */
  best?: { step: number; r: number };
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

/** Input intensity augmentation: per-example gain in [1 - gainJitter, 1 + gainJitter], offset in [-offsetJitter, offsetJitter]. */
export interface IntensityJitter {
  gainJitter: number;
  offsetJitter: number;
}

/**
 * One example cut to the network: input NCHW slice, head targets. With a seed: random crop, one
 * of the 8 dihedral transforms (transforms/dihedral.ts) of input and targets, and the intensity
 * jitter of the input (clipped to [0, 1]; targets, autoencoding ones included, are not jittered,
 * so the network learns to see through it). Exported for tests.
 */
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
  jitter: IntensityJitter = { gainJitter: 0, offsetJitter: 0 },
): void {
  const S = plan.inputSize;
  const so = plan.outputSize;
  const cfg = plan.config;
  // No seed: centre crop, no transform or jitter (evaluation). The draw order is fixed: crop y,
  // crop x, transform, then gain and offset only when enabled.
  const u = exampleSeed === null ? () => 0.5 : mulberry32(exampleSeed);
  const oy = Math.floor(u() * (patchSize - S + 1));
  const ox = Math.floor(u() * (patchSize - S + 1));
  const r = exampleSeed === null ? 0 : Math.floor(u() * DIHEDRAL_COUNT);
  const gain = exampleSeed !== null && jitter.gainJitter > 0 ? 1 + jitter.gainJitter * (2 * u() - 1) : 1;
  const offset = exampleSeed !== null && jitter.offsetJitter > 0 ? jitter.offsetJitter * (2 * u() - 1) : 0;
  const jittered = gain !== 1 || offset !== 0;
  // Source pixel index in the patch for crop pixel (a, b).
  const inCrop = dihedralSource(r, S, S, patchSize);
  const corner = oy * patchSize + ox;
  const src = (a: number, b: number): number => corner + inCrop(a, b);
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
        const v = present ? p.input[plane + src(a, b)] : 0;
        inputOut[img + a * S + b] = jittered && present ? Math.min(1, Math.max(0, v * gain + offset)) : v;
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
 * The network of a run: a resumed or `init` model's own (new labels added for `init`), which
 * `options.config` / `options.zSlots` must then match, or `options.config` (default
 * TRAIN_DEFAULTS.config) with `zSlots` and heads for the labels.
 * @throws IslError BAD_OPTION naming `config` for another config than the model's, and `zSlots`
 *   for another z-slot count than the model's.
 */
function runConfig(options: TrainOptions, labels: string[], model: ModelConfig | undefined, modelDir: string): ModelConfig {
  if (!model) {
    const base = options.config ?? configByName(TRAIN_DEFAULTS.config);
    const config = options.zSlots === undefined ? base : withZSlots(base, options.zSlots);
    return withHeads(config, { autoencoding: config.zSlots, labels });
  }
  const how = options.resume ? 'the resumed model' : 'the --init model';
  if (options.config && options.config.name !== model.name) throw badOption('config', `the config of ${how} ${modelDir} (${model.name}), or none`, options.config.name);
  const z = options.zSlots ?? options.config?.zSlots;
  if (z !== undefined && z !== model.zSlots) throw badOption('zSlots', `the z-slots of ${how} ${modelDir} (${model.zSlots}), or none`, z);
  return model;
}

/** Mean validation r over the label heads (all heads when there are none): what "best" means. */
function validationScore(plan: Plan, r: Record<string, number>): number {
  const labels = plan.heads.filter((h) => h.kind === 'label' && r[h.name] !== undefined).map((h) => r[h.name]);
  const all = labels.length > 0 ? labels : Object.values(r);
  return all.length > 0 ? all.reduce((a, b) => a + b, 0) / all.length : NaN;
}

/**
 * Validates the options of {@link train} (before any data or checkpoint is read) and fills in the
 * run defaults; returns the recipe options that were given.
 * @throws IslError BAD_OPTION naming the key of the first invalid value.
 */
export function checkTrainOptions(options: TrainOptions): { steps: number; seed: number; checkpointEvery: number; threads: number; evalPatches: number; given: Partial<Recipe> } {
  const steps = options.steps ?? TRAIN_DEFAULTS.steps;
  const seed = options.seed ?? TRAIN_DEFAULTS.seed;
  const checkpointEvery = options.checkpointEvery ?? TRAIN_DEFAULTS.checkpointEvery;
  const threads = options.threads ?? TRAIN_DEFAULTS.threads;
  const evalPatches = options.evalPatches ?? TRAIN_DEFAULTS.evalPatches;
  if (!Number.isInteger(steps) || steps < 1) throw badOption('steps', 'a positive integer', steps);
  if (!Number.isInteger(seed)) throw badOption('seed', 'an integer', seed);
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 1) throw badOption('checkpointEvery', 'a positive integer (steps)', checkpointEvery);
  if (!Number.isInteger(threads) || threads < 1) throw badOption('threads', 'a positive integer', threads);
  if (!Number.isInteger(evalPatches) || evalPatches < 0) throw badOption('evalPatches', 'a non-negative integer (0 skips the evaluation)', evalPatches);
  if (options.maxSeconds !== undefined && !(options.maxSeconds > 0)) throw badOption('maxSeconds', 'a positive number of seconds', options.maxSeconds);
  if (options.zSlots !== undefined && (!Number.isInteger(options.zSlots) || options.zSlots < 1)) throw badOption('zSlots', 'a positive integer', options.zSlots);
  const given = Object.fromEntries(RECIPE_KEYS.map((k) => [k, options[k]]).filter(([, v]) => v !== undefined)) as Partial<Recipe>;
  resolveRecipe(given, undefined, steps);
  return { steps, seed, checkpointEvery, threads, evalPatches, given };
}

/**
 * Trains on `source`, writing `train.jsonl` and checkpoints into `options.out` (and the best
 * validated weights into `out/best/` when `valRows` is set).
 * @throws IslError BAD_OPTION / BAD_INPUT for bad options, data that does not fit the config,
 *   and unreadable checkpoints (`--resume`, `--init`).
 */
export async function train(options: TrainOptions, source: PatchSource): Promise<TrainResult> {
  const { out } = options;
  const { steps, seed, checkpointEvery, threads, evalPatches, given } = checkTrainOptions(options);
  const labels = options.labels ?? source.labels;
  let ckpt: Checkpoint | undefined;
  let config: ModelConfig;
  if (options.resume) {
    ckpt = await loadCheckpoint(out);
    config = runConfig(options, labels, ckpt.config, out);
  } else if (options.init) {
    const init = await loadCheckpoint(options.init);
    // Fine-tuning keeps the trained architecture, its heads, and adds the new labels.
    const model = runConfig(options, labels, init.config, options.init);
    const keep = model.heads.labels;
    config = withHeads(model, { autoencoding: model.heads.autoencoding, labels: [...keep, ...labels.filter((l) => !keep.includes(l))] });
    ckpt = { config, weights: init.weights };
  } else {
    config = runConfig(options, labels, undefined, out);
  }
  const recipe = resolveRecipe(given, options.resume ? ckpt?.train?.options : undefined, steps);
  const { batch } = recipe;
  const window = recipe.window ?? config.inputSize;
  recipe.window = window;
  const plan = buildPlan(config, { inputSize: window });
  checkSource(config, source, labels, out, window);
  const weights = new Map<string, Float32Array>();
  for (const w of plan.weights) weights.set(w.name, ckpt?.weights.get(w.name) ?? initialValues(w, seed));
  const trainableNames = plan.weights.filter((w) => w.trainable).map((w) => w.name);
  const adam: AdamState =
    options.resume && ckpt?.optimizer
      ? ckpt.optimizer
      : { lr: recipe.lr, ...ADAM, t: 0, m: new Map(trainableNames.map((n) => [n, new Float32Array(weights.get(n)!.length)])), v: new Map(trainableNames.map((n) => [n, new Float32Array(weights.get(n)!.length)])) };
  const schedule = { lr: recipe.lr, warmup: recipe.warmup, decay: recipe.decay, decaySteps: recipe.decaySteps ?? 1, decayFactor: recipe.decayFactor };
  let step = options.resume ? (ckpt?.train?.step ?? 0) : 0;
  let examples = options.resume ? (ckpt?.train?.examples ?? 0) : 0;
  let best = options.resume ? ckpt?.train?.best : undefined;
  const runSeed = options.resume ? (ckpt?.train?.seed ?? seed) : seed;
  if (step >= steps) return { step, loss: NaN, examplesPerSecond: 0 };

  // The validation split by rows: training sees only patches wholly above `valRows`.
  const valRows = recipe.valRows;
  const rowOf = (p: PatchLike): number => {
    if (p.y === undefined) throw badInput(out, 'valRows needs the patches\' rows in their well (y), which this source does not give');
    return p.y;
  };
  const isTraining = (p: PatchLike): boolean => valRows === undefined || rowOf(p) + source.patchSize <= valRows;
  const validation: PatchSource | undefined =
    valRows === undefined
      ? undefined
      : {
          ...source,
          test: async function* () {
            for await (const p of source.epoch(0)) if (rowOf(p) >= valRows) yield p;
          },
        };

  await mkdir(out, { recursive: true });
  const logPath = join(out, 'train.jsonl');
  if (!options.resume) await writeFile(logPath, '');
  const stepper = await OnnxTrainStep.create(plan, batch, threads);

  // The example stream, replayed from the start of the run up to `examples` on resume.
  let epoch = 0;
  let iter = source.epoch(0)[Symbol.asyncIterator]();
  let inEpoch = 0;
  const next = async (): Promise<PatchLike> => {
    for (;;) {
      const r = await iter.next();
      if (!r.done) {
        if (!isTraining(r.value)) continue;
        inEpoch++;
        return r.value;
      }
      if (inEpoch === 0) throw badInput(out, valRows === undefined ? 'the shards hold no training patches' : `the shards hold no training patches wholly above row ${valRows} (valRows)`);
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
  const state = () => ({ seed: runSeed, step, examples, options: { ...recipe }, ...(best ? { best } : {}) });
  const save = () => saveCheckpoint(out, { config, weights, optimizer: adam, train: state() });
  const validate = async (): Promise<Record<string, number>> => {
    const r = await evaluate(plan, weights, validation!, batch, recipe.valPatches, threads);
    if (Object.keys(r).length === 0) throw badInput(out, `no validation patches: none lies wholly at rows >= ${valRows} (valRows) with a label`);
    const score = validationScore(plan, r);
    if (!best || score > best.r) {
      best = { step, r: Number(score.toFixed(4)) };
      await saveCheckpoint(join(out, 'best'), { config, weights, train: state() });
    }
    return r;
  };
  const t0 = performance.now();
  let lastLoss = NaN;
  let lastVal: Record<string, number> | undefined;
  let done = 0;
  try {
    while (step < steps) {
      const ts = performance.now();
      for (let b = 0; b < batch; b++) {
        const p = await next();
        assembleExample(plan, p, source.patchSize, source.zCount, deriveSeed(runSeed, 'example', examples), input, b * C * S * S, targets, b * so * so, recipe);
        examples++;
      }
      const feeds = headFeeds(plan, targets);
      const r = await stepper.run(input, feeds, weights);
      adam.lr = learningRate(schedule, adam.t + 1);
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
      const timeUp = options.maxSeconds !== undefined && (performance.now() - t0) / 1000 >= options.maxSeconds;
      const last = step === steps || timeUp;
      const val = validation && (step % recipe.valEvery === 0 || last) ? await validate() : undefined;
      if (val) lastVal = val;
      const line = { step, loss, losses, lr: adam.lr, examples_per_s: Number(eps.toFixed(2)), elapsed_s: Number(((performance.now() - t0) / 1000).toFixed(2)), ...(val ? { val, best } : {}) };
      await appendFile(logPath, JSON.stringify(line) + '\n');
      bar.tick(1, { loss: loss, 'ex/s': eps });
      options.onStep?.(step, loss);
      if (step % checkpointEvery === 0 || last) await save();
      if (timeUp) break;
    }
  } finally {
    bar.stop();
    await stepper.release();
    // Close the shard readers of an epoch left part-way (their file handles).
    await iter.return?.();
  }
  const examplesPerSecond = (done * batch) / ((performance.now() - t0) / 1000);
  const ran = { step, loss: lastLoss, examplesPerSecond, ...(lastVal ? { valPearson: lastVal, best } : {}) };
  if (!source.test || options.evaluate === false || evalPatches === 0) return ran;
  const testPearson = await evaluate(plan, weights, source, batch, evalPatches, threads);
  await writeFileAtomic(join(out, 'eval.json'), JSON.stringify({ step, split: 'test', statistic: EVAL_STATISTIC, pearson: testPearson }, null, 1) + '\n');
  return { ...ran, testPearson };
}
