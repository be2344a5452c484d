/**
 * The training recipe: every option of model/trainer.ts `train` that shapes the result (batch,
 * learning-rate schedule, window, augmentation, validation split), its defaults, declared here
 * once, and its validation. A checkpoint stores the resolved recipe, so `resume` continues with
 * the run's own values unless an option is given again (the CLI sets no defaults of its own).
 */
import { badOption } from '../core/errors.ts';
import { DECAYS, type Decay } from './schedule.ts';

/** Options that change what is learned; saved in every checkpoint (`train.options`). */
export interface Recipe {
  /** Examples per step. */
  batch: number;
  /** Base Adam learning rate. */
  lr: number;
  /** Linear warm-up updates (0: none). */
  warmup: number;
  decay: Decay;
  /** Cosine length or step-decay interval, updates; default: the run's steps - warmup (cosine), required for step. */
  decaySteps?: number;
  /** Step decay multiplier per interval. */
  decayFactor: number;
  /** Training input side, px (default: the config's input size). */
  window?: number;
  /** Per-example input gain drawn from [1 - g, 1 + g] (0: off). */
  gainJitter: number;
  /** Per-example input offset drawn from [-o, o] (0: off). */
  offsetJitter: number;
  /**
   * Validation rows: patches wholly at rows >= valRows of their well are the validation split,
   * patches wholly above train, patches across the line are used for neither (default: no validation).
   */
  valRows?: number;
  /** Steps between validations (and the last step). */
  valEvery: number;
  /** Validation patches evaluated at most. */
  valPatches: number;
}

/** Run options with a default (not saved: they do not change what is learned). */
export interface RunDefaults {
  config: string;
  steps: number;
  seed: number;
  checkpointEvery: number;
  threads: number;
  evalPatches: number;
}

/** The defaults of `train` and of `npm run train`. */
export const TRAIN_DEFAULTS: Readonly<Recipe & RunDefaults> = Object.freeze({
  config: 'small',
  steps: 1000,
  seed: 1,
  checkpointEvery: 100,
  threads: 2,
  evalPatches: 512,
  batch: 16,
  lr: 1e-4,
  warmup: 0,
  decay: 'none',
  decayFactor: 0.1,
  gainJitter: 0,
  offsetJitter: 0,
  valEvery: 100,
  valPatches: 256,
});

/** The keys of {@link Recipe}, in the order checkpoints list them. */
export const RECIPE_KEYS = ['batch', 'lr', 'warmup', 'decay', 'decaySteps', 'decayFactor', 'window', 'gainJitter', 'offsetJitter', 'valRows', 'valEvery', 'valPatches'] as const satisfies readonly (keyof Recipe)[];

const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
const nonNegInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;

/**
 * The recipe of a run: each key from `given` when set, else from `saved` (the checkpoint of a
 * resumed run), else the default; validated.
 * @param steps the run's total steps (the cosine's default length).
 * @throws IslError BAD_OPTION naming the key of the first invalid value.
 */
export function resolveRecipe(given: Partial<Recipe>, saved: Readonly<Record<string, unknown>> | undefined, steps: number): Recipe {
  const pick = <K extends keyof Recipe>(k: K): Recipe[K] => (given[k] ?? saved?.[k] ?? (TRAIN_DEFAULTS as Partial<Recipe>)[k]) as Recipe[K];
  const r = Object.fromEntries(RECIPE_KEYS.map((k) => [k, pick(k)])) as unknown as Recipe;
  const check = (key: keyof Recipe, ok: boolean, what: string) => {
    if (!ok) throw badOption(key, what, r[key]);
  };
  check('batch', posInt(r.batch), 'a positive integer');
  check('lr', typeof r.lr === 'number' && r.lr > 0 && Number.isFinite(r.lr), 'a positive learning rate');
  check('warmup', nonNegInt(r.warmup), 'a non-negative integer (updates)');
  check('decay', (DECAYS as readonly unknown[]).includes(r.decay), `one of ${DECAYS.join(', ')}`);
  check('decaySteps', r.decaySteps === undefined ? r.decay !== 'step' : posInt(r.decaySteps), r.decay === 'step' && r.decaySteps === undefined ? 'a positive integer (updates per step of the decay; required with decay step)' : 'a positive integer (updates)');
  check('decayFactor', typeof r.decayFactor === 'number' && r.decayFactor > 0 && r.decayFactor <= 1, 'a number in (0, 1]');
  check('window', r.window === undefined || posInt(r.window), 'a positive integer (px)');
  check('gainJitter', typeof r.gainJitter === 'number' && r.gainJitter >= 0 && r.gainJitter < 1, 'a number in [0, 1)');
  check('offsetJitter', typeof r.offsetJitter === 'number' && r.offsetJitter >= 0 && r.offsetJitter <= 1, 'a number in [0, 1]');
  check('valRows', r.valRows === undefined || posInt(r.valRows), 'a positive integer (first validation row)');
  check('valEvery', posInt(r.valEvery), 'a positive integer (steps)');
  check('valPatches', posInt(r.valPatches), 'a positive integer');
  if (r.decay === 'cosine' && r.decaySteps === undefined) r.decaySteps = Math.max(1, steps - r.warmup);
  return r;
}
