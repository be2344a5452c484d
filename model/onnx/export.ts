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
import { badOption, IslError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { outputStride, type Plan } from '../plan.ts';
import { GraphBuilder, OPSET, type AttrValue, type OnnxValue } from './graph.ts';
import { dependencies, lowerForward, type WeightForm } from './lower.ts';

export { OPSET };

/** ONNX TensorProto data types (Cast targets). */
const FLOAT = 1;
const INT64 = 7;

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

  if (layout === 'nhwc' && opts.layout === 'nchw') throw badOption('layout', 'nhwc (statistics need the bins last) or no layout', 'nchw');

  // In NHWC layout the head conv's NCHW result is an internal tensor, transposed into the output.
  const rename = new Map(heads.map((h) => [known.get(h)!.output, onnxOutputName(h, 'logits') + (layout === 'nhwc' ? '/nchw' : '')]));
  const g = new GraphBuilder();
  const specs = new Map(plan.weights.map((w) => [w.name, w]));
  const weight = (wname: string, form: WeightForm): string => {
    const spec = specs.get(wname);
    const v = weights.get(wname);
    if (!spec) throw new IslError('BAD_INPUT', `the plan has no weight ${wname}`);
    const n = spec.shape.reduce((a, d) => a * d, 1);
    if (!v) throw new IslError('BAD_INPUT', `weight ${wname} is missing (needed for the exported heads)`, { file: wname });
    if (v.length !== n) throw new IslError('BAD_INPUT', `weight ${wname} has ${v.length} values; shape [${spec.shape.join(', ')}] needs ${n}`, { file: wname });
    const name = `w/${wname}` + (form.startsWith('filter/') ? `/${form.slice('filter/'.length)}` : '');
    if (g.has(name)) return name;
    if (form === 'plan') return g.tensor(name, spec.shape, v);
    const [a, b, c, d] = spec.shape;
    const data = permute3201(v, spec.shape);
    if (form === 'filter') return g.tensor(name, [d, c, a, b], data);
    // The halves along the filter's input channels: axis 1 of a Conv's OIHW, 0 of a ConvTranspose's IOHW.
    const op = plan.ops.find((o) => (o.op === 'conv' || o.op === 'conv_transpose') && o.filter === wname)!;
    const half = halfOf(data, [d, c, a, b], op.op === 'conv' ? 1 : 0, form === 'filter/half0' ? 0 : 1);
    return g.tensor(name, half.dims, half.data);
  };
  lowerForward(g, plan, { mode: 'infer', weight, needed: dependencies(plan, heads.map((h) => known.get(h)!.output)), rename, splitActivations: opts.splitActivations ?? true });

  const node = (op: string, inputs: string[], output: string, attrs?: Record<string, AttrValue>) => {
    g.one(op, inputs, '', attrs, output);
  };
  const i64 = (values: number[]) => g.ints(values);
  const f32 = (values: number[]) => g.floats(values);

  const c = plan.config;
  const margin = (c.inputSize - c.outputWindow) / 2;
  const graphOutputs: OnnxValue[] = [];
  const outDims = layout === 'nchw' ? ['N', c.bins, 'OH', 'OW'] : ['N', 'OH', 'OW', c.bins];
  const scale = 1 / (c.bins - 1);
  const binValues = (power: number) => {
    const n = `c/bins_pow${power}`;
    return g.has(n) ? n : g.tensor(n, [c.bins, 1], Float32Array.from({ length: c.bins }, (_, b) => (b * scale) ** power));
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
    if (layout === 'nhwc') node('Transpose', [`${logits}/nchw`], logits, { perm: [0, 2, 3, 1] });
    if (outputs.has('probabilities') || stats.some((st) => st !== 'mode')) node('Softmax', [logits], probs, { axis: axis });
    if (outputs.has('probabilities')) graphOutputs.push({ name: probs, dims: outDims, doc: `softmax over ${c.bins} intensity bins of head ${h}, ${layout.toUpperCase()}` });
    if (outputs.has('logits')) graphOutputs.push({ name: logits, dims: outDims, doc: `logits over ${c.bins} intensity bins of head ${h}, ${layout.toUpperCase()}` });
    const binIndex = (src: string, out: string) => {
      node('ArgMax', [src], `${out}/index`, { axis: 3, keepdims: 0 });
      node('Cast', [`${out}/index`], `${out}/float`, { to: FLOAT });
      node('Mul', [`${out}/float`, f32([scale])], out);
    };
    const expect = (power: number, out: string) => {
      node('MatMul', [probs, binValues(power)], `${out}/keep`);
      node('Squeeze', [`${out}/keep`, i64([3])], out);
    };
    /** Index of the first bin whose CDF reaches 0.5, as the count of bins whose CDF is below it. */
    const countBelowHalf = (cdf: string, axis: number, out: string, keepdims: number) => {
      node('Less', [cdf, f32([0.5])], `${out}/below`);
      node('Cast', [`${out}/below`], `${out}/below_f`, { to: FLOAT });
      node('ReduceSum', [`${out}/below_f`, i64([axis])], out, { keepdims: keepdims });
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
      node('ReduceSum', [`${out}/groups`, i64([4])], `${out}/coarse`, { keepdims: 0 });
      node('CumSum', [`${out}/coarse`, i64([3])], `${out}/ccdf`);
      countBelowHalf(`${out}/ccdf`, 3, `${out}/k_raw`, 1);
      node('Min', [`${out}/k_raw`, f32([G - 1])], `${out}/k_f`);
      node('Cast', [`${out}/k_f`], `${out}/k`, { to: INT64 });
      node('CumSum', [`${out}/coarse`, i64([3])], `${out}/cexcl`, { exclusive: 1 });
      node('GatherElements', [`${out}/cexcl`, `${out}/k`], `${out}/prior`, { axis: 3 });
      node('Unsqueeze', [`${out}/k`, i64([4])], `${out}/k5`);
      node('Expand', [`${out}/k5`, i64([1, 1, 1, 1, G])], `${out}/kidx`);
      node('GatherElements', [`${out}/groups`, `${out}/kidx`], `${out}/fine`, { axis: 3 });
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
        node('LogSoftmax', [logits], `${out}/logp`, { axis: 3 });
        node('Mul', [probs, `${out}/logp`], `${out}/plogp`);
        node('ReduceSum', [`${out}/plogp`, i64([3])], `${out}/sum`, { keepdims: 0 });
        node('Mul', [`${out}/sum`, f32([-1 / Math.LN2])], out);
      }
      graphOutputs.push({ name: out, dims: ['N', 'OH', 'OW'], doc: `${st} of head ${h}: ${statDoc[st]}` });
    }
  }
  const doc =
    `ISL network (${c.name}). Input "input": float32 [N, ${c.inputChannels}, H, W] NCHW, channels interleaved ` +
    `[image_z, present_z] for ${c.zSlots} z-slots, images in [0, 1]; H, W = ${c.inputSize} + k * ${outputStride(c)}. ` +
    `Outputs per head: ${layout === 'nchw' ? `[N, ${c.bins}, H - ${2 * margin}, W - ${2 * margin}]` : `[N, H - ${2 * margin}, W - ${2 * margin}, ${c.bins}]`} ${[...outputs].join(', ')} (bin b = intensity b / ${c.bins - 1}; statistics are [N, OH, OW]).`;
  return g.encode({
    name: `isl_${c.name}`,
    doc,
    inputs: [{ name: plan.input, dims: ['N', c.inputChannels, 'H', 'W'], doc: 'transmitted-light z-slots and presence masks, NCHW' }],
    outputs: graphOutputs,
    metadata: {
      'isl.config': JSON.stringify(c),
      'isl.inputSize': String(c.inputSize),
      'isl.outputSize': String(c.outputWindow),
      'isl.stride': String(outputStride(c)),
      'isl.margin': String(margin),
      'isl.heads': JSON.stringify(heads),
      'isl.outputs': JSON.stringify([...outputs]),
      'isl.layout': layout,
    },
  });
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
