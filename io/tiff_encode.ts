/**
 * A small baseline TIFF encoder for what sharp cannot write: float32 samples and an
 * ImageDescription (OME-XML). Grey, one sample per pixel, strips, little-endian; classic TIFF,
 * or BigTIFF when the file could pass 4 GiB. Pages are written one after another to an open
 * file, so a well's planes never have to sit in one buffer.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { deflate } from 'node:zlib';
import { promisify } from 'node:util';
import type { Plane } from '../core/image.ts';

const deflateAsync = promisify(deflate);

export type TiffEncodeCompression = 'none' | 'deflate';

export interface TiffEncodeOptions {
  /** ImageDescription of the first page (e.g. OME-XML); ASCII/UTF-8. */
  readonly description?: string;
  readonly compression?: TiffEncodeCompression;
  /** Physical pixel size in micrometres, stored as X/YResolution in pixels per centimetre. */
  readonly pixelSizeUm?: number;
  /** Force BigTIFF (otherwise chosen only when the file could exceed `bigTiffAbove`). */
  readonly bigTiff?: boolean;
  /** Bytes of samples (plus headroom) above which the file is written as BigTIFF; default just under 4 GiB. */
  readonly bigTiffAbove?: number;
}

/** Pages produced one at a time (a well's planes), so only the page being written is held. */
export interface PageSource {
  readonly count: number;
  /** Bytes of samples of all pages, to choose classic or BigTIFF before the first page is written. */
  readonly sampleBytes: number;
  page(i: number): Plane | Promise<Plane>;
}

/** Largest classic TIFF we write: offsets are 32-bit. */
export const CLASSIC_TIFF_LIMIT = 0xffff_ff00;

const TYPE = { ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, LONG8: 16 } as const;
const TYPE_SIZE: Record<number, number> = { 2: 1, 3: 2, 4: 4, 5: 8, 16: 8 };
const TARGET_STRIP_BYTES = 1 << 18; // 256 KiB strips: small enough to deflate in parallel

interface Entry {
  tag: number;
  type: number;
  /** Values already encoded little-endian. */
  bytes: Buffer;
  count: number;
}

function shorts(tag: number, ...v: number[]): Entry {
  const b = Buffer.alloc(2 * v.length);
  v.forEach((x, i) => b.writeUInt16LE(x, 2 * i));
  return { tag, type: TYPE.SHORT, bytes: b, count: v.length };
}
function longs(tag: number, v: readonly number[], big: boolean): Entry {
  const b = Buffer.alloc((big ? 8 : 4) * v.length);
  v.forEach((x, i) => (big ? b.writeBigUInt64LE(BigInt(x), 8 * i) : b.writeUInt32LE(x, 4 * i)));
  return { tag, type: big ? TYPE.LONG8 : TYPE.LONG, bytes: b, count: v.length };
}
function ascii(tag: number, s: string): Entry {
  const b = Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
  return { tag, type: TYPE.ASCII, bytes: b, count: b.length };
}
function rational(tag: number, num: number, den: number): Entry {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(num, 0);
  b.writeUInt32LE(den, 4);
  return { tag, type: TYPE.RATIONAL, bytes: b, count: 1 };
}

/** Encodes an IFD at file position `at`, values that do not fit inline following it. Returns the bytes and the offset of its next-IFD field. */
function encodeIfd(entries: Entry[], at: number, big: boolean): { bytes: Buffer; nextField: number } {
  entries.sort((a, b) => a.tag - b.tag);
  const inline = big ? 8 : 4;
  const head = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  const ifdSize = head + entries.length * entrySize + (big ? 8 : 4);
  const overflow = entries.reduce((s, e) => s + (e.bytes.length > inline ? e.bytes.length + (e.bytes.length & 1) : 0), 0);
  const out = Buffer.alloc(ifdSize + overflow);
  if (big) out.writeBigUInt64LE(BigInt(entries.length), 0);
  else out.writeUInt16LE(entries.length, 0);
  let extra = ifdSize;
  entries.forEach((e, i) => {
    const p = head + i * entrySize;
    out.writeUInt16LE(e.tag, p);
    out.writeUInt16LE(e.type, p + 2);
    if (big) out.writeBigUInt64LE(BigInt(e.count), p + 4);
    else out.writeUInt32LE(e.count, p + 4);
    const valueAt = p + (big ? 12 : 8);
    if (e.bytes.length <= inline) {
      e.bytes.copy(out, valueAt);
    } else {
      if (big) out.writeBigUInt64LE(BigInt(at + extra), valueAt);
      else out.writeUInt32LE(at + extra, valueAt);
      e.bytes.copy(out, extra);
      extra += e.bytes.length + (e.bytes.length & 1); // word-align value offsets
    }
  });
  return { bytes: out, nextField: at + ifdSize - (big ? 8 : 4) };
}

