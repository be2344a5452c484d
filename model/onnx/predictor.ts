/**
 * Inference on batches of network-sized patches through the model `predict` runs (export.ts +
 * infer.ts: batch norm with the moving statistics, statistics computed inside the graph), so
 * training-time evaluation (`eval.json`) and `evaluate` on predictions score the same network.
 */
import * as ort from 'onnxruntime-node';
import type { Plan } from '../plan.ts';
import { onnxOutputName, type Statistic } from './export.ts';
import { closeInferenceModel, createInferenceModel, type InferenceModel } from './infer.ts';

/** A session predicting one statistic of every head of a plan on `[batch, C, S, S]` inputs. */
export class OnnxPredictor {
  private constructor(
    private model: InferenceModel,
    private plan: Plan,
    readonly batch: number,
    readonly statistic: Statistic,
  ) {}

  /** Opens the session; `statistic` is the per-pixel summary of each head's bins (default `mean`, the expected intensity). */
  static async create(plan: Plan, weights: ReadonlyMap<string, Float32Array>, batch: number, threads = 2, statistic: Statistic = 'mean'): Promise<OnnxPredictor> {
    const model = await createInferenceModel(plan.config, weights, { heads: plan.heads.map((h) => h.name), statistics: [statistic], threads });
    return new OnnxPredictor(model, plan, batch, statistic);
  }

  /**
   * @param input `[batch, C, S, S]` NCHW in [0, 1], S = the plan's input size.
   * @returns per head `[batch, outputSize, outputSize]` intensities in [0, 1].
   */
  async run(input: Float32Array): Promise<Map<string, Float32Array>> {
    const { plan } = this;
    const S = plan.inputSize;
    const out = await this.model.session.run({ [plan.input]: new ort.Tensor('float32', input, [this.batch, plan.config.inputChannels, S, S]) });
    return new Map(plan.heads.map((h) => [h.name, new Float32Array(out[onnxOutputName(h.name, this.statistic)].data as Float32Array)]));
  }

  async release(): Promise<void> {
    await closeInferenceModel(this.model);
  }
}
