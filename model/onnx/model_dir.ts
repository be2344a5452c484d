/**
 * An exported model directory, what `pipelines/predict.ts --model DIR` reads:
 *
 *   DIR/model.onnx    standard ONNX (see export.ts): label heads, probabilities [N, 256, OH, OW]
 *   DIR/model.json    { format: "isl-model-v1", config, weights: [{name, shape, offset}] }
 *   DIR/weights.bin   the plan's weights, float32 little-endian, at those offsets (elements)
 *
 * Prediction rebuilds its session from the weights (statistics computed inside the graph); the
 * .onnx file is for other tools (onnxruntime in Python, netron, ...).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput } from '../../io/errors.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { buildPlan, type ModelConfig } from '../plan.ts';
import { exportOnnx } from './export.ts';
import { CHECKPOINT_FORMAT, loadCheckpoint } from '../checkpoint.ts';

export const MODEL_FORMAT = 'isl-model-v1';

interface ModelJson {
  format: string;
  config: ModelConfig;
  weights: { name: string; shape: number[]; offset: number }[];
}

/**
 * Writes a model directory from a config and its weights (plan names, plan layout).
 * @throws IslError BAD_INPUT when a weight the plan needs is missing or mis-sized.
 */
export async function writeModelDir(dir: string, config: ModelConfig, weights: ReadonlyMap<string, Float32Array>): Promise<void> {
  const plan = buildPlan(config);
  const onnx = config.heads.labels.length > 0 ? exportOnnx(plan, weights) : undefined;
  let offset = 0;
  const index: ModelJson['weights'] = plan.weights.map((w) => {
    const n = w.shape.reduce((a, d) => a * d, 1);
    const v = weights.get(w.name);
    if (!v || v.length !== n) throw badInput(w.name, `weight ${w.name} is ${v ? `${v.length} values` : 'missing'}; the plan needs [${w.shape.join(', ')}]`);
    const e = { name: w.name, shape: w.shape, offset };
    offset += n;
    return e;
  });
  const all = new Float32Array(offset);
  for (const e of index) all.set(weights.get(e.name)!, e.offset);
  await writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(all.buffer));
  if (onnx) await writeFileAtomic(join(dir, 'model.onnx'), onnx);
  await writeFileAtomic(join(dir, 'model.json'), JSON.stringify({ format: MODEL_FORMAT, config, weights: index } satisfies ModelJson, null, 1) + '\n');
}

/**
 * Reads a model directory written by {@link writeModelDir}, or a training checkpoint directory.
 * @throws IslError BAD_INPUT naming the file for a missing, foreign or truncated model.
 */
export async function readModelDir(dir: string): Promise<{ config: ModelConfig; weights: Map<string, Float32Array> }> {
  const jsonPath = join(dir, 'model.json');
  let meta: ModelJson;
  try {
    meta = JSON.parse(await readFile(jsonPath, 'utf8')) as ModelJson;
  } catch (e) {
    throw badInput(jsonPath, 'cannot read the model description (is --model a directory written by the exporter or pipelines/train.ts?)', undefined, e);
  }
  // A training checkpoint (pipelines/train.ts --out) is a model too: its weights are the plan's.
  if (meta.format === CHECKPOINT_FORMAT) {
    const ckpt = await loadCheckpoint(dir);
    return { config: ckpt.config, weights: ckpt.weights };
  }
  if (meta.format !== MODEL_FORMAT) throw badInput(jsonPath, `expected format ${MODEL_FORMAT} (or a training checkpoint, ${CHECKPOINT_FORMAT}) but found ${JSON.stringify(meta.format)}`);
  const binPath = join(dir, 'weights.bin');
  const buf = await readFile(binPath).catch((e: unknown) => {
    throw badInput(binPath, 'cannot read the weights', undefined, e);
  });
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const weights = new Map<string, Float32Array>();
  for (const w of meta.weights) {
    const n = w.shape.reduce((a, d) => a * d, 1);
    if (w.offset + n > all.length) throw badInput(binPath, `weights.bin has ${all.length} values; weight ${w.name} needs up to ${w.offset + n} (truncated file?)`);
    weights.set(w.name, all.subarray(w.offset, w.offset + n));
  }
  return { config: meta.config, weights };
}
