/**
 * The typed images that flow through every pipeline.
 *
 * Pixels live in one typed array per plane, row-major (index = y * width + x). Processing is
 * done in float32; uint8/uint16 appear only at the edges (reading raw dumps, writing canonical
 * images). Promotion to float32 keeps raw counts (no rescaling), so a sensor offset of 100
 * counts stays 100; canonical intensities are float32 in [0, 1] and are written as value x 65535.
 */

export type DType = 'uint8' | 'uint16' | 'float32';

/** Maps a dtype to its typed array, so `Plane<'uint16'>['data']` is `Uint16Array`. */
export interface ArrayOf {
  uint8: Uint8Array;
  uint16: Uint16Array;
  float32: Float32Array;
}

export const MAX_VALUE: Record<DType, number> = { uint8: 255, uint16: 65535, float32: 1 };

/** One 2-D image plane. */
export interface Plane<D extends DType = DType> {
  readonly dtype: D;
  readonly width: number;
  readonly height: number;
  readonly data: ArrayOf[D];
}

/** Transmitted-light modalities the paper's network takes as input. */
export const TRANSMITTED_CHANNELS = ['BRIGHTFIELD', 'PHASE_CONTRAST', 'DIC'] as const;
export type TransmittedChannel = (typeof TRANSMITTED_CHANNELS)[number];

/** Where a raw tile sits in its dump: the key of one manifest row. */
export interface TileKey {
  readonly well: string;
  readonly tileRow: number;
  readonly tileCol: number;
  readonly channel: string;
  readonly z: number;
}

/** A raw tile: one plane of one channel at one z of one grid position of one well. */
export interface Tile<D extends DType = DType> extends TileKey {
  readonly plane: Plane<D>;
  /** Stage position of the tile's top-left corner, in raw-tile pixels, if the microscope recorded it. */
  readonly stageX?: number;
  readonly stageY?: number;
  /** The file the tile came from (for error messages and provenance). */
  readonly path: string;
}

/** A z-stack of equally sized float32 planes stored contiguously: index = (z * height + y) * width + x. */
export interface ZStack {
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  readonly data: Float32Array;
}

/** A stitched (or already canonical) well: transmitted z-planes and one projected image per label. */
export interface Well {
  readonly well: string;
  readonly width: number;
  readonly height: number;
  /** Transmitted-light channel name (e.g. PHASE_CONTRAST) and its z-stack. */
  readonly transmitted: { readonly channel: string; readonly stack: ZStack };
  /** Fluorescence label name (e.g. DAPI_CONFOCAL) to its 2-D image. Absent labels are not keys. */
  readonly labels: ReadonlyMap<string, Plane<'float32'>>;
}

const CONSTRUCTORS = { uint8: Uint8Array, uint16: Uint16Array, float32: Float32Array } as const;

/** Allocates (or wraps) a plane, checking that the array matches the shape and dtype. */
export function plane<D extends DType>(dtype: D, width: number, height: number, data?: ArrayOf[D]): Plane<D> {
  if (!Number.isInteger(width) || width <= 0) throw new TypeError(`Expected a positive integer for width but received ${width} (${typeof width})`);
  if (!Number.isInteger(height) || height <= 0) throw new TypeError(`Expected a positive integer for height but received ${height} (${typeof height})`);
  const arr = data ?? (new CONSTRUCTORS[dtype](width * height) as ArrayOf[D]);
  if (!(arr instanceof CONSTRUCTORS[dtype])) throw new TypeError(`Expected a ${CONSTRUCTORS[dtype].name} for ${dtype} plane data but received ${arr?.constructor?.name}`);
  if (arr.length !== width * height) throw new RangeError(`Expected ${width * height} pixels for a ${width}x${height} plane but received ${arr.length}`);
  return { dtype, width, height, data: arr };
}

/** The one dtype promotion every transform uses: any plane to float32, keeping raw values. */
export function toFloat32(p: Plane): Plane<'float32'> {
  if (p.dtype === 'float32') return p as Plane<'float32'>;
  return plane('float32', p.width, p.height, Float32Array.from(p.data));
}

/**
 * Converts a float32 plane to an integer dtype: value x scale, rounded, clipped to the dtype's range.
 * With the default scale a canonical [0,1] image becomes 0..65535 (uint16) or 0..255 (uint8).
 */
export function fromFloat32<D extends 'uint8' | 'uint16'>(p: Plane<'float32'>, dtype: D, scale: number = MAX_VALUE[dtype]): Plane<D> {
  const out = plane(dtype, p.width, p.height);
  const max = MAX_VALUE[dtype];
  const src = p.data;
  const dst = out.data;
  for (let i = 0; i < src.length; i++) {
    const v = Math.round(src[i] * scale);
    dst[i] = v < 0 ? 0 : v > max ? max : v; // NaN -> 0 via the comparisons failing: documented
  }
  return out;
}

/** Zero-copy view of plane z of a stack. */
export function stackPlane(s: ZStack, z: number): Plane<'float32'> {
  if (!Number.isInteger(z) || z < 0 || z >= s.depth) throw new RangeError(`Expected z in [0, ${s.depth - 1}] but received ${z}`);
  const n = s.width * s.height;
  return plane('float32', s.width, s.height, s.data.subarray(z * n, (z + 1) * n));
}

/** Builds a stack from equally sized planes (copies into one contiguous buffer). */
export function zStack(planes: readonly Plane[]): ZStack {
  if (planes.length === 0) throw new RangeError('Expected at least one plane for a z-stack but received none');
  const { width, height } = planes[0];
  const n = width * height;
  const data = new Float32Array(n * planes.length);
  planes.forEach((p, z) => {
    if (p.width !== width || p.height !== height) throw new RangeError(`Expected plane ${z} of the z-stack to be ${width}x${height} but it is ${p.width}x${p.height}`);
    data.set(p.data, z * n);
  });
  return { width, height, depth: planes.length, data };
}
