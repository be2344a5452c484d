/**
 * A whole training step (forward, ISL loss, backward) of a {@link Plan} as one ONNX graph, run by
 * ONNX Runtime's CPU provider on all cores. The tfjs `cpu` backend runs the network's many small
 * element-wise ops, slices and concats in single-threaded JS (a tiny-config step took seconds,
 * mostly in concat gradients and broadcasts), so training runs here instead. The forward pass is
 * the one lowering of model/onnx/lower.ts (the exported model's, with batch statistics); the
 * backward pass is written by hand below and checked, tensor by tensor, against finite differences
 * of this graph's loss (test/helpers/grad_check.ts, test/model/onnxtrain.test.ts).
 *
 * The graph works in NCHW with static shapes (one session per batch size). Inputs: `input`
 * `[N, C, S, S]`; every trainable weight in the plan's layout; per head `target/<head>` (int64 bin
 * per pixel `[N, H, W]`), `weight/<head>` (`[N, 1, H, W]`: presence mask / (present pixels *
 * ln(bins))) and `coef/<head>` (`[1]`: the head's weight in the total). Outputs: `loss/<head>`
 * (`[]`: the head's loss in ln(bins) units), `grad/<weight>` (d total / d weight, plan layout),
 * `bnstat/<bn>/mean`, `bnstat/<bn>/var` (biased batch statistics, `[C]`), and each head's logits
 * (its plan tensor name, `[N, bins, H, W]`; fetched only by {@link OnnxTrainStep.logits}).
 */
import { createRequire } from 'node:module';
import { GraphBuilder, type OnnxNode, type OnnxValue } from './onnx/graph.ts';
import { lowerForward, type WeightForm } from './onnx/lower.ts';
import type { Plan, PlanOp } from './plan.ts';

type Shape4 = [number, number, number, number];

/** What the graph needs per batch-norm op to update moving statistics. */
export interface BnStat {
  op: string;
  movingMean: string;
  movingVariance: string;
  momentum: number;
  /** Elements per channel in the batch (for the unbiased variance). */
  count: number;
}

/** A training graph and the names to feed and fetch. */
export interface TrainGraph {
  model: Uint8Array;
  batch: number;
  trainable: string[];
  bnStats: BnStat[];
  /** The graph's nodes (each named by its first output), for profiling. */
  nodes: OnnxNode[];
}

/** Sum over `axes` as ReduceMean times the count: opset 17 ReduceSum takes axes as an input, ReduceMean as an attribute. */
function sum(g: GraphBuilder, x: string, axes: number[], count: number, hint: string, keepdims = 1): string {
  const m = g.one('ReduceMean', [x], hint, { axes, keepdims });
  return g.one('Mul', [m, g.scalar(count)], hint);
}

/** Nearest upsampling by `f` of NCHW `x` of `shape`, as Reshape + Expand (static shapes). */
function upsample(g: GraphBuilder, x: string, s: Shape4, f: number, hint: string): string {
  const [n, c, h, w] = s;
  const r = g.one('Reshape', [x, g.ints([n, c, h, 1, w, 1])], hint);
  const e = g.one('Expand', [r, g.ints([n, c, h, f, w, f])], hint);
  return g.one('Reshape', [e, g.ints([n, c, h * f, w * f])], hint);
}

const HWIO_TO_OIHW = [3, 2, 0, 1];

/**
 * Builds the training graph of `plan` for a fixed `batch`: the forward pass lowered by
 * onnx/lower.ts (batch statistics), then the loss and the hand-written backward pass.
 * @throws Error when the plan holds an op this graph cannot differentiate.
 */
