/**
 * A written canonical well read window by window (the shard step's view of a well): the 16-bit
 * counts of any rectangle of any plane, without holding a plane. Windows come from the well's
 * OME-TIFF (random access to its strips, io/tiff_windows.ts) when it holds exactly the well's
 * planes, else from the PNGs (correct but each window decodes its PNG from the top: PNG has no
 * random access).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { badInput } from '../core/errors.ts';
import { canonicalLayout } from './canonical.ts';
import { imageInfo, readPlane } from './read.ts';
import { openTiffWindows, type TiffWindows, type Window } from './tiff_windows.ts';

export interface CanonicalWindows {
  readonly well: string;
  readonly width: number;
  readonly height: number;
  readonly transmitted: { readonly channel: string; readonly depth: number };
  /** Projected labels, sorted by name (the order of `readCanonicalWell`'s labels). */
  readonly labels: readonly string[];
  /** Rows per read that decode each stored strip once (a band height for full scans). */
  readonly bandRows: number;
  /** 'ome-tiff' or 'png': where windows are read from. */
  readonly source: 'ome-tiff' | 'png';
  /** Canonical counts (value x 65535) of `w` in plane z of `channel` (z 0 for a label), row-major. */
  counts(channel: string, z: number, w: Window): Promise<Uint16Array>;
  close(): Promise<void>;
}

/** Rows of a full-width band when the source has no strips (PNG): ~8 MB of uint16. */
const PNG_BAND_BYTES = 8 * 2 ** 20;

/**
 * The OME-XML page index of each channel's planes: `pages.get(channel)[z]`. Our writer
 * (io/write.ts) stores images in order, channels in order, z fastest, from IFD `TiffData IFD`.
 */
function omePages(xml: string): Map<string, number[]> {
  const pages = new Map<string, number[]>();
  for (const img of xml.match(/<Pixels\b[\s\S]*?<\/Pixels>/g) ?? []) {
    const sizeZ = Number(/\bSizeZ="(\d+)"/.exec(img)?.[1]);
    const ifd = Number(/<TiffData\b[^>]*\bIFD="(\d+)"/.exec(img)?.[1] ?? 0);
    const names = [...img.matchAll(/<Channel\b[^>]*\bName="([^"]*)"/g)].map((m) => m[1].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
    if (!(sizeZ >= 1)) continue;
    names.forEach((n, c) => pages.set(n, Array.from({ length: sizeZ }, (_, z) => ifd + c * sizeZ + z)));
  }
  return pages;
}

/**
 * Opens the canonical well in `dir` (ISL-convention PNGs, optionally with the OME-TIFF
 * `write_well` writes beside them) for window reads. Only headers are read now.
 * @throws IslError BAD_INPUT / BAD_OPTION as `readCanonicalWell` (missing planes, unequal sizes, not 16-bit)
 */
export async function openCanonicalWindows(dir: string, opts: { readonly well?: string } = {}): Promise<CanonicalWindows> {
  const layout = canonicalLayout(dir, opts.well);
  const { well, channel } = layout;
  const pngs = new Map<string, string[]>([[channel, layout.zPaths.map((f) => join(dir, f))], ...layout.labels.map((l) => [l.channel, [join(dir, l.file)]] as [string, string[]])]);
  const first = await imageInfo(pngs.get(channel)![0]);
  for (const files of pngs.values()) {
    for (const f of files) {
      const i = f === pngs.get(channel)![0] ? first : await imageInfo(f);
      if (i.dtype !== 'uint16') throw badInput(f, `expected a 16-bit canonical PNG but found ${i.dtype}`, well);
      if (i.width !== first.width || i.height !== first.height) throw badInput(f, `size ${i.width}x${i.height} differs from ${first.width}x${first.height} of ${layout.zPaths[0]}`, well);
    }
  }
  const base = {
    well, width: first.width, height: first.height,
    transmitted: { channel, depth: layout.zPaths.length },
    labels: layout.labels.map((l) => l.channel),
  };
  const tiff = await matchingOmeTiff(dir, well, pngs, first.width, first.height);
  if (tiff) {
    const { file, pages } = tiff;
    return {
      ...base, source: 'ome-tiff', bandRows: file.rowsPerStrip * Math.max(1, Math.floor(PNG_BAND_BYTES / (2 * first.width * file.rowsPerStrip))),
      counts: (ch, z, w) => file.readUint16(pages.get(ch)![z], w),
      close: () => file.close(),
    };
  }
  return {
    ...base, source: 'png', bandRows: Math.max(1, Math.floor(PNG_BAND_BYTES / (2 * first.width))),
    async counts(ch, z, w) {
      const f = pngs.get(ch)![z];
      const p = await readPlane(f, { region: w });
      if (p.dtype !== 'uint16') throw badInput(f, `expected a 16-bit canonical PNG but found ${p.dtype}`, well);
      return p.data as Uint16Array;
    },
    close: async () => {},
  };
}

/** The well's OME-TIFF in `dir` when its OME-XML holds exactly the PNGs' channels, z counts and size. */
async function matchingOmeTiff(dir: string, well: string, pngs: ReadonlyMap<string, readonly string[]>, width: number, height: number): Promise<{ file: TiffWindows; pages: Map<string, number[]> } | undefined> {
  const names = readdirSync(dir).filter((f) => f.endsWith('.ome.tif') && !f.startsWith('.') && f.split(',').includes(`well-${well}`));
  for (const name of names) {
    const file = await openTiffWindows(join(dir, name)).catch(() => undefined);
    if (!file) continue;
    const pages = omePages(file.description);
    const same = file.width === width && file.height === height && pages.size === pngs.size &&
      [...pngs].every(([ch, files]) => pages.get(ch)?.length === files.length && pages.get(ch)!.every((p) => p < file.pages));
    if (same) return { file, pages };
    await file.close();
  }
  return undefined;
}
