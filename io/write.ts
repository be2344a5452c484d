/**
 * Image writers: plain TIFF and PNG (sharp), canonical 16-bit PNG (value x 65535, the ISL
 * convention) and OME-TIFF with physical pixel size (own encoder, since sharp cannot write
 * OME-XML). Every write is atomic: a temp file beside the target, renamed when complete.
 */
import sharp, { type Sharp } from 'sharp';
import { writeAtomic } from './atomic.ts';
import { badOption } from '../core/errors.ts';
import { fromFloat32, type DType, type Plane } from '../core/image.ts';
import { encodeTiffFile, type TiffEncodeOptions } from './tiff_encode.ts';

export type TiffCompression = 'none' | 'deflate' | 'lzw';

export interface WriteTiffOptions {
  /** Lossless compression (default 'deflate'). LZW is available for uint8/uint16 only. */
  readonly compression?: TiffCompression;
  /** Physical pixel size in micrometres (stored as X/YResolution), float32 and OME only. */
  readonly pixelSizeUm?: number;
}

const COMPRESSIONS: readonly TiffCompression[] = ['none', 'deflate', 'lzw'];

/** sharp input for an integer plane; the colourspace keeps it one grey channel at its depth. */
function sharpOf(p: Plane<'uint8' | 'uint16'>): Sharp {
  return sharp(p.data, { raw: { width: p.width, height: p.height, channels: 1 } }).toColourspace(p.dtype === 'uint16' ? 'grey16' : 'b-w');
}

function checkPlane(name: string, p: Plane, allowed: readonly DType[]): void {
  if (!p || !allowed.includes(p.dtype)) throw badOption(name, `a plane with dtype ${allowed.join('|')}`, p?.dtype);
  if (p.data.length !== p.width * p.height) throw badOption(`${name}.data.length`, `${p.width * p.height} (width x height)`, p.data.length);
}

function checkPixelSize(v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw badOption('pixelSizeUm', 'a positive number of micrometres', v);
}

/**
 * Writes one grey plane as a TIFF (uint8, uint16 or float32 samples, one page).
 * @param path output file (replaced atomically)
 * @param plane the image; float32 keeps its values as IEEE floats (SampleFormat 3), readable by Fiji and tifffile
 * @throws IslError BAD_OPTION for an unknown compression, LZW with float32, or a malformed plane
 */
export async function writeTiff(path: string, plane: Plane, opts: WriteTiffOptions = {}): Promise<void> {
  const compression = opts.compression ?? 'deflate';
  if (!COMPRESSIONS.includes(compression)) throw badOption('compression', `one of ${COMPRESSIONS.join(', ')}`, compression);
  checkPlane('plane', plane, ['uint8', 'uint16', 'float32']);
  checkPixelSize(opts.pixelSizeUm);
  if (plane.dtype === 'float32' || opts.pixelSizeUm !== undefined) {
    if (compression === 'lzw') throw badOption('compression', "'none' or 'deflate' for float32 planes or with pixelSizeUm", compression);
    await writeAtomic(path, (tmp) => encodeTiffFile(tmp, [plane], { compression, pixelSizeUm: opts.pixelSizeUm }));
    return;
  }
  const p = plane as Plane<'uint8' | 'uint16'>;
  await writeAtomic(path, (tmp) => sharpOf(p).tiff({ compression }).toFile(tmp));
}

/**
 * Writes a uint8 or uint16 plane as a grey PNG of the same bit depth (exact values).
 * @throws IslError BAD_OPTION for a float32 plane (use writeCanonicalPng) or a malformed plane
 */
export async function writePng(path: string, plane: Plane): Promise<void> {
  checkPlane('plane', plane, ['uint8', 'uint16']);
  const p = plane as Plane<'uint8' | 'uint16'>;
  // Level 3: on ISL planes the same size as 6 (1.257 MB), ~30% faster; level 1 is larger than raw.
  await writeAtomic(path, (tmp) => sharpOf(p).png({ compressionLevel: 3 }).toFile(tmp));
}

