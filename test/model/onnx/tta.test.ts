import test from 'ava';
import { buildPlan, tiny } from '../../../model/plan.ts';
import { closeInferenceModel, createInferenceModel, predictStack, type Prediction } from '../../../model/onnx/infer.ts';
import { predictStackTta } from '../../../model/onnx/tta.ts';
import { predict } from '../../../pipelines/predict.ts';
import { IslError } from '../../../core/errors.ts';
import { mulberry32 } from '../../../core/random.ts';
import type { ZStack } from '../../../core/image.ts';
import { randomWeights } from '../../helpers/weights.ts';

// Independent of transforms/dihedral.ts: numpy's rot90 and fliplr on one plane.
type Img = { w: number; h: number; d: Float32Array };
const rot90 = ({ w, h, d }: Img): Img => ({ w: h, h: w, d: Float32Array.from({ length: w * h }, (_, k) => d[(k % h) * w + (w - 1 - Math.floor(k / h))]) });
const fliplr = ({ w, h, d }: Img): Img => ({ w, h, d: Float32Array.from({ length: w * h }, (_, k) => d[Math.floor(k / w) * w + (w - 1 - (k % w))]) });
const times = (f: (i: Img) => Img, n: number) => (i: Img) => Array.from({ length: n }).reduce<Img>((a) => f(a), i);
/** The group as (transform, inverse) pairs: rot90^k and rot90^k after fliplr. */
const group = [0, 1, 2, 3].flatMap((k) => [
  { g: times(rot90, k), inv: times(rot90, (4 - k) % 4) },
  { g: (i: Img) => times(rot90, k)(fliplr(i)), inv: (i: Img) => fliplr(times(rot90, (4 - k) % 4)(i)) },
]);
function onStack(s: ZStack, f: (i: Img) => Img): ZStack {
  const n = s.width * s.height;
  const planes = Array.from({ length: s.depth }, (_, z) => f({ w: s.width, h: s.height, d: s.data.slice(z * n, (z + 1) * n) }));
  const data = new Float32Array(s.data.length);
  planes.forEach((p, z) => data.set(p.d, z * n));
  return { width: planes[0].w, height: planes[0].h, depth: s.depth, data };
}

function randomStack(w: number, h: number, seed: number): ZStack {
  const u = mulberry32(seed);
  return { width: w, height: h, depth: 2, data: Float32Array.from({ length: w * h * 2 }, (_, i) => 0.5 + 0.3 * Math.sin((i % w) / 3) * Math.cos(Math.floor(i / w) / 4) + 0.2 * (u() - 0.5)) };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const W = 23;
const H = 17;

async function model() {
  return createInferenceModel(tiny, randomWeights(buildPlan(tiny), 5), { statistics: ['mean', 'median'], threads: 1 });
}

test('--tta equals the mean over the 8 transforms of the back-transformed predictions, computed independently', async (t) => {
  const m = await model();
  const stack = randomStack(W, H, 1);
  const tta = await predictStackTta(m, stack);
  const plain = await predictStack(m, stack);
  for (const stat of ['mean', 'median'] as const) {
    const want = new Float64Array(W * H);
    for (const { g, inv } of group) {
      const moved = onStack(stack, g);
      const back = inv({ w: moved.width, h: moved.height, d: (await predictStack(m, moved)).get('nuclei')!.get(stat)! });
      t.deepEqual([back.w, back.h], [W, H]);
      back.d.forEach((v, i) => (want[i] += v / 8));
    }
    const got = tta.get('nuclei')!.get(stat)!;
    const err = maxDiff(got, Float32Array.from(want));
    // The network is not equivariant by itself, so the average is not the plain prediction.
    const gap = maxDiff(got, plain.get('nuclei')!.get(stat)!);
    t.true(gap > 1e-4 && err < 1e-6 && err < gap / 100, `${stat}: error ${err}, TTA vs plain ${gap}`);
  }
  await closeInferenceModel(m);
});

test('--tta predictions are equivariant: predicting a rotated or mirrored image gives the rotated or mirrored prediction', async (t) => {
  const m = await model();
  const stack = randomStack(W, H, 2);
  const mean = (p: Prediction) => p.get('nuclei')!.get('mean')!;
  const base = mean(await predictStackTta(m, stack));
  for (const f of [rot90, fliplr]) {
    const err = maxDiff(mean(await predictStackTta(m, onStack(stack, f))), f({ w: W, h: H, d: base }).d);
    // Without TTA the same check fails by far more than that.
    const plainErr = maxDiff(mean(await predictStack(m, onStack(stack, f))), f({ w: W, h: H, d: mean(await predictStack(m, stack)) }).d);
    t.true(plainErr > 1e-4 && err < 1e-6 && err < plainErr / 100, `error ${err}, without TTA ${plainErr}`);
  }
  await closeInferenceModel(m);
});

test('--tta with --mode exact is a BAD_OPTION naming tta', async (t) => {
  const m = await model();
  const e = await t.throwsAsync(predictStackTta(m, randomStack(W, H, 3), { mode: 'exact' }));
  t.true(IslError.is(e, 'BAD_OPTION') && e.option === 'tta', String(e));
  const e2 = await t.throwsAsync(predict({ model: '/nonexistent', input: '/nonexistent', output: '/nonexistent', tta: true, mode: 'exact' }));
  t.true(IslError.is(e2, 'BAD_OPTION') && e2.option === 'tta', String(e2));
  await closeInferenceModel(m);
});
