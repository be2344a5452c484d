/**
 * Exports a trained checkpoint for other tools:
 *
 *   npm run export -- --model CHECKPOINT_DIR [--out FILE] [--heads a,b] [--outputs probabilities,median]
 *       [--layout nchw|nhwc]
 *     a standard ONNX model (default CHECKPOINT_DIR/model.onnx; format in model/onnx/README.md);
 *
 *   npm run export -- --model CHECKPOINT_DIR --bioimageio OUT.zip --sample WELL_DIR [--sample-well W]
 *       [--stats median,mean] [--author "A B,C D"] [--license SPDX] [--name NAME] [--threads N]
 *     a bioimage.io model package (pipelines/export_bioimageio.ts) for the bioimage.io Model Zoo,
 *     deepImageJ, ilastik and `predict --model OUT.zip`.
 */
import { join } from 'node:path';
import { badOption } from '../core/errors.ts';
import { command, isMain, positiveInt, runCli } from '../core/cli.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { PACKAGE_DEFAULTS } from '../model/bioimageio/package.ts';
import { STATISTICS, writeOnnx, type OnnxOutput, type Statistic } from '../model/onnx/export.ts';
import { buildPlan } from '../model/plan.ts';
import { exportBioimageio } from './export_bioimageio.ts';

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

export const program = command('export', 'Export a trained ISL checkpoint as a standard ONNX model, or as a bioimage.io model package.')
  .requiredOption('--model <dir>', 'checkpoint directory (model.json + weights.bin from pipelines/train.ts)')
  .option('--out <file>', 'ONNX output file (default: <model>/model.onnx)')
  .option('--heads <list>', 'ONNX: heads to export (default: the label heads)')
  .option('--outputs <list>', `ONNX: per head: probabilities, logits, ${STATISTICS.join(', ')}`, 'probabilities')
  .option('--layout <layout>', 'ONNX: nchw ([N, 256, H, W], default) or nhwc ([N, H, W, 256]; implied by statistics)')
  .option('--bioimageio <out.zip|dir>', 'write a bioimage.io 0.5 model package instead: a zip, or a folder (ending in /)')
  .option('--sample <dir>', 'package: a preprocessed canonical well folder (e.g. OUT/wells/A01 of preprocess); the test tensors and the cover are predicted on it')
  .option('--sample-well <name>', 'package: the well, when the sample folder holds several')
  .option('--stats <list>', `package: statistics to output per label (default: ${PACKAGE_DEFAULTS.statistics.join(',')})`)
  .option('--author <names>', 'package: comma-separated authors')
  .option('--license <spdx>', 'package: SPDX licence of the weights', PACKAGE_DEFAULTS.license)
  .option('--name <name>', 'package: human-readable model name (letters, digits, spaces, _+-())')
  .option('--threads <n>', 'package: ONNX Runtime threads for the test output and the cover', positiveInt);

interface Opts {
  model: string;
  out?: string;
  heads?: string;
  outputs: string;
  layout?: 'nchw' | 'nhwc';
  bioimageio?: string;
  sample?: string;
  sampleWell?: string;
  stats?: string;
  author?: string;
  license: string;
  name?: string;
  threads?: number;
}

/** Package options given without --bioimageio, or ONNX options given with it, are mistakes, not ignored. */
function checkExclusive(o: Opts): void {
  const onnxOnly = { out: o.out, heads: o.heads, layout: o.layout };
  const packageOnly = { sample: o.sample, sampleWell: o.sampleWell, stats: o.stats, author: o.author, name: o.name, threads: o.threads };
  const given = (r: Record<string, unknown>) => Object.entries(r).find(([, v]) => v !== undefined);
  const wrong = o.bioimageio === undefined ? given(packageOnly) : given(onnxOnly);
  if (wrong) throw badOption(wrong[0], o.bioimageio === undefined ? 'given only with --bioimageio (a package option)' : 'left out with --bioimageio (an ONNX export option)', wrong[1]);
}

if (isMain(import.meta.url)) {
  await runCli(
    program,
    async (o: Opts) => {
      checkExclusive(o);
      if (o.bioimageio !== undefined) {
        await exportBioimageio({
          model: o.model,
          out: o.bioimageio,
          sample: o.sample as string,
          sampleWell: o.sampleWell,
          statistics: list(o.stats) as Statistic[] | undefined,
          authors: list(o.author),
          license: o.license,
          name: o.name,
          threads: o.threads,
        });
        process.stderr.write(`export: wrote ${o.bioimageio}\n`);
        return;
      }
      const { config, weights } = await loadCheckpoint(o.model);
      const out = o.out ?? join(o.model, 'model.onnx');
      await writeOnnx(out, buildPlan(config), weights, { heads: list(o.heads), outputs: list(o.outputs) as OnnxOutput[], layout: o.layout });
      process.stderr.write(`export: wrote ${out}\n`);
    },
    process.argv,
    { statistics: '--stats', out: '--bioimageio', authors: '--author' },
  );
}
