/**
 * One OME-Zarr image (NGFF 0.4 "multiscales" + "omero"): a `(c, z, y, x)` (or `(c, y, x)`)
 * array per resolution level, level k the 2x2 mean of level k-1, until the image fits
 * {@link PYRAMID_FIT} px. Chunks are `(1, 1, 512, 512)`: one plane of one channel, so a viewer
 * or our reader fetches a z-plane without the rest.
 *
 * Streamed: each plane goes down the pyramid as bands of rows. Level k keeps one band of chunk
 * rows (written as soon as it is full) and one pending row (halved with the next): memory is
 * about two bands of level 0 per image, beyond the plane the caller supplies.
 *
 * The image folder is written under a temp name beside its final path and renamed into place
 * when complete (its `.zattrs` last), so readers never see half an image and a rerun overwrites.
 */
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as zarr from 'zarrita';
import { badOption } from '../../core/errors.ts';
import { tempPathFor, writeFailure } from '../atomic.ts';
import { createArray, writeGroup, type ZarrDType } from './store.ts';

/** A level is the last when both sides are at most this (px): "2x per level until the image fits 1024 px". */
export const PYRAMID_FIT = 1024;
/** Chunk side in y and x (px). */
export const CHUNK = 512;
export const NGFF_VERSION = '0.4';

type Pixels = { uint16: Uint16Array; float32: Float32Array };

/** A channel of an {@link ImageSpec}. */
export interface ImageChannel<D extends ZarrDType = 'uint16' | 'float32'> {
  /** Shown by viewers (omero label). */
  readonly name: string;
  /** Display colour, 6 hex digits (omero). */
  readonly color: string;
  /**
   * The channel's plane at z (width x height, row-major, in the image's dtype), or undefined
   * for a plane left unwritten (it reads as 0). Called once per z, in order.
   */
  readonly plane: (z: number) => (D extends keyof Pixels ? Pixels[D] : never) | undefined | Promise<(D extends keyof Pixels ? Pixels[D] : never) | undefined>;
}

/** What {@link writeImage} writes. */
export interface ImageSpec<D extends 'uint16' | 'float32' = 'uint16' | 'float32'> {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** z-planes; undefined for a 2-D image (axes c, y, x). */
  readonly depth?: number;
  readonly dtype: D;
  readonly channels: readonly ImageChannel<D>[];
  /** Lateral pixel size at level 0 (µm); without it y and x carry no unit and scale 1. */
  readonly pixelSizeUm?: number;
  /** Distance between z-planes (µm); without it z carries no unit and scale 1. */
  readonly zStepUm?: number;
  /** z a viewer shows first (omero rdefs.defaultZ). */
  readonly defaultZ?: number;
  /** Our own attributes, stored under `isl` beside the NGFF ones. */
  readonly isl?: Record<string, unknown>;
}

/** Level sizes: level 0, then halved (rounding up) until both sides fit {@link PYRAMID_FIT}. */
export function pyramidSizes(width: number, height: number, fit = PYRAMID_FIT): { width: number; height: number }[] {
  const sizes = [{ width, height }];
  while (Math.max(sizes[sizes.length - 1].width, sizes[sizes.length - 1].height) > fit) {
    const s = sizes[sizes.length - 1];
    sizes.push({ width: Math.ceil(s.width / 2), height: Math.ceil(s.height / 2) });
  }
  return sizes;
}

/**
 * 2x2 mean of rows `a` and `b` (b absent at an odd last row); an odd last column averages the
 * pixels present. The one downscale of every pyramid level.
 */
export function halveRows(a: Float32Array, b: Float32Array | undefined, out: Float32Array): Float32Array {
  const w = a.length;
  for (let x = 0, o = 0; x < w; x += 2, o++) {
    const pair = x + 1 < w;
    let s = a[x] + (pair ? a[x + 1] : 0);
    let n = pair ? 2 : 1;
    if (b) {
      s += b[x] + (pair ? b[x + 1] : 0);
      n *= 2;
    }
    out[o] = s / n;
  }
  return out;
}

type Arr = zarr.Array<zarr.DataType, zarr.Mutable>;

