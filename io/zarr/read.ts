/**
 * Reads OME-Zarr (NGFF 0.4, Zarr v2) plates and single images as canonical wells: the
 * transmitted z-stack and the labels, float32 in [0, 1], the shape predict and preprocess
 * consume (`Well`, core/image.ts). Level 0 (the full resolution) only; chunks are fetched
 * plane by plane through zarrita, so a `region` reads only the chunks it overlaps.
 *
 * Which channel is transmitted: the `isl.transmitted` attribute of our own plates; else the
 * channel whose omero label is a transmitted modality (BRIGHTFIELD, PHASE_CONTRAST, DIC, or a
 * label containing "phase", "bright" or "dic"); else the only channel. Labels: every other
 * channel, at the z recorded in `isl.labels` (our plates), as is when 2-D, else their per-pixel
 * maximum over z (the ISL convention's MAXPROJECT). Intensities: uint16 / 65535, uint8 / 255,
 * float as stored (predict takes them as canonical: raw plates go through `preprocess` first).
 * Time (a `t` axis): the first time point.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as zarr from 'zarrita';
import { badInput, badOption } from '../../core/errors.ts';
import { plane, TRANSMITTED_CHANNELS, type Plane, type Well, type ZStack } from '../../core/image.ts';
import type { ReadPlaneOptions } from '../read.ts';
import { openArray, readAttrs } from './store.ts';

/** A field of view found in a plate (or a single image), as one well. */
export interface ZarrWellEntry {
  /** The well's name: the original name our plates record, else row + column (`A4`); `_<field>` appended for fields after the first. */
  readonly well: string;
  /** The image group folder. */
  readonly image: string;
}

interface Axis { name: string; type?: string }
interface Multiscales { axes: Axis[]; datasets: { path: string }[]; name?: string }
interface IslAttrs { well?: string; transmitted?: string[]; labels?: Record<string, { z?: number }> }

function attrsSync(dir: string): Record<string, any> | undefined {
  const f = join(dir, '.zattrs');
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8'));
  } catch (e) {
    throw badInput(f, `not valid JSON (${(e as Error).message})`, undefined, e);
  }
}

/** True when `path` is an OME-Zarr plate or multiscale image (its `.zattrs` has `plate` or `multiscales`). */
export function isOmeZarr(path: string): boolean {
  try {
    const a = attrsSync(path);
    return !!a && (a.plate !== undefined || a.multiscales !== undefined);
  } catch {
    return false;
  }
}

/**
 * The wells of a plate, or the one image at `path`, sorted as the plate lists them.
 * @throws IslError BAD_INPUT when `path` is not an OME-Zarr plate or image, or its metadata is malformed
 */
export function listZarrWells(path: string): ZarrWellEntry[] {
  const a = attrsSync(path);
  if (a?.multiscales) return [{ well: (a.isl as IslAttrs | undefined)?.well ?? imageName(path, a.multiscales), image: path }];
  const wells = a?.plate?.wells;
  if (!Array.isArray(wells)) throw badInput(join(path, '.zattrs'), 'not an OME-Zarr plate or image (no "plate" with "wells", no "multiscales")');
  const out: ZarrWellEntry[] = [];
  for (const w of wells as { path: string }[]) {
    const wa = attrsSync(join(path, w.path));
    const images = wa?.well?.images;
    if (!Array.isArray(images) || images.length === 0) throw badInput(join(path, w.path, '.zattrs'), `well ${w.path} has no "well" metadata with images`);
    for (const [i, im] of (images as { path: string }[]).entries()) {
      const dir = join(path, w.path, im.path);
      const recorded = (attrsSync(dir)?.isl as IslAttrs | undefined)?.well;
      const base = recorded ?? w.path.replace('/', '');
      out.push({ well: i === 0 ? base : `${base}_${im.path}`, image: dir });
    }
  }
  return out;
}

function imageName(path: string, ms: Multiscales[]): string {
  const n = (ms[0]?.name ?? basename(path).replace(/\.(ome\.)?zarr$/, '')).replace(/[^A-Za-z0-9_.+-]/g, '_');
  return n || 'image';
}

