/**
 * Zarr v2 on a local folder, for zarrita: a store whose writes are atomic (io/atomic.ts), the
 * gzip codec with an encoder (zarrita ships gzip decode-only), and the v2 metadata documents
 * (`.zgroup`, `.zarray`, `.zattrs`), which zarrita's `create` only writes in v3.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import * as zarr from 'zarrita';
import { writeFileAtomic } from '../atomic.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** gzip level of every chunk: 5 is zlib's speed/size knee for 16-bit microscopy. */
export const GZIP_LEVEL = 5;

/**
 * numcodecs' `gzip` with node:zlib (native, runs on libuv's thread pool, so a band's chunks
 * compress in parallel). Registered once for every zarrita array of the process.
 */
class NodeGzip {
  readonly kind = 'bytes_to_bytes' as const;
  constructor(readonly level: number) {}
  static fromConfig(config: { level?: number }) {
    return new NodeGzip(config?.level ?? GZIP_LEVEL);
  }
  async encode(bytes: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await gzipAsync(bytes, { level: this.level }));
  }
  async decode(bytes: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await gunzipAsync(bytes));
  }
}
for (const name of ['gzip', 'numcodecs.gzip']) zarr.registry.set(name, async () => NodeGzip as never);

/** A zarrita store on a folder: keys are '/'-paths under `root`; every write is atomic. */
export class AtomicFsStore {
  constructor(readonly root: string) {}
  private path(key: string): string {
    return join(this.root, key.replace(/^\//, ''));
  }
  async get(key: zarr.AbsolutePath): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  async set(key: zarr.AbsolutePath, value: Uint8Array): Promise<void> {
    await writeFileAtomic(this.path(key), value);
  }
}

/** numpy dtype strings of the arrays we write (little-endian). */
export const NUMPY_DTYPE = { uint8: '|u1', uint16: '<u2', float32: '<f4' } as const;
export type ZarrDType = keyof typeof NUMPY_DTYPE;

/** The `.zarray` of a C-order, gzip-compressed v2 array with nested ('/') chunk keys, as NGFF 0.4 asks. */
export function arrayMetadata(shape: readonly number[], chunks: readonly number[], dtype: ZarrDType) {
  return {
    zarr_format: 2,
    shape: [...shape],
    chunks: [...chunks],
    dtype: NUMPY_DTYPE[dtype],
    compressor: { id: 'gzip', level: GZIP_LEVEL },
    fill_value: 0,
    order: 'C',
    filters: null,
    dimension_separator: '/',
  };
}

const json = (v: unknown) => JSON.stringify(v, null, 1) + '\n';

/** Writes a group's `.zgroup` (and `.zattrs` when given), atomically. */
export async function writeGroup(dir: string, attrs?: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(join(dir, '.zgroup'), json({ zarr_format: 2 }));
  if (attrs) await writeFileAtomic(join(dir, '.zattrs'), json(attrs));
}

/** Writes an array's `.zarray` and opens it with zarrita for chunk writes. */
export async function createArray(dir: string, shape: readonly number[], chunks: readonly number[], dtype: ZarrDType): Promise<zarr.Array<zarr.DataType, AtomicFsStore>> {
  await writeFileAtomic(join(dir, '.zarray'), json(arrayMetadata(shape, chunks, dtype)));
  return zarr.open.v2(new AtomicFsStore(dir), { kind: 'array', attrs: false });
}

/** Opens a v2 array or group folder with zarrita (read side). */
export function openArray(dir: string): Promise<zarr.Array<zarr.DataType, AtomicFsStore>> {
  return zarr.open.v2(new AtomicFsStore(dir), { kind: 'array', attrs: false });
}

/** A group's `.zattrs`, or undefined when it has none. */
export async function readAttrs(dir: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, '.zattrs'), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
