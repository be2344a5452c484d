/**
 * Exports an ISL network (a {@link Plan} plus its weights) as a standard ONNX model (opset 17)
 * that ONNX Runtime, netron or any ONNX tool loads.
 *
 * The model (documented in its `doc_string` too):
 * - input `input`: float32 `[N, 2 * zSlots, H, W]` (NCHW), channels interleaved `[image_0,
 *   present_0, image_1, present_1, ...]`: each z-slot's transmitted-light plane in [0, 1] and its
 *   presence mask (1 where the slot holds a plane). H and W are symbolic: any
 *   `inputSize + k * stride` (250 + 16k for the paper) works, fully convolutionally.
 * - outputs, per exported head (label heads by default): `probabilities/<head>` float32
 *   `[N, bins, H - (inputSize - outputWindow), W - ...]`, the softmax over the 256 intensity bins
 *   (bin b is the 8-bit intensity b, i.e. b / 255 canonical), and/or `logits/<head>`.
 * - metadata_props: `isl.config` (the plan's config as JSON), `isl.inputSize`, `isl.outputSize`,
 *   `isl.stride`, `isl.margin` (px lost per side), `isl.heads` (JSON list of exported heads).
 *
 * Batch norm is exported in inference form (BatchNormalization with the moving statistics).
 * The plan is NHWC and its filters HWIO; the model is NCHW with OIHW filters.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { badOption, IslError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { isMainThread } from 'node:worker_threads';
import { buildPlan, outputStride, type Plan, type PlanOp } from '../plan.ts';

/** ONNX opset the exporter targets. */
export const OPSET = 17;
const IR_VERSION = 8;

const PROTO = protobuf.parse(readFileSync(fileURLToPath(new URL('./onnx.proto', import.meta.url)), 'utf8'), { keepCase: true }).root;
const ModelProto = PROTO.lookupType('onnx.ModelProto');

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** Heads to export (default: the label heads). Ops only other heads need are left out. */
  heads?: readonly string[];
  /**
   * Outputs per head (default `['probabilities']`): `probabilities`, `logits` (`[N, bins, OH, OW]`
   * or NHWC, see `layout`), and per-pixel statistics of the bin distribution as `[N, OH, OW]`
   * canonical intensities (bin b = b / (bins - 1)): `median` (first bin where the CDF reaches
   * 0.5), `mean`, `mode` (most likely bin), `std`; `entropy` in bits.
   */
  outputs?: readonly OnnxOutput[];
  /**
   * Layout of the outputs: `nchw` (default, `[N, bins, OH, OW]`) or `nhwc` (`[N, OH, OW, bins]`:
   * each pixel's distribution contiguous; ONNX Runtime's softmax over the channel axis of NCHW is
   * ~4x slower than the whole network's convs, so inference uses `nhwc`).
   */
  layout?: 'nchw' | 'nhwc';
  /**
   * Emit each conv on concat(relu(x), tanh(x)) as two convs (on relu(x) and tanh(x), with the
   * filter split in halves) plus an add, saving the concat's copy (default true).
   */
  splitActivations?: boolean;
}

/** Per-pixel statistics of a head's intensity distribution. */
export const STATISTICS = ['median', 'mean', 'mode', 'std', 'entropy'] as const;
export type Statistic = (typeof STATISTICS)[number];
/** What the model outputs for each head. */
export type OnnxOutput = 'probabilities' | 'logits' | Statistic;

/** Graph output name of a head's output (e.g. `probabilities/nuclei`, `median/nuclei`). */
export function onnxOutputName(head: string, kind: OnnxOutput): string {
  return `${kind}/${head}`;
}

const FLOAT = 1;
const INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

type Attr = { name: string; type: number; f?: number; i?: number; s?: Uint8Array; ints?: number[] };
interface Node {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: Attr[];
}
interface Tensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

const ints = (name: string, v: number[]): Attr => ({ name, type: ATTR.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: ATTR.INT, i: v });
const str = (name: string, v: string): Attr => ({ name, type: ATTR.STRING, s: new TextEncoder().encode(v) });
const float = (name: string, v: number): Attr => ({ name, type: ATTR.FLOAT, f: v });

