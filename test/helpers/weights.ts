/** Seeded random weights for prediction tests, with non-trivial batch-norm statistics. */
import { initialValues } from '../../model/network.ts';
import type { Plan } from '../../model/plan.ts';
import { mulberry32 } from '../../core/random.ts';

export function randomWeights(plan: Plan, seed: number): Map<string, Float32Array> {
  const u = mulberry32(seed);
  const m = new Map<string, Float32Array>();
  for (const s of plan.weights) {
    const v = initialValues(s, seed);
    if (s.name.endsWith('/gamma') || s.name.endsWith('/moving_variance')) v.forEach((_, i) => (v[i] = 0.5 + u()));
    else if (s.name.endsWith('/beta') || s.name.endsWith('/moving_mean')) v.forEach((_, i) => (v[i] = 0.2 * (u() - 0.5)));
    m.set(s.name, v);
  }
  return m;
}
