/**
 * `npm run export -- --model CHECKPOINT_DIR [--out FILE] [--heads a,b] [--outputs probabilities,median]
 * [--layout nchw|nhwc]`: writes a trained checkpoint's network as a standard ONNX model (default
 * CHECKPOINT_DIR/model.onnx; format in model/onnx/README.md).
 */
import { join } from 'node:path';
import { command, isMain, runCli } from '../core/cli.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { STATISTICS, writeOnnx, type OnnxOutput } from '../model/onnx/export.ts';
import { buildPlan } from '../model/plan.ts';

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

export const program = command('export', 'Export a trained ISL checkpoint as a standard ONNX model.')
  .requiredOption('--model <dir>', 'checkpoint directory (model.json + weights.bin from pipelines/train.ts)')
  .option('--out <file>', 'output file (default: <model>/model.onnx)')
  .option('--heads <list>', 'heads to export (default: the label heads)')
  .option('--outputs <list>', `per head: probabilities, logits, ${STATISTICS.join(', ')}`, 'probabilities')
  .option('--layout <layout>', 'nchw ([N, 256, H, W], default) or nhwc ([N, H, W, 256]; implied by statistics)');

interface Opts {
  model: string;
  out?: string;
  heads?: string;
  outputs: string;
  layout?: 'nchw' | 'nhwc';
}

if (isMain(import.meta.url)) {
  await runCli(program, async (o: Opts) => {
    const { config, weights } = await loadCheckpoint(o.model);
    const out = o.out ?? join(o.model, 'model.onnx');
    await writeOnnx(out, buildPlan(config), weights, { heads: list(o.heads), outputs: list(o.outputs) as OnnxOutput[], layout: o.layout });
    process.stderr.write(`export: wrote ${out}\n`);
  });
}
