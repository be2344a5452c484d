/**
 * Whole-tensor check of the ONNX training graph's hand-written backward pass (model/onnxtrain.ts)
 * against central finite differences of the same graph's loss, along seeded random directions.
 *
 * For each trainable tensor T and direction v (i.i.d. N(0, 1) entries over T only) it compares the
 * graph's directional derivative <g_T, v> with (L(θ + h v) - L(θ - h v)) / 2h. The step h is chosen
 * per tensor so the loss moves by about `lossChange` (h = lossChange / |g_T|, clamped), which keeps
 * float32 rounding of the loss (measured: `lossNoise`) small against the signal while the step stays
 * in the locally quadratic regime. The graph side uses the float32 weights actually fed (θ ± h v
 * rounded), so weight rounding is not counted as error.
 *
 * The error of a tensor, rms over directions of |fd - <g, v>|, is in the units of |g_T| (for
 * v ~ N(0, I), <g, v> has standard deviation |g_T|), so `error / gradNorm` is a relative error of
 * the whole tensor's gradient that does not depend on the directions' luck; `noise` is the finite
 * difference's expected error from the loss's rounding alone, for tensors whose true gradient is 0
 * (e.g. the projection bias, removed by every path's batch norm).
 *
 * Batch-norm gammas and betas are drawn around (1, 0) rather than left at their initial values, so
 * a backward pass that forgets a factor gamma, or one that is only right at beta = 0, is caught.
 *
 * Usage: `const r = await gradCheck(buildPlan(phased, {inputSize: 34}), {seed: 1}); gradFailures(r, 0.02)`.
 */
import { deriveSeed, rng } from '../../core/random.ts';
import { initialValues } from '../../model/network.ts';
import { OnnxTrainStep } from '../../model/onnxtrain.ts';
import type { Plan } from '../../model/plan.ts';
import { headFeeds } from '../../model/trainer.ts';

export interface GradCheckOptions {
  /** Examples per batch (default 2: batch statistics span examples). */
  batch?: number;
  /** Seeds weights, input, targets and directions (default 1). */
  seed?: number;
  /** Random directions per tensor (default 2). */
  directions?: number;
  /** Loss change aimed at by one step h along a direction (default 1e-5). */
  lossChange?: number;
  /** Which trainable tensors to check (default all). */
  tensors?: (name: string) => boolean;
}

/** One tensor's comparison. */
export interface TensorCheck {
  name: string;
  size: number;
  /** |g_T| of the graph's gradient. */
  gradNorm: number;
  /** Step h along each direction. */
  step: number;
  /** Per direction: the graph's <g_T, v> and the finite difference. */
  graph: number[];
  fd: number[];
  /** rms over directions of |fd - graph|. */
  error: number;
  /** Expected rms error of fd from the loss's float32 rounding alone (lossNoise / (sqrt 2 h)). */
  noise: number;
}

export interface GradCheckReport {
  /** Total loss at θ. */
  loss: number;
  /** rms deviation of the loss from a straight line over tiny steps: its float32 rounding noise. */
  lossNoise: number;
  tensors: TensorCheck[];
}

const DEFAULTS = { batch: 2, seed: 1, directions: 2, lossChange: 1e-5 };
const MIN_STEP = 1e-7;
const MAX_STEP = 0.05;

