/**
 * Model checkpoints: a directory with `model.json` (format, config, training state, a manifest of
 * float32 arrays) and `weights.bin` (the arrays, little-endian, concatenated: network weights
 * first, then optimizer slots). Each file is written to a temp file and renamed; `model.json`
 * is renamed last and records the SHA-256 and size of `weights.bin`, so a reader never accepts
 * a weights file from another save (a crash between the two renames is detected, not hidden).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { badInput } from '../core/errors.ts';
import { buildPlan, type ModelConfig } from './plan.ts';

export const CHECKPOINT_FORMAT = 'isl-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** Adam optimizer state: hyper-parameters, step count and the two moment slots per trainable weight. */
export interface AdamState {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Number of updates applied. */
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/** Where training stands: enough to continue bit for bit. */
export interface TrainState {
  /** Seed of the run: weight init, shuffling and augmentation all derive from it and the position. */
  seed: number;
  /** Optimizer steps done. */
  step: number;
  /** Examples consumed from the training stream. */
  examples: number;
  /** The run's recipe (model/recipe.ts). */
  options: Record<string, unknown>;
  /** The best validation so far: step and mean label r (its weights are in `best/`). */
  best?: { step: number; r: number };
}

/** Everything a checkpoint holds. */
export interface Checkpoint {
  config: ModelConfig;
  /** All plan weights (trainable and batch-norm moving statistics) by name. */
  weights: Map<string, Float32Array>;
  optimizer?: AdamState;
  train?: TrainState;
}

interface ArrayEntry {
  name: string;
  shape: number[];
  /** Offset in weights.bin, bytes. */
  offset: number;
}

interface ModelJson {
  format: string;
  version: number;
  config: ModelConfig;
  weightsBin: { bytes: number; sha256: string };
  weights: ArrayEntry[];
  optimizer?: Omit<AdamState, 'm' | 'v'> & { m: ArrayEntry[]; v: ArrayEntry[] };
  train?: TrainState;
}

/**
 * Saves a checkpoint into `dir` (created if needed), replacing an earlier one.
 * @throws Error when a weight's length does not match its plan shape.
 */
export async function saveCheckpoint(dir: string, ckpt: Checkpoint): Promise<void> {
  const plan = buildPlan(ckpt.config);
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], data: Float32Array): ArrayEntry => {
    const n = shape.reduce((a, d) => a * d, 1);
    if (data.length !== n) throw new Error(`checkpoint array ${name} has ${data.length} values, expected ${n}`);
    chunks.push(data);
    const e = { name, shape, offset };
    offset += n * 4;
    return e;
  };
  const weights = plan.weights.map((w) => {
    const d = ckpt.weights.get(w.name);
    if (!d) throw new Error(`checkpoint lacks weight ${w.name}`);
    return add(w.name, w.shape, d);
  });
  let optimizer: ModelJson['optimizer'];
  if (ckpt.optimizer) {
    const o = ckpt.optimizer;
    const shapeOf = new Map(plan.weights.map((w) => [w.name, w.shape]));
    const slots = (m: Map<string, Float32Array>) => [...m].map(([name, d]) => add(name, shapeOf.get(name) ?? [d.length], d));
    optimizer = { lr: o.lr, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon, t: o.t, m: slots(o.m), v: slots(o.v) };
  }
  const bin = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    bin.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at);
    at += c.byteLength;
  }
  const json: ModelJson = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: ckpt.config,
    weightsBin: { bytes: bin.length, sha256: createHash('sha256').update(bin).digest('hex') },
    weights,
    ...(optimizer ? { optimizer } : {}),
    ...(ckpt.train ? { train: ckpt.train } : {}),
  };
  await writeFileAtomic(join(dir, 'weights.bin'), bin);
  await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(json, null, 1) + '\n');
}

/**
 * Loads the checkpoint in `dir`.
 * @throws IslError BAD_INPUT naming the file when model.json or weights.bin is missing,
 *   unparsable, of another format or version, or inconsistent (size, hash, shapes).
 */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const jsonPath = join(dir, 'model.json');
  const binPath = join(dir, 'weights.bin');
  const remedy = 'point to a model directory written by pipelines/train.ts';
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (e) {
    throw badInput(jsonPath, `cannot read the checkpoint (${(e as NodeJS.ErrnoException).code ?? e}); ${remedy}`, undefined, e);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (e) {
    throw badInput(jsonPath, `unreadable checkpoint: not valid JSON (${(e as Error).message})`, undefined, e);
  }
  if (json?.format !== CHECKPOINT_FORMAT || typeof json.version !== 'number') {
    throw badInput(jsonPath, `unreadable checkpoint: format is ${JSON.stringify(json?.format)}, expected "${CHECKPOINT_FORMAT}"; ${remedy}`);
  }
  if (json.version > CHECKPOINT_VERSION) {
    throw badInput(jsonPath, `checkpoint version ${json.version} is newer than this reader (${CHECKPOINT_VERSION}); update the toolkit`);
  }
  let bin: Buffer;
  try {
    bin = await readFile(binPath);
  } catch (e) {
    throw badInput(binPath, `cannot read the checkpoint weights (${(e as NodeJS.ErrnoException).code ?? e})`, undefined, e);
  }
  const sha = createHash('sha256').update(bin).digest('hex');
  if (bin.length !== json.weightsBin?.bytes || sha !== json.weightsBin.sha256) {
    throw badInput(binPath, `weights.bin does not belong to model.json (size ${bin.length} vs ${json.weightsBin?.bytes}, hash mismatch: ${sha !== json.weightsBin?.sha256}); the save was interrupted or the files were mixed`);
  }
  let plan;
  try {
    plan = buildPlan(json.config);
  } catch (e) {
    throw badInput(jsonPath, `unreadable checkpoint: invalid config (${(e as Error).message})`, undefined, e);
  }
  // Copy out of the file buffer: it may be unaligned for Float32Array.
  const read = (e: ArrayEntry): Float32Array => {
    const n = e.shape.reduce((a, d) => a * d, 1);
    if (e.offset < 0 || e.offset + n * 4 > bin.length) throw badInput(jsonPath, `array ${e.name} lies outside weights.bin`);
    return new Float32Array(bin.buffer.slice(bin.byteOffset + e.offset, bin.byteOffset + e.offset + n * 4));
  };
  const weights = new Map(json.weights.map((e) => [e.name, read(e)]));
  for (const w of plan.weights) {
    const got = json.weights.find((e) => e.name === w.name);
    if (!got || got.shape.join() !== w.shape.join()) {
      throw badInput(jsonPath, `weight ${w.name} is ${got ? `[${got.shape}]` : 'missing'}, the config needs [${w.shape}]`);
    }
  }
  const ckpt: Checkpoint = { config: json.config, weights };
  if (json.optimizer) {
    const o = json.optimizer;
    ckpt.optimizer = { lr: o.lr, beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon, t: o.t, m: new Map(o.m.map((e) => [e.name, read(e)])), v: new Map(o.v.map((e) => [e.name, read(e)])) };
  }
  if (json.train) ckpt.train = json.train;
  return ckpt;
}
