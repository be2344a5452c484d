/**
 * `npm run export -- --model DIR --bioimageio OUT.zip --sample WELL_DIR` (pipelines/export.ts): a
 * trained checkpoint as a bioimage.io model package (model/bioimageio/package.ts), with its test
 * tensors and cover computed on a real canonical well.
 */
import { readCanonicalWell } from '../io/canonical.ts';
import { writeModelPackage } from '../io/model_package.ts';
import { badOption } from '../core/errors.ts';
import { buildModelPackage } from '../model/bioimageio/package.ts';
import type { Statistic } from '../model/onnx/infer.ts';
import { readModelDir } from '../model/onnx/model_dir.ts';

/** Options of {@link exportBioimageio}. */
export interface ExportBioimageioOptions {
  /** Checkpoint directory of pipelines/train.ts. */
  model: string;
  /** Package to write: a zip (`.zip`) or a folder. */
  out: string;
  /** A canonical well folder (e.g. OUT/wells/A01 of preprocess): test tensors and cover. */
  sample: string;
  /** The well, when the sample folder holds several. */
  sampleWell?: string;
  statistics?: Statistic[];
  authors?: string[];
  license?: string;
  name?: string;
  threads?: number;
}

/**
 * Writes the package (a zip atomically, or a folder).
 * @throws IslError BAD_OPTION for a missing sample, unknown statistics or a bad name (model/bioimageio/package.ts checks those); BAD_INPUT for a bad checkpoint or sample well.
 */
export async function exportBioimageio(o: ExportBioimageioOptions): Promise<void> {
  if (!o.sample) throw badOption('sample', 'a canonical well folder (the package\'s test tensors and cover are computed on it)', o.sample);
  const [{ config, weights }, sample] = await Promise.all([readModelDir(o.model), readCanonicalWell(o.sample, { well: o.sampleWell })]);
  const files = await buildModelPackage(config, weights, {
    sample,
    sampleSource: o.sampleWell ? `${o.sample} (well ${o.sampleWell})` : o.sample,
    statistics: o.statistics,
    authors: o.authors?.map((name) => ({ name })),
    license: o.license,
    name: o.name,
    threads: o.threads,
  });
  await writeModelPackage(o.out, files);
}
