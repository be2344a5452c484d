/**
 * Declarative pipeline graphs on Node streams.
 *
 * A pipeline is data: a list of named stages, each naming a registered stage kind, its
 * parameters, and its input (by default the previous enabled stage). `runGraph` validates the
 * whole document before any I/O, then turns it into object-mode Node streams joined with
 * `stream.pipeline`, so backpressure holds and a dump never has to fit in memory.
 *
 *     source ──► map ──► group(key) ──► map ──┬──► sink
 *                                             └──► sink      (fan-out: a tee with backpressure)
 *
 * Stage types:
 * - `source`: yields items (tiles, wells...).
 * - `map`: item -> item, items, or nothing; at most `concurrency` calls in flight, order kept.
 * - `group`: buffers items sharing `key(item)` (input must arrive grouped, e.g. tiles sorted by
 *   well) and flushes each group once complete, so only one group is held at a time. A group
 *   stage with `add(key, item)` consumes each item as it arrives instead (nothing is buffered;
 *   `flush` then gets an empty list), for groups too large to hold.
 * - `sink`: consumes items; `final()` runs after the last one.
 * Errors thrown inside a stage come out as `IslError` naming the stage and the item's file.
 */
import { PassThrough, Readable, Transform, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import YAML from 'yaml';
import { IslError } from '../core/errors.ts';

export const StageSpec = z.object({
  /** Unique, hierarchical name (`stitch/ncc`). */
  name: z.string().regex(/^[A-Za-z0-9_.\-/]+$/, 'stage names use letters, digits and _ . - /'),
  /** A registered stage kind, e.g. `median` (see the registry). */
  kind: z.string().min(1),
  params: z.record(z.string(), z.unknown()).default({}),
  enabled: z.boolean().default(true),
  /** Upstream stage; default: the previous enabled stage in the list. */
  input: z.string().optional(),
  /** Calls in flight at once for `map` stages (bounded, never unbounded). */
  concurrency: z.number().int().min(1).max(64).default(1),
});
export type StageSpec = z.input<typeof StageSpec>;

export const GraphSpec = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  stages: z.array(StageSpec).min(1),
  /** Items buffered between two stages (object-mode highWaterMark). */
  bufferItems: z.number().int().min(1).default(2),
});
export type GraphSpec = z.input<typeof GraphSpec>;

/** What a stage kind's `create` returns. `I`/`O` are the item types in and out. */
export type StageImpl<I = any, O = any> =
  | { type: 'source'; items(): AsyncIterable<O> | Iterable<O> }
  | { type: 'map'; map(item: I): O | O[] | undefined | Promise<O | O[] | undefined> }
  | { type: 'group'; key(item: I): string; add?(key: string, item: I): void | Promise<void>; flush(key: string, items: I[]): AsyncIterable<O> | Iterable<O> | Promise<O[]> }
  | { type: 'sink'; write(item: I): void | Promise<void>; final?(): void | Promise<void> };

/** A registered kind of stage: a versioned id, a parameter schema, and a factory. */
export interface StageKind<P = any, C = any> {
  /** Versioned id `isl:<transform|io|internal>:<kind>:v<N>`, e.g. `isl:transform:salt_and_pepper:v1`. */
  readonly id: string;
  readonly params: z.ZodType<P>;
  /** Builds the stage from validated params and the run's context (paths, shared state). */
  create(params: P, context: C, name: string): StageImpl;
}

export type Registry = ReadonlyMap<string, StageKind>;

/** Builds a registry keyed by short name (and by versioned id). */
export function registry(kinds: Record<string, StageKind>): Registry {
  const m = new Map<string, StageKind>();
  for (const [short, kind] of Object.entries(kinds)) {
    m.set(short, kind);
    m.set(kind.id, kind);
  }
  return m;
}

/** Parses a graph document (YAML or JSON text) into a validated spec. */
export function parseGraph(text: string, file = 'graph'): z.output<typeof GraphSpec> {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new IslError('BAD_OPTION', `cannot parse the pipeline graph: ${(e as Error).message}`, { file });
  }
  return validateGraph(doc, file);
}

/** Validates a graph object: schema, unique names, known kinds, inputs that exist upstream. */
export function validateGraph(doc: unknown, file = 'graph'): z.output<typeof GraphSpec> {
  const r = GraphSpec.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new IslError('BAD_OPTION', `invalid pipeline graph at ${issue.path.join('.') || '(root)'}: ${issue.message}`, { file });
  }
  const seen = new Set<string>();
  for (const s of r.data.stages) {
    if (seen.has(s.name)) throw new IslError('BAD_OPTION', `duplicate stage name "${s.name}": give each stage its own name`, { file });
    seen.add(s.name);
  }
  return r.data;
}

interface Node {
  spec: z.output<typeof StageSpec>;
  impl: StageImpl;
  children: Node[];
}

/**
 * Checks a graph against a registry and builds its stages (validating every stage's params)
 * without starting any I/O. Returns the root source node.
 */
