import test from 'ava';
import { mkdtemp, readFile, writeFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import sharp from 'sharp';
import { plane, type Plane } from '../../core/image.ts';
import { writeTiff, writePng, writeCanonicalPng, writeOmeTiff } from '../../io/write.ts';
import { readPlane, pageCount, imageInfo } from '../../io/read.ts';
import { IslError } from '../../core/errors.ts';
import { sharedDataset, withShared } from '../helpers/shared.ts';

const W = 37; // odd sizes catch stride and strip-boundary bugs
const H = 23;
function ramp<D extends 'uint8' | 'uint16' | 'float32'>(dtype: D, seed = 1): Plane<D> {
  const p = plane(dtype, W, H);
  for (let i = 0; i < W * H; i++) {
    const v = (i * 7919 * seed + 13) % 65536;
    p.data[i] = dtype === 'uint8' ? v % 256 : dtype === 'uint16' ? v : v / 65536 - 0.25;
  }
  return p;
}

async function tmp(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'isl-io-'));
}

/** Independent decode of a TIFF page via geotiff (pure JS, a different code path from sharp). */
async function geotiffPage(path: string, page = 0): Promise<ArrayLike<number>> {
  const b = await readFile(path);
  const tiff = await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const image = await tiff.getImage(page);
  const r = (await image.readRasters()) as unknown as ArrayLike<number>[];
  return r[0];
}

function same(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, a: ArrayLike<number>, b: ArrayLike<number>, msg: string): void {
  t.deepEqual(Array.from(a), Array.from(b), msg);
}

for (const dtype of ['uint8', 'uint16', 'float32'] as const) {
  for (const compression of ['none', 'deflate', 'lzw'] as const) {
    if (dtype === 'float32' && compression === 'lzw') continue;
    test(`writeTiff/readPlane round trip ${dtype} ${compression}`, async (t) => {
      const dir = await tmp();
      const p = ramp(dtype);
      const f = join(dir, 'a.tif');
      await writeTiff(f, p, { compression });
      const back = await readPlane(f);
      t.is(back.dtype, dtype);
      t.is(back.width, W);
      t.is(back.height, H);
      same(t, back.data, p.data, 'sharp decode equals what was written');
      same(t, await geotiffPage(f), p.data, 'geotiff decode equals what was written');
      t.deepEqual(await readdir(dir), ['a.tif'], 'no temp files left');
      await rm(dir, { recursive: true });
    });
  }
}

test('writeTiff rejects LZW for float32 and unknown compressions', async (t) => {
  const dir = await tmp();
  await t.throwsAsync(writeTiff(join(dir, 'a.tif'), ramp('float32'), { compression: 'lzw' }), { message: /Expected 'none' or 'deflate' for float32 planes.* for compression but received "lzw"|compression/ });
  await t.throwsAsync(writeTiff(join(dir, 'a.tif'), ramp('uint16'), { compression: 'jpeg' as never }), { message: 'Expected one of none, deflate, lzw for compression but received "jpeg" (string)' });
  t.deepEqual(await readdir(dir), []);
  await rm(dir, { recursive: true });
});

test('writePng keeps exact 8- and 16-bit values', async (t) => {
  const dir = await tmp();
  for (const dtype of ['uint8', 'uint16'] as const) {
    const f = join(dir, `${dtype}.png`);
    const p = ramp(dtype, 3);
    await writePng(f, p);
    const m = await sharp(f).metadata();
    t.is(m.format, 'png');
    t.is(m.channels, 1);
    t.is(m.depth, dtype === 'uint8' ? 'uchar' : 'ushort');
    const back = await readPlane(f);
    t.is(back.dtype, dtype);
    same(t, back.data, p.data, `${dtype} PNG round trip`);
  }
  await t.throwsAsync(writePng(join(dir, 'f.png'), ramp('float32')), { message: 'Expected a plane with dtype uint8|uint16 for plane but received "float32" (string)' });
  await rm(dir, { recursive: true });
});

test('writeCanonicalPng stores value x 65535, rounded and clipped', async (t) => {
  const dir = await tmp();
  const p = plane('float32', 4, 1, Float32Array.from([0, 0.5, 1.2, -0.1]));
  const f = join(dir, 'c.png');
  await writeCanonicalPng(f, p);
  const back = await readPlane(f);
  t.is(back.dtype, 'uint16');
  t.deepEqual(Array.from(back.data), [0, 32768, 65535, 0]);
  await rm(dir, { recursive: true });
});

