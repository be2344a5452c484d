/**
 * A minimal PNG decoder (node:zlib + the PNG filters) for grey 8/16-bit non-interlaced images:
 * an independent check on sharp/libvips in tests.
 */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export function decodeGreyPng(path: string): { width: number; height: number; bitDepth: number; data: Uint16Array } {
  const b = readFileSync(path);
  let pos = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  const idat: Buffer[] = [];
  while (pos < b.length) {
    const len = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    const body = b.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      bitDepth = body[8];
      if (body[9] !== 0 || body[12] !== 0) throw new Error('only grey non-interlaced PNGs');
    } else if (type === 'IDAT') idat.push(body);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = bitDepth / 8;
  const stride = width * bpp;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const o = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[o + x - bpp] : 0;
      const up = y > 0 ? out[o - stride + x] : 0;
      const c = x >= bpp && y > 0 ? out[o - stride + x - bpp] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += up;
      else if (f === 3) v += (a + up) >> 1;
      else if (f === 4) {
        const p = a + up - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - up);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      }
      out[o + x] = v & 255;
    }
  }
  const data = new Uint16Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = bpp === 2 ? out.readUInt16BE(2 * i) : out[i];
  return { width, height, bitDepth, data };
}
