/** Seeded random weights for prediction tests, with non-trivial batch-norm statistics. */
import { initialValues } from '../../model/network.ts';
import { tiny, type ModelConfig, type Plan } from '../../model/plan.ts';
import { mulberry32 } from '../../fixtures/random.ts';

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

/** A test network whose coarsest stride (4) exceeds its output window (6 px at stride 6): two grid phases per axis. */
export const phased: ModelConfig = {
  ...structuredClone(tiny),
  name: 'phased',
  inputSize: 38,
  outputWindow: 6,
  towers: [{ crop: 24, scale: 0 }, { crop: 34, scale: 1 }, { crop: 38, scale: 2 }],
  towerBlocks: 8,
  upperBlocks: 1,
  heads: { autoencoding: 0, labels: ['nuclei', 'neurons'] },
};

