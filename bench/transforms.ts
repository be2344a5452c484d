/**
 * Preprocessing transforms vs OpenCV on one 2048x2048 16-bit image (synthetic cells, vignette,
 * Poisson-like noise, hot pixels), single core on both sides (cv2.setNumThreads(1)).
 * Times are process CPU seconds (median of reps): the machine is shared, and CPU time is less
 * disturbed by other processes than wall time. Also the whole per-tile chain in MB/s of raw input.
 * If ../shared/data/brightfield-timelapse exists, also writes its transmitted dust pattern to
 * bench/out/brightfield_dust_field.png (8-bit, 0.1-99.9 percentile stretch) for a person to look at.
 *
 *     npm run bench -- transforms
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { rng } from '../core/random.ts';
import { plane, toFloat32, type Plane } from '../core/image.ts';
import { readPlane } from '../io/read.ts';
import { TransmittedDustEstimator } from '../transforms/transmitted_dust.ts';
import { downscale2x } from '../transforms/downscale.ts';
import { correctFlatField } from '../transforms/flat_field.ts';
import { subtractDust } from '../transforms/fluorescence_dust.ts';
import { gaussianBlur } from '../transforms/gaussian.ts';
import { medianFilter5, removeSaltAndPepper } from '../transforms/median.ts';
import { applyAffine, IntensityStats } from '../transforms/normalize.ts';
import { pythonSeconds, report } from './lib.ts';

const W = 2048;
const H = 2048;
const REPS = Number(process.env.REPS ?? 5);

/** Median process-CPU seconds of fn over reps (after one warm-up). */
async function cpuSeconds(fn: () => unknown, reps = REPS): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c = process.cpuUsage();
    await fn();
    const e = process.cpuUsage(c);
    t.push((e.user + e.system) / 1e6);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