/** Picks the entry for `well` (or the only one). */
function pick(path: string, well: string | undefined): ZarrWellEntry {
  const all = listZarrWells(path);
  if (all.length === 0) throw badInput(path, 'the plate lists no wells');
  const names = all.map((e) => e.well);
  const chosen = well ?? (all.length === 1 ? names[0] : undefined);
  if (chosen === undefined) throw badOption('well', `one of ${names.join(', ')} (the plate holds several wells)`, well);
  const e = all.find((x) => x.well === chosen);
  if (!e) throw badOption('well', `one of ${names.join(', ')}`, well);
  return e;
}

/** The layout of an image's level 0: axis positions, sizes, channel names. */
interface ImageLayout {
  readonly entry: ZarrWellEntry;
  readonly arr: zarr.Array<zarr.DataType, any>;
  readonly c?: number;
  readonly z?: number;
  readonly t?: number;
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  readonly channels: string[];
  readonly isl?: IslAttrs;
}

async function layout(entry: ZarrWellEntry): Promise<ImageLayout> {
  const a = await readAttrs(entry.image);
  const ms = (a?.multiscales as Multiscales[] | undefined)?.[0];
  const file = join(entry.image, '.zattrs');
  if (!ms || !Array.isArray(ms.axes) || !Array.isArray(ms.datasets) || ms.datasets.length === 0) throw badInput(file, 'no "multiscales" with axes and datasets');
  let arr: zarr.Array<zarr.DataType, any>;
  try {
    arr = await openArray(join(entry.image, ms.datasets[0].path));
  } catch (e) {
    throw badInput(join(entry.image, ms.datasets[0].path), `cannot open level 0 (${(e as Error).message})`, entry.well, e);
  }
  const axes = ms.axes;
  if (axes.length !== arr.shape.length) throw badInput(file, `${axes.length} axes (${axes.map((x) => x.name).join(',')}) but level 0 has ${arr.shape.length} dimensions`, entry.well);
  const space = axes.map((x, i) => (x.type === 'space' || (!x.type && /^[zyx]$/.test(x.name)) ? i : -1)).filter((i) => i >= 0);
  if (space.length < 2) throw badInput(file, `expected 2 or 3 space axes, found ${space.length}`, entry.well);
  const find = (type: string, name: string) => {
    const i = axes.findIndex((x) => x.type === type || (!x.type && x.name === name));
    return i < 0 ? undefined : i;
  };
  const c = find('channel', 'c');
  const t = find('time', 't');
  const z = space.length === 3 ? space[0] : undefined;
  const nc = c === undefined ? 1 : arr.shape[c];
  const omero = (a?.omero as { channels?: { label?: string }[] } | undefined)?.channels;
  const channels = Array.from({ length: nc }, (_, i) => omero?.[i]?.label ?? `C${i}`);
  return { entry, arr, c, z, t, width: arr.shape[space[space.length - 1]], height: arr.shape[space[space.length - 2]], depth: z === undefined ? 1 : arr.shape[z], channels, isl: a?.isl as IslAttrs | undefined };
}

/** Index of the transmitted channel (module comment). */
function transmittedIndex(l: ImageLayout, file: string): number {
  const recorded = l.isl?.transmitted?.[0];
  if (recorded !== undefined && l.channels.includes(recorded)) return l.channels.indexOf(recorded);
  const named = l.channels.findIndex((n) => (TRANSMITTED_CHANNELS as readonly string[]).includes(n.toUpperCase()) || /phase|bright|dic/i.test(n));
  if (named >= 0) return named;
  if (l.channels.length === 1) return 0;
  throw badInput(file, `cannot tell which channel is transmitted light (channels: ${l.channels.join(', ')}): label it ${TRANSMITTED_CHANNELS.join(', ')} in omero.channels`, l.entry.well);
}

const SCALE: Record<string, number> = { uint8: 1 / 255, uint16: 1 / 65535, float32: 1, float64: 1 };

