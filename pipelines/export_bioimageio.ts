/**
 * `npm run export -- --model DIR --bioimageio OUT.zip --sample WELL_DIR`: a trained checkpoint as
 * a bioimage.io model package (model/bioimageio/package.ts), with its test tensors and cover
 * computed on a real canonical well.
 */
import { readCanonicalWell } from '../io/canonical.ts';
import { writeModelPackageZip } from '../io/model_package.ts';
import { badOption } from '../core/errors.ts';
import { buildModelPackage } from '../model/bioimageio/package.ts';
import { STATISTICS, type Statistic } from '../model/onnx/infer.ts';
import { readModelDir } from '../model/onnx/model_dir.ts';

/** Options of {@link exportBioimageio}. */
export interface ExportBioimageioOptions {
  /** Checkpoint directory of pipelines/train.ts. */
  model: string;
  /** Package zip to write. */
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
 * Writes the package zip atomically.
 * @throws IslError BAD_OPTION for a missing sample or unknown statistics; BAD_INPUT for a bad checkpoint or sample well.
 */
export async function exportBioimageio(o: ExportBioimageioOptions): Promise<void> {
  if (!o.sample) throw badOption('sample', 'a canonical well folder (the package\'s test tensors and cover are computed on it)', o.sample);
  for (const s of o.statistics ?? []) if (!STATISTICS.includes(s)) throw badOption('stats', `some of ${STATISTICS.join(', ')}`, s);
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
  await writeModelPackageZip(o.out, files);
}
