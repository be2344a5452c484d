/**
 * Learning-rate schedule: linear warm-up, then constant, cosine or step decay.
 *
 * Update t (1-based, the Adam step count) gets lr * factor(t):
 * - warm-up, t <= warmup: t / warmup (so the first update already moves, at lr / warmup);
 * - after it, k = t - warmup - 1 (0 at the first post-warm-up update):
 *   - `none`: 1;
 *   - `cosine`: (1 + cos(pi * min(k / decaySteps, 1))) / 2, from 1 down to 0 at k = decaySteps,
 *     then 0 (decaySteps defaults to the run's steps - warmup, so the last update is tiny);
 *   - `step`: decayFactor ^ floor(k / decaySteps).
 * A pure function of t, so a resumed run follows the same schedule.
 */

export const DECAYS = ['none', 'cosine', 'step'] as const;
export type Decay = (typeof DECAYS)[number];

export interface Schedule {
  /** Base learning rate. */
  lr: number;
  /** Warm-up updates (0: none). */
  warmup: number;
  decay: Decay;
  /** Length of the cosine, or the interval of the step decay, in updates. */
  decaySteps: number;
  /** Multiplier per interval of the step decay. */
  decayFactor: number;
}

/** Learning rate of update `t` (1-based). */
export function learningRate(s: Schedule, t: number): number {
  if (t <= s.warmup) return (s.lr * t) / s.warmup;
  const k = t - s.warmup - 1;
  if (s.decay === 'cosine') return (s.lr * (1 + Math.cos(Math.PI * Math.min(k / s.decaySteps, 1)))) / 2;
  if (s.decay === 'step') return s.lr * s.decayFactor ** Math.floor(k / s.decaySteps);
  return s.lr;
}
