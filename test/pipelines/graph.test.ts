import test from 'ava';
import { z } from 'zod';
import { parseGraph, registry, runGraph, type StageKind } from '../../pipelines/graph.ts';
import { IslError } from '../../core/errors.ts';

interface Item { well: string; i: number; path: string; v: number }

/** A small registry of test stages that record what happened. */
function testKinds(log: { out: Item[][]; produced: number; maxHeld: number; inflight: number; maxInflight: number; groups: string[][] }) {
  const kinds: Record<string, StageKind> = {
    count: {
      id: 'test:source:count:v1',
      params: z.object({ n: z.number().int(), wells: z.number().int().default(1) }).strict(),
      create: (p) => ({
        type: 'source',
        async *items() {
          for (let w = 0; w < p.wells; w++)
            for (let i = 0; i < p.n; i++) {
              log.produced++;
              yield { well: `W${w}`, i, path: `W${w}/tile${i}.tif`, v: i };
            }
        },
      }),
    },
    add: {
      id: 'test:map:add:v1',
      params: z.object({ k: z.number() }).strict(),
      create: (p) => ({ type: 'map', map: (x: Item) => ({ ...x, v: x.v + p.k }) }),
    },
    times: {
      id: 'test:map:times:v1',
      params: z.object({ k: z.number() }).strict(),
      create: (p) => ({ type: 'map', map: (x: Item) => ({ ...x, v: x.v * p.k }) }),
    },
    slow: {
      id: 'test:map:slow:v1',
      params: z.object({ ms: z.number() }).strict(),
      create: (p) => ({
        type: 'map',
        async map(x: Item) {
          log.inflight++;
          log.maxInflight = Math.max(log.maxInflight, log.inflight);
          await new Promise((r) => setTimeout(r, p.ms * ((x.i % 3) + 1)));
          log.inflight--;
          return x;
        },
      }),
    },
    fail: {
      id: 'test:map:fail:v1',
      params: z.object({ at: z.number() }).strict(),
      create: (p) => ({ type: 'map', map: (x: Item) => { if (x.i === p.at) throw new Error('pixel data is corrupt'); return x; } }),
    },
    byWell: {
      id: 'test:group:by_well:v1',
      params: z.object({}).strict(),
      create: () => ({
        type: 'group',
        key: (x: Item) => x.well,
        flush: async (_k: string, items: Item[]) => {
          log.groups.push(items.map((x) => x.path));
          return [{ ...items[0], v: items.reduce((s, x) => s + x.v, 0) }];
        },
      }),
    },
    collect: {
      id: 'test:sink:collect:v1',
      params: z.object({ delayMs: z.number().default(0) }).strict(),
      create: (p) => {
        const got: Item[] = [];
        log.out.push(got);
        return {
          type: 'sink',
          async write(x: Item) {
            log.maxHeld = Math.max(log.maxHeld, log.produced - (got.length + 1));
            if (p.delayMs) await new Promise((r) => setTimeout(r, p.delayMs));
            got.push(x);
          },
        };
      },
    },
  };
  return registry(kinds);
}

const newLog = () => ({ out: [] as Item[][], produced: 0, maxHeld: 0, inflight: 0, maxInflight: 0, groups: [] as string[][] });

test('a chain runs in order and reordering by configuration changes the result', async (t) => {
  const log = newLog();
  const reg = testKinds(log);
  const stages = [
    { name: 'read', kind: 'count', params: { n: 4 } },
    { name: 'add', kind: 'add', params: { k: 1 } },
    { name: 'times', kind: 'times', params: { k: 10 } },
    { name: 'write', kind: 'collect' },
  ];
  await runGraph({ name: 'a', stages }, reg, {});
  t.deepEqual(log.out[0].map((x) => x.v), [10, 20, 30, 40]);
  const reordered = [stages[0], stages[2], stages[1], stages[3]];
  await runGraph({ name: 'b', stages: reordered }, reg, {});
  t.deepEqual(log.out[1].map((x) => x.v), [1, 11, 21, 31]);
});

test('a disabled stage is skipped; a YAML document is a graph', async (t) => {
  const log = newLog();
  const g = parseGraph(`
name: no-add
stages:
  - { name: read, kind: count, params: { n: 3 } }
  - { name: add, kind: add, params: { k: 100 }, enabled: false }
  - { name: times, kind: 'test:map:times:v1', params: { k: 2 } }
  - { name: write, kind: collect }
`);
  await runGraph(g, testKinds(log), {});
  t.deepEqual(log.out[0].map((x) => x.v), [0, 2, 4]);
});