/** One level of one plane's descent: a band of rows waiting to be written, and a pending row to halve. */
class LevelSink {
  private readonly band: Uint16Array | Float32Array;
  private rows = 0;
  private y0 = 0;
  private pending: Float32Array | undefined;
  constructor(
    private readonly arr: Arr,
    private readonly index: number[],
    private readonly width: number,
    private readonly chunkRows: number,
    dtype: 'uint16' | 'float32',
    private readonly next: LevelSink | undefined,
  ) {
    this.band = dtype === 'uint16' ? new Uint16Array(chunkRows * width) : new Float32Array(chunkRows * width);
  }

  async push(row: Float32Array): Promise<void> {
    // uint16: the mean rounded to the nearest count (values at level 0 are counts already).
    if (this.band instanceof Uint16Array) for (let x = 0; x < this.width; x++) this.band[this.rows * this.width + x] = Math.round(row[x]);
    else this.band.set(row, this.rows * this.width);
    if (++this.rows === this.chunkRows) await this.flush();
    if (this.next) {
      if (this.pending) {
        await this.next.push(halveRows(this.pending, row, new Float32Array(Math.ceil(this.width / 2))));
        this.pending = undefined;
      } else this.pending = Float32Array.from(row);
    }
  }

  async finish(): Promise<void> {
    await this.flush();
    if (!this.next) return;
    if (this.pending) await this.next.push(halveRows(this.pending, undefined, new Float32Array(Math.ceil(this.width / 2))));
    this.pending = undefined;
    await this.next.finish();
  }

  private async flush(): Promise<void> {
    if (this.rows === 0) return;
    const data = this.band.subarray(0, this.rows * this.width);
    await zarr.set(this.arr, [...this.index, zarr.slice(this.y0, this.y0 + this.rows), null], { data, shape: [this.rows, this.width], stride: [this.width, 1] } as never);
    this.y0 += this.rows;
    this.rows = 0;
  }
}

/** Running display window of a channel: a histogram for uint16, min/max for float32. */
class Window {
  private readonly hist?: Float64Array;
  private min = Infinity;
  private max = -Infinity;
  constructor(private readonly dtype: 'uint16' | 'float32') {
    if (dtype === 'uint16') this.hist = new Float64Array(65536);
  }
  add(p: Uint16Array | Float32Array): void {
    if (this.hist) for (let i = 0; i < p.length; i++) this.hist[p[i]]++;
    else for (let i = 0; i < p.length; i++) if (p[i] === p[i]) { if (p[i] < this.min) this.min = p[i]; if (p[i] > this.max) this.max = p[i]; }
  }
  /** uint16: the dtype's range, shown from the 0.1th to the 99.9th percentile; float32: data min to max. */
  get(): { min: number; max: number; start: number; end: number } {
    if (!this.hist) {
      const lo = Number.isFinite(this.min) ? this.min : 0;
      const hi = Number.isFinite(this.max) ? this.max : 1;
      return { min: lo, max: hi, start: lo, end: hi > lo ? hi : lo + 1 };
    }
    const n = this.hist.reduce((a, b) => a + b, 0);
    if (n === 0) return { min: 0, max: 65535, start: 0, end: 65535 };
    const at = (q: number) => {
      let c = 0;
      for (let v = 0; v < 65536; v++) if ((c += this.hist![v]) >= q * n) return v;
      return 65535;
    };
    const start = at(0.001);
    const end = at(0.999);
    return { min: 0, max: 65535, start, end: end > start ? end : Math.min(65535, start + 1) };
  }
}

function check(spec: ImageSpec): void {
  const int = (k: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw badOption(k, 'a positive integer', v);
  };
  int('width', spec.width);
  int('height', spec.height);
  if (spec.depth !== undefined) int('depth', spec.depth);
  if (spec.dtype !== 'uint16' && spec.dtype !== 'float32') throw badOption('dtype', "'uint16' or 'float32'", spec.dtype);
  if (!Array.isArray(spec.channels) || spec.channels.length === 0) throw badOption('channels', 'at least one channel', spec.channels);
  for (const [i, c] of spec.channels.entries()) {
    if (typeof c.name !== 'string' || c.name === '') throw badOption(`channels[${i}].name`, 'a non-empty name', c.name);
    if (!/^[0-9A-Fa-f]{6}$/.test(c.color)) throw badOption(`channels[${i}].color`, 'six hex digits (RRGGBB)', c.color);
  }
  for (const k of ['pixelSizeUm', 'zStepUm'] as const) if (spec[k] !== undefined && !(Number.isFinite(spec[k]) && spec[k]! > 0)) throw badOption(k, 'a positive number of micrometres', spec[k]);
}

