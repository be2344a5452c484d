/**
 * The forward pass of a {@link Plan} as ONNX nodes (NCHW), written once for every consumer:
 * - `infer` (export.ts, the model `predict` and training-time evaluation run): batch norm with the
 *   moving statistics (BatchNormalization), size-generic (symbolic H, W), optionally only the
 *   ops some heads need, and each conv on concat(relu, tanh) split in two convs on the halves.
 * - `train` (../onnxtrain.ts, which appends the loss and the backward pass): batch norm with
 *   batch statistics, exposing `bnstat/<bn>/{mean,var}` and what the backward pass needs
 *   (normalised input, 1 / std, tanh, max-pool indices, transposed filters) in `saved`.
 *
 * Weights come from the caller (`weight`): initializers in export, graph inputs in training.
 */
import type { Plan, PlanOp } from '../plan.ts';
import { float, type GraphBuilder } from './graph.ts';

/** How a weight is wanted: its plan layout, a conv's ONNX filter (`[3, 2, 0, 1]` of the plan's), or one half of it along the input channels. */
export type WeightForm = 'plan' | 'filter' | 'filter/half0' | 'filter/half1';

export interface LowerOptions {
  mode: 'train' | 'infer';
  /** The ONNX tensor holding weight `name` in `form`. */
  weight(name: string, form: WeightForm): string;
  /** Plan tensors to compute (default: all). */
  needed?: ReadonlySet<string>;
  /** ONNX names of some plan tensors (default: the plan name). */
  rename?: ReadonlyMap<string, string>;
  /** Split convs on concat(relu, tanh) into two convs and an add (infer only; default false). */
  splitActivations?: boolean;
}

/** Per batch-norm op in train mode: the graph outputs of its batch statistics. */
export interface BnOutputs {
  op: string;
  mean: string;
  var: string;
}

export interface Lowered {
  /** ONNX tensor of a plan tensor. */
  tensor(planName: string): string;
  /** Train mode: per op output, the forward tensors its gradient needs. */
  saved: Map<string, Record<string, string>>;
  bnOutputs: BnOutputs[];
}

/** Names of the plan tensors `op` reads. */
export function inputsOf(op: PlanOp): string[] {
  if (op.op === 'input') return [];
  if (op.op === 'add' || op.op === 'concat') return op.inputs;
  return [op.input];
}

/** The plan tensors the given ones depend on (themselves included). */
export function dependencies(plan: Plan, tensors: readonly string[]): Set<string> {
  const byOut = new Map(plan.ops.map((o) => [o.output, o]));
  const needed = new Set<string>();
  const stack = [...tensors];
  while (stack.length) {
    const t = stack.pop()!;
    if (needed.has(t)) continue;
    needed.add(t);
    const op = byOut.get(t);
    if (op) stack.push(...inputsOf(op));
  }
  return needed;
}

/** Attributes of a plan conv or pool: square kernel, VALID, dilated when the op says so. */
export function convAttrs(op: { kernel: number; stride: number; dilation?: number }) {
  const d = op.dilation ?? 1;
  return { kernel_shape: [op.kernel, op.kernel], strides: [op.stride, op.stride], pads: [0, 0, 0, 0], ...(d > 1 ? { dilations: [d, d] } : {}) };
}

