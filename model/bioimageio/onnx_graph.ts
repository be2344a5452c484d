/**
 * Rewrites of whole ONNX models for bioimage.io packages (decoded and re-encoded with the
 * ModelProto of model/onnx/graph.ts; its onnx.proto keeps subgraphs, functions and every tensor
 * data field, so another tool's model survives the round trip):
 *
 * - {@link withSlotInput}: our exported network takes `[N, 2Z, H, W]` with image and presence
 *   channels interleaved; a package's users have only the z-slots. One 1x1 Conv with a 0/1 filter
 *   and bias puts each slot at channel 2s and a constant 1 at 2s + 1 (exact: 1 * x + 0 * others):
 *
 *       transmitted [N, Z, H, W] ─ Conv 1x1 ─► input [N, 2Z, H, W] ─ network ─► median/DAPI [N, OH, OW]
 *                                                                         ─ Unsqueeze ─► dapi_median [N, 1, OH, OW]
 *
 * - {@link wrapForTiling}: any package's network in the form model/onnx/infer.ts tiles: the
 *   interleaved input, outputs `<statistic>/<head>` of shape `[N, OH, OW]` already cropped to
 *   their valid part (halo removed). The package graph's names get a `pkg/` prefix so ours
 *   cannot collide with them:
 *
 *       input [N, 2C, H, W] ─ Conv 1x1 (keep channels 0, 2, ...) ─► pkg/<input> ─ package graph ─► pkg/<output>
 *          [─ Sigmoid] ─ Slice (halo) ─ Gather(channel k) ─► mean/<head k> [N, OH, OW]
 */
import { badInput, IslError } from '../../core/errors.ts';
import { ModelProto } from '../onnx/graph.ts';

const FLOAT = 1;
const INT64 = 7;
const ATTR_INTS = 7;
const ATTR_INT = 2;

/* Loosely typed views of the decoded protobuf messages (only the fields used here). */
interface Attribute {
  name: string;
  g?: Graph | null;
  graphs?: Graph[];
  [k: string]: unknown;
}
interface Node {
  input: string[];
  output: string[];
  name?: string;
  op_type: string;
  attribute?: Attribute[];
  [k: string]: unknown;
}
interface ValueInfo {
  name: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: unknown; dim_param?: string }[] } } } | null;
}
interface Tensor {
  name: string;
  data_location?: number;
  external_data?: unknown[];
  [k: string]: unknown;
}
interface Graph {
  node: Node[];
  initializer: Tensor[];
  input: ValueInfo[];
  output: ValueInfo[];
  value_info: ValueInfo[];
  [k: string]: unknown;
}
interface Model {
  opset_import: { domain?: string; version?: unknown }[];
  graph?: Graph | null;
  [k: string]: unknown;
}

/** Decodes an ONNX model. @throws IslError BAD_INPUT naming `file` when the bytes are not an ONNX model or keep weights outside it. */
export function decodeOnnx(bytes: Uint8Array, file: string): Model {
  let model: Model;
  try {
    model = ModelProto.toObject(ModelProto.decode(bytes), { arrays: true, defaults: false }) as Model;
  } catch (e) {
    throw badInput(file, `is not an ONNX model (${(e as Error).message})`, undefined, e);
  }
  if (!model.graph) throw badInput(file, 'is not an ONNX model (no graph)');
  const g = model.graph;
  for (const k of ['node', 'initializer', 'input', 'output', 'value_info'] as const) g[k] ??= [];
  if (g.initializer.some((t) => t.data_location === 1 || (t.external_data?.length ?? 0) > 0)) throw badInput(file, 'keeps its weights in external data files; predict reads self-contained ONNX models only');
  return model;
}