/**
 * Writes a canonical float32 plane (intensities in [0, 1]) as a 16-bit PNG of value x 65535,
 * rounded and clipped: the ISL dataset's convention.
 */
export async function writeCanonicalPng(path: string, plane: Plane<'float32'>): Promise<void> {
  checkPlane('plane', plane, ['float32']);
  await writePng(path, fromFloat32(plane, 'uint16'));
}

/** One named plane of an OME-TIFF; consecutive entries with the same name are that channel's z-planes. */
export interface NamedPlane {
  readonly name: string;
  readonly plane: Plane;
}

export interface OmeTiffOptions {
  /** Lateral pixel size in micrometres (OME PhysicalSizeX/Y). */
  readonly pixelSizeUm?: number;
  /** Distance between z-planes in micrometres (OME PhysicalSizeZ). */
  readonly zStepUm?: number;
  /** Name of the image (e.g. the well). */
  readonly imageName?: string;
  /** 'deflate' (default) or 'none'. */
  readonly compression?: 'none' | 'deflate';
  /** Sample bytes above which the file becomes BigTIFF (default just under 4 GiB; tests lower it). */
  readonly bigTiffAbove?: TiffEncodeOptions['bigTiffAbove'];
}

const OME_TYPE: Record<DType, string> = { uint8: 'uint8', uint16: 'uint16', float32: 'float' };
const BITS: Record<DType, number> = { uint8: 8, uint16: 16, float32: 32 };

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** One channel of an OME-TIFF: its name, z-planes and sample type. */
export interface OmeChannel {
  readonly name: string;
  readonly depth: number;
  readonly dtype: DType;
}

/**
 * The OME-XML for `images` (each a list of channels of equal z-count), pages stored image after
 * image, channel after channel, z fastest (DimensionOrder XYZCT).
 */
function omeXml(images: readonly (readonly OmeChannel[])[], width: number, height: number, opts: OmeTiffOptions = {}): string {
  const phys =
    (opts.pixelSizeUm !== undefined ? ` PhysicalSizeX="${opts.pixelSizeUm}" PhysicalSizeY="${opts.pixelSizeUm}"` : '') +
    (opts.zStepUm !== undefined ? ` PhysicalSizeZ="${opts.zStepUm}"` : '');
  let ifd = 0;
  const body = images.map((channels, i) => {
    const sizeZ = channels[0].depth;
    const dtype = channels[0].dtype;
    const name = images.length === 1 ? (opts.imageName ?? channels.map((c) => c.name).join('+')) : channels.map((c) => c.name).join('+');
    const chan = channels.map((c, ci) => `<Channel ID="Channel:${i}:${ci}" Name="${xmlEscape(c.name)}" SamplesPerPixel="1"/>`).join('');
    const count = sizeZ * channels.length;
    const planes: string[] = [];
    for (let c = 0; c < channels.length; c++) for (let z = 0; z < sizeZ; z++) planes.push(`<Plane TheZ="${z}" TheC="${c}" TheT="0"/>`);
    const s =
      `<Image ID="Image:${i}" Name="${xmlEscape(name)}">` +
      `<Pixels ID="Pixels:${i}" DimensionOrder="XYZCT" Type="${OME_TYPE[dtype]}" SizeX="${width}" SizeY="${height}" SizeZ="${sizeZ}" SizeC="${channels.length}" SizeT="1"${phys} BigEndian="false" Interleaved="false" SignificantBits="${BITS[dtype]}">` +
      chan +
      `<TiffData IFD="${ifd}" PlaneCount="${count}"/>` +
      planes.join('') +
      `</Pixels></Image>`;
    ifd += count;
    return s;
  });
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
    'xsi:schemaLocation="http://www.openmicroscopy.org/Schemas/OME/2016-06 http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd" Creator="insilico-labeling">' +
    body.join('') +
    '</OME>'
  );
}