export function buildTrainGraph(plan: Plan, batch: number): TrainGraph {
  const g = new GraphBuilder();
  const N = batch;
  const shape = new Map<string, Shape4>();
  const nchw = (s: [number, number, number]): Shape4 => [N, s[2], s[0], s[1]];
  for (const op of plan.ops) shape.set(op.output, nchw(op.shape));
  for (const op of plan.ops) if (op.op === 'avgpool' && op.kernel !== op.stride) throw new Error(`training graph supports avgpool with kernel = stride only (${op.output})`);
  const trainable = plan.weights.filter((w) => w.trainable).map((w) => w.name);
  // Weights are graph inputs in the plan's layout; convs read their filters transposed in the graph.
  const filters = new Map<string, string>();
  const weight = (name: string, form: WeightForm): string => {
    if (form === 'plan') return name;
    if (form !== 'filter') throw new Error(`internal: the training graph has no ${form} weights`);
    if (!filters.has(name)) filters.set(name, g.one('Transpose', [name], `${name}/ft`, { perm: HWIO_TO_OIHW }));
    return filters.get(name)!;
  };
  const fwd = lowerForward(g, plan, { mode: 'train', weight });
  const T = fwd.tensor;
  const saved = fwd.saved;
  const outputs: OnnxValue[] = fwd.bnOutputs.flatMap((b) => [
    { name: b.mean, dims: [shape.get(b.op)![1]] },
    { name: b.var, dims: [shape.get(b.op)![1]] },
  ]);
  const bnStats: BnStat[] = plan.ops.flatMap((op) => {
    if (op.op !== 'batchnorm') return [];
    const [, , hh, ww] = shape.get(op.output)!;
    return [{ op: op.output, movingMean: op.movingMean, movingVariance: op.movingVariance, momentum: op.momentum, count: N * hh * ww }];
  });

  // Loss heads and their logit gradients.
  const grads = new Map<string, string[]>();
  const addGrad = (tensor: string, gr: string) => {
    const l = grads.get(tensor) ?? [];
    l.push(gr);
    grads.set(tensor, l);
  };
  const inputs: OnnxValue[] = [{ name: plan.input, dims: nchw(plan.ops[0].shape) }];
  const bins = plan.config.bins;
  const so = plan.outputSize;
  for (const head of plan.heads) {
    const logits = T(head.output);
    const target = `target/${head.name}`;
    const weight = `weight/${head.name}`;
    const coef = `coef/${head.name}`;
    inputs.push({ name: target, dims: [N, so, so], type: 'int64' }, { name: weight, dims: [N, 1, so, so] }, { name: coef, dims: [1] });
    const lsm = g.one('LogSoftmax', [logits], `${head.name}/lsm`, { axis: 1 });
    const onehot = g.one('OneHot', [target, g.ints([bins]), g.one('Cast', [g.ints([0, 1])], 'onehot_values', { to: 1 })], `${head.name}/onehot`, { axis: 1 });
    const wo = g.one('Mul', [onehot, weight], `${head.name}/wo`);
    const lossOut = `loss/${head.name}`;
    const m = g.one('ReduceMean', [g.one('Mul', [wo, lsm], head.name)], head.name, { axes: [0, 1, 2, 3], keepdims: 0 });
    g.one('Mul', [m, g.scalar(-N * bins * so * so)], '', undefined, lossOut);
    outputs.push({ name: lossOut, dims: [] }, { name: logits, dims: [N, bins, so, so] });
    // d(coef * loss)/d logits = coef * w * (softmax - onehot).
    const sm = g.one('Exp', [lsm], `${head.name}/sm`);
    const dl = g.one('Mul', [g.one('Sub', [g.one('Mul', [sm, weight], head.name), wo], head.name), coef], `${head.name}/dlogits`);
    addGrad(head.output, dl);
  }

  // Backward, in reverse plan order.
  const gradOf = (t: string): string | undefined => {
    const l = grads.get(t);
    if (!l || l.length === 0) return undefined;
    if (l.length === 1) return l[0];
    const s = g.one('Sum', l, `${t}/gsum`);
    grads.set(t, [s]);
    return s;
  };
  const weightGrads = new Map<string, string>();
  const needsDx = (t: string) => t !== plan.input;
  for (let i = plan.ops.length - 1; i >= 0; i--) {
    const op: PlanOp = plan.ops[i];
    if (op.op === 'input') continue;
    const h = op.output;
    const dy = gradOf(h);
    if (!dy) continue;
    const [n, c, hh, ww] = shape.get(h)!;
    switch (op.op) {
      case 'conv': {
        const x = T(op.input);
        const { ft } = saved.get(h)!;
        const [, cin, ih, iw] = shape.get(op.input)!;
        const d = op.dilation ?? 1;
        const span = (op.kernel - 1) * d + 1;
        if ((hh - 1) * op.stride + span !== ih || (ww - 1) * op.stride + span !== iw) throw new Error(`conv ${h} does not tile its input exactly`);
        const dxAttrs: Record<string, number[]> = { strides: [op.stride, op.stride] };
        if (d > 1) dxAttrs.dilations = [d, d];
        if (needsDx(op.input)) addGrad(op.input, g.one('ConvTranspose', [dy, ft], `${h}/dx`, dxAttrs));
        let dw: string;
        if (op.kernel === 1 && op.stride === 1) {
          // 1x1: dW[ci, co] = sum_n x[n] (ci x HW) @ dy[n]^T (HW x co), a batched GEMM.
          const xr = g.one('Reshape', [x, g.ints([n, cin, ih * iw])], `${h}/xr`);
          const dyr = g.one('Transpose', [g.one('Reshape', [dy, g.ints([n, c, hh * ww])], `${h}/dyr`)], `${h}/dyt`, { perm: [0, 2, 1] });
          const mm = g.one('MatMul', [xr, dyr], `${h}/dw`);
          dw = g.one('Reshape', [sum(g, mm, [0], n, `${h}/dw`, 0), g.ints([1, 1, cin, c])], `${h}/dw`);
        } else {
          const xt = g.one('Transpose', [x], `${h}/xt`, { perm: [1, 0, 2, 3] });
          const dyt = g.one('Transpose', [dy], `${h}/dyt`, { perm: [1, 0, 2, 3] });
          // dW[k] = sum_o dy[o] x[o * stride + k * dilation]: dy is a kernel dilated by the stride, stepping by the dilation.
          const gw = g.one('Conv', [xt, dyt], `${h}/dw`, { dilations: [op.stride, op.stride], ...(d > 1 ? { strides: [d, d] } : {}) });
          dw = g.one('Transpose', [gw], `${h}/dw`, { perm: [2, 3, 0, 1] });
        }
        weightGrads.set(op.filter, dw);
        if (op.bias) weightGrads.set(op.bias, sum(g, dy, [0, 2, 3], n * hh * ww, `${h}/db`, 0));
        break;
      }
      case 'conv_transpose': {
        const x = T(op.input);
        const { ft } = saved.get(h)!;
        addGrad(op.input, g.one('Conv', [dy, ft], `${h}/dx`, { strides: [op.stride, op.stride] }));
        const xt = g.one('Transpose', [x], `${h}/xt`, { perm: [1, 0, 2, 3] });
        const dyt = g.one('Transpose', [dy], `${h}/dyt`, { perm: [1, 0, 2, 3] });
        const gw = g.one('Conv', [dyt, xt], `${h}/dw`, { dilations: [op.stride, op.stride] });
        weightGrads.set(op.filter, g.one('Transpose', [gw], `${h}/dw`, { perm: [2, 3, 0, 1] }));
        if (op.bias) weightGrads.set(op.bias, sum(g, dy, [0, 2, 3], n * hh * ww, `${h}/db`, 0));
        break;
      }
      case 'batchnorm': {
        const { xhat, invstd, gamma } = saved.get(h)!;
        const m = n * hh * ww;
        const mdy = g.one('ReduceMean', [dy], `${h}/mdy`, { axes: [0, 2, 3], keepdims: 1 });
        const mdyx = g.one('ReduceMean', [g.one('Mul', [dy, xhat], `${h}/dyx`)], `${h}/mdyx`, { axes: [0, 2, 3], keepdims: 1 });
        weightGrads.set(op.beta, g.one('Reshape', [g.one('Mul', [mdy, g.scalar(m)], `${h}/dbeta`), g.ints([c])], `${h}/dbeta`));
        weightGrads.set(op.gamma, g.one('Reshape', [g.one('Mul', [mdyx, g.scalar(m)], `${h}/dgamma`), g.ints([c])], `${h}/dgamma`));
        const inner = g.one('Sub', [g.one('Sub', [dy, mdy], `${h}/dx`), g.one('Mul', [xhat, mdyx], `${h}/dx`)], `${h}/dx`);
        addGrad(op.input, g.one('Mul', [inner, g.one('Mul', [gamma, invstd], `${h}/gi`)], `${h}/dx`));
        break;
      }
      case 'relu_tanh_concat': {
        const x = T(op.input);
        const { t } = saved.get(h)!;
        const half = c / 2;
        const dr = g.slice(dy, [0], [half], [1], `${h}/dr`);
        const dt = g.slice(dy, [half], [c], [1], `${h}/dt`);
        const mask = g.one('Sign', [g.one('Relu', [x], `${h}/m`)], `${h}/m`);
        const dtanh = g.one('Mul', [dt, g.one('Sub', [g.scalar(1), g.one('Mul', [t, t], `${h}/t2`)], `${h}/dtanh`)], `${h}/dtanh`);
        addGrad(op.input, g.one('Add', [g.one('Mul', [dr, mask], `${h}/drelu`), dtanh], `${h}/dx`));
        break;
      }
      case 'maxpool': {
        const { idx } = saved.get(h)!;
        const [xn, xc, xh, xw] = shape.get(op.input)!;
        const zeros = g.one('ConstantOfShape', [g.ints([xn * xc * xh * xw])], `${h}/zeros`);
        const flatIdx = g.one('Reshape', [idx, g.ints([-1])], `${h}/idx`);
        const flatDy = g.one('Reshape', [dy, g.ints([-1])], `${h}/dyf`);
        const sc = g.one('ScatterElements', [zeros, flatIdx, flatDy], `${h}/dx`, { axis: 0, reduction: 'add' });
        addGrad(op.input, g.one('Reshape', [sc, g.ints([xn, xc, xh, xw])], `${h}/dx`));
        break;
      }
      case 'avgpool': {
        const up = upsample(g, dy, [n, c, hh, ww], op.kernel, `${h}/dx`);
        addGrad(op.input, g.one('Mul', [up, g.scalar(1 / (op.kernel * op.kernel))], `${h}/dx`));
        break;
      }
      case 'crop':
        addGrad(op.input, g.pad(dy, [0, 0, op.crop, op.crop, 0, 0, op.crop, op.crop], `${h}/dx`));
        break;
      case 'upsample_nearest': {
        const f = op.factor;
        const r = g.one('Reshape', [dy, g.ints([n, c, hh / f, f, ww / f, f])], `${h}/dx`);
        addGrad(op.input, sum(g, r, [3, 5], f * f, `${h}/dx`, 0));
        break;
      }
      case 'pad_edge': {
        // Edge padding copies border pixels outward: their gradient folds back onto the border.
        const p = op.pad;
        const fold = (t: string, axis: 2 | 3, len: number, hint: string): string => {
          const inner = len - 2 * p;
          const mid = g.slice(t, [p], [len - p], [axis], hint);
          const loS = sum(g, g.slice(t, [0], [p + 1], [axis], hint), [axis], p + 1, hint);
          const hiS = sum(g, g.slice(t, [len - p - 1], [len], [axis], hint), [axis], p + 1, hint);
          const padSpec = (before: number, after: number) => (axis === 2 ? [0, 0, before, 0, 0, 0, after, 0] : [0, 0, 0, before, 0, 0, 0, after]);
          const midNoEdges = g.pad(g.slice(mid, [1], [inner - 1], [axis], hint), padSpec(1, 1), hint);
          return g.one('Sum', [midNoEdges, g.pad(loS, padSpec(0, inner - 1), hint), g.pad(hiS, padSpec(inner - 1, 0), hint)], hint);
        };
        const a = fold(dy, 2, hh, `${h}/dx`);
        addGrad(op.input, fold(a, 3, ww, `${h}/dx`));
        break;
      }
      case 'pad_channels': {
        const cin = shape.get(op.input)![1];
        addGrad(op.input, g.slice(dy, [0], [cin], [1], `${h}/dx`));
        break;
      }
      case 'crop_channels': {
        const cin = shape.get(op.input)![1];
        addGrad(op.input, g.pad(dy, [0, 0, 0, 0, 0, cin - c, 0, 0], `${h}/dx`));
        break;
      }
      case 'add':
        for (const inp of op.inputs) addGrad(inp, dy);
        break;
      case 'concat': {
        let at = 0;
        for (const inp of op.inputs) {
          const ci = shape.get(inp)![1];
          addGrad(inp, g.slice(dy, [at], [at + ci], [1], `${h}/dx`));
          at += ci;
        }
        break;
      }
    }
  }
  for (const w of plan.weights.filter((x) => x.trainable)) {
    inputs.push({ name: w.name, dims: w.shape });
    const gr = weightGrads.get(w.name);
    if (!gr) throw new Error(`no gradient for weight ${w.name}`);
    g.one('Identity', [gr], '', undefined, `grad/${w.name}`);
    outputs.push({ name: `grad/${w.name}`, dims: w.shape });
  }
  return { model: g.encode({ inputs, outputs }), batch, trainable, bnStats, nodes: g.nodes };
}

