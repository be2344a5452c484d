/**
 * Synthetic wells for stitching tests: a seeded random textured canvas cut into an overlapping
 * grid of tiles at known (jittered, subpixel) positions.
 */
import { rng } from '../../../core/random.ts';
import { plane, type Plane } from '../../../core/image.ts';

export interface SynthTile {
  readonly tileRow: number;
  readonly tileCol: number;
  readonly plane: Plane<'float32'>;
  /** True top-left corner on the canvas (px). */
  readonly x: number;
  readonly y: number;
  /** Recorded stage position (px): nominal grid position, or the true one plus stage noise. */
  readonly stageX: number;
  readonly stageY: number;
}

export interface SynthOptions {
  rows: number;
  cols: number;
  tile: number;
  overlap: number;
  /** Max |jitter| of each true position around the nominal grid (px, uniform, subpixel). */
  jitter: number;
  seed: number;
  /** Set canvas regions to flat background (the texture's mean level) where this returns true (canvas px). */
  empty?: (x: number, y: number) => boolean;
  /** Per-pixel Gaussian noise sigma added to each tile independently. */
  noise?: number;
  /** Tiles (row, col) whose true position is moved by (dx, dy) px away from the stage record. */
  fault?: { row: number; col: number; dx: number; dy: number };
}

/** Smooth random texture: white noise box-blurred twice (radius 2) plus sparse bright blobs. */
export function texture(width: number, height: number, seed: number): Float32Array {
  const r = rng(seed);
  let a: Float32Array = new Float32Array(width * height);
  for (let i = 0; i < a.length; i++) a[i] = r.uniform();
  for (let pass = 0; pass < 2; pass++) a = blur(a, width, height, 2);
  const out = new Float32Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = 100 + 400 * a[i];
  const blobs = Math.round((width * height) / 4000);
  for (let k = 0; k < blobs; k++) {
    const cx = r.range(0, width), cy = r.range(0, height), s = r.range(2, 6), amp = r.range(50, 300);
    for (let y = Math.max(0, Math.floor(cy - 3 * s)); y < Math.min(height, cy + 3 * s); y++)
      for (let x = Math.max(0, Math.floor(cx - 3 * s)); x < Math.min(width, cx + 3 * s); x++)
        out[y * width + x] += amp * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
  }
  return out;
}

function blur(a: Float32Array, w: number, h: number, r: number): Float32Array {
  const t = new Float32Array(a.length);
  const o = new Float32Array(a.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0, n = 0;
      for (let k = Math.max(0, x - r); k <= Math.min(w - 1, x + r); k++, n++) s += a[y * w + k];
      t[y * w + x] = s / n;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0, n = 0;
      for (let k = Math.max(0, y - r); k <= Math.min(h - 1, y + r); k++, n++) s += t[k * w + x];
      o[y * w + x] = s / n;
    }
  return o;
}

/** Cuts a jittered grid of tiles (bilinear sampling at subpixel positions) out of a fresh textured canvas. */
export function synthWell(o: SynthOptions): { tiles: SynthTile[]; canvas: Plane<'float32'> } {
  const step = o.tile - o.overlap;
  const margin = Math.ceil(o.jitter + (o.fault ? Math.max(Math.abs(o.fault.dx), Math.abs(o.fault.dy)) : 0)) + 2;
  const cw = step * (o.cols - 1) + o.tile + 2 * margin;
  const ch = step * (o.rows - 1) + o.tile + 2 * margin;
  const tex = texture(cw, ch, o.seed);
  if (o.empty) {
    // Flat background at the texture's mean level: a step edge along a straight empty-region border
    // would itself be a (spurious) feature shared by every tile crossing such a border. No noise on
    // the canvas: camera noise (`noise`) is independent per tile, as in real exposures.
    const mean = tex.reduce((s, v) => s + v, 0) / tex.length;
    for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) if (o.empty(x, y)) tex[y * cw + x] = mean;
  }
  const r = rng(o.seed + 2);
  const tiles: SynthTile[] = [];
  for (let row = 0; row < o.rows; row++)
    for (let col = 0; col < o.cols; col++) {
      const sx = margin + col * step, sy = margin + row * step;
      let x = sx + r.range(-o.jitter, o.jitter);
      let y = sy + r.range(-o.jitter, o.jitter);
      if (o.fault && o.fault.row === row && o.fault.col === col) {
        x += o.fault.dx;
        y += o.fault.dy;
      }
      const p = plane('float32', o.tile, o.tile);
      const ix = Math.floor(x), iy = Math.floor(y), fx = x - ix, fy = y - iy;
      for (let v = 0; v < o.tile; v++)
        for (let u = 0; u < o.tile; u++) {
          const i = (iy + v) * cw + ix + u;
          p.data[v * o.tile + u] = (1 - fy) * ((1 - fx) * tex[i] + fx * tex[i + 1]) + fy * ((1 - fx) * tex[i + cw] + fx * tex[i + cw + 1]) + (o.noise ? o.noise * r.normal() : 0);
        }
      tiles.push({ tileRow: row, tileCol: col, plane: p, x, y, stageX: sx, stageY: sy });
    }
  return { tiles, canvas: plane('float32', cw, ch, tex) };
}
