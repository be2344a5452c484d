/**
 * Exports a trained checkpoint for other tools.
 *
 *   npm run export -- --model DIR [--out FILE]                       standard ONNX (model/onnx/export.ts)
 *   npm run export -- --model DIR --bioimageio OUT.zip --sample WELL  bioimage.io model package
 */
import { command, isMain, positiveInt, runCli } from '../core/cli.ts';
import { main as exportOnnxMain } from '../model/onnx/export.ts';
import { exportBioimageio } from './export_bioimageio.ts';
import type { Statistic } from '../model/onnx/infer.ts';

const list = (v: unknown) => (v === undefined ? undefined : String(v).split(',').map((s) => s.trim()).filter(Boolean));

/** CLI entry. */
export async function main(argv = process.argv): Promise<void> {
  if (!argv.includes('--bioimageio')) return exportOnnxMain(argv);
  const program = command('export', 'Export a trained ISL checkpoint as a bioimage.io model package (deepImageJ, ilastik, bioimage.io Model Zoo).')
    .requiredOption('--model <dir>', 'checkpoint directory (model.json + weights.bin from pipelines/train.ts)')
    .requiredOption('--bioimageio <zip>', 'package zip to write')
    .requiredOption('--sample <dir>', 'a canonical well folder (e.g. OUT/wells/A01 of preprocess): the test tensors and the cover are predicted on it')
    .option('--sample-well <name>', 'the well, when the sample folder holds several')
    .option('--stats <list>', 'statistics to output per label (default: median,mean,mode,std,entropy)')
    .option('--author <names>', 'comma-separated authors of the package')
    .option('--license <spdx>', 'SPDX licence of the weights', 'Apache-2.0')
    .option('--name <name>', 'human-readable model name (letters, digits, spaces, _+-())')
    .option('--threads <n>', 'ONNX Runtime threads for the test output and the cover', positiveInt);
  await runCli(program, async (o: Record<string, string | number | undefined>) => {
    await exportBioimageio({
      model: o.model as string,
      out: o.bioimageio as string,
      sample: o.sample as string,
      sampleWell: o.sampleWell as string | undefined,
      statistics: list(o.stats) as Statistic[] | undefined,
      authors: list(o.author),
      license: o.license as string,
      name: o.name as string | undefined,
      threads: o.threads as number | undefined,
    });
    process.stderr.write(`export: wrote ${o.bioimageio}\n`);
  }, argv);
}

if (isMain(import.meta.url)) await main();
