/**
 * A minimal, independent Arrow IPC *file* walker for tests (no apache-arrow): follows the
 * encapsulated-message framing and the Message / Schema / RecordBatch flatbuffers of
 * format/Message.fbs and Schema.fbs, so shards are checked against the spec rather than against
 * the library that wrote them.
 */

/** Flatbuffer table accessor over a DataView. */
class Table {
  constructor(readonly v: DataView, readonly pos: number) {}
  static root(v: DataView, at: number): Table {
    return new Table(v, at + v.getUint32(at, true));
  }
  private field(i: number): number {
    const vt = this.pos - this.v.getInt32(this.pos, true);
    const vtSize = this.v.getUint16(vt, true);
    if (4 + 2 * i >= vtSize) return 0;
    const off = this.v.getUint16(vt + 4 + 2 * i, true);
    return off ? this.pos + off : 0;
  }
  has(i: number): boolean {
    return this.field(i) !== 0;
  }
  u8(i: number, dflt = 0): number {
    const p = this.field(i);
    return p ? this.v.getUint8(p) : dflt;
  }
  i64(i: number): number {
    const p = this.field(i);
    return p ? Number(this.v.getBigInt64(p, true)) : 0;
  }
  table(i: number): Table | undefined {
    const p = this.field(i);
    return p ? new Table(this.v, p + this.v.getUint32(p, true)) : undefined;
  }
  string(i: number): string | undefined {
    const p = this.field(i);
    if (!p) return undefined;
    const s = p + this.v.getUint32(p, true);
    return new TextDecoder().decode(new Uint8Array(this.v.buffer, this.v.byteOffset + s + 4, this.v.getUint32(s, true)));
  }
  /** Vector start and length. */
  vector(i: number): { start: number; length: number } {
    const p = this.field(i);
    if (!p) return { start: 0, length: 0 };
    const s = p + this.v.getUint32(p, true);
    return { start: s + 4, length: this.v.getUint32(s, true) };
  }
  tables(i: number): Table[] {
    const { start, length } = this.vector(i);
    return Array.from({ length }, (_, k) => {
      const e = start + 4 * k;
      return new Table(this.v, e + this.v.getUint32(e, true));
    });
  }
}

export interface IpcBatch {
  length: number;
  compressed: boolean;
  nodes: { length: number; nullCount: number }[];
  /** Absolute byte ranges of the body buffers in the file. */
  buffers: { offset: number; length: number }[];
}

export interface IpcFile {
  fields: { name: string; nullable: boolean; typeType: number }[];
  metadata: Map<string, string>;
  batches: IpcBatch[];
}

const MESSAGE_SCHEMA = 1;
const MESSAGE_RECORD_BATCH = 3;

/** Walks an Arrow IPC file. @throws Error on any framing or magic violation. */
export function walkIpcFile(bytes: Uint8Array): IpcFile {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = (at: number) => new TextDecoder().decode(bytes.subarray(at, at + 6));
  if (magic(0) !== 'ARROW1' || magic(bytes.length - 6) !== 'ARROW1') throw new Error('missing ARROW1 magic at start or end');
  const footerLength = v.getInt32(bytes.length - 10, true);
  const footerStart = bytes.length - 10 - footerLength;
  const out: IpcFile = { fields: [], metadata: new Map(), batches: [] };
  // Footer { version, schema, dictionaries, recordBatches: [Block {offset, metaDataLength, bodyLength}] }.
  const footer = Table.root(v, footerStart);
  readSchema(footer.table(1)!, out);
  const blocks = footer.vector(3);
  const blockOffsets = Array.from({ length: blocks.length }, (_, k) => Number(v.getBigInt64(blocks.start + 24 * k, true)));
  const seen: number[] = [];
  let pos = 8;
  while (pos < footerStart) {
    if (v.getUint32(pos, true) !== 0xffffffff) throw new Error(`no continuation marker at byte ${pos}`);
    const metaLength = v.getInt32(pos + 4, true);
    if (metaLength === 0) break; // end-of-stream marker
    const message = Table.root(v, pos + 8);
    const bodyStart = pos + 8 + metaLength;
    const bodyLength = message.i64(3);
    const headerType = message.u8(1);
    const header = message.table(2)!;
    if (headerType === MESSAGE_SCHEMA) {
      // The stream schema is optional in a file (apache-arrow writes it only in the footer).
    } else if (headerType === MESSAGE_RECORD_BATCH) {
      seen.push(pos);
      const nodes = header.vector(1);
      const buffers = header.vector(2);
      out.batches.push({
        length: header.i64(0),
        compressed: header.has(3),
        nodes: Array.from({ length: nodes.length }, (_, k) => ({
          length: Number(v.getBigInt64(nodes.start + 16 * k, true)),
          nullCount: Number(v.getBigInt64(nodes.start + 16 * k + 8, true)),
        })),
        buffers: Array.from({ length: buffers.length }, (_, k) => ({
          offset: bodyStart + Number(v.getBigInt64(buffers.start + 16 * k, true)),
          length: Number(v.getBigInt64(buffers.start + 16 * k + 8, true)),
        })),
      });
    } else {
      throw new Error(`unexpected message type ${headerType} at byte ${pos}`);
    }
    pos = bodyStart + bodyLength;
  }
  if (seen.join() !== blockOffsets.join()) throw new Error(`footer blocks [${blockOffsets}] do not match the record batch messages at [${seen}]`);
  return out;
}

function readSchema(schema: Table, out: IpcFile): void {
  // Schema { endianness, fields: [Field { name, nullable, type_type, ... }], custom_metadata: [KeyValue { key, value }] }.
  out.fields = schema.tables(1).map((f) => ({ name: f.string(0)!, nullable: f.u8(1) === 1, typeType: f.u8(2) }));
  for (const kv of schema.tables(2)) out.metadata.set(kv.string(0)!, kv.string(1)!);
}

/** Value i of a variable-width column whose offsets and data buffers are given (no null check). */
export function binaryValue(bytes: Uint8Array, batch: IpcBatch, offsetsBuffer: number, i: number): Uint8Array {
  const off = batch.buffers[offsetsBuffer];
  const data = batch.buffers[offsetsBuffer + 1];
  const v = new DataView(bytes.buffer, bytes.byteOffset + off.offset, off.length);
  const a = v.getInt32(4 * i, true);
  const b = v.getInt32(4 * i + 4, true);
  return bytes.subarray(data.offset + a, data.offset + b);
}