/** Per-head inputs of one training batch, as the graph takes them. */
export interface HeadFeed {
  /** Bin per pixel, `[N, H, W]`. */
  target: BigInt64Array;
  /** Presence mask / (present pixels * ln(bins)), `[N, 1, H, W]`. */
  weight: Float32Array;
  /** The head's weight in the total loss (0 when the head has no present pixel). */
  coef: number;
}

/** Result of one graph run: per-head losses, gradients by weight name, batch statistics. */
export interface StepResult {
  losses: Map<string, number>;
  grads: Map<string, Float32Array>;
  bnMean: Map<string, Float32Array>;
  bnVar: Map<string, Float32Array>;
}

type OrtModule = typeof import('onnxruntime-node');

/** An ONNX Runtime session running a {@link TrainGraph}. */
export class OnnxTrainStep {
  private constructor(
    private ort: OrtModule,
    private session: import('onnxruntime-node').InferenceSession,
    readonly graph: TrainGraph,
    private plan: Plan,
  ) {}

  /** Creates the session (a second or two for the small config). */
  static async create(plan: Plan, batch: number, threads = 2): Promise<OnnxTrainStep> {
    const ort = createRequire(import.meta.url)('onnxruntime-node') as OrtModule;
    const graph = buildTrainGraph(plan, batch);
    const session = await ort.InferenceSession.create(graph.model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new OnnxTrainStep(ort, session, graph, plan);
  }

  /**
   * Runs forward and backward on one batch.
   * @param input `[N, C, S, S]` (NCHW) values in [0, 1].
   * @param weights every trainable weight's current values.
   */
  async run(input: Float32Array, heads: Map<string, HeadFeed>, weights: Map<string, Float32Array>): Promise<StepResult> {
    const { plan, graph } = this;
    const fetches = [...plan.heads.map((h) => `loss/${h.name}`), ...graph.trainable.map((w) => `grad/${w}`), ...graph.bnStats.flatMap((b) => [`bnstat/${b.op}/mean`, `bnstat/${b.op}/var`])];
    const out = await this.session.run(this.feeds(input, heads, weights), fetches);
    const f32 = (name: string) => new Float32Array(out[name].data as Float32Array);
    return {
      losses: new Map(plan.heads.map((h) => [h.name, Number((out[`loss/${h.name}`].data as Float32Array)[0])])),
      grads: new Map(graph.trainable.map((w) => [w, f32(`grad/${w}`)])),
      bnMean: new Map(graph.bnStats.map((b) => [b.op, f32(`bnstat/${b.op}/mean`)])),
      bnVar: new Map(graph.bnStats.map((b) => [b.op, f32(`bnstat/${b.op}/var`)])),
    };
  }

  /**
   * The forward pass only (ONNX Runtime skips the backward nodes): each head's logits `[N, bins, H,
   * W]`, for finite differences of a loss computed outside the graph in float64.
   */
  async logits(input: Float32Array, heads: Map<string, HeadFeed>, weights: Map<string, Float32Array>): Promise<Map<string, Float32Array>> {
    const out = await this.session.run(this.feeds(input, heads, weights), this.plan.heads.map((h) => h.output));
    return new Map(this.plan.heads.map((h) => [h.name, out[h.output].data as Float32Array]));
  }

  private feeds(input: Float32Array, heads: Map<string, HeadFeed>, weights: Map<string, Float32Array>): Record<string, import('onnxruntime-node').Tensor> {
    const { ort, plan, graph } = this;
    const N = graph.batch;
    const S = plan.inputSize;
    const so = plan.outputSize;
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {
      [plan.input]: new ort.Tensor('float32', input, [N, plan.config.inputChannels, S, S]),
    };
    for (const h of plan.heads) {
      const f = heads.get(h.name);
      if (!f) throw new Error(`no feed for head ${h.name}`);
      feeds[`target/${h.name}`] = new ort.Tensor('int64', f.target, [N, so, so]);
      feeds[`weight/${h.name}`] = new ort.Tensor('float32', f.weight, [N, 1, so, so]);
      feeds[`coef/${h.name}`] = new ort.Tensor('float32', Float32Array.of(f.coef), [1]);
    }
    for (const w of plan.weights) {
      if (!w.trainable) continue;
      feeds[w.name] = new ort.Tensor('float32', weights.get(w.name)!, w.shape);
    }
    return feeds;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
