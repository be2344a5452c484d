/**
 * A minimal ONNX protobuf writer for the small single-purpose graphs the fast conv kernels run
 * (model/ortkernels.ts): nodes with int/ints attributes, float inputs with symbolic or fixed dims.
 * Field numbers from onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, ValueInfoProto).
 */

class Writer {
  private parts: number[] = [];
  varint(v: number): this {
    // int64 fields: negative values need ten bytes of two's complement.
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.parts.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.parts.push(Number(n));
    return this;
  }
  fixed32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.parts.push(x);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** An ONNX node: op type, input/output names, int or ints attributes. */
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** int, ints or string attributes (numbers are ints; use `floats` for float attributes). */
  attrs?: Record<string, number | number[] | string>;
  floats?: Record<string, number>;
}

/** A constant tensor stored in the graph: int64 or float32 values with dims. */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  type: 'int64' | 'float32';
  values: number[];
}

/** A graph input or output (float32 unless `type` says int64); dims are numbers or symbolic names. */
export interface OnnxValue {
  name: string;
  dims: (number | string)[];
  type?: 'float32' | 'int64';
}

function valueInfo(v: OnnxValue): Writer {
  const shape = new Writer();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, v.type === 'int64' ? 7 : 1).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

/** Serialises a float32 graph as an ONNX model (IR 8, default opset 17). */
export function onnxModel(nodes: OnnxNode[], inputs: OnnxValue[], outputs: OnnxValue[], initializers: OnnxInitializer[] = []): Uint8Array {
  const graph = new Writer();
  nodes.forEach((n, i) => {
    const node = new Writer();
    for (const s of n.inputs) node.string(1, s);
    for (const s of n.outputs) node.string(2, s);
    node.string(3, `n${i}`).string(4, n.op);
    for (const [name, v] of Object.entries(n.attrs ?? {})) {
      const a = new Writer().string(1, name);
      if (typeof v === 'string') {
        a.string(4, v).int(20, 3);
      } else if (Array.isArray(v)) {
        for (const x of v) a.int(8, x);
        a.int(20, 7);
      } else {
        a.int(3, v).int(20, 2);
      }
      node.message(5, a);
    }
    for (const [name, v] of Object.entries(n.floats ?? {})) {
      const a = new Writer().string(1, name).tag(2, 5);
      a.fixed32(v).int(20, 1);
      node.message(5, a);
    }
    graph.message(1, node);
  });
  graph.string(2, 'g');
  for (const t of initializers) {
    const w = new Writer();
    for (const d of t.dims) w.int(1, d);
    w.int(2, t.type === 'int64' ? 7 : 1).string(8, t.name);
    const raw = t.type === 'int64' ? new Uint8Array(BigInt64Array.from(t.values.map((x) => BigInt(x))).buffer) : new Uint8Array(Float32Array.from(t.values).buffer);
    w.bytes(9, raw);
    graph.message(5, w);
  }
  for (const v of inputs) graph.message(11, valueInfo(v));
  for (const v of outputs) graph.message(12, valueInfo(v));
  return new Writer().int(1, 8).string(2, 'insilico-labeling').message(7, graph).message(8, new Writer().string(1, '').int(2, 17)).finish();
}
