/**
 * The files of one predicted well, OUT/<well>/: one ISL-convention 16-bit PNG per label and
 * statistic (`well-W,channel-LABEL,statistic-MEDIAN,is_mask-false.png`, value x 65535), one
 * OME-TIFF of all maps as float32 (`well-W,prediction.ome.tif`) and `prediction.json`.
 */
import { mkdir } from 'node:fs/promises';
import type { Plane } from '../core/image.ts';
import { removeStaleTemps, writeFileAtomic } from './atomic.ts';
import { formatIslName } from './isl_names.ts';
import { predictOut } from './out_layout.ts';
import { writeCanonicalPng, writeOmeTiff, type NamedPlane } from './write.ts';

/** One predicted map of a well. */
export interface PredictedMap {
  readonly label: string;
  /** Lower case, e.g. `median`; upper case in file names. */
  readonly statistic: string;
  /** On the canonical [0, 1] scale: written as the PNG. */
  readonly canonical: Plane<'float32'>;
  /** Written to the OME-TIFF (e.g. entropy in bits rather than scaled). */
  readonly ome: Plane<'float32'>;
}

/**
 * Writes a well's PNGs and OME-TIFF atomically (after removing temp files of an interrupted run),
 * then `prediction.json` from `meta(writeSeconds)`, last, so it marks a complete well.
 * @returns the files written, relative to `output`
 */
export async function writePredictionFiles(output: string, well: string, maps: readonly PredictedMap[], meta: (writeSeconds: number) => unknown): Promise<string[]> {
  const t0 = Date.now();
  const outDir = predictOut.well(output, well);
  await mkdir(outDir, { recursive: true });
  await removeStaleTemps(outDir);
  const files: string[] = [];
  const ome: NamedPlane[] = [];
  for (const m of maps) {
    const name = formatIslName({ well, channel: m.label, statistic: m.statistic.toUpperCase(), isMask: false, extension: 'png' });
    await writeCanonicalPng(predictOut.file(output, well, name), m.canonical);
    files.push(name);
    ome.push({ name: `${m.label}:${m.statistic.toUpperCase()}`, plane: m.ome });
  }
  const omeName = `well-${well},prediction.ome.tif`;
  await writeOmeTiff(predictOut.file(output, well, omeName), ome, { imageName: `${well} prediction` });
  files.push(omeName);
  await writeFileAtomic(predictOut.file(output, well, 'prediction.json'), JSON.stringify(meta((Date.now() - t0) / 1000), null, 1) + '\n');
  return files.map((f) => `${well}/${f}`);
}
