import test from 'ava';
import { plane, zStack, stackPlane } from '../../core/image.ts';
import { applyAffine, IntensityStats, normalize } from '../../transforms/normalize.ts';
import { rng } from './synth.ts';

function stats(d: Float32Array): { mean: number; sd: number } {
  let m = 0;
  for (const v of d) m += v / d.length;
  let s = 0;
  for (const v of d) s += (v - m) ** 2 / d.length;
  return { mean: m, sd: Math.sqrt(s) };
}

test('normalize reaches the paper targets (unclipped data) and returns the affine', (t) => {
  const r = rng(1);
  const d = Float32Array.from({ length: 10000 }, () => 3000 + 200 * r.normal());
  for (const [modality, mean] of [['transmitted', 0.5], ['fluorescence', 0.25]] as const) {
    const { plane: out, affine } = normalize(plane('float32', 100, 100, d), modality);
    const s = stats(Float32Array.from(d, (v) => v * affine.scale + affine.offset)); // before clipping
    t.true(Math.abs(s.mean - mean) < 0.002, `${modality} mean ${s.mean}`);
    t.true(Math.abs(s.sd - 0.125) < 0.002, `${modality} sd ${s.sd}`);
    t.true(out.data.every((v) => v >= 0 && v <= 1));
    t.true(Math.abs(3000 * affine.scale + affine.offset - mean) < 0.01);
    // clipping only removes the tails: the fluorescence target puts 0 at mean - 2 sd
    const clipped = out.data.filter((v) => v === 0 || v === 1).length / out.data.length;
    t.true(clipped < (modality === 'fluorescence' ? 0.04 : 0.001), `${modality}: ${clipped} clipped`);
  }
});

test('statistics accumulated over a stack equal those of all its pixels at once; values clip to [0, 1]', (t) => {
  const r = rng(2);
  const planes = Array.from({ length: 5 }, (_, z) => plane('float32', 30, 20, Float32Array.from({ length: 600 }, () => 100 * z + 10 * r.normal())));
  const s = new IntensityStats();
  for (const p of planes) s.add(p);
  const all = stats(zStack(planes).data);
  t.true(Math.abs(s.mean - all.mean) < 1e-6 * all.mean);
  t.true(Math.abs(s.sd - all.sd) < 1e-6 * all.sd);
  const a = s.affine('transmitted');
  const out = applyAffine(stackPlane(zStack(planes), 4), a);
  t.true(out.data.every((v) => v >= 0 && v <= 1));
  t.deepEqual(Array.from(applyAffine(plane('float32', 4, 1, Float32Array.of(-1, 0.25, 0.5, 2)), { scale: 1, offset: 0 }).data), [0, 0.25, 0.5, 1]);
});

test('constant (all-zero, saturated) images and NaN cannot be normalized: clear errors', (t) => {
  for (const v of [0, 65535]) {
    t.throws(() => normalize(plane('float32', 4, 4, new Float32Array(16).fill(v)), 'fluorescence'), { message: new RegExp(`all 16 pixels have the same value \\(${v}\\)`) });
  }
  const d = new Float32Array(4);
  d[1] = NaN;
  t.throws(() => normalize(plane('float32', 2, 2, d), 'transmitted'), { message: /non-finite value \(NaN\) at pixel \(1, 0\)/ });
  t.throws(() => new IntensityStats().affine('transmitted'), { message: /no pixels to normalize/ });
  t.throws(() => new IntensityStats().affine('phase' as 'transmitted'), { message: /for modality/ });
});
