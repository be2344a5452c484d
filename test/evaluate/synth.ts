/** Synthetic nuclear images for the evaluation tests: disks on a dim background. */
import { plane, type Plane } from '../../io/image.ts';
import { rng } from '../../fixtures/random.ts';

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