export function planGraph<C>(graph: z.output<typeof GraphSpec>, reg: Registry, context: C, file = 'graph'): Node {
  const enabled = graph.stages.filter((s) => s.enabled);
  if (enabled.length === 0) throw new IslError('BAD_OPTION', 'every stage is disabled: enable at least a source and a sink', { file });
  const nodes = new Map<string, Node>();
  let previous: Node | undefined;
  let root: Node | undefined;
  for (const spec of enabled) {
    const kind = reg.get(spec.kind);
    if (!kind) throw new IslError('BAD_OPTION', `unknown stage kind "${spec.kind}" for stage "${spec.name}"; known kinds: ${[...new Set([...reg.keys()].filter((k) => !k.includes(':')))].sort().join(', ')}`, { file });
    const params = kind.params.safeParse(spec.params);
    if (!params.success) {
      const issue = params.error.issues[0];
      throw new IslError('BAD_OPTION', `invalid params.${issue.path.join('.')} for stage "${spec.name}" (${kind.id}): ${issue.message}`, { file, stage: spec.name });
    }
    const node: Node = { spec, impl: kind.create(params.data, context, spec.name), children: [] };
    if (node.impl.type === 'source') {
      if (root) throw new IslError('BAD_OPTION', `stage "${spec.name}" is a second source; a graph has one source (disable one)`, { file });
      if (spec.input) throw new IslError('BAD_OPTION', `source stage "${spec.name}" cannot have an input`, { file });
      root = node;
    } else {
      const upstreamName = spec.input ?? previous?.spec.name;
      const upstream = upstreamName === undefined ? undefined : nodes.get(upstreamName);
      if (!upstream) {
        const why = upstreamName === undefined ? 'no stage before it' : graph.stages.some((s) => s.name === upstreamName) ? `its input "${upstreamName}" is disabled or comes later` : `its input "${upstreamName}" does not exist`;
        throw new IslError('BAD_OPTION', `stage "${spec.name}" has no upstream: ${why}`, { file });
      }
      if (upstream.impl.type === 'sink') throw new IslError('BAD_OPTION', `stage "${spec.name}" reads from "${upstream.spec.name}", a sink, which emits nothing; set its input`, { file });
      upstream.children.push(node);
    }
    nodes.set(spec.name, node);
    previous = node;
  }
  if (!root) throw new IslError('BAD_OPTION', 'the graph has no enabled source stage', { file });
  for (const n of nodes.values()) {
    if (n.impl.type !== 'sink' && n.children.length === 0) throw new IslError('BAD_OPTION', `stage "${n.spec.name}" feeds nothing: end every branch with a sink`, { file });
  }
  return root;
}

/** Runs a graph to completion. Resolves when every sink has finished; rejects with the first stage error. */
export async function runGraph<C>(doc: GraphSpec | z.output<typeof GraphSpec>, reg: Registry, context: C, file = 'graph'): Promise<void> {
  const graph = validateGraph(doc, file);
  const root = planGraph(graph, reg, context, file);
  const hwm = graph.bufferItems;
  const runs: Promise<void>[] = [];
  const all: (Readable | Writable | Duplex)[] = [];
  const controller = new AbortController();

  // Each branch runs as one stream.pipeline; a node with several children ends its branch in a tee.
  const branch = (head: Readable, node: Node): void => {
    const chain: (Duplex | Writable)[] = [];
    let n: Node = node;
    for (;;) {
      const s = toStream(n, hwm);
      chain.push(s);
      if (n.children.length !== 1) break;
      n = n.children[0];
    }
    if (n.children.length > 1) {
      const outs = n.children.map(() => new PassThrough({ objectMode: true, highWaterMark: hwm }));
      chain.push(tee(outs, hwm));
      outs.forEach((o, i) => branch(o, n.children[i]));
    }
    all.push(head, ...chain);
    runs.push(pipeline([head, ...chain] as unknown as [Readable, Writable], { signal: controller.signal }));
  };

  const src = root.impl as Extract<StageImpl, { type: 'source' }>;
  const head = Readable.from(guardIterable(root.spec.name, src.items()), { objectMode: true, highWaterMark: hwm });
  if (root.children.length === 1) branch(head, root.children[0]);
  else {
    const outs = root.children.map(() => new PassThrough({ objectMode: true, highWaterMark: hwm }));
    all.push(head);
    runs.push(pipeline(head, tee(outs, hwm), { signal: controller.signal }));
    outs.forEach((o, i) => branch(o, root.children[i]));
  }

  const results = await Promise.allSettled(runs.map((p) => p.catch((e) => { controller.abort(e); throw e; })));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !isAbort(r.reason));
  if (failure) throw failure.reason;
  const aborted = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (aborted) throw controller.signal.reason ?? aborted.reason;
}

function isAbort(e: unknown): boolean {
  return (e as Error)?.name === 'AbortError';
}

/** The file an item came from, for error messages: `path`, `file`, or a tile's plane path. */
function fileOf(item: unknown): string | undefined {
  if (item && typeof item === 'object') {
    const o = item as Record<string, unknown>;
    for (const k of ['path', 'file']) if (typeof o[k] === 'string') return o[k] as string;
  }
  return undefined;
}

