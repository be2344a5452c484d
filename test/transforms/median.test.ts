import test from 'ava';
import { plane } from '../../core/image.ts';
import { medianFilter5, removeSaltAndPepper } from '../../transforms/median.ts';
import { rng } from './synth.ts';

/** Brute-force 5x5 median with replicated borders: the definition. */
function reference(d: Float32Array, W: number, H: number): Float32Array {
  const o = new Float32Array(W * H);
  const w: number[] = [];
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      w.length = 0;
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++) w.push(d[Math.min(Math.max(y + dy, 0), H - 1) * W + Math.min(Math.max(x + dx, 0), W - 1)]);
      w.sort((a, b) => a - b);
      o[y * W + x] = w[12];
    }
  return o;
}

test('medianFilter5 equals the sorted-window median at every pixel, all shapes, ties and floats', (t) => {
  const r = rng(11);
  const shapes = [[1, 1], [2, 3], [5, 5], [4, 9], [37, 23], [64, 64], [130, 7], [7, 130]];
  for (const [W, H] of shapes) {
    for (const kind of ['ints', 'floats']) {
      const d = Float32Array.from({ length: W * H }, () => (kind === 'ints' ? r.int(6) : r.normal() * 1000));
      const got = medianFilter5(plane('float32', W, H, d)).data;
      const want = reference(d, W, H);
      let bad = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) bad++;
      t.is(bad, 0, `${W}x${H} ${kind}`);
    }
  }
});

test('removeSaltAndPepper removes hot and dead pixels from a smooth image and reports iterations', (t) => {
  const r = rng(5);
  const W = 96;
  const H = 80;
  const clean = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) clean[y * W + x] = 1000 + 5 * x + 3 * y;
  const dirty = Float32Array.from(clean);
  for (let k = 0; k < 200; k++) dirty[r.int(W * H)] = r.uniform() < 0.5 ? 0 : 65535;
  // a 2x2 hot cluster survives one pass of a 3x3 median but not of 5x5 repeated
  for (const i of [40 * W + 40, 40 * W + 41, 41 * W + 40, 41 * W + 41]) dirty[i] = 65535;
  const res = removeSaltAndPepper(plane('float32', W, H, dirty));
  t.true(res.converged);
  t.is(res.changed, 0);
  t.true(res.iterations >= 2 && res.iterations <= 32, `iterations ${res.iterations}`);
  let maxErr = 0;
  for (let y = 2; y < H - 2; y++) for (let x = 2; x < W - 2; x++) maxErr = Math.max(maxErr, Math.abs(res.plane.data[y * W + x] - clean[y * W + x]));
  t.log(`iterations ${res.iterations}, max interior error ${maxErr} counts (noise amplitude 65535)`);
  t.true(maxErr <= 20, `max error ${maxErr}`); // a 5x5 median of a ramp is exact; a few neighbours shift it by a step
  // the result is a fixed point: one more pass changes nothing
  t.deepEqual(medianFilter5(res.plane).data, res.plane.data);
});

test('removeSaltAndPepper on float (non-integer) pixels matches repeated medianFilter5 too', (t) => {
  const r = rng(10);
  const W = 133;
  const H = 21;
  const d = Float32Array.from({ length: W * H }, () => r.normal());
  const res = removeSaltAndPepper(plane('float32', W, H, d), { maxIterations: 4 });
  let p = plane('float32', W, H, d);
  for (let i = 0; i < res.iterations; i++) p = medianFilter5(p);
  t.deepEqual(res.plane.data, p.data);
});

test('removeSaltAndPepper matches applying medianFilter5 the same number of times', (t) => {
  const r = rng(9);
  const W = 50;
  const H = 41;
  const d = Float32Array.from({ length: W * H }, () => r.int(50));
  const res = removeSaltAndPepper(plane('float32', W, H, d), { maxIterations: 3 });
  let p = plane('float32', W, H, d);
  for (let i = 0; i < res.iterations; i++) p = medianFilter5(p);
  t.deepEqual(res.plane.data, p.data);
  t.is(res.iterations, 3);
  t.false(res.converged); // random integers need more than 3 passes to reach a root signal
  let p2 = plane('float32', W, H, d);
  for (let i = 0; i < 2; i++) p2 = medianFilter5(p2);
  t.is(res.changed, p.data.filter((v, i) => v !== p2.data[i]).length);
});

test('median rejects NaN input and bad options with clear messages', (t) => {
  const d = new Float32Array(16).fill(1);
  d[5] = NaN;
  const e = t.throws(() => medianFilter5(plane('float32', 4, 4, d)));
  t.regex(e!.message, /non-finite value \(NaN\) at pixel \(1, 1\)/);
  t.throws(() => removeSaltAndPepper(plane('float32', 4, 4), { maxIterations: 0 }), { message: /Expected a positive integer for maxIterations but received 0/ });
});

test('all-zero and saturated images are fixed points', (t) => {
  for (const v of [0, 65535]) {
    const res = removeSaltAndPepper(plane('float32', 20, 20, new Float32Array(400).fill(v)));
    t.is(res.iterations, 1);
    t.true(res.plane.data.every((x) => x === v));
  }
});