/** Runs the check on `plan` (built at the input size wanted: smaller is faster, every op kept). */
export async function gradCheck(plan: Plan, options: GradCheckOptions = {}): Promise<GradCheckReport> {
  const o = { ...DEFAULTS, ...options };
  const r = rng(deriveSeed(o.seed, 'grad-check'));
  const N = o.batch;
  const S = plan.inputSize;
  const so = plan.outputSize;
  const input = Float32Array.from({ length: N * plan.config.inputChannels * S * S }, () => r.uniform());
  const n = N * so * so;
  const targets = new Map(plan.heads.map((h) => [h.name, { values: Float32Array.from({ length: n }, () => r.uniform()), mask: Uint8Array.from({ length: n }, () => (r.uniform() < 0.8 ? 1 : 0)) }]));
  const feeds = headFeeds(plan, targets);
  const trainable = plan.weights.filter((w) => w.trainable);
  const weights = new Map(trainable.map((w) => [w.name, initialValues(w, o.seed)]));
  for (const w of trainable) {
    const v = weights.get(w.name)!;
    if (w.name.endsWith('/bn/gamma')) for (let i = 0; i < v.length; i++) v[i] = 1 + 0.25 * r.normal();
    if (w.name.endsWith('/bn/beta')) for (let i = 0; i < v.length; i++) v[i] = 0.25 * r.normal();
  }
  const step = await OnnxTrainStep.create(plan, N, 1);
  try {
    const bins = plan.config.bins;
    const px = so * so;
    // The ISL loss in float64 from the graph's float32 logits: the graph's own loss output is a
    // float32 scalar near 1, whose rounding (~6e-8) would swamp small finite differences.
    const total = async (ws: Map<string, Float32Array>) => {
      const logits = await step.logits(input, feeds, ws);
      let s = 0;
      for (const [h, f] of feeds) {
        if (f.coef === 0) continue;
        const z = logits.get(h)!;
        for (let b = 0; b < N; b++) {
          for (let p = 0; p < px; p++) {
            const w = f.weight[b * px + p];
            if (w === 0) continue;
            const at = (k: number) => z[(b * bins + k) * px + p];
            let max = -Infinity;
            for (let k = 0; k < bins; k++) max = Math.max(max, at(k));
            let e = 0;
            for (let k = 0; k < bins; k++) e += Math.exp(at(k) - max);
            s += f.coef * w * (max + Math.log(e) - at(Number(f.target[b * px + p])));
          }
        }
      }
      return s;
    };
    const base = await step.run(input, feeds, weights);
    let loss = 0;
    for (const [h, f] of feeds) loss += f.coef * base.losses.get(h)!;
    const reference = await total(weights);
    if (!(Math.abs(reference - loss) < 1e-5)) throw new Error(`the graph's loss ${loss} is not the ISL loss of its logits, ${reference}`);
    const lossNoise = await measureLossNoise(weights, total, r);
    const tensors: TensorCheck[] = [];
    for (const w of trainable) {
      if (o.tensors && !o.tensors(w.name)) continue;
      const g = base.grads.get(w.name)!;
      const theta = weights.get(w.name)!;
      const gradNorm = Math.sqrt(dot(g, g));
      const h = Math.min(MAX_STEP, Math.max(MIN_STEP, o.lossChange / Math.max(gradNorm, 1e-12)));
      const graph: number[] = [];
      const fd: number[] = [];
      for (let k = 0; k < o.directions; k++) {
        const v = Float64Array.from(theta, () => r.normal());
        const plus = Float32Array.from(theta, (x, i) => x + h * v[i]);
        const minus = Float32Array.from(theta, (x, i) => x - h * v[i]);
        const lp = await total(new Map(weights).set(w.name, plus));
        const lm = await total(new Map(weights).set(w.name, minus));
        let gd = 0;
        for (let i = 0; i < g.length; i++) gd += g[i] * (plus[i] - minus[i]);
        graph.push(gd / (2 * h));
        fd.push((lp - lm) / (2 * h));
      }
      const error = Math.sqrt(fd.reduce((a, f, k) => a + (f - graph[k]) ** 2, 0) / fd.length);
      tensors.push({ name: w.name, size: g.length, gradNorm, step: h, graph, fd, error, noise: lossNoise / (Math.SQRT2 * h) });
    }
    return { loss, lossNoise, tensors };
  } finally {
    await step.release();
  }
}

/**
 * Tensors whose gradient is wrong: error > rtol * |g_T| + 4 * noise (4 sigma of the loss's
 * rounding). Also returns, for reporting, each tensor's relative error error / max(|g_T|, noise).
 */
export function gradFailures(report: GradCheckReport, rtol: number): TensorCheck[] {
  return report.tensors.filter((t) => !(t.error <= rtol * t.gradNorm + 4 * t.noise));
}

/** error / max(|g_T|, noise): the tensor's relative gradient error (noise-limited when |g_T| is ~0). */
export function relativeError(t: TensorCheck): number {
  return t.error / Math.max(t.gradNorm, t.noise);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * The loss's float32 rounding noise: L at 9 tiny steps along one random direction of every weight
 * (changing L by ~1e-6 in all, far below any curvature effect), minus its least-squares line.
 */
async function measureLossNoise(weights: Map<string, Float32Array>, total: (ws: Map<string, Float32Array>) => Promise<number>, r: ReturnType<typeof rng>): Promise<number> {
  const dirs = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v, () => r.normal())]));
  const ts = [-4, -3, -2, -1, 0, 1, 2, 3, 4].map((k) => k * 1e-6);
  const ls: number[] = [];
  for (const t of ts) ls.push(await total(new Map([...weights].map(([k, v]) => [k, Float32Array.from(v, (x, i) => x + t * dirs.get(k)![i])]))));
  const mt = ts.reduce((a, b) => a + b, 0) / ts.length;
  const ml = ls.reduce((a, b) => a + b, 0) / ls.length;
  const slope = ts.reduce((a, t, i) => a + (t - mt) * (ls[i] - ml), 0) / ts.reduce((a, t) => a + (t - mt) ** 2, 0);
  const res = ls.map((l, i) => l - ml - slope * (ts[i] - mt));
  return Math.sqrt(res.reduce((a, e) => a + e * e, 0) / (res.length - 2));
}
