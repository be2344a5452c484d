import test from 'ava';
import { plane } from '../../../core/image.ts';
import { rng } from '../../../core/random.ts';
import { pearson, ceilingFromNoiseSd, ceilingFromReplicates, ceilingFromClean } from '../../../transforms/evaluate/index.ts';

const N = 256 * 256;
const SIGMA = 0.08;

/** Signal (blobs of varying brightness) and two replicates with independent noise of sd SIGMA. */
function replicates() {
  const g = rng(11);
  const s = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    const x = i % 256;
    const y = (i - x) / 256;
    s[i] = 0.3 + 0.1 * Math.sin(x / 9) * Math.cos(y / 13);
  }
  const noisy = () => Float32Array.from(s, (v) => v + SIGMA * g.normal());
  return { s, t1: noisy(), t2: noisy() };
}

test('noise ceiling from replicates equals the r of a perfect prediction', (t) => {
  const { s, t1, t2 } = replicates();
  const best = pearson(s, t1); // a predictor that outputs the signal exactly
  const c = ceilingFromReplicates(plane('float32', 256, 256, t1), plane('float32', 256, 256, t2));
  t.is(c.method, 'replicates');
  t.true(Math.abs(c.r - best) < 0.01, `ceiling ${c.r} vs best ${best}`);
  t.true(best < 0.7 && best > 0.4); // the noise is large enough for the ceiling to matter
});

test('noise ceiling from a stated noise sd equals the r of a perfect prediction', (t) => {
  const { s, t1 } = replicates();
  const c = ceilingFromNoiseSd(plane('float32', 256, 256, t1), SIGMA);
  t.true(Math.abs(c.r - pearson(s, t1)) < 0.01);
  t.is(ceilingFromNoiseSd(plane('float32', 256, 256, t1), 0).r, 1);
  t.throws(() => ceilingFromNoiseSd(plane('float32', 256, 256, t1), -1), { message: 'Expected a finite number >= 0 (canonical intensity units) for noiseSd but received -1 (number)' });
  t.throws(() => ceilingFromNoiseSd(plane('float32', 2, 2), 0.1), { message: 'Expected a true image with varying intensities for a noise ceiling but it is constant' });
});

test('noise ceiling from a clean image is r(clean, truth), whatever the clean image\'s units', (t) => {
  const { s, t1 } = replicates();
  const inCounts = plane('float32', 256, 256, Float32Array.from(s, (v) => 1000 * v + 100));
  const c = ceilingFromClean(inCounts, plane('float32', 256, 256, t1));
  t.is(c.method, 'clean');
  t.is(c.r, pearson(inCounts.data, t1));
  t.true(Math.abs(c.r - pearson(s, t1)) < 1e-5); // only float32 rounding of the rescaled copy differs
  t.throws(() => ceilingFromClean(plane('float32', 2, 2), plane('float32', 2, 3)), { message: 'Expected the true image to be 2x2 like the clean image but it is 2x3' });
});
