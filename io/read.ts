/**
 * Image readers: 8/16-bit PNG and 8/16-bit/float32 TIFF (multi-page, tiled, LZW/deflate,
 * OME-TIFF) decoded by sharp (libvips), the fastest correct path measured in bench/io.ts.
 */
import sharp, { type Sharp } from 'sharp';
import { stat } from 'node:fs/promises';
import { badInput, badOption, IslError } from '../core/errors.ts';
import { plane, type Plane } from '../core/image.ts';

export interface ReadPlaneOptions {
  /** 0-based page of a multi-page TIFF (default 0). */
  readonly page?: number;
  /** Decode only this rectangle (px); default the whole page. */
  readonly region?: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
}

/** Header facts of an image file, read without decoding pixels. */
export interface ImageInfo {
  readonly width: number;
  readonly height: number;
  readonly dtype: Plane['dtype'];
  /** Pages in the file (1 for PNG). */
  readonly pages: number;
  readonly channels: number;
  readonly format: string;
}

const DEPTHS: Record<string, Plane['dtype'] | undefined> = { uchar: 'uint8', ushort: 'uint16', float: 'float32' };

function open(path: string, page = 0): Sharp {
  // Mosaics can exceed sharp's default pixel limit. failOn 'error' rejects truncated data but tolerates
  // warnings such as ImageJ's malformed ColorMap tag (found in real Fiji exports).
  return sharp(path, { page, limitInputPixels: false, failOn: 'error' });
}

async function describeFailure(path: string, e: unknown): Promise<IslError> {
  if (e instanceof IslError) return e;
  const st = await stat(path).catch(() => undefined);
  if (!st) return badInput(path, 'file not found', undefined, e);
  if (!st.isFile()) return badInput(path, 'not a regular file', undefined, e);
  const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
  return badInput(path, `cannot decode image (corrupt or truncated?): ${why}`, undefined, e);
}

/**
 * Reads width, height, dtype and page count from the header (no pixel decode: cheap enough to check every file of a dump).
 * @throws IslError BAD_INPUT when the file is missing, not an image, or of an unsupported sample type
 */
export async function imageInfo(path: string): Promise<ImageInfo> {
  try {
    const m = await open(path).metadata();
    const dtype = DEPTHS[m.depth ?? ''];
    if (!dtype || !m.width || !m.height) throw badInput(path, `unsupported sample type ${m.depth ?? 'unknown'} (expected 8- or 16-bit unsigned or 32-bit float)`);
    return { width: m.width, height: m.height, dtype, pages: m.pages ?? 1, channels: m.channels ?? 1, format: m.format ?? 'unknown' };
  } catch (e) {
    throw await describeFailure(path, e);
  }
}

/** Number of pages (1 for PNG or a single-page TIFF). @throws IslError BAD_INPUT as imageInfo */
export async function pageCount(path: string): Promise<number> {
  return (await imageInfo(path)).pages;
}

/**
 * One grey channel out of an interleaved multi-channel buffer: R when the channels are equal (grey
 * saved as RGB), the only non-zero channel of a pseudo-coloured export, else undefined.
 */
function greyOf<T extends Uint8Array | Uint16Array | Float32Array>(d: T, channels: number, make: (n: number) => T): T | undefined {
  const n = d.length / channels;
  const colour = Math.min(channels, 3); // ignore alpha
  const nonZero = new Array<boolean>(colour).fill(false);
  let equal = true;
  for (let i = 0; i < n; i++) {
    const b = i * channels;
    for (let c = 0; c < colour; c++) if (d[b + c] !== 0) nonZero[c] = true;
    if (equal && (d[b] !== d[b + 1] || (colour > 2 && d[b] !== d[b + 2]))) equal = false;
  }
  const pick = equal ? 0 : nonZero.filter(Boolean).length === 1 ? nonZero.indexOf(true) : -1;
  if (pick < 0) return undefined;
  const out = make(n);
  for (let i = 0; i < n; i++) out[i] = d[i * channels + pick];
  return out;
}

/**
 * Decodes one page of an image file into a plane of its own dtype (uint8, uint16 or float32; raw
 * counts, no scaling). RGB files are accepted when they hold grey (equal channels) or a single
 * non-zero channel.
 * @param path PNG or TIFF (also OME-TIFF, multi-page, tiled, LZW/deflate)
 * @param opts.page 0-based page (default 0)
 * @throws IslError BAD_INPUT for a missing, corrupt or truncated file, a page out of range, or true colour
 * @throws IslError BAD_OPTION for a page that is not a non-negative integer
 */
export async function readPlane(path: string, opts: ReadPlaneOptions = {}): Promise<Plane> {
  const page = opts.page ?? 0;
  if (!Number.isInteger(page) || page < 0) throw badOption('page', 'a non-negative integer', page);
  try {
    if (page > 0) {
      const n = await pageCount(path);
      if (page >= n) throw badInput(path, `page ${page} requested but the file has ${n} page${n === 1 ? '' : 's'}`);
    }
    const m = await open(path, page).metadata();
    const dtype = DEPTHS[m.depth ?? ''];
    if (!dtype) throw badInput(path, `unsupported sample type ${m.depth ?? 'unknown'} (expected 8- or 16-bit unsigned or 32-bit float)`);
    const depth = dtype === 'uint16' ? 'ushort' : dtype === 'float32' ? 'float' : 'uchar';
    const grey1 = (m.channels ?? 1) <= 2; // grey, or grey + alpha (alpha dropped by the colourspace)
    // Without an explicit colourspace sharp returns 8-bit sRGB: pin the depth and interpretation.
    const space = grey1 ? (depth === 'ushort' ? 'grey16' : 'b-w') : depth === 'ushort' ? 'rgb16' : 'srgb';
    const r = opts.region;
    if (r && !(r.x >= 0 && r.y >= 0 && r.width >= 1 && r.height >= 1 && r.x + r.width <= (m.width ?? 0) && r.y + r.height <= (m.height ?? 0))) throw badOption('region', `a rectangle inside the ${m.width}x${m.height} image`, JSON.stringify(r));
    const img = r ? open(path, page).extract({ left: r.x, top: r.y, width: r.width, height: r.height }) : open(path, page);
    const { data, info } = await img.toColourspace(space).raw({ depth }).toBuffer({ resolveWithObject: true });
    const { width, height, channels } = info;
    // Use sharp's buffer in place when it owns its whole ArrayBuffer (large outputs); copy small
    // pooled ones, so planes can be transferred to workers without detaching shared memory.
    const owned = data.byteOffset === 0 && data.buffer.byteLength === data.byteLength;
    const bytes = owned ? new Uint8Array(data.buffer) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    const all = dtype === 'uint8' ? bytes : dtype === 'uint16' ? new Uint16Array(bytes.buffer) : new Float32Array(bytes.buffer);
    if (channels === 1) return plane(dtype, width, height, all);
    const grey =
      all instanceof Uint8Array
        ? greyOf(all, channels, (n) => new Uint8Array(n))
        : all instanceof Uint16Array
          ? greyOf(all, channels, (n) => new Uint16Array(n))
          : greyOf(all, channels, (n) => new Float32Array(n));
    if (!grey) throw badInput(path, `colour image with ${channels} differing channels; expected one grey channel (export each channel as its own grey file)`);
    return plane(dtype, width, height, grey);
  } catch (e) {
    throw await describeFailure(path, e);
  }
}