/** The NGFF attributes of an image (multiscales, omero) plus `isl`. */
function imageAttrs(spec: ImageSpec, levels: number, windows: ReturnType<Window['get']>[]) {
  const um = spec.pixelSizeUm;
  const space = (name: string, unit: boolean) => ({ name, type: 'space', ...(unit ? { unit: 'micrometer' } : {}) });
  const axes = [{ name: 'c', type: 'channel' }, ...(spec.depth !== undefined ? [space('z', spec.zStepUm !== undefined)] : []), space('y', um !== undefined), space('x', um !== undefined)];
  const datasets = Array.from({ length: levels }, (_, k) => ({
    path: String(k),
    coordinateTransformations: [{ type: 'scale', scale: [1, ...(spec.depth !== undefined ? [spec.zStepUm ?? 1] : []), (um ?? 1) * 2 ** k, (um ?? 1) * 2 ** k] }],
  }));
  return {
    multiscales: [{
      version: NGFF_VERSION,
      name: spec.name,
      axes,
      datasets,
      type: 'mean',
      metadata: { description: 'each level is the 2x2 mean of the one above (rounded for integer data); an odd last row or column averages the pixels present', method: 'isl-toolkit io/zarr/image.ts halveRows' },
    }],
    omero: {
      name: spec.name,
      version: NGFF_VERSION,
      channels: spec.channels.map((c, i) => ({ label: c.name, color: c.color.toUpperCase(), window: windows[i], active: true, coefficient: 1, family: 'linear', inverted: false })),
      rdefs: { defaultT: 0, defaultZ: spec.defaultZ ?? 0, model: 'color' },
    },
    ...(spec.isl ? { isl: spec.isl } : {}),
  };
}

/**
 * Writes one multiscale image as a Zarr v2 group at `dir` (replacing what was there): the levels
 * of {@link pyramidSizes}, chunk by chunk (see the module comment), then its attributes.
 * @throws IslError BAD_OPTION for a malformed spec or a plane of the wrong size; WRITE_FAILED when the disk refuses
 */
export async function writeImage(dir: string, spec: ImageSpec): Promise<void> {
  check(spec);
  const { width, height, dtype } = spec;
  const depth = spec.depth ?? 1;
  const sizes = pyramidSizes(width, height);
  const tmp = tempPathFor(dir);
  try {
    await rm(tmp, { recursive: true, force: true });
    await writeGroup(tmp);
    const arrays: Arr[] = [];
    for (const [k, s] of sizes.entries()) {
      const shape = [spec.channels.length, ...(spec.depth !== undefined ? [depth] : []), s.height, s.width];
      const chunks = [1, ...(spec.depth !== undefined ? [1] : []), Math.min(CHUNK, s.height), Math.min(CHUNK, s.width)];
      arrays.push((await createArray(join(tmp, String(k)), shape, chunks, dtype)) as unknown as Arr);
    }
    const windows: ReturnType<Window['get']>[] = [];
    for (const [c, ch] of spec.channels.entries()) {
      const win = new Window(dtype);
      for (let z = 0; z < depth; z++) {
        const p = await ch.plane(z);
        if (p === undefined) continue;
        if (p.length !== width * height || !(dtype === 'uint16' ? p instanceof Uint16Array : p instanceof Float32Array)) {
          throw badOption(`channels[${c}].plane(${z})`, `a ${dtype === 'uint16' ? 'Uint16Array' : 'Float32Array'} of ${width}x${height} pixels`, `${p?.constructor?.name} of ${p?.length}`);
        }
        win.add(p);
        const index = spec.depth !== undefined ? [c, z] : [c];
        let sink: LevelSink | undefined;
        for (let k = sizes.length - 1; k >= 0; k--) sink = new LevelSink(arrays[k], index, sizes[k].width, Math.min(CHUNK, sizes[k].height), dtype, sink);
        const row = new Float32Array(width);
        for (let y = 0; y < height; y++) {
          const src = p.subarray(y * width, (y + 1) * width);
          if (src instanceof Float32Array) await sink!.push(src);
          else {
            for (let x = 0; x < width; x++) row[x] = src[x];
            await sink!.push(row);
          }
        }
        await sink!.finish();
      }
      windows.push(win.get());
    }
    await writeGroup(tmp, imageAttrs(spec, sizes.length, windows));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw writeFailure(dir, e);
  }
}
