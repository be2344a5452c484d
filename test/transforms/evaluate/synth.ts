/** Synthetic nuclear images for the evaluation tests: disks on a dim background. */
import { plane, type Plane } from '../../../core/image.ts';
import { rng } from '../../../core/random.ts';

export interface Disk {
  readonly x: number;
  readonly y: number;
  readonly r: number;
  /** Intensity inside, canonical; default 0.8. */
  readonly v?: number;
}

/**
 * Draws disks (max where they overlap) on a background of `bg`, plus Gaussian noise of sd
 * `noise` (seeded), clipped to [0, 1].
 */
export function diskImage(width: number, height: number, disks: readonly Disk[], opts: { bg?: number; noise?: number; seed?: number } = {}): Plane<'float32'> {
  const p = plane('float32', width, height);
  p.data.fill(opts.bg ?? 0.1);
  for (const d of disks) {
    for (let y = Math.max(0, Math.floor(d.y - d.r)); y <= Math.min(height - 1, Math.ceil(d.y + d.r)); y++) {
      for (let x = Math.max(0, Math.floor(d.x - d.r)); x <= Math.min(width - 1, Math.ceil(d.x + d.r)); x++) {
        if ((x - d.x) ** 2 + (y - d.y) ** 2 <= d.r * d.r) p.data[y * width + x] = Math.max(p.data[y * width + x], d.v ?? 0.8);
      }
    }
  }
  if (opts.noise) {
    const g = rng(opts.seed ?? 1);
    for (let i = 0; i < p.data.length; i++) p.data[i] = Math.min(1, Math.max(0, p.data[i] + opts.noise * g.normal()));
  }
  return p;
}

/** A grid of well-separated disks: `cols` x `rows`, spacing `step` px, radius r. */
export function diskGrid(cols: number, rows: number, step: number, r: number): Disk[] {
  const out: Disk[] = [];
  for (let j = 0; j < rows; j++) for (let i = 0; i < cols; i++) out.push({ x: step / 2 + i * step, y: step / 2 + j * step, r });
  return out;
}

/** The error scene: 24 true nuclei on a 240 x 160 image. */
export const W = 240;
export const H = 160;
export const TRUE_DISKS = diskGrid(6, 4, 40, 10); // centres (20 + 40 i, 20 + 40 j)

/**
 * The prediction with known errors: disks 0 and 1 missed; disk 5 split by a 4 px gap; disks 8
 * and 9 merged by a bar as wide as they are; two small disks added between grid positions.
 */
export function predictionWithErrors(noise: number, seed: number): Plane<'float32'> {
  const kept: Disk[] = TRUE_DISKS.filter((_, i) => i !== 0 && i !== 1);
  kept.push({ x: 40, y: 40, r: 6 }, { x: 200, y: 120, r: 6 });
  const p = diskImage(W, H, kept, { bg: 0.1 });
  const d5 = TRUE_DISKS[5];
  for (let y = d5.y - d5.r - 1; y <= d5.y + d5.r + 1; y++) for (let x = Math.round(d5.x) - 2; x < Math.round(d5.x) + 2; x++) p.data[y * W + x] = Math.min(p.data[y * W + x], 0.1);
  const [a, b] = [TRUE_DISKS[8], TRUE_DISKS[9]];
  for (let y = a.y - 10; y <= a.y + 10; y++) for (let x = a.x; x <= b.x; x++) p.data[y * W + x] = 0.8;
  if (noise) {
    const n = diskImage(W, H, [], { bg: 0, noise, seed });
    for (let i = 0; i < p.data.length; i++) p.data[i] = Math.min(1, Math.max(0, p.data[i] + n.data[i]));
  }
  return p;
}