test('writeOmeTiff: one image when channels have equal z, readable page by page with OME-XML', async (t) => {
  const dir = await tmp();
  const f = join(dir, 'w.ome.tif');
  const planes = [0, 1, 2].map((z) => ({ name: 'PHASE_CONTRAST', plane: ramp('uint16', z + 1) }));
  planes.push(...[0, 1, 2].map((z) => ({ name: 'DAPI', plane: ramp('uint16', z + 5) })));
  await writeOmeTiff(f, planes, { pixelSizeUm: 0.65, zStepUm: 2, imageName: 'A4' });
  t.is(await pageCount(f), 6);
  for (let i = 0; i < 6; i++) {
    same(t, (await readPlane(f, { page: i })).data, planes[i].plane.data, `page ${i} via sharp`);
    same(t, await geotiffPage(f, i), planes[i].plane.data, `page ${i} via geotiff`);
  }
  const b = await readFile(f);
  const tiff = await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const desc = String(await (await tiff.getImage(0)).fileDirectory.loadValue('ImageDescription'));
  t.regex(desc, /^<\?xml version="1.0" encoding="UTF-8"\?><OME xmlns="http:\/\/www.openmicroscopy.org\/Schemas\/OME\/2016-06"/);
  t.regex(desc, /<Image ID="Image:0" Name="A4"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" SizeX="37" SizeY="23" SizeZ="3" SizeC="2" SizeT="1" PhysicalSizeX="0.65" PhysicalSizeY="0.65" PhysicalSizeZ="2"/);
  t.regex(desc, /<Channel ID="Channel:0:0" Name="PHASE_CONTRAST" SamplesPerPixel="1"\/><Channel ID="Channel:0:1" Name="DAPI" SamplesPerPixel="1"\/><TiffData IFD="0" PlaneCount="6"\/>/);
  t.false(desc.includes('Image:1'));
  await rm(dir, { recursive: true });
});

test('writeOmeTiff: one image per channel when z-counts differ (stack + labels), float32 kept', async (t) => {
  const dir = await tmp();
  const f = join(dir, 'w.ome.tif');
  const planes = [0, 1, 2, 3].map((z) => ({ name: 'PHASE_CONTRAST', plane: ramp('float32', z + 1) }));
  planes.push({ name: 'DAPI', plane: ramp('float32', 9) }, { name: 'MAP2', plane: ramp('float32', 11) });
  await writeOmeTiff(f, planes, { compression: 'none' });
  t.is(await pageCount(f), 6);
  same(t, (await readPlane(f, { page: 5 })).data, planes[5].plane.data, 'last page');
  const b = await readFile(f);
  const tiff = await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const desc = String(await (await tiff.getImage(0)).fileDirectory.loadValue('ImageDescription'));
  t.regex(desc, /<Image ID="Image:0" Name="PHASE_CONTRAST"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="float" SizeX="37" SizeY="23" SizeZ="4" SizeC="1"/);
  t.regex(desc, /<Image ID="Image:1" Name="DAPI">.*<TiffData IFD="4" PlaneCount="1"\/>/);
  t.regex(desc, /<Image ID="Image:2" Name="MAP2">.*<TiffData IFD="5" PlaneCount="1"\/>/);
  await rm(dir, { recursive: true });
});

test('writeOmeTiff rejects mismatched sizes and split channels', async (t) => {
  const dir = await tmp();
  const f = join(dir, 'w.ome.tif');
  await t.throwsAsync(writeOmeTiff(f, [{ name: 'A', plane: ramp('uint16') }, { name: 'B', plane: plane('uint16', 5, 5) }]), { message: 'Expected a 37x23 plane like planes[0] for planes[1].plane but received "5x5" (string)' });
  await t.throwsAsync(writeOmeTiff(f, [{ name: 'A', plane: ramp('uint16') }, { name: 'B', plane: ramp('uint16') }, { name: 'A', plane: ramp('uint16') }]), { message: 'Expected the planes of one channel to be consecutive for planes[2].name but received "A" (string)' });
  t.deepEqual(await readdir(dir), []);
  await rm(dir, { recursive: true });
});

test('readPlane: missing, truncated and corrupt files give BAD_INPUT naming the file', async (t) => {
  const dir = await tmp();
  const tif = join(dir, 'ok.tif');
  const big = plane('uint16', 256, 256);
  for (let i = 0; i < big.data.length; i++) big.data[i] = (i * 31) & 0xffff;
  await writeTiff(tif, big, { compression: 'none' });
  const png = join(dir, 'ok.png');
  await writePng(png, big);
  const tb = await readFile(tif);
  const pb = await readFile(png);
  await writeFile(join(dir, 'trunc.tif'), tb.subarray(0, tb.length >> 1));
  await writeFile(join(dir, 'trunc.png'), pb.subarray(0, pb.length >> 1));
  await writeFile(join(dir, 'junk.tif'), Buffer.from('this is not an image at all'));
  const missing = await t.throwsAsync(readPlane(join(dir, 'nope.tif')), { instanceOf: IslError });
  t.is(missing?.message, `${join(dir, 'nope.tif')}: file not found`);
  t.is(missing?.code, 'BAD_INPUT');
  for (const name of ['trunc.tif', 'trunc.png', 'junk.tif']) {
    const e = await t.throwsAsync(readPlane(join(dir, name)), { instanceOf: IslError });
    t.true(e!.message.startsWith(`${join(dir, name)}: cannot decode image (corrupt or truncated?): `), e!.message);
    t.is(e!.file, join(dir, name));
  }
  const page = await t.throwsAsync(readPlane(tif, { page: 1 }));
  t.is(page?.message, `${tif}: page 1 requested but the file has 1 page`);
  await t.throwsAsync(readPlane(tif, { page: -1 }), { message: 'Expected a non-negative integer for page but received -1 (number)' });
  await rm(dir, { recursive: true });
});

test('readPlane: grey saved as RGB gives its grey channel; true colour is rejected', async (t) => {
  const dir = await tmp();
  const rgb = Buffer.alloc(4 * 2 * 3);
  for (let i = 0; i < 8; i++) rgb.fill(i * 30, i * 3, i * 3 + 3);
  await sharp(rgb, { raw: { width: 4, height: 2, channels: 3 } }).png().toFile(join(dir, 'grey.png'));
  const g = await readPlane(join(dir, 'grey.png'));
  t.deepEqual(Array.from(g.data), [0, 30, 60, 90, 120, 150, 180, 210]);
  const green = Buffer.alloc(4 * 2 * 3);
  for (let i = 0; i < 8; i++) green[i * 3 + 1] = i * 20 + 1;
  await sharp(green, { raw: { width: 4, height: 2, channels: 3 } }).png().toFile(join(dir, 'green.png'));
  t.deepEqual(Array.from((await readPlane(join(dir, 'green.png'))).data), [1, 21, 41, 61, 81, 101, 121, 141]);
  rgb[0] = 255;
  rgb[4] = 7;
  await sharp(rgb, { raw: { width: 4, height: 2, channels: 3 } }).png().toFile(join(dir, 'colour.png'));
  await t.throwsAsync(readPlane(join(dir, 'colour.png')), { message: `${join(dir, 'colour.png')}: colour image with 3 differing channels; expected one grey channel (export each channel as its own grey file)` });
  const info = await imageInfo(join(dir, 'grey.png'));
  t.deepEqual(info, { width: 4, height: 2, dtype: 'uint8', pages: 1, channels: 3, format: 'png' });
  await rm(dir, { recursive: true });
});

test('readPlane reads tiled LZW and deflate TIFFs (written by libvips) exactly', async (t) => {
  const dir = await tmp();
  const p = plane('uint16', 70, 50);
  for (let i = 0; i < p.data.length; i++) p.data[i] = (i * 977) % 65536;
  for (const compression of ['lzw', 'deflate'] as const) {
    const f = join(dir, `tiled-${compression}.tif`);
    await sharp(p.data, { raw: { width: 70, height: 50, channels: 1 } }).toColourspace('grey16').tiff({ compression, tile: true, tileWidth: 16, tileHeight: 16 }).toFile(f);
    const b = await readFile(f);
    const tiff = await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    t.is((await tiff.getImage(0)).isTiled, true, 'the file really is tiled');
    same(t, (await readPlane(f)).data, p.data, `tiled ${compression}`);
  }
  await rm(dir, { recursive: true });
});

test('BigTIFF pages (used past 4 GiB) decode in sharp and geotiff', async (t) => {
  const { encodeTiffFile } = await import('../../io/tiff_encode.ts');
  const dir = await tmp();
  const f = join(dir, 'big.tif');
  const a = ramp('uint16', 2);
  const b = ramp('float32', 3);
  await encodeTiffFile(f, [a, b], { bigTiff: true, compression: 'deflate', description: 'hello' });
  const head = await readFile(f);
  t.is(head.readUInt16LE(2), 43, 'BigTIFF magic');
  same(t, (await readPlane(f, { page: 0 })).data, a.data, 'page 0 via sharp');
  same(t, (await readPlane(f, { page: 1 })).data, b.data, 'page 1 via sharp');
  same(t, await geotiffPage(f, 1), b.data, 'page 1 via geotiff');
  await rm(dir, { recursive: true });
});

withShared(test, 'wsi-brain')('real Fiji TIFFs: 16-bit tile with a malformed ImageJ ColorMap tag and a float32 flat-field read exactly', async (t) => {
  const dir = sharedDataset('wsi-brain')!;
  for (const [name, dtype] of [['C3-BrainSection0001.tif', 'uint16'], ['basic-reference-flatfield.tif', 'float32']] as const) {
    const p = await readPlane(join(dir, name));
    t.is(p.dtype, dtype);
    same(t, p.data, await geotiffPage(join(dir, name)), `${name} equals the geotiff decode`);
  }
});
