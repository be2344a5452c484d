/**
 * `npm run bench -- evaluate [SIZE]`: the evaluation transforms on a SIZE x SIZE (default 2048)
 * synthetic nuclear image against NumPy/SciPy/scikit-image references on the same data, plus correctness of
 * each pair (same threshold, same distances, same component count, same KS statistic/p-value),
 * and the whole `evaluate()` on one well of 3 labels (no reference: absolute time).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timeIt, pythonSeconds, report } from './lib.ts';
import { plane, type Plane } from '../core/image.ts';
import { rng } from '../core/random.ts';
import { sampledPearson, otsuThreshold, connectedComponents, distanceTransform, segmentNuclei, ksTwoSample, gaussianBlur } from '../transforms/evaluate/index.ts';
import { evaluate } from '../pipelines/evaluate.ts';
import { writeWell } from '../test/helpers/wells.ts';

const size = Number(process.argv[2] ?? 2048);
const g = rng(1);

/** Random nuclei (disks of radius 6-14 px, some touching) on a 0.15 background, noise sd 0.04. */
function nuclei(seed: number, shift = 0): Plane<'float32'> {
  const r = rng(seed);
  const p = plane('float32', size, size);
  p.data.fill(0.15);
  const n = Math.round((size * size) / 2500);
  const pos = rng(99);
  for (let k = 0; k < n; k++) {
    const cx = pos.range(0, size) + shift;
    const cy = pos.range(0, size);
    const rad = pos.range(6, 14);
    const v = pos.range(0.5, 0.95);
    for (let y = Math.max(0, Math.floor(cy - rad)); y <= Math.min(size - 1, Math.ceil(cy + rad)); y++) {
      for (let x = Math.max(0, Math.floor(cx - rad)); x <= Math.min(size - 1, Math.ceil(cx + rad)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= rad * rad) p.data[y * size + x] = v;
      }
    }
  }
  for (let i = 0; i < p.data.length; i++) p.data[i] = Math.min(1, Math.max(0, p.data[i] + 0.04 * r.normal()));
  return p;
}

