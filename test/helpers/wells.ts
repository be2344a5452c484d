/** Writes small synthetic true/predicted wells in the ISL naming convention for pipeline tests. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plane } from '../../core/image.ts';
import { writeCanonicalPng } from '../../io/write.ts';
import { formatIslName } from '../../io/isl_names.ts';

/** ISL name of a true (MAXPROJECT) label image. */
export function truthName(well: string, label: string): string {
  return formatIslName({ lab: 'TEST', condition: 'SYNTH', well, tileComputation: 'STITCHED', depthComputation: 'MAXPROJECT', channel: label, isMask: false, extension: 'png' });
}

/** ISL name of a predicted label image (the truth's name plus `statistic-MEDIAN`). */
export function predName(well: string, label: string): string {
  return formatIslName({ lab: 'TEST', condition: 'SYNTH', well, tileComputation: 'STITCHED', depthComputation: 'MAXPROJECT', channel: label, statistic: 'MEDIAN', isMask: false, extension: 'png' });
}

/** Writes `planes` (label -> plane) as `<root>/<well>/<name>` 16-bit PNGs. */
export async function writeWell(root: string, well: string, planes: Readonly<Record<string, Plane<'float32'>>>, kind: 'truth' | 'pred'): Promise<string> {
  const dir = join(root, well);
  await mkdir(dir, { recursive: true });
  for (const [label, p] of Object.entries(planes)) await writeCanonicalPng(join(dir, kind === 'truth' ? truthName(well, label) : predName(well, label)), p);
  return dir;
}
