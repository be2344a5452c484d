/**
 * The one ONNX writer of the project: a small graph builder (nodes, deduplicated constants) and
 * the encoder, protobufjs over `onnx.proto` (the subset of upstream onnx.proto we write, same
 * field numbers), so every model is a standard ONNX file (IR 8, opset 17). The exported network
 * (export.ts), the training graph (../onnxtrain.ts) and the bench's conv kernels (bench/ortkernels.ts)
 * all use it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** ONNX opset every graph targets. */
export const OPSET = 17;
const IR_VERSION = 8;

const PROTO = protobuf.parse(readFileSync(fileURLToPath(new URL('./onnx.proto', import.meta.url)), 'utf8'), { keepCase: true }).root;
/** The ModelProto message type (also decodes other tools' models in model/bioimageio/onnx_graph.ts). */
export const ModelProto = PROTO.lookupType('onnx.ModelProto');

const FLOAT = 1;
const INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

/** A float attribute (plain numbers are int attributes). */
export interface FloatAttr {
  float: number;
}
export const float = (v: number): FloatAttr => ({ float: v });

/** Attribute values: int, ints, string, or {@link float}. */
export type AttrValue = number | number[] | string | FloatAttr;

/** One node; `name` defaults to its first output. */
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  name?: string;
}

/** A graph input or output (float32 unless `type` says int64); dims are numbers or symbolic names. */
export interface OnnxValue {
  name: string;
  dims: (number | string)[];
  type?: 'float32' | 'int64';
  doc?: string;
}

/** A constant tensor stored in the graph. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/** What {@link encodeModel} writes besides nodes, inputs and outputs. */
export interface ModelInfo {
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  initializers?: OnnxTensor[];
  name?: string;
  doc?: string;
  metadata?: Record<string, string>;
}

function attribute(name: string, v: AttrValue) {
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
  if (typeof v === 'number') return { name, type: ATTR.INT, i: v };
  return { name, type: ATTR.FLOAT, f: v.float };
}

function valueInfo(v: OnnxValue) {
  return {
    name: v.name,
    ...(v.doc ? { doc_string: v.doc } : {}),
    type: { tensor_type: { elem_type: v.type === 'int64' ? INT64 : FLOAT, shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  };
}

/** Serialises a graph as an ONNX model. */
export function encodeModel(m: ModelInfo): Uint8Array {
  const model = {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'insilico-labeling',
    producer_version: '0.1.0',
    ...(m.doc ? { doc_string: m.doc } : {}),
    graph: {
      name: m.name ?? 'g',
      ...(m.doc ? { doc_string: m.doc } : {}),
      node: m.nodes.map((n) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? n.outputs[0],
        op_type: n.op,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: (m.initializers ?? []).map((t) => ({
        name: t.name,
        dims: t.dims,
        data_type: t.data instanceof BigInt64Array ? INT64 : FLOAT,
        raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      })),
      input: m.inputs.map(valueInfo),
      output: m.outputs.map(valueInfo),
    },
    metadata_props: Object.entries(m.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const err = ModelProto.verify(model);
  if (err) throw new Error(`internal: ONNX model does not match onnx.proto: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Collects nodes and initializers; constants are stored once per value. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private names = new Set<string>();
  private n = 0;

  /** A fresh tensor name from a hint. */
  fresh(hint: string): string {
    return `${hint}#${this.n++}`;
  }

  /** Adds a node with the given output names (each must be new). */
  add(op: string, inputs: string[], outputs: string[], attrs?: Record<string, AttrValue>): string[] {
    for (const o of outputs) {
      if (this.names.has(o)) throw new Error(`internal: tensor ${o} produced twice`);
      this.names.add(o);
    }
    this.nodes.push({ op, inputs, outputs, ...(attrs ? { attrs } : {}) });
    return outputs;
  }

  /** Adds a one-output node; its output is `out`, or a fresh name from `hint` when `out` is omitted. */
  one(op: string, inputs: string[], hint: string, attrs?: Record<string, AttrValue>, out?: string): string {
    return this.add(op, inputs, [out ?? this.fresh(hint)], attrs)[0];
  }

  /** Whether a tensor named `name` exists. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Stores a constant tensor named `name` once. */
  tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    if (!this.names.has(name)) {
      this.names.add(name);
      this.initializers.push({ name, dims, data });
    }
    return name;
  }

  /** A 1-D int64 constant. */
  ints(values: number[]): string {
    return this.tensor(`c/i64/${values.join('_')}`, [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  /** A 1-D float32 constant. */
  floats(values: number[]): string {
    return this.tensor(`c/f32/${values.join('_')}`, [values.length], Float32Array.from(values));
  }

  /** A float32 scalar constant. */
  scalar(v: number): string {
    return this.tensor(`c/f32s/${v}`, [], Float32Array.of(v));
  }

  slice(x: string, starts: number[], ends: number[], axes: number[], hint: string, out?: string): string {
    return this.one('Slice', [x, this.ints(starts), this.ints(ends), this.ints(axes)], hint, undefined, out);
  }

  pad(x: string, pads: number[], hint: string, mode: 'constant' | 'edge' = 'constant', out?: string): string {
    return this.one('Pad', [x, this.ints(pads)], hint, { mode }, out);
  }

  encode(m: Omit<ModelInfo, 'nodes' | 'initializers'>): Uint8Array {
    return encodeModel({ ...m, nodes: this.nodes, initializers: this.initializers });
  }
}
