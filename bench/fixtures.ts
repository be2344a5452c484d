/**
 * `npm run bench -- fixtures`: the fixture renderer's Gaussian blur (fixtures/blur.ts, the bulk of
 * generation time) against scipy.ndimage.gaussian_filter and OpenCV GaussianBlur on the same
 * float32 plane (a 1024-px tile plus its rendering margin), at the in-focus and defocus sigmas.
 */
import { gaussianBlur } from '../fixtures/blur.ts';
import { rng } from '../core/random.ts';
import { pythonSeconds, report, timeIt } from './lib.ts';

const SIDE = 1104;
const r = rng(1);
const src = Float32Array.from({ length: SIDE * SIDE }, () => r.uniform());
const out = new Float32Array(src.length);
const scratch = new Float32Array(src.length);

for (const sigma of [0.7, 3, 7.5]) {
  const ours = await timeIt(() => gaussianBlur(src, SIDE, SIDE, sigma, out, scratch), 7);
  const common = `
import time, numpy as np
a = np.random.default_rng(1).random((${SIDE}, ${SIDE}), dtype=np.float32)
def med(f):
    f(); t = []
    for _ in range(7):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return sorted(t)[3]
`;
  const scipy = pythonSeconds(`${common}
from scipy.ndimage import gaussian_filter
print(med(lambda: gaussian_filter(a, ${sigma}, mode='nearest', truncate=3.0)))`);
  const cv = pythonSeconds(`${common}
import cv2
cv2.setNumThreads(1)
print(med(lambda: cv2.GaussianBlur(a, (0, 0), ${sigma}, borderType=cv2.BORDER_REPLICATE)))`);
  report(`fixtures blur sigma=${sigma} vs scipy`, ours, scipy, { px: SIDE * SIDE });
  report(`fixtures blur sigma=${sigma} vs opencv(1 thread)`, ours, cv, { px: SIDE * SIDE });
}