test('map concurrency is bounded and order is kept', async (t) => {
  const log = newLog();
  await runGraph({ name: 'c', stages: [
    { name: 'read', kind: 'count', params: { n: 12 } },
    { name: 'slow', kind: 'slow', params: { ms: 5 }, concurrency: 3 },
    { name: 'write', kind: 'collect' },
  ] }, testKinds(log), {});
  t.deepEqual(log.out[0].map((x) => x.i), [...Array(12).keys()]);
  t.is(log.maxInflight, 3);
});

test('backpressure: a slow sink keeps the source only a few items ahead', async (t) => {
  const log = newLog();
  await runGraph({ name: 'bp', bufferItems: 2, stages: [
    { name: 'read', kind: 'count', params: { n: 60 } },
    { name: 'add', kind: 'add', params: { k: 0 } },
    { name: 'write', kind: 'collect', params: { delayMs: 1 } },
  ] }, testKinds(log), {});
  t.is(log.out[0].length, 60);
  t.true(log.maxHeld <= 12, `source ran ${log.maxHeld} items ahead of the sink`);
});

test('group stages see one whole group at a time', async (t) => {
  const log = newLog();
  await runGraph({ name: 'g', stages: [
    { name: 'read', kind: 'count', params: { n: 3, wells: 2 } },
    { name: 'per-well', kind: 'byWell' },
    { name: 'write', kind: 'collect' },
  ] }, testKinds(log), {});
  t.deepEqual(log.groups, [['W0/tile0.tif', 'W0/tile1.tif', 'W0/tile2.tif'], ['W1/tile0.tif', 'W1/tile1.tif', 'W1/tile2.tif']]);
  t.deepEqual(log.out[0].map((x) => [x.well, x.v]), [['W0', 3], ['W1', 3]]);
});

test('fan-out: two sinks on one stage both receive every item', async (t) => {
  const log = newLog();
  await runGraph({ name: 'f', stages: [
    { name: 'read', kind: 'count', params: { n: 5 } },
    { name: 'a', kind: 'collect' },
    { name: 'b', kind: 'times', params: { k: 3 }, input: 'read' },
    { name: 'c', kind: 'collect', params: { delayMs: 1 } },
  ] }, testKinds(log), {});
  t.deepEqual(log.out[0].map((x) => x.v), [0, 1, 2, 3, 4]);
  t.deepEqual(log.out[1].map((x) => x.v), [0, 3, 6, 9, 12]);
});

test('a stage error names the stage and the file', async (t) => {
  const log = newLog();
  const e = await t.throwsAsync(runGraph({ name: 'e', stages: [
    { name: 'read', kind: 'count', params: { n: 5 } },
    { name: 'denoise', kind: 'fail', params: { at: 2 } },
    { name: 'write', kind: 'collect' },
  ] }, testKinds(log), {}), { instanceOf: IslError });
  t.is(e!.message, 'stage denoise, W0/tile2.tif: pixel data is corrupt');
  t.is(e!.stage, 'denoise');
  t.is(e!.file, 'W0/tile2.tif');
  t.is(e!.well, 'W0');
});

test('bad graphs are rejected before any I/O, with the remedy', async (t) => {
  const log = newLog();
  const reg = testKinds(log);
  const run = (stages: object[]) => runGraph({ name: 'x', stages } as never, reg, {});
  await t.throwsAsync(run([{ name: 'read', kind: 'count', params: { n: 1 } }, { name: 'read', kind: 'collect' }]), { message: 'graph: duplicate stage name "read": give each stage its own name' });
  await t.throwsAsync(run([{ name: 'read', kind: 'count', params: { n: 1 } }, { name: 'w', kind: 'nope' }]), { message: /^graph: unknown stage kind "nope" for stage "w"; known kinds: add, byWell, collect/ });
  await t.throwsAsync(run([{ name: 'read', kind: 'count', params: { n: 'x' } }, { name: 'w', kind: 'collect' }]), { message: /invalid params.n for stage "read" \(test:source:count:v1\)/ });
  await t.throwsAsync(run([{ name: 'read', kind: 'count', params: { n: 1 } }, { name: 'a', kind: 'add', params: { k: 1 } }]), { message: 'graph: stage "a" feeds nothing: end every branch with a sink' });
  await t.throwsAsync(run([{ name: 'read', kind: 'count', params: { n: 1 } }, { name: 'w', kind: 'collect', input: 'zzz' }]), { message: 'graph: stage "w" has no upstream: its input "zzz" does not exist' });
  t.is(log.produced, 0);
  t.throws(() => parseGraph('stages: [ {'), { message: /^graph: cannot parse the pipeline graph/ });
});