function planeBytes(p: Plane): Buffer {
  const d = p.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength); // x86 and ARM are little-endian, as the header says
}

async function writeAt(fh: FileHandle, bytes: Uint8Array, pos: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, pos + done);
    done += bytesWritten;
  }
}

/**
 * Writes `pages` (grey planes, any mix of uint8/uint16/float32 and sizes; an array or a source
 * asked for one page at a time) as a multi-page TIFF to `path` (not atomic by itself: callers
 * pass a temp path from `writeAtomic`).
 */
export async function encodeTiffFile(path: string, pages: readonly Plane[] | PageSource, opts: TiffEncodeOptions = {}): Promise<void> {
  const source: PageSource = Array.isArray(pages) ? { count: pages.length, sampleBytes: pages.reduce((s, p) => s + p.data.byteLength, 0), page: (i) => pages[i] } : (pages as PageSource);
  if (source.count === 0) throw new RangeError('Expected at least one page to write a TIFF but received none');
  const compression = opts.compression ?? 'none';
  const big = opts.bigTiff ?? source.sampleBytes + (opts.description?.length ?? 0) + source.count * 4096 > (opts.bigTiffAbove ?? CLASSIC_TIFF_LIMIT);
  const fh = await open(path, 'w');
  try {
    const header = Buffer.alloc(big ? 16 : 8);
    header.write('II', 0, 'latin1');
    if (big) {
      header.writeUInt16LE(43, 2);
      header.writeUInt16LE(8, 4);
    } else header.writeUInt16LE(42, 2);
    await writeAt(fh, header, 0);
    let pos = header.length;
    let nextField = big ? 8 : 4;
    for (let i = 0; i < source.count; i++) {
      const p = await source.page(i);
      const bps = p.data.BYTES_PER_ELEMENT;
      const rowBytes = p.width * bps;
      const rowsPerStrip = Math.max(1, Math.min(p.height, Math.floor(TARGET_STRIP_BYTES / rowBytes)));
      const all = planeBytes(p);
      const strips: Buffer[] = [];
      for (let y = 0; y < p.height; y += rowsPerStrip) strips.push(all.subarray(y * rowBytes, Math.min(p.height, y + rowsPerStrip) * rowBytes));
      const encoded = compression === 'deflate' ? await Promise.all(strips.map((s) => deflateAsync(s))) : strips;
      const offsets: number[] = [];
      for (const s of encoded) {
        offsets.push(pos);
        await writeAt(fh, s, pos);
        pos += s.length;
      }
      if (pos & 1) pos++; // IFDs start on a word boundary
      const entries: Entry[] = [
        longs(256, [p.width], false),
        longs(257, [p.height], false),
        shorts(258, bps * 8),
        shorts(259, compression === 'deflate' ? 8 : 1),
        shorts(262, 1), // BlackIsZero
        longs(273, offsets, big),
        shorts(277, 1),
        longs(278, [rowsPerStrip], false),
        longs(279, encoded.map((s) => s.length), big),
        shorts(284, 1),
        ascii(305, 'insilico-labeling'),
        shorts(339, p.dtype === 'float32' ? 3 : 1),
      ];
      if (i === 0 && opts.description !== undefined) entries.push(ascii(270, opts.description));
      if (opts.pixelSizeUm !== undefined) {
        // pixels per cm as a rational with enough precision for sub-micron pixels
        const perCm = 1e4 / opts.pixelSizeUm;
        const den = perCm * 1000 < 0xffff_ffff ? 1000 : 1;
        const num = Math.min(0xffff_ffff, Math.round(perCm * den));
        entries.push(rational(282, num, den), rational(283, num, den), shorts(296, 3));
      }
      const ifd = encodeIfd(entries, pos, big);
      await writeAt(fh, ifd.bytes, pos);
      const link = Buffer.alloc(big ? 8 : 4);
      if (big) link.writeBigUInt64LE(BigInt(pos));
      else link.writeUInt32LE(pos);
      await writeAt(fh, link, nextField);
      nextField = ifd.nextField;
      pos += ifd.bytes.length;
    }
  } finally {
    await fh.close();
  }
}