/**
 * Writes named planes as one OME-TIFF (one plane per page) with valid OME-XML, for Fiji
 * (Bio-Formats), napari and tifffile.
 *
 * Consecutive entries with the same name form one channel's z-stack. When every channel has the
 * same number of z-planes and dtype, the file holds one image (SizeC channels x SizeZ planes);
 * otherwise (e.g. a 13-plane transmitted stack and single-plane labels) one image (series) per channel.
 * @param planes the pages, all of the same width and height
 * @throws IslError BAD_OPTION for no planes, unequal sizes, a name repeated non-consecutively, or bad options
 */
export async function writeOmeTiff(path: string, planes: readonly NamedPlane[], opts: OmeTiffOptions = {}): Promise<void> {
  if (!Array.isArray(planes) || planes.length === 0) throw badOption('planes', 'a non-empty array of {name, plane}', planes);
  const { width, height } = planes[0].plane;
  const channels: OmeChannel[] = [];
  for (const [i, { name, plane }] of planes.entries()) {
    checkPlane(`planes[${i}].plane`, plane, ['uint8', 'uint16', 'float32']);
    if (typeof name !== 'string' || name === '') throw badOption(`planes[${i}].name`, 'a non-empty channel name', name);
    if (plane.width !== width || plane.height !== height) throw badOption(`planes[${i}].plane`, `a ${width}x${height} plane like planes[0]`, `${plane.width}x${plane.height}`);
    const last = channels[channels.length - 1];
    if (last?.name === name) {
      if (last.dtype !== plane.dtype) throw badOption(`planes[${i}].plane.dtype`, `${last.dtype} like the other planes of ${name}`, plane.dtype);
      channels[channels.length - 1] = { ...last, depth: last.depth + 1 };
    } else {
      if (channels.some((g) => g.name === name)) throw badOption(`planes[${i}].name`, 'the planes of one channel to be consecutive', name);
      channels.push({ name, depth: 1, dtype: plane.dtype });
    }
  }
  await writeOmeTiffFrom(path, { width, height, channels }, (i) => planes[i].plane, opts);
}

/**
 * `writeOmeTiff` with the planes produced one at a time (`page(i)`, pages in channel order, z
 * fastest), so a well's planes never have to be held together. BigTIFF when the samples would
 * pass `opts.bigTiffAbove` (default: 4 GiB).
 * @throws IslError BAD_OPTION for bad options, or a page of another size or dtype than declared
 */
export async function writeOmeTiffFrom(path: string, layout: { readonly width: number; readonly height: number; readonly channels: readonly OmeChannel[] }, page: (i: number) => Plane | Promise<Plane>, opts: OmeTiffOptions = {}): Promise<void> {
  checkPixelSize(opts.pixelSizeUm);
  if (opts.zStepUm !== undefined && !(Number.isFinite(opts.zStepUm) && opts.zStepUm > 0)) throw badOption('zStepUm', 'a positive number of micrometres', opts.zStepUm);
  const compression = opts.compression ?? 'deflate';
  if (compression !== 'none' && compression !== 'deflate') throw badOption('compression', "'none' or 'deflate'", compression);
  const { width, height, channels } = layout;
  if (channels.length === 0) throw badOption('channels', 'at least one channel', channels);
  const uniform = channels.every((g) => g.depth === channels[0].depth && g.dtype === channels[0].dtype);
  const images = uniform ? [channels] : channels.map((g) => [g]);
  const xml = omeXml(images, width, height, opts);
  const dtypes = channels.flatMap((c) => Array<DType>(c.depth).fill(c.dtype));
  const sampleBytes = dtypes.reduce((s, d) => s + width * height * (BITS[d] / 8), 0);
  const checked = async (i: number) => {
    const p = await page(i);
    checkPlane(`page ${i}`, p, [dtypes[i]]);
    if (p.width !== width || p.height !== height) throw badOption(`page ${i}`, `a ${width}x${height} plane`, `${p.width}x${p.height}`);
    return p;
  };
  await writeAtomic(path, (tmp) => encodeTiffFile(tmp, { count: dtypes.length, sampleBytes, page: checked }, { description: xml, compression, pixelSizeUm: opts.pixelSizeUm, bigTiffAbove: opts.bigTiffAbove }));
}