const dir = await mkdtemp(join(tmpdir(), 'isl-bench-evaluate-'));
try {
  const truth = nuclei(1);
  const pred = gaussianBlur(nuclei(2, 1), 1);
  await writeFile(join(dir, 'truth.f32'), truth.data);
  await writeFile(join(dir, 'pred.f32'), pred.data);
  const load = `import numpy as np, time, sys\nS=${size}\nt=np.fromfile('${dir}/truth.f32',dtype=np.float32).reshape(S,S)\np=np.fromfile('${dir}/pred.f32',dtype=np.float32).reshape(S,S)\n` +
    'def med(f, reps=5):\n  f(); ts=[]\n  for _ in range(reps):\n    a=time.perf_counter(); f(); ts.append(time.perf_counter()-a)\n  return sorted(ts)[len(ts)//2]\n';

  // Pearson r: 1M seeded pixels with replacement + whole image.
  const ours = await timeIt(() => sampledPearson(truth, pred, { seed: 0 }));
  const ref = pythonSeconds(`${load}rng=np.random.default_rng(0)\ndef f():\n  i=rng.integers(0,S*S,1000000); a=t.ravel()[i].astype(np.float64); b=p.ravel()[i].astype(np.float64)\n  np.corrcoef(a,b)[0,1]; np.corrcoef(t.ravel().astype(np.float64),p.ravel().astype(np.float64))[0,1]\nprint(med(f))`);
  const rWhole = sampledPearson(truth, pred, { samples: 1 }).whole;
  const refR = Number(spawnPy(`${load}print(np.corrcoef(t.ravel().astype(np.float64),p.ravel().astype(np.float64))[0,1])`));
  report('evaluate/pearson_1M_plus_whole', ours, ref, { size, r_ours: rWhole, r_numpy: refR, abs_diff: Math.abs(rWhole - refR) });

  // Otsu threshold (256 bins over [min, max]) vs scikit-image's threshold_otsu.
  const otsuPy = 'from skimage.filters import threshold_otsu\n';
  const oursOtsu = await timeIt(() => otsuThreshold(truth));
  const refOtsu = pythonSeconds(`${load}${otsuPy}print(med(lambda: threshold_otsu(t)))`);
  report('evaluate/otsu', oursOtsu, refOtsu, { threshold_ours: otsuThreshold(truth), threshold_skimage: Number(spawnPy(`${load}${otsuPy}print(threshold_otsu(t))`)) });

  // Connected components (8-connectivity) vs scipy.ndimage.label.
  const th = otsuThreshold(truth);
  const mask = Uint8Array.from(truth.data, (v) => (v > th ? 1 : 0));
  const oursCc = await timeIt(() => connectedComponents(mask, size, size));
  const refCc = pythonSeconds(`${load}from scipy import ndimage as ndi\nm=t>${th}\nprint(med(lambda: ndi.label(m, structure=np.ones((3,3)))))`);
  report('evaluate/connected_components', oursCc, refCc, { count_ours: connectedComponents(mask, size, size).count, count_scipy: Number(spawnPy(`${load}from scipy import ndimage as ndi\nprint(ndi.label(t>${th}, structure=np.ones((3,3)))[1])`)) });

  // Euclidean distance transform vs scipy.ndimage.distance_transform_edt (max abs difference).
  const oursEdt = await timeIt(() => distanceTransform(mask, size, size));
  const refEdt = pythonSeconds(`${load}from scipy import ndimage as ndi\nm=t>${th}\nprint(med(lambda: ndi.distance_transform_edt(m)))`);
  const d = distanceTransform(mask, size, size);
  await writeFile(join(dir, 'edt.f32'), d);
  const edtDiff = Number(spawnPy(`${load}from scipy import ndimage as ndi\nd=np.fromfile('${dir}/edt.f32',dtype=np.float32).reshape(S,S)\nprint(np.abs(d-ndi.distance_transform_edt(t>${th})).max())`));
  report('evaluate/distance_transform', oursEdt, refEdt, { max_abs_diff_px: edtDiff });

  // Two-sample KS, exact p-value (400 x 300 areas) vs scipy.stats.ks_2samp(method='exact').
  const a = Array.from({ length: 400 }, () => Math.round(300 + 60 * g.normal()));
  const b = Array.from({ length: 300 }, () => Math.round(280 + 60 * g.normal()));
  const oursKs = await timeIt(() => ksTwoSample(a, b));
  const refKs = pythonSeconds(`import numpy as np, time\nfrom scipy.stats import ks_2samp\na=np.array(${JSON.stringify(a)});b=np.array(${JSON.stringify(b)})\nts=[]\nfor _ in range(5):\n  s=time.perf_counter(); ks_2samp(a,b,method='exact'); ts.append(time.perf_counter()-s)\nprint(sorted(ts)[2])`);
  const [refD, refP] = spawnPy(`import numpy as np\nfrom scipy.stats import ks_2samp\nr=ks_2samp(np.array(${JSON.stringify(a)}),np.array(${JSON.stringify(b)}),method='exact')\nprint(r.statistic, r.pvalue)`).split(' ').map(Number);
  const k = ksTwoSample(a, b);
  report('evaluate/ks_exact_400x300', oursKs, refKs, { D_ours: k.statistic, D_scipy: refD, p_ours: k.pValue, p_scipy: refP });

  // Whole segmentation vs the scikit-image recipe: gaussian, threshold_otsu, label, EDT, h-maxima
  // markers (h = 2 px, our splitDepth), watershed, remove_small_objects(16).
  const segPy = `from scipy import ndimage as ndi\nfrom skimage.filters import threshold_otsu\nfrom skimage.morphology import h_maxima, remove_small_objects\nfrom skimage.segmentation import watershed\nfrom skimage.measure import label\ndef seg(im):\n  s=ndi.gaussian_filter(im.astype(np.float64),1,truncate=3); m=s>threshold_otsu(s); d=ndi.distance_transform_edt(m)\n  mk=label(h_maxima(d,2)); w=watershed(-d,mk,mask=m); return remove_small_objects(w,16)\n`;
  const seg = segmentNuclei(truth);
  const oursSeg = await timeIt(() => segmentNuclei(truth), 3);
  const refSeg = pythonSeconds(`${load}${segPy}print(med(lambda: seg(t), 3))`);
  report('evaluate/segment_nuclei', oursSeg, refSeg, { nuclei_ours: seg.labels.count, nuclei_skimage: Number(spawnPy(`${load}${segPy}print(len(np.unique(seg(t)))-1)`)) });

  // The whole pipeline on one well with 3 labels (PNG decode, metrics, figures, page).
  await writeWell(join(dir, 'truth'), 'A1', { DAPI: truth, MAP2: truth, NFH: truth }, 'truth');
  await writeWell(join(dir, 'pred'), 'A1', { DAPI: pred, MAP2: pred, NFH: pred }, 'pred');
  const t0 = performance.now();
  await evaluate({ pred: join(dir, 'pred'), truth: join(dir, 'truth'), out: join(dir, 'report') });
  console.log(JSON.stringify({ name: 'evaluate/pipeline_1_well_3_labels', ours_s: Number(((performance.now() - t0) / 1000).toPrecision(4)), size }));
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** Runs a Python snippet and returns its last printed line. */
function spawnPy(script: string): string {
  const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr.trim().split('\n').pop()}`);
  return r.stdout.trim().split('\n').pop()!;
}
