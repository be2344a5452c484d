/**
 * Uncompressed float32 planes on disk, for per-well intermediates (stitched planes, projected
 * labels) that are too many to hold at once: a 16-byte header (magic "ISLR", width, height,
 * sample type 0 = float32) and the row-major little-endian samples, so a band of rows is one
 * contiguous read. float32 keeps every value bit for bit (uint16 or float16 would not: a
 * normalization affine can magnify one raw count to hundreds of canonical counts).
 */
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { badInput } from '../core/errors.ts';
import { plane, type Plane } from '../core/image.ts';

const MAGIC = 0x524c5349; // "ISLR" little-endian
const HEADER = 16;

/** Writes a float32 plane (not atomic: intermediates under OUT/cache are rewritten by a rerun). */
export async function writeRawPlane(path: string, p: Plane<'float32'>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const head = Buffer.alloc(HEADER);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(p.width, 4);
  head.writeUInt32LE(p.height, 8);
  const fh = await open(path, 'w');
  try {
    await fh.writev([head, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)]);
  } finally {
    await fh.close();
  }
}

/** Appends rows to a raw plane file being written band by band (`createRawPlane` opens it). */
export interface RawPlaneWriter {
  /** Appends whole rows (a multiple of width samples), in order. */
  rows(data: Float32Array): Promise<void>;
  close(): Promise<void>;
}

/** Opens a raw plane file of `width` x `height` to be filled top to bottom with `rows`. */
export async function createRawPlane(path: string, width: number, height: number): Promise<RawPlaneWriter> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  const head = Buffer.alloc(HEADER);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(width, 4);
  head.writeUInt32LE(height, 8);
  await fh.write(head, 0, HEADER, 0);
  let pos = HEADER;
  return {
    async rows(data) {
      const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      let done = 0;
      while (done < b.length) done += (await fh.write(b, done, b.length - done, pos + done)).bytesWritten;
      pos += b.length;
    },
    close: () => fh.close(),
  };
}

/**
 * Reads rows [y0, y1) of a raw plane file (the whole plane by default).
 * @throws IslError BAD_INPUT for a file that is not a raw plane of this size
 */
export async function readRawRows(path: string, width: number, height: number, y0 = 0, y1 = height): Promise<Float32Array> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEADER);
    await fh.read(head, 0, HEADER, 0);
    if (head.readUInt32LE(0) !== MAGIC || head.readUInt32LE(4) !== width || head.readUInt32LE(8) !== height) throw badInput(path, `not a ${width}x${height} raw float32 plane (an intermediate under OUT/cache)`);
    const out = new Float32Array((y1 - y0) * width);
    const b = Buffer.from(out.buffer);
    let done = 0;
    while (done < b.length) {
      const { bytesRead } = await fh.read(b, done, b.length - done, HEADER + y0 * width * 4 + done);
      if (bytesRead === 0) throw badInput(path, `raw plane is truncated (rows ${y0}..${y1} of ${height})`);
      done += bytesRead;
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Reads a whole raw plane file. @throws IslError BAD_INPUT as readRawRows */
export async function readRawPlane(path: string, width: number, height: number): Promise<Plane<'float32'>> {
  return plane('float32', width, height, await readRawRows(path, width, height));
}