function bytes(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** `[d0, d1, d2, d3]` -> permuted by [3, 2, 0, 1]: HWIO -> OIHW (conv) and HWOI -> IOHW (transposed conv). */
function permute3201(src: Float32Array, shape: number[]): Float32Array {
  const [a, b, c, d] = shape;
  const out = new Float32Array(src.length);
  // out index over [d, c, a, b]
  for (let i0 = 0; i0 < a; i0++)
    for (let i1 = 0; i1 < b; i1++)
      for (let i2 = 0; i2 < c; i2++) {
        const base = ((i0 * b + i1) * c + i2) * d;
        for (let i3 = 0; i3 < d; i3++) out[((i3 * c + i2) * a + i0) * b + i1] = src[base + i3];
      }
  return out;
}

/**
 * Builds the ONNX model bytes.
 * @param plan the network plan (its `inputSize` only sets the documented default; the graph is size-generic).
 * @param weights every weight the exported heads need, by plan weight name, in plan layout.
 * @throws IslError BAD_OPTION for unknown heads; BAD_INPUT for missing or mis-sized weights.
 */
export function exportOnnx(plan: Plan, weights: ReadonlyMap<string, Float32Array>, opts: OnnxExportOptions = {}): Uint8Array {
  const known = new Map(plan.heads.map((h) => [h.name, h]));
  const heads = opts.heads ?? plan.heads.filter((h) => h.kind === 'label').map((h) => h.name);
  if (heads.length === 0) throw badOption('heads', 'at least one head to export', '[]');
  for (const h of heads) if (!known.has(h)) throw badOption('heads', `one of ${[...known.keys()].join(', ')}`, h);
  const outputs = new Set(opts.outputs ?? ['probabilities']);
  const allowed = ['probabilities', 'logits', ...STATISTICS];
  for (const o of outputs) if (!allowed.includes(o)) throw badOption('outputs', `some of ${allowed.join(', ')}`, o);
  if (outputs.size === 0) throw badOption('outputs', 'at least one output', '[]');
  const stats = STATISTICS.filter((st) => outputs.has(st));
  // Statistics reduce over the bins, which must be the last (contiguous) axis.
  const layout = stats.length > 0 ? 'nhwc' : (opts.layout ?? 'nchw');
  if (layout !== 'nchw' && layout !== 'nhwc') throw badOption('layout', 'nchw or nhwc', layout);

  // Keep only the ops the requested heads depend on.
  const byOut = new Map(plan.ops.map((o) => [o.output, o]));
  const needed = new Set<string>();
  const stack = heads.map((h) => known.get(h)!.output);
  while (stack.length) {
    const t = stack.pop()!;
    if (needed.has(t)) continue;
    needed.add(t);
    const op = byOut.get(t);
    if (op) stack.push(...inputsOf(op));
  }
  // In NHWC layout the head conv's NCHW result is an internal tensor, transposed into the output.
  const split = opts.splitActivations ?? true;
  const consumers = new Map<string, PlanOp[]>(plan.ops.map((o) => [o.output, []]));
  for (const o of plan.ops) for (const i of inputsOf(o)) consumers.get(i)?.push(o);
  const logitsName = new Map(heads.map((h) => [known.get(h)!.output, onnxOutputName(h, 'logits') + (layout === 'nhwc' ? '/nchw' : '')]));
  if (layout === 'nhwc' && opts.layout === 'nchw') throw badOption('layout', 'nhwc (statistics need the bins last) or no layout', 'nchw');
  const name = (t: string) => logitsName.get(t) ?? t;

  const nodes: Node[] = [];
  const inits: Tensor[] = [];
  const initNames = new Set<string>();
  const specs = new Map(plan.weights.map((w) => [w.name, w]));
  const weight = (wname: string, transform?: 'permute', half?: { axis: 0 | 1; index: 0 | 1 }): string => {
    const spec = specs.get(wname);
    const v = weights.get(wname);
    if (!spec) throw new IslError('BAD_INPUT', `the plan has no weight ${wname}`);
    const n = spec.shape.reduce((a, d) => a * d, 1);
    if (!v) throw new IslError('BAD_INPUT', `weight ${wname} is missing (needed for the exported heads)`, { file: wname });
    if (v.length !== n) throw new IslError('BAD_INPUT', `weight ${wname} has ${v.length} values; shape [${spec.shape.join(', ')}] needs ${n}`, { file: wname });
    const onnxName = `w/${wname}` + (half ? `/half${half.index}` : '');
    if (!initNames.has(onnxName)) {
      const [a, b, c, d] = spec.shape;
      let dims = transform === 'permute' ? [d, c, a, b] : spec.shape;
      let data = transform === 'permute' ? permute3201(v, spec.shape) : v;
      if (half) ({ dims, data } = halfOf(data, dims, half.axis, half.index));
      inits.push({ name: onnxName, dims, data_type: FLOAT, raw_data: bytes(data) });
      initNames.add(onnxName);
    }
    return onnxName;
  };
  const i64 = (values: number[]): string => {
    const n = `c/i64/${values.join('_')}`;
    if (!initNames.has(n)) {
      inits.push({ name: n, dims: [values.length], data_type: INT64, raw_data: bytes(BigInt64Array.from(values.map(BigInt))) });
      initNames.add(n);
    }
    return n;
  };
  const f32 = (values: number[]): string => {
    const n = `c/f32/${values.join('_')}`;
    if (!initNames.has(n)) {
      inits.push({ name: n, dims: [values.length], data_type: FLOAT, raw_data: bytes(Float32Array.from(values)) });
      initNames.add(n);
    }
    return n;
  };
  const node = (op_type: string, input: string[], output: string, attribute: Attr[] = [], nodeName = output) => {
    nodes.push({ op_type, input, output: [output], name: nodeName, attribute });
  };

  for (const op of plan.ops) {
    if (op.op === 'input' || !needed.has(op.output)) continue;
    const out = name(op.output);
    switch (op.op) {
      case 'conv':
      case 'conv_transpose': {
        const type = op.op === 'conv' ? 'Conv' : 'ConvTranspose';
        const attrs = [ints('kernel_shape', [op.kernel, op.kernel]), ints('strides', [op.stride, op.stride]), ints('pads', [0, 0, 0, 0])];
        const bias = op.bias ? [weight(op.bias)] : [];
        if (split && byOut.get(op.input)?.op === 'relu_tanh_concat') {
          // conv(concat(relu, tanh), W) = conv(relu, W_relu) + conv(tanh, W_tanh): no concat copy.
          const axis = op.op === 'conv' ? 1 : 0;
          node(type, [`${op.input}/relu`, weight(op.filter, 'permute', { axis, index: 0 }), ...bias], `${out}/relu_part`, attrs);
          node(type, [`${op.input}/tanh`, weight(op.filter, 'permute', { axis, index: 1 })], `${out}/tanh_part`, attrs);
          node('Add', [`${out}/relu_part`, `${out}/tanh_part`], out);
        } else node(type, [name(op.input), weight(op.filter, 'permute'), ...bias], out, attrs);
        break;
      }
      case 'batchnorm':
        node('BatchNormalization', [name(op.input), weight(op.gamma), weight(op.beta), weight(op.movingMean), weight(op.movingVariance)], out, [float('epsilon', op.epsilon)]);
        break;
      case 'relu_tanh_concat':
        node('Relu', [name(op.input)], `${out}/relu`);
        node('Tanh', [name(op.input)], `${out}/tanh`);
        if (!split || consumers.get(op.output)!.some((o) => o.op !== 'conv' && o.op !== 'conv_transpose')) node('Concat', [`${out}/relu`, `${out}/tanh`], out, [int('axis', 1)]);
        break;
      case 'maxpool':
        node('MaxPool', [name(op.input)], out, [ints('kernel_shape', [op.kernel, op.kernel]), ints('strides', [op.stride, op.stride])]);
        break;
      case 'avgpool':
        node('AveragePool', [name(op.input)], out, [ints('kernel_shape', [op.kernel, op.kernel]), ints('strides', [op.stride, op.stride])]);
        break;
      case 'crop':
        node('Slice', [name(op.input), i64([op.crop, op.crop]), i64([-op.crop, -op.crop]), i64([2, 3])], out);
        break;
      case 'upsample_nearest':
        node('Resize', [name(op.input), '', f32([1, 1, op.factor, op.factor])], out, [
          str('mode', 'nearest'),
          str('coordinate_transformation_mode', 'asymmetric'),
          str('nearest_mode', 'floor'),
        ]);
        break;
      case 'pad_edge':
        node('Pad', [name(op.input), i64([0, 0, op.pad, op.pad, 0, 0, op.pad, op.pad])], out, [str('mode', 'edge')]);
        break;
      case 'pad_channels': {
        const cin = byOut.get(op.input)!.shape[2];
        node('Pad', [name(op.input), i64([0, 0, 0, 0, 0, op.shape[2] - cin, 0, 0])], out, [str('mode', 'constant')]);
        break;
      }
      case 'crop_channels':
        node('Slice', [name(op.input), i64([0]), i64([op.shape[2]]), i64([1])], out);
        break;
      case 'add':
        node(op.inputs.length === 2 ? 'Add' : 'Sum', op.inputs.map(name), out);
        break;
      case 'concat':
        node('Concat', op.inputs.map(name), out, [int('axis', 1)]);
        break;
    }
  }

  const c = plan.config;
  const margin = (c.inputSize - c.outputWindow) / 2;
  const tensorType = (dims: (number | string)[]) => ({
    tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } },
  });
  const graphOutputs: { name: string; type: ReturnType<typeof tensorType>; doc_string: string }[] = [];
  const outDims = layout === 'nchw' ? ['N', c.bins, 'OH', 'OW'] : ['N', 'OH', 'OW', c.bins];
  const scale = 1 / (c.bins - 1);
  const binValues = (power: number) => {
    const n = `c/bins_pow${power}`;
    if (!initNames.has(n)) {
      const v = Float32Array.from({ length: c.bins }, (_, b) => (b * scale) ** power);
      inits.push({ name: n, dims: [c.bins, 1], data_type: FLOAT, raw_data: bytes(v) });
      initNames.add(n);
    }
    return n;
  };
  const statDoc: Record<Statistic, string> = {
    median: 'first bin where the CDF reaches 0.5, as intensity in [0, 1]',
    mean: 'expected intensity in [0, 1]',
    mode: 'most likely bin, as intensity in [0, 1]',
    std: 'standard deviation of the intensity',
    entropy: 'entropy of the bin distribution, bits',
  };
  for (const h of heads) {
    const logits = onnxOutputName(h, 'logits');
    const probs = onnxOutputName(h, 'probabilities');
    const axis = layout === 'nchw' ? 1 : 3;
    if (layout === 'nhwc') node('Transpose', [`${logits}/nchw`], logits, [ints('perm', [0, 2, 3, 1])]);
    if (outputs.has('probabilities') || stats.some((st) => st !== 'mode')) node('Softmax', [logits], probs, [int('axis', axis)]);
    if (outputs.has('probabilities')) graphOutputs.push({ name: probs, type: tensorType(outDims), doc_string: `softmax over ${c.bins} intensity bins of head ${h}, ${layout.toUpperCase()}` });
    if (outputs.has('logits')) graphOutputs.push({ name: logits, type: tensorType(outDims), doc_string: `logits over ${c.bins} intensity bins of head ${h}, ${layout.toUpperCase()}` });
    const binIndex = (src: string, out: string) => {
      node('ArgMax', [src], `${out}/index`, [int('axis', 3), int('keepdims', 0)]);
      node('Cast', [`${out}/index`], `${out}/float`, [int('to', FLOAT)]);
      node('Mul', [`${out}/float`, f32([scale])], out);
    };
    const expect = (power: number, out: string) => {
      node('MatMul', [probs, binValues(power)], `${out}/keep`);
      node('Squeeze', [`${out}/keep`, i64([3])], out);
    };
    /** Index of the first bin whose CDF reaches 0.5, as the count of bins whose CDF is below it. */
    const countBelowHalf = (cdf: string, axis: number, out: string, keepdims: number) => {
      node('Less', [cdf, f32([0.5])], `${out}/below`);
      node('Cast', [`${out}/below`], `${out}/below_f`, [int('to', FLOAT)]);
      node('ReduceSum', [`${out}/below_f`, i64([axis])], out, [int('keepdims', keepdims)]);
    };
    /*
     * Median bin in two levels (a CumSum over all 256 bins was a fifth of the network's time):
     *   probs [N,H,W,256] -> groups [N,H,W,16,16] -> coarse CDF over 16 group sums -> group k
     *   -> CDF inside group k, offset by the mass of groups < k -> bin 16k + j.
     */
    const median = (p: string, out: string) => {
      const G = Math.round(Math.sqrt(c.bins));
      if (G * G !== c.bins) {
        node('CumSum', [p, i64([3])], `${out}/cdf`);
        countBelowHalf(`${out}/cdf`, 3, `${out}/bin`, 0);
        node('Mul', [`${out}/bin`, f32([scale])], out);
        return;
      }
      node('Reshape', [p, i64([0, 0, 0, G, G])], `${out}/groups`);
      node('ReduceSum', [`${out}/groups`, i64([4])], `${out}/coarse`, [int('keepdims', 0)]);
      node('CumSum', [`${out}/coarse`, i64([3])], `${out}/ccdf`);
      countBelowHalf(`${out}/ccdf`, 3, `${out}/k_raw`, 1);
      node('Min', [`${out}/k_raw`, f32([G - 1])], `${out}/k_f`);
      node('Cast', [`${out}/k_f`], `${out}/k`, [int('to', INT64)]);
      node('CumSum', [`${out}/coarse`, i64([3])], `${out}/cexcl`, [int('exclusive', 1)]);
      node('GatherElements', [`${out}/cexcl`, `${out}/k`], `${out}/prior`, [int('axis', 3)]);
      node('Unsqueeze', [`${out}/k`, i64([4])], `${out}/k5`);
      node('Expand', [`${out}/k5`, i64([1, 1, 1, 1, G])], `${out}/kidx`);
      node('GatherElements', [`${out}/groups`, `${out}/kidx`], `${out}/fine`, [int('axis', 3)]);
      node('CumSum', [`${out}/fine`, i64([4])], `${out}/fcdf0`);
      node('Unsqueeze', [`${out}/prior`, i64([4])], `${out}/prior5`);
      node('Add', [`${out}/fcdf0`, `${out}/prior5`], `${out}/fcdf`);
      countBelowHalf(`${out}/fcdf`, 4, `${out}/j`, 0);
      node('Squeeze', [`${out}/j`, i64([3])], `${out}/j3`);
      node('Squeeze', [`${out}/k_f`, i64([3])], `${out}/k3`);
      node('Mul', [`${out}/k3`, f32([G])], `${out}/base`);
      node('Add', [`${out}/base`, `${out}/j3`], `${out}/bin_raw`);
      node('Min', [`${out}/bin_raw`, f32([c.bins - 1])], `${out}/bin`);
      node('Mul', [`${out}/bin`, f32([scale])], out);
    };
    for (const st of stats) {
      const out = onnxOutputName(h, st);
      if (st === 'median') median(probs, out);
      else if (st === 'mode') binIndex(logits, out);
      else if (st === 'mean') expect(1, out);
      else if (st === 'std') {
        expect(1, `${out}/m1`);
        expect(2, `${out}/m2`);
        node('Mul', [`${out}/m1`, `${out}/m1`], `${out}/m1sq`);
        node('Sub', [`${out}/m2`, `${out}/m1sq`], `${out}/var`);
        node('Relu', [`${out}/var`], `${out}/var0`);
        node('Sqrt', [`${out}/var0`], out);
      } else {
        node('LogSoftmax', [logits], `${out}/logp`, [int('axis', 3)]);
        node('Mul', [probs, `${out}/logp`], `${out}/plogp`);
        node('ReduceSum', [`${out}/plogp`, i64([3])], `${out}/sum`, [int('keepdims', 0)]);
        node('Mul', [`${out}/sum`, f32([-1 / Math.LN2])], out);
      }
      graphOutputs.push({ name: out, type: tensorType(['N', 'OH', 'OW']), doc_string: `${st} of head ${h}: ${statDoc[st]}` });
    }
  }
  const doc =
    `ISL network (${c.name}). Input "input": float32 [N, ${c.inputChannels}, H, W] NCHW, channels interleaved ` +
    `[image_z, present_z] for ${c.zSlots} z-slots, images in [0, 1]; H, W = ${c.inputSize} + k * ${outputStride(c)}. ` +
    `Outputs per head: ${layout === 'nchw' ? `[N, ${c.bins}, H - ${2 * margin}, W - ${2 * margin}]` : `[N, H - ${2 * margin}, W - ${2 * margin}, ${c.bins}]`} ${[...outputs].join(', ')} (bin b = intensity b / ${c.bins - 1}; statistics are [N, OH, OW]).`;
  const model = {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'insilico-labeling',
    producer_version: '0.1.0',
    doc_string: doc,
    graph: {
      name: `isl_${c.name}`,
      doc_string: doc,
      node: nodes,
      initializer: inits,
      input: [{ name: plan.input, type: tensorType(['N', c.inputChannels, 'H', 'W']), doc_string: 'transmitted-light z-slots and presence masks, NCHW' }],
      output: graphOutputs,
    },
    metadata_props: [
      { key: 'isl.config', value: JSON.stringify(c) },
      { key: 'isl.inputSize', value: String(c.inputSize) },
      { key: 'isl.outputSize', value: String(c.outputWindow) },
      { key: 'isl.stride', value: String(outputStride(c)) },
      { key: 'isl.margin', value: String(margin) },
      { key: 'isl.heads', value: JSON.stringify(heads) },
      { key: 'isl.outputs', value: JSON.stringify([...outputs]) },
      { key: 'isl.layout', value: layout },
    ],
  };
  const err = ModelProto.verify(model);
  if (err) throw new Error(`internal: ONNX model does not match onnx.proto: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Writes {@link exportOnnx}'s model to `path` atomically. */
export async function writeOnnx(path: string, plan: Plan, weights: ReadonlyMap<string, Float32Array>, opts: OnnxExportOptions = {}): Promise<void> {
  await writeFileAtomic(path, exportOnnx(plan, weights, opts));
}

/** One half of `data` (shape `dims`) along `axis` 0 or 1. */
function halfOf(data: Float32Array, dims: number[], axis: 0 | 1, index: 0 | 1): { dims: number[]; data: Float32Array } {
  const h = dims[axis] / 2;
  const inner = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  const outer = dims.slice(0, axis).reduce((a, d) => a * d, 1);
  const out = new Float32Array(outer * h * inner);
  for (let o = 0; o < outer; o++) out.set(data.subarray((o * 2 * h + index * h) * inner, (o * 2 * h + index * h + h) * inner), o * h * inner);
  const nd = [...dims];
  nd[axis] = h;
  return { dims: nd, data: out };
}

function inputsOf(op: PlanOp): string[] {
  if (op.op === 'input') return [];
  if (op.op === 'add' || op.op === 'concat') return op.inputs;
  return [op.input];
}

/**
 * CLI: `npx tsx model/onnx/export.ts --model CHECKPOINT_DIR [--out FILE] [--heads a,b]
 * [--outputs probabilities,median] [--layout nchw|nhwc]` writes the checkpoint's network as ONNX
 * (default CHECKPOINT_DIR/model.onnx).
 */
export async function main(argv = process.argv): Promise<void> {
  const { command, runCli } = await import('../../core/cli.ts');
  const { loadCheckpoint } = await import('../checkpoint.ts');
  const { join } = await import('node:path');
  const list = (v: unknown) => (v === undefined ? undefined : String(v).split(',').map((s) => s.trim()).filter(Boolean));
  const program = command('export', 'Export a trained ISL checkpoint as a standard ONNX model.')
    .requiredOption('--model <dir>', 'checkpoint directory (model.json + weights.bin from pipelines/train.ts)')
    .option('--out <file>', 'output file (default: <model>/model.onnx)')
    .option('--heads <list>', 'heads to export (default: the label heads)')
    .option('--outputs <list>', `per head: probabilities, logits, ${STATISTICS.join(', ')}`, 'probabilities')
    .option('--layout <layout>', 'nchw ([N, 256, H, W], default) or nhwc ([N, H, W, 256]; implied by statistics)');
  await runCli(program, async (o: Record<string, string | undefined>) => {
    const { config, weights } = await loadCheckpoint(o.model!);
    const out = o.out ?? join(o.model!, 'model.onnx');
    await writeOnnx(out, buildPlan(config), weights, { heads: list(o.heads), outputs: list(o.outputs) as OnnxOutput[], layout: o.layout as 'nchw' | 'nhwc' });
    process.stderr.write(`export: wrote ${out}\n`);
  }, argv);
}

if (isMainThread && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