export function encodeOnnx(model: Model): Uint8Array {
  const err = ModelProto.verify(model);
  if (err) throw new Error(`internal: rewritten ONNX model does not match onnx.proto: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Version of the default (ai.onnx) operator set the model imports. */
export function defaultOpset(model: Model): number {
  const v = model.opset_import.find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  return Number(v ?? 0);
}

/** Inputs of the graph that are fed at run time (older exporters also list initializers as inputs). */
export function runtimeInputs(model: Model): ValueInfo[] {
  const inits = new Set(model.graph!.initializer.map((t) => t.name));
  return model.graph!.input.filter((v) => !inits.has(v.name));
}

function valueInfo(name: string, dims: (number | string)[]): ValueInfo {
  return { name, type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } } };
}

function floats(name: string, dims: number[], values: Float32Array): Tensor {
  return { name, dims, data_type: FLOAT, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

function int64s(name: string, dims: number[], values: number[]): Tensor {
  const v = BigInt64Array.from(values.map(BigInt));
  return { name, dims, data_type: INT64, raw_data: new Uint8Array(v.buffer) };
}

const ints = (name: string, v: number[]): Attribute => ({ name, type: ATTR_INTS, ints: v });
const int = (name: string, v: number): Attribute => ({ name, type: ATTR_INT, i: v });

/** Every value name the graph (and its subgraphs) defines or uses. */
function namesOf(g: Graph, into = new Set<string>()): Set<string> {
  for (const v of [...g.input, ...g.output, ...g.value_info]) into.add(v.name);
  for (const t of g.initializer) into.add(t.name);
  for (const n of g.node) {
    for (const s of [...n.input, ...n.output]) into.add(s);
    for (const a of n.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) namesOf(sub, into);
  }
  return into;
}

/** Prefixes every value and node name of `g` and its subgraphs (consistently, so outer-scope references stay valid). */
function prefixGraph(g: Graph, prefix: string): void {
  const p = (s: string) => (s === '' ? s : prefix + s);
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) v.name = p(v.name);
  for (const t of g.initializer ?? []) t.name = p(t.name);
  for (const n of g.node ?? []) {
    n.input = n.input.map(p);
    n.output = n.output.map(p);
    if (n.name) n.name = p(n.name);
    for (const a of n.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) prefixGraph(sub, prefix);
  }
}

/** One output of our network to expose in the package: graph output `from` (`[N, OH, OW]`) as `[N, 1, OH, OW]` named `id`. */
export interface SlotOutput {
  readonly from: string;
  readonly id: string;
}

/**
 * Our exported network (model/onnx/export.ts: input `input` `[N, 2 * zSlots, H, W]`, statistics
 * `[N, OH, OW]`) with the z-slots alone as input `inputId` and each listed output as `[N, 1, OH, OW]`.
 */
export function withSlotInput(bytes: Uint8Array, zSlots: number, inputId: string, outputs: readonly SlotOutput[]): Uint8Array {
  const model = decodeOnnx(bytes, 'exported network');
  const g = model.graph!;
  const [input] = runtimeInputs(model);
  const taken = namesOf(g);
  for (const n of [inputId, 'isl/slots/filter', 'isl/slots/bias', 'isl/axis1', ...outputs.map((o) => o.id)]) if (taken.has(n)) throw new Error(`internal: the exported network already has a value named ${n}`);
  const filter = new Float32Array(2 * zSlots * zSlots);
  const bias = new Float32Array(2 * zSlots);
  for (let s = 0; s < zSlots; s++) {
    filter[2 * s * zSlots + s] = 1; // out channel 2s <- slot s
    bias[2 * s + 1] = 1; // out channel 2s + 1: presence
  }
  g.initializer.push(floats('isl/slots/filter', [2 * zSlots, zSlots, 1, 1], filter), floats('isl/slots/bias', [2 * zSlots], bias), int64s('isl/axis1', [1], [1]));
  g.node.unshift({ op_type: 'Conv', name: 'isl/slots', input: [inputId, 'isl/slots/filter', 'isl/slots/bias'], output: [input.name], attribute: [ints('kernel_shape', [1, 1])] });
  for (const o of outputs) g.node.push({ op_type: 'Unsqueeze', name: `isl/${o.id}`, input: [o.from, 'isl/axis1'], output: [o.id] });
  g.input = [valueInfo(inputId, ['N', zSlots, 'H', 'W'])];
  g.output = outputs.map((o) => valueInfo(o.id, ['N', 1, 'OH', 'OW']));
  return encodeOnnx(model);
}

/** How {@link wrapForTiling} exposes one graph output of a package. */
export interface TiledOutput {
  /** Position among the graph's outputs (bioimage.io lists outputs in graph order). */
  readonly index: number;
  /** Whether the output has a channel axis (axis 1); without one it is `[N, H, W]`. */
  readonly channelAxis: boolean;
  /** Name of the wrapped output of each channel (one entry without a channel axis). */
  readonly names: readonly string[];
  /** Apply a sigmoid (the package's postprocessing) before cropping. */
  readonly sigmoid: boolean;
  /** Px removed from each side of the output (its halo). */
  readonly crop: number;
}

/**
 * The package's network in the form model/onnx/infer.ts tiles (see the module comment).
 * @param channels the package input's channel count C (the wrapped input has 2C, interleaved with presence channels, which are dropped).
 * @throws IslError BAD_INPUT naming `file` for a model predict cannot rewrite (several inputs, a non-float input, an opset before 11, fewer outputs than described).
 */
export function wrapForTiling(bytes: Uint8Array, file: string, channels: number, outputs: readonly TiledOutput[]): Uint8Array {
  const model = decodeOnnx(bytes, file);
  const opset = defaultOpset(model);
  if (opset < 11) throw badInput(file, `imports ONNX opset ${opset}; predict needs opset 11 or later`);
  const inputs = runtimeInputs(model);
  if (inputs.length !== 1) throw badInput(file, `has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); predict feeds models with one input`);
  const elem = inputs[0].type?.tensor_type?.elem_type;
  if (elem !== FLOAT) throw badInput(file, `input ${inputs[0].name} has ONNX element type ${elem}; predict feeds float32 only`);
  const g = model.graph!;
  for (const o of outputs) if (o.index >= g.output.length) throw badInput(file, `has ${g.output.length} outputs but the description lists at least ${o.index + 1}`);
  prefixGraph(g, 'pkg/');
  const inner = inputs[0].name; // prefixed in place
  const pick = new Float32Array(channels * 2 * channels);
  for (let c = 0; c < channels; c++) pick[c * 2 * channels + 2 * c] = 1;
  g.initializer.push(floats('isl/pick', [channels, 2 * channels, 1, 1], pick));
  g.node.unshift({ op_type: 'Conv', name: 'isl/pick', input: ['input', 'isl/pick'], output: [inner], attribute: [ints('kernel_shape', [1, 1])] });
  const wrapped: ValueInfo[] = [];
  for (const o of outputs) {
    let t = g.output[o.index].name;
    if (o.sigmoid) {
      g.node.push({ op_type: 'Sigmoid', name: `${t}/isl_sigmoid`, input: [t], output: [`${t}/isl_sigmoid`] });
      t = `${t}/isl_sigmoid`;
    }
    const { crop } = o;
    if (crop > 0) {
      const yAxis = o.channelAxis ? 2 : 1;
      const k = `isl/crop/${o.index}`;
      g.initializer.push(int64s(`${k}/starts`, [2], [crop, crop]), int64s(`${k}/ends`, [2], [-crop, -crop]), int64s(`${k}/axes`, [2], [yAxis, yAxis + 1]));
      g.node.push({ op_type: 'Slice', name: k, input: [t, `${k}/starts`, `${k}/ends`, `${k}/axes`], output: [k] });
      t = k;
    }
    o.names.forEach((name, c) => {
      if (o.channelAxis) {
        g.initializer.push(int64s(`isl/channel/${o.index}/${c}`, [], [c]));
        g.node.push({ op_type: 'Gather', name, input: [t, `isl/channel/${o.index}/${c}`], output: [name], attribute: [int('axis', 1)] });
      } else g.node.push({ op_type: 'Identity', name, input: [t], output: [name] });
      wrapped.push(valueInfo(name, ['N', 'OH', 'OW']));
    });
  }
  g.input = [valueInfo('input', ['N', 2 * channels, 'H', 'W'])];
  g.output = wrapped;
  try {
    return encodeOnnx(model);
  } catch (e) {
    throw new IslError('BAD_INPUT', `cannot rewrite the ONNX model for tiling: ${(e as Error).message}`, { file, cause: e });
  }
}