/** Emits the forward nodes of `plan` into `g`; the input is the graph tensor `plan.input`. */
export function lowerForward(g: GraphBuilder, plan: Plan, o: LowerOptions): Lowered {
  const train = o.mode === 'train';
  const split = !train && (o.splitActivations ?? false);
  const byOut = new Map(plan.ops.map((op) => [op.output, op]));
  const consumers = new Map<string, PlanOp[]>(plan.ops.map((op) => [op.output, []]));
  for (const op of plan.ops) for (const i of inputsOf(op)) consumers.get(i)?.push(op);
  const onnx = new Map<string, string>([[plan.input, plan.input]]);
  const tensor = (t: string) => {
    const n = onnx.get(t);
    if (!n) throw new Error(`internal: tensor ${t} not computed`);
    return n;
  };
  const saved = new Map<string, Record<string, string>>();
  const bnOutputs: BnOutputs[] = [];
  const isConv = (op: PlanOp) => op.op === 'conv' || op.op === 'conv_transpose';

  for (const op of plan.ops) {
    if (op.op === 'input' || (o.needed && !o.needed.has(op.output))) continue;
    const out = o.rename?.get(op.output) ?? op.output;
    onnx.set(op.output, out);
    const x = () => tensor((op as { input: string }).input);
    switch (op.op) {
      case 'conv':
      case 'conv_transpose': {
        const type = op.op === 'conv' ? 'Conv' : 'ConvTranspose';
        const attrs = convAttrs(op);
        const bias = op.bias ? [o.weight(op.bias, 'plan')] : [];
        if (split && byOut.get(op.input)?.op === 'relu_tanh_concat') {
          // conv(concat(relu, tanh), W) = conv(relu, W_relu) + conv(tanh, W_tanh): no concat copy.
          const a = tensor(op.input);
          g.one(type, [`${a}/relu`, o.weight(op.filter, 'filter/half0'), ...bias], '', attrs, `${out}/relu_part`);
          g.one(type, [`${a}/tanh`, o.weight(op.filter, 'filter/half1')], '', attrs, `${out}/tanh_part`);
          g.one('Add', [`${out}/relu_part`, `${out}/tanh_part`], '', undefined, out);
        } else {
          const ft = o.weight(op.filter, 'filter');
          g.one(type, [x(), ft, ...bias], '', attrs, out);
          if (train) saved.set(op.output, { ft });
        }
        break;
      }
      case 'batchnorm': {
        if (!train) {
          g.one('BatchNormalization', [x(), ...[op.gamma, op.beta, op.movingMean, op.movingVariance].map((w) => o.weight(w, 'plan'))], '', { epsilon: float(op.epsilon) }, out);
          break;
        }
        const c = op.shape[2];
        const mean = g.one('ReduceMean', [x()], `${out}/mean`, { axes: [0, 2, 3], keepdims: 1 });
        const xc = g.one('Sub', [x(), mean], `${out}/xc`);
        const v = g.one('ReduceMean', [g.one('Mul', [xc, xc], `${out}/sq`)], `${out}/var`, { axes: [0, 2, 3], keepdims: 1 });
        const invstd = g.one('Reciprocal', [g.one('Sqrt', [g.one('Add', [v, g.scalar(op.epsilon)], out)], out)], `${out}/invstd`);
        const xhat = g.one('Mul', [xc, invstd], `${out}/xhat`);
        const gamma = g.one('Reshape', [o.weight(op.gamma, 'plan'), g.ints([1, c, 1, 1])], `${out}/gamma`);
        const beta = g.one('Reshape', [o.weight(op.beta, 'plan'), g.ints([1, c, 1, 1])], `${out}/beta`);
        g.one('Add', [g.one('Mul', [xhat, gamma], out), beta], '', undefined, out);
        saved.set(op.output, { xhat, invstd, gamma });
        const stat = { op: op.output, mean: `bnstat/${op.output}/mean`, var: `bnstat/${op.output}/var` };
        g.one('Reshape', [mean, g.ints([c])], '', undefined, stat.mean);
        g.one('Reshape', [v, g.ints([c])], '', undefined, stat.var);
        bnOutputs.push(stat);
        break;
      }
      case 'relu_tanh_concat': {
        g.one('Relu', [x()], '', undefined, `${out}/relu`);
        g.one('Tanh', [x()], '', undefined, `${out}/tanh`);
        if (!split || consumers.get(op.output)!.some((c) => !isConv(c))) g.one('Concat', [`${out}/relu`, `${out}/tanh`], '', { axis: 1 }, out);
        if (train) saved.set(op.output, { t: `${out}/tanh` });
        break;
      }
      case 'maxpool': {
        const attrs = { kernel_shape: [op.kernel, op.kernel], strides: [op.stride, op.stride] };
        if (train) saved.set(op.output, { idx: g.add('MaxPool', [x()], [out, `${out}/indices`], attrs)[1] });
        else g.one('MaxPool', [x()], '', attrs, out);
        break;
      }
      case 'avgpool':
        g.one('AveragePool', [x()], '', { kernel_shape: [op.kernel, op.kernel], strides: [op.stride, op.stride] }, out);
        break;
      case 'crop':
        g.slice(x(), [op.crop, op.crop], [-op.crop, -op.crop], [2, 3], '', out);
        break;
      case 'upsample_nearest':
        g.one('Resize', [x(), '', g.floats([1, 1, op.factor, op.factor])], '', { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, out);
        break;
      case 'pad_edge':
        g.pad(x(), [0, 0, op.pad, op.pad, 0, 0, op.pad, op.pad], '', 'edge', out);
        break;
      case 'pad_channels': {
        const cin = byOut.get(op.input)!.shape[2];
        g.pad(x(), [0, 0, 0, 0, 0, op.shape[2] - cin, 0, 0], '', 'constant', out);
        break;
      }
      case 'crop_channels':
        g.slice(x(), [0], [op.shape[2]], [1], '', out);
        break;
      case 'add':
        g.one(op.inputs.length === 2 ? 'Add' : 'Sum', op.inputs.map(tensor), '', undefined, out);
        break;
      case 'concat':
        g.one('Concat', op.inputs.map(tensor), '', { axis: 1 }, out);
        break;
    }
  }
  return { tensor, saved, bnOutputs };
}