function wellOf(item: unknown): string | undefined {
  const w = (item as Record<string, unknown> | undefined)?.well;
  return typeof w === 'string' ? w : undefined;
}

/** Wraps an error from inside a stage so it names the stage and the file. */
export function stageError(stage: string, item: unknown, e: unknown): IslError {
  if (e instanceof IslError && e.stage) return e;
  const file = (e instanceof IslError && e.file) || fileOf(item);
  const code = e instanceof IslError ? e.code : 'STAGE_FAILED';
  const inner = e instanceof IslError ? e.message.replace(e.file ? `${e.file}: ` : '', '') : (e as Error)?.message ?? String(e);
  return new IslError(code, inner, { stage, file, well: (e as IslError)?.well ?? wellOf(item), cause: e });
}

async function* guardIterable<T>(stage: string, it: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  try {
    yield* it as AsyncIterable<T>;
  } catch (e) {
    throw stageError(stage, undefined, e);
  }
}

function toStream(node: Node, hwm: number): Duplex | Writable {
  const { impl, spec } = node;
  const name = spec.name;
  switch (impl.type) {
    case 'map':
      return mapStream(name, impl.map.bind(impl), spec.concurrency, hwm);
    case 'group':
      return groupStream(name, impl, hwm);
    case 'sink':
      return new Writable({
        objectMode: true,
        highWaterMark: hwm,
        write(item, _enc, cb) {
          Promise.resolve()
            .then(() => impl.write(item))
            .then(() => cb(), (e) => cb(stageError(name, item, e)));
        },
        final(cb) {
          Promise.resolve()
            .then(() => impl.final?.())
            .then(() => cb(), (e) => cb(stageError(name, undefined, e)));
        },
      });
    case 'source':
      throw new IslError('BAD_OPTION', `source stage "${name}" can only be first`);
  }
}

/** An order-keeping map with at most `concurrency` calls in flight. */
function mapStream(name: string, fn: (item: any) => unknown, concurrency: number, hwm: number): Transform {
  const inflight: Promise<unknown>[] = [];
  let t: Transform;
  const emit = (out: unknown) => {
    if (out === undefined) return;
    if (Array.isArray(out)) for (const o of out) t.push(o);
    else t.push(out);
  };
  t = new Transform({
    objectMode: true,
    highWaterMark: hwm,
    transform(item, _enc, cb) {
      const p = Promise.resolve().then(() => fn(item)).catch((e) => { throw stageError(name, item, e); });
      p.catch(() => undefined); // handled when drained below; avoid an unhandled rejection meanwhile
      inflight.push(p);
      if (inflight.length < concurrency) return cb();
      inflight.shift()!.then((out) => { emit(out); cb(); }, cb);
    },
    flush(cb) {
      (async () => {
        while (inflight.length) emit(await inflight.shift()!);
      })().then(() => cb(), cb);
    },
  });
  return t;
}

/** Buffers one group at a time; a key that reappears after its group was flushed is an error. */
function groupStream(name: string, impl: Extract<StageImpl, { type: 'group' }>, hwm: number): Transform {
  let key: string | undefined;
  let items: unknown[] = [];
  const done = new Set<string>();
  let t: Transform;
  const flushGroup = async () => {
    if (key === undefined) return;
    const k = key;
    const batch = items;
    key = undefined;
    items = [];
    done.add(k);
    try {
      const out = await impl.flush(k, batch);
      for await (const o of out as AsyncIterable<unknown>) t.push(o);
    } catch (e) {
      throw stageError(name, batch[0], e);
    }
  };
  t = new Transform({
    objectMode: true,
    highWaterMark: hwm,
    transform(item, _enc, cb) {
      let k: string;
      try {
        k = impl.key(item);
      } catch (e) {
        return cb(stageError(name, item, e));
      }
      const take = () => (impl.add ? Promise.resolve(impl.add(k, item)).catch((e) => { throw stageError(name, item, e); }) : void items.push(item));
      if (k === key) {
        Promise.resolve().then(take).then(() => cb(), cb);
        return;
      }
      if (done.has(k)) return cb(stageError(name, item, new Error(`group "${k}" arrived again after it was complete: sort the input by this stage's group key`)));
      flushGroup().then(() => { key = k; return take(); }).then(() => cb(), cb);
    },
    flush(cb) {
      flushGroup().then(() => cb(), cb);
    },
  });
  return t;
}

/** Writes every item to each output, waiting for the slowest (backpressure holds on all branches). */
function tee(outs: PassThrough[], hwm: number): Writable {
  const drained = (o: PassThrough) => new Promise<void>((res) => o.once('drain', res));
  return new Writable({
    objectMode: true,
    highWaterMark: hwm,
    write(item, _enc, cb) {
      const waits = outs.map((o) => (o.write(item) ? undefined : drained(o))).filter(Boolean);
      if (waits.length === 0) cb();
      else Promise.all(waits).then(() => cb(), cb);
    },
    final(cb) {
      for (const o of outs) o.end();
      cb();
    },
    destroy(err, cb) {
      // autoDestroy also calls this after a normal finish: only an error may tear the branches down.
      if (err) for (const o of outs) o.destroy(err);
      cb(err);
    },
  });
}
