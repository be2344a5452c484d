/**
 * Random access to rectangles of a TIFF's pages (classic or BigTIFF, strips or tiles): only the
 * strips a window crosses are read and inflated, so a window of a huge plane costs the window plus
 * a band of strips, never the plane. sharp (libvips) decodes striped TIFFs from the top (a window
 * at the bottom of a 5300-row page costs ~7x one at the top), hence geotiff's strip index here.
 * Deflate strips are inflated by node's zlib (2x faster than geotiff's default pako, measured).
 */
import { isMainThread } from 'node:worker_threads';
import { inflateSync } from 'node:zlib';
import type { GeoTIFF } from 'geotiff';
import { badInput, badOption } from '../core/errors.ts';

let geotiff: Promise<typeof import('geotiff')> | undefined;

/**
 * geotiff, loaded on first use: it imports `web-worker` (for its decoder pool, unused here), whose
 * module body, in a worker thread that it did not start (our well workers), destructures
 * `workerData.mod` and throws. A placeholder global `Worker` makes it skip that path.
 */
function loadGeotiff(): Promise<typeof import('geotiff')> {
  geotiff ??= (async () => {
    const g = globalThis as { Worker?: unknown };
    if (!isMainThread && typeof g.Worker !== 'function') g.Worker = class NoWorker {};
    const m = await import('geotiff');
    class ZlibDeflate extends m.BaseDecoder {
      decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
        const out = inflateSync(new Uint8Array(buffer));
        return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
      }
    }
    // 8 = Adobe deflate, 32946 = old-style deflate (the TIFF Compression tag).
    m.addDecoder([8, 32946], async () => ZlibDeflate as never);
    return m;
  })();
  return geotiff;
}

/** A rectangle of a page, px. */
export interface Window {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface TiffWindows {
  readonly path: string;
  readonly pages: number;
  /** Width and height of page 0 (every page of an OME-TIFF plane stack has them). */
  readonly width: number;
  readonly height: number;
  /** ImageDescription of page 0 (OME-XML in an OME-TIFF), '' when absent. */
  readonly description: string;
  /** Rows per strip of page 0 (the whole height for tiled files): reading bands of a multiple of it decodes each strip once. */
  readonly rowsPerStrip: number;
  /** The uint16 samples of `w` in `page`, row-major. */
  readUint16(page: number, w: Window): Promise<Uint16Array>;
  close(): Promise<void>;
}

/**
 * Opens a TIFF for window reads (the header and page 0's directory are read now).
 * @throws IslError BAD_INPUT when the file is missing or not a TIFF
 */
export async function openTiffWindows(path: string): Promise<TiffWindows> {
  const { fromFile } = await loadGeotiff();
  let tiff: GeoTIFF;
  try {
    tiff = await fromFile(path);
  } catch (e) {
    throw badInput(path, `cannot open as TIFF: ${e instanceof Error ? e.message : String(e)}`, undefined, e);
  }
  try {
    const pages = await tiff.getImageCount();
    const first = await tiff.getImage(0);
    const dir = first.fileDirectory;
    const description = String((await dir.loadValue('ImageDescription')) ?? '');
    const rowsPerStrip = Number((await dir.loadValue('RowsPerStrip')) ?? first.getHeight());
    return {
      path, pages, width: first.getWidth(), height: first.getHeight(), description, rowsPerStrip,
      async readUint16(page, w) {
        if (!Number.isInteger(page) || page < 0 || page >= pages) throw badOption('page', `an integer in [0, ${pages})`, page);
        const img = await tiff.getImage(page);
        if (!(w.x >= 0 && w.y >= 0 && w.width >= 1 && w.height >= 1 && w.x + w.width <= img.getWidth() && w.y + w.height <= img.getHeight())) {
          throw badOption('window', `a rectangle inside the ${img.getWidth()}x${img.getHeight()} page ${page} of ${path}`, JSON.stringify(w));
        }
        if (img.getBitsPerSample() !== 16 || img.getSampleFormat() !== 1 || img.getSamplesPerPixel() !== 1) throw badInput(path, `page ${page} is not one 16-bit unsigned sample per pixel`);
        try {
          const r = (await img.readRasters({ window: [w.x, w.y, w.x + w.width, w.y + w.height], interleave: true })) as unknown as Uint16Array;
          return new Uint16Array(r.buffer, r.byteOffset, r.length); // without geotiff's width/height fields
        } catch (e) {
          throw badInput(path, `cannot decode page ${page} (corrupt or truncated?): ${e instanceof Error ? e.message : String(e)}`, undefined, e);
        }
      },
      async close() {
        await tiff.close();
      },
    };
  } catch (e) {
    await tiff.close();
    throw e;
  }
}
