/**
 * The model directory `pipelines/predict.ts --model DIR` reads: a checkpoint written by
 * pipelines/train.ts (model/checkpoint.ts: `model.json` + `weights.bin`), optionally with
 *
 *   DIR/model.onnx    standard ONNX (see export.ts): label heads, probabilities [N, 256, OH, OW]
 *
 * for other tools (onnxruntime in Python, netron, ...). Prediction rebuilds its own session from
 * the weights, with the requested statistics computed inside the graph.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.ts';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint.ts';
import { buildPlan, type ModelConfig } from '../plan.ts';
import { exportOnnx } from './export.ts';

/**
 * Writes a model directory: the checkpoint (config and weights, no optimizer state) and
 * `model.onnx` when the config has label heads.
 * @throws IslError BAD_INPUT when a weight the plan needs is missing or mis-sized.
 */
export async function writeModelDir(dir: string, config: ModelConfig, weights: ReadonlyMap<string, Float32Array>): Promise<void> {
  const plan = buildPlan(config);
  if (config.heads.labels.length > 0) await writeFileAtomic(join(dir, 'model.onnx'), exportOnnx(plan, weights));
  await saveCheckpoint(dir, { config, weights: new Map(weights) });
}

/**
 * Reads the config and weights of a model directory (any checkpoint of pipelines/train.ts).
 * @throws IslError BAD_INPUT naming the file for a missing, foreign or inconsistent model.
 */
export async function readModelDir(dir: string): Promise<{ config: ModelConfig; weights: Map<string, Float32Array> }> {
  const { config, weights } = await loadCheckpoint(dir);
  return { config, weights };
}
