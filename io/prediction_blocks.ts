/**
 * The block file of a split well's prediction (OUT/.blocks/<well>/<block>.f32), private to
 * pipelines/predict.ts: a 4-byte little-endian JSON length, the JSON header, space padding to a
 * multiple of 4 bytes, then the raw maps as float32, labels x statistics in header order, each
 * block.width x block.height row-major.
 */
import { badInput, badOption } from '../core/errors.ts';

/** A rectangle of a well, px. */
export interface BlockRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Raw maps: label -> statistic -> values. */
export type BlockMaps = ReadonlyMap<string, ReadonlyMap<string, Float32Array>>;

/** Header of a block file. */
export interface BlockHeader {
  block: BlockRect;
  /** What produced the maps: a resumed run must not mix blocks of other settings. */
  model: string;
  mode: 'fast' | 'exact';
  tile: number;
  image: { width: number; height: number };
  heads: string[];
  statistics: string[];
  bins: number;
  seconds: { read: number; predict: number };
  threads: number;
  provider: string;
}

/** A block's part id: its rectangle in the well, e.g. `x0y2048w2048h1024`. */
export function blockId(b: BlockRect): string {
  return `x${b.x}y${b.y}w${b.width}h${b.height}`;
}

/** The rectangle of a part id of {@link blockId}. @throws IslError BAD_OPTION for another string. */
export function parseBlockId(id: string): BlockRect {
  const m = /^x(\d+)y(\d+)w(\d+)h(\d+)$/.exec(id);
  if (!m) throw badOption('part', 'a block id like x0y0w512h512', id);
  return { x: +m[1], y: +m[2], width: +m[3], height: +m[4] };
}

/** The bytes of a block file; `maps` holds every header head x statistic. */
export function encodeBlock(header: BlockHeader, maps: BlockMaps): Uint8Array {
  const { block } = header;
  const json = Buffer.from(JSON.stringify(header));
  const start = Math.ceil((4 + json.length) / 4) * 4;
  const bytes = new Uint8Array(start + header.heads.length * header.statistics.length * block.width * block.height * 4).fill(32, 4, start);
  new DataView(bytes.buffer).setUint32(0, start - 4, true);
  bytes.set(json, 4);
  const out = new Float32Array(bytes.buffer, start);
  let k = 0;
  for (const h of header.heads) for (const s of header.statistics) out.set(maps.get(h)!.get(s)!, k++ * block.width * block.height);
  return bytes;
}

/**
 * A block file's header and maps (label -> statistic -> block.width x block.height values).
 * @param path for error messages
 * @throws IslError BAD_INPUT for a truncated or malformed file
 */
export function decodeBlock(bytes: Uint8Array, path: string): { header: BlockHeader; maps: Map<string, Map<string, Float32Array>> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = bytes.length >= 4 ? 4 + view.getUint32(0, true) : Infinity;
  let header: BlockHeader;
  try {
    if (start > bytes.length) throw new Error('shorter than its header');
    header = JSON.parse(Buffer.from(bytes.subarray(4, start)).toString()) as BlockHeader;
  } catch (e) {
    throw badInput(path, `not a block file of pipelines/predict.ts (${(e as Error).message})`, undefined, e);
  }
  const n = header.block.width * header.block.height;
  const need = start + header.heads.length * header.statistics.length * n * 4;
  if (bytes.length !== need) throw badInput(path, `block file holds ${bytes.length} bytes, expected ${need} for its header`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  const maps = new Map<string, Map<string, Float32Array>>();
  let k = 0;
  for (const h of header.heads) maps.set(h, new Map(header.statistics.map((s) => [s, all.subarray(k++ * n, k * n)])));
  return { header, maps };
}