function syntheticTile(seed: number): Uint16Array {
  const r = rng(seed);
  const d = new Float32Array(W * H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const r2 = ((x - W / 2) ** 2 + (y - H / 2) ** 2) / (W * W / 2);
      d[y * W + x] = 400 * (1 - 0.4 * r2);
    }
  for (let k = 0; k < 400; k++) {
    const cx = r.range(0, W);
    const cy = r.range(0, H);
    const s = r.range(4, 12);
    const a = r.range(500, 3000);
    for (let y = Math.max(0, Math.floor(cy - 3 * s)); y < Math.min(H, cy + 3 * s); y++)
      for (let x = Math.max(0, Math.floor(cx - 3 * s)); x < Math.min(W, cx + 3 * s); x++) d[y * W + x] += a * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
  }
  const out = new Uint16Array(W * H);
  // Gaussian approximation of shot noise (sd = sqrt(mean)) plus read noise; 0.01% hot/dead pixels
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, Math.min(65535, Math.round(100 + d[i] + Math.sqrt(d[i] + 25) * r.normal())));
  for (let k = 0; k < (W * H) / 10000; k++) out[r.int(W * H)] = r.uniform() < 0.5 ? 0 : 65535;
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-transforms-'));
try {
  const raw = syntheticTile(1);
  const rawPath = join(dir, 'tile.u16');
  writeFileSync(rawPath, raw);
  const f32 = toFloat32(plane('uint16', W, H, raw));

  const py = (op: string, setup = '') => `
import time, numpy as np, cv2
cv2.setNumThreads(1)
a = np.fromfile(${JSON.stringify(rawPath)}, dtype=np.uint16).reshape(${H}, ${W})
f = a.astype(np.float32)
${setup}
def run(): ${op}
run()
ts = []
for _ in range(${REPS}):
    t0 = time.process_time(); run(); ts.append(time.process_time() - t0)
print(sorted(ts)[len(ts) // 2])`;

  // --- 5x5 median
  const med = await cpuSeconds(() => medianFilter5(f32));
  const sharpMed = await cpuSeconds(
    () => sharp(raw, { raw: { width: W, height: H, channels: 1 } }).median(5).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer(),
    3,
  );
  const cvMed = pythonSeconds(py('cv2.medianBlur(a, 5)'));
  const cvMedF = pythonSeconds(py('cv2.medianBlur(f, 5)'));
  report('median5 vs cv2.medianBlur uint16', med, cvMed, { cv2_float32_s: cvMedF, ratio_vs_float32: med / cvMedF, sharp_median5_uint16_s: sharpMed });

  // --- Gaussian
  for (const sigma of [2, 8]) {
    const ours = await cpuSeconds(() => gaussianBlur(f32, sigma));
    const cv = pythonSeconds(py(`cv2.GaussianBlur(a, (0, 0), ${sigma})`));
    const cvF = pythonSeconds(py(`cv2.GaussianBlur(f, (0, 0), ${sigma})`));
    const sh = await cpuSeconds(() => sharp(raw, { raw: { width: W, height: H, channels: 1 } }).blur(sigma).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer(), 3);
    report(`gaussian sigma ${sigma} vs cv2.GaussianBlur uint16`, ours, cv, { cv2_float32_s: cvF, ratio_vs_float32: ours / cvF, sharp_blur_uint16_s: sh });
  }
  {
    const sigma = H / 16;
    const ours = await cpuSeconds(() => gaussianBlur(f32, sigma), 3);
    const cvF = pythonSeconds(py(`cv2.GaussianBlur(f, (0, 0), ${sigma})`).replace(`range(${REPS})`, 'range(1)'));
    report(`gaussian sigma ${sigma} (flat-field, fast path) vs cv2.GaussianBlur float32`, ours, cvF);
  }

  // --- 2x downscale
  const ds = await cpuSeconds(() => downscale2x(f32), 9);
  const cvDs = pythonSeconds(py(`cv2.resize(a, (${W / 2}, ${H / 2}), interpolation=cv2.INTER_LINEAR)`).replace(`range(${REPS})`, 'range(21)'));
  const cvDsF = pythonSeconds(py(`cv2.resize(f, (${W / 2}, ${H / 2}), interpolation=cv2.INTER_LINEAR)`).replace(`range(${REPS})`, 'range(21)'));
  report('downscale2x vs cv2.resize INTER_LINEAR uint16', ds, cvDs, { cv2_float32_s: cvDsF, ratio_vs_float32: ds / cvDsF });

  // --- whole per-tile chain (fluorescence): uint16 -> float32, salt-and-pepper, dust, flat-field,
  // 2x downscale, normalization (affine from this tile); fields precomputed as a run would have them
  const field = gaussianBlur(f32, H / 16);
  let fm = 0;
  for (const v of field.data) fm += v / field.data.length;
  for (let i = 0; i < field.data.length; i++) field.data[i] /= fm;
  const artifact = plane('float32', W, H);
  for (let i = 0; i < 200; i++) artifact.data[(1000 + (i % 20)) * W + 1000 + Math.floor(i / 20)] = 50;
  let iterations = 0;
  let lastChanged = 0;
  const chain = (): Plane<'float32'> => {
    const p = toFloat32(plane('uint16', W, H, raw));
    const s = removeSaltAndPepper(p);
    iterations = s.iterations;
    lastChanged = s.changed;
    const small = downscale2x(correctFlatField(subtractDust(s.plane, artifact), field));
    const stats = new IntensityStats();
    stats.add(small);
    return applyAffine(small, stats.affine('fluorescence'));
  };
  const chainS = await cpuSeconds(chain, 3);
  const mb = (W * H * 2) / 1e6;
  console.log(JSON.stringify({ name: 'fluorescence per-tile chain', cpu_s: Number(chainS.toPrecision(4)), mb_per_s_per_core: Number((mb / chainS).toPrecision(4)), salt_and_pepper_iterations: iterations, pixels_changed_by_last_pass: lastChanged, target_mb_per_s: 50 }));
  const oneMedianChain = (): Plane<'float32'> => {
    const p = toFloat32(plane('uint16', W, H, raw));
    const small = downscale2x(correctFlatField(subtractDust(medianFilter5(p), artifact), field));
    const stats = new IntensityStats();
    stats.add(small);
    return applyAffine(small, stats.affine('fluorescence'));
  };
  const oneS = await cpuSeconds(oneMedianChain, 3);
  console.log(JSON.stringify({ name: 'same chain with a single median pass', cpu_s: Number(oneS.toPrecision(4)), mb_per_s_per_core: Number((mb / oneS).toPrecision(4)) }));
  const transmitted = (): Plane<'float32'> => {
    const small = downscale2x(correctFlatField(toFloat32(plane('uint16', W, H, raw)), field));
    const stats = new IntensityStats();
    stats.add(small);
    return applyAffine(small, stats.affine('transmitted'));
  };
  const trS = await cpuSeconds(transmitted, 3);
  console.log(JSON.stringify({ name: 'transmitted per-tile chain (dust/flat divide, downscale, normalize)', cpu_s: Number(trS.toPrecision(4)), mb_per_s_per_core: Number((mb / trS).toPrecision(4)) }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const timelapse = fileURLToPath(new URL('../../shared/data/brightfield-timelapse', import.meta.url));
if (existsSync(timelapse)) {
  const est = new TransmittedDustEstimator();
  const files = readdirSync(timelapse).filter((f) => f.endsWith('.png')).sort();
  for (const f of files) est.add(toFloat32(await readPlane(join(timelapse, f))), f);
  const { field, images } = est.finish();
  const sorted = Float32Array.from(field.data).sort();
  const lo = sorted[Math.floor(0.001 * sorted.length)];
  const hi = sorted[Math.floor(0.999 * sorted.length)];
  const px = Uint8Array.from(field.data, (v) => Math.max(0, Math.min(255, Math.round((255 * (v - lo)) / (hi - lo)))));
  const outDir = fileURLToPath(new URL('./out', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, 'brightfield_dust_field.png');
  await sharp(px, { raw: { width: field.width, height: field.height, channels: 1 } }).png().toFile(path);
  console.log(JSON.stringify({ name: 'brightfield-timelapse dust pattern', images, png: path, stretch: [lo, hi] }));
}