/** One plane (channel c, z) of level 0 within `region`, as float32 intensities. */
async function readPlaneAt(l: ImageLayout, c: number, z: number, r: { x: number; y: number; width: number; height: number }): Promise<Plane<'float32'>> {
  const sel: (number | zarr.Slice | null)[] = l.arr.shape.map(() => null);
  if (l.t !== undefined) sel[l.t] = 0;
  if (l.c !== undefined) sel[l.c] = c;
  if (l.z !== undefined) sel[l.z] = z;
  const n = sel.length;
  sel[n - 2] = zarr.slice(r.y, r.y + r.height);
  sel[n - 1] = zarr.slice(r.x, r.x + r.width);
  const scale = SCALE[l.arr.dtype];
  if (scale === undefined) throw badInput(l.entry.image, `pixels of type ${l.arr.dtype} are not supported (uint8, uint16, float32, float64)`, l.entry.well);
  let got: { data: ArrayLike<number> };
  try {
    got = (await zarr.get(l.arr, sel)) as { data: ArrayLike<number> };
  } catch (e) {
    throw badInput(l.entry.image, `cannot read channel ${l.channels[c]} z ${z} (${(e as Error).message})`, l.entry.well, e);
  }
  const out = new Float32Array(r.width * r.height);
  for (let i = 0; i < out.length; i++) out[i] = got.data[i] * scale;
  return plane('float32', r.width, r.height, out);
}

/** Name and size of a plate's well (level 0), from metadata only. */
export async function zarrWellHeader(path: string, well?: string): Promise<{ well: string; width: number; height: number }> {
  const l = await layout(pick(path, well));
  return { well: l.entry.well, width: l.width, height: l.height };
}

/**
 * Loads one well of an OME-Zarr plate (or the image at `path`) as a canonical well (module comment).
 * @param opts.well the well (names of {@link listZarrWells}); optional when there is one
 * @param opts.region only this rectangle of level 0 (px)
 * @throws IslError BAD_OPTION for an unknown or missing well, a region outside the image; BAD_INPUT for malformed metadata or chunks
 */
export async function readZarrWell(path: string, opts: { well?: string; region?: ReadPlaneOptions['region'] } = {}): Promise<Well> {
  const l = await layout(pick(path, opts.well));
  const file = join(l.entry.image, '.zattrs');
  const r = opts.region ?? { x: 0, y: 0, width: l.width, height: l.height };
  if (!(Number.isInteger(r.x) && Number.isInteger(r.y) && r.x >= 0 && r.y >= 0 && r.width >= 1 && r.height >= 1 && r.x + r.width <= l.width && r.y + r.height <= l.height)) {
    throw badOption('region', `a rectangle inside the ${l.width}x${l.height} image`, JSON.stringify(r));
  }
  const ti = transmittedIndex(l, file);
  const planes: Plane<'float32'>[] = [];
  for (let z = 0; z < l.depth; z++) planes.push(await readPlaneAt(l, ti, z, r));
  const n = r.width * r.height;
  const data = new Float32Array(n * l.depth);
  planes.forEach((p, z) => data.set(p.data, z * n));
  const stack: ZStack = { width: r.width, height: r.height, depth: l.depth, data };
  const labels = new Map<string, Plane<'float32'>>();
  for (const [c, name] of l.channels.entries()) {
    if (c === ti) continue;
    const at = l.isl?.labels?.[name]?.z;
    if (at !== undefined || l.depth === 1) {
      labels.set(name, await readPlaneAt(l, c, at ?? 0, r));
      continue;
    }
    const max = new Float32Array(n).fill(-Infinity);
    for (let z = 0; z < l.depth; z++) {
      const p = (await readPlaneAt(l, c, z, r)).data;
      for (let i = 0; i < n; i++) if (p[i] > max[i]) max[i] = p[i];
    }
    labels.set(name, plane('float32', r.width, r.height, max));
  }
  return { well: l.entry.well, width: r.width, height: r.height, transmitted: { channel: l.channels[ti], stack }, labels: new Map([...labels].sort((a, b) => a[0].localeCompare(b[0]))) };
}
