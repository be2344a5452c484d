import test from 'ava';
import { readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { ShardWriter, parquetSchema, type ShardFileInfo } from '../../io/shards/writer.ts';
import { listShards, readPatches, readShardMeta } from '../../io/shards/reader.ts';
import { META_KEY, SCHEMA_VERSION, shardColumns, type ShardFormat, type ShardMeta, type ShardPatch, type TrainingPatch } from '../../io/shards/schema.ts';
import { cutPatch, splitWells, wellPatches } from '../../transforms/patches.ts';
import type { Well } from '../../core/image.ts';
import { syntheticWell, tempDir, testMeta } from '../io/shards/helpers.ts';
import { binaryValue, walkIpcFile } from '../io/shards/arrow-ipc.ts';

const P = 16;
const Z = 3;
const LABELS = ['DAPI', 'MAP2'];

/** Two wells, the second lacking MAP2, `count` patches each. */
function dataset(count = 12): { wells: Well[]; meta: ShardMeta; patches: ShardPatch[] } {
  const wells = [syntheticWell('A1', { seed: 1 }), syntheticWell('B2', { seed: 2, labels: ['DAPI'] })];
  const split = splitWells(wells.map((w) => w.well), { testFraction: 0.5, seed: 7 });
  const meta = testMeta({ split });
  const patches = wells.flatMap((w) => [...wellPatches(w, { patchSize: P, count, seed: 7, labels: LABELS, split: split.test.includes(w.well) ? 'test' : 'train' })]);
  return { wells, meta, patches };
}

async function writeAll(dir: string, format: ShardFormat, meta: ShardMeta, patches: readonly ShardPatch[], maxBytes?: number): Promise<ShardFileInfo[]> {
  const w = await ShardWriter.create(dir, { format, meta, maxBytes });
  for (const p of patches) await w.write(p);
  return w.close();
}

async function collect(it: AsyncIterable<TrainingPatch>): Promise<TrainingPatch[]> {
  const out: TrainingPatch[] = [];
  for await (const p of it) out.push(p);
  return out;
}

/** The canonical well value at (z, y, x): what a patch pixel must read back as. */
const wellValue = (w: Well, z: number, y: number, x: number) => w.transmitted.stack.data[(z * w.height + y) * w.width + x];

function assertPatchMatchesWell(t: import('ava').ExecutionContext, p: TrainingPatch, w: Well): void {
  t.is(p.input.length, Z * P * P);
  let bad = 0;
  for (let z = 0; z < Z; z++) for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) if (p.input[(z * P + y) * P + x] !== wellValue(w, z, p.y + y, p.x + x)) bad++;
  t.is(bad, 0, `input of ${p.well} ${p.y},${p.x} differs from the canonical well in ${bad} pixels`);
  t.deepEqual([...p.inputMask], [1, 1, 1]);
  t.deepEqual([...p.labels.keys()], LABELS.filter((l) => w.labels.has(l)));
  for (const [name, l] of p.labels) {
    const img = w.labels.get(name)!;
    let badL = 0;
    for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) if (l.data[y * P + x] !== img.data[(p.y + y) * w.width + p.x + x]) badL++;
    t.is(badL, 0, `label ${name} differs in ${badL} pixels`);
    t.true(l.mask.length === P * P && l.mask.every((m) => m === 1));
  }
}

for (const format of ['parquet', 'arrow'] as const) {
  test(`${format}: our reader gets back exactly the canonical values, labels null where absent`, async (t) => {
    const dir = await tempDir(t);
    const { wells, meta, patches } = dataset();
    const files = await writeAll(dir, format, meta, patches);
    t.is(files.length, 1);
    t.is(files[0].rows, patches.length);
    t.deepEqual(await readShardMeta(dir), meta);
    const back = await collect(readPatches(dir));
    t.is(back.length, patches.length);
    back.forEach((p, i) => {
      t.is(p.well, patches[i].well);
      t.is(p.y, patches[i].y);
      t.is(p.x, patches[i].x);
      t.is(p.split, patches[i].split);
      assertPatchMatchesWell(t, p, wells.find((w) => w.well === p.well)!);
    });
    // Split filter and a seeded shuffle: same multiset, another order, reproducible.
    const test1 = await collect(readPatches(dir, { split: 'test' }));
    t.true(test1.length > 0 && test1.every((p) => meta.split.test.includes(p.well)));
    t.is(test1.length, patches.filter((p) => p.split === 'test').length);
    const key = (p: TrainingPatch) => `${p.well}:${p.y}:${p.x}`;
    const s1 = (await collect(readPatches(dir, { shuffleBuffer: 8, seed: 3 }))).map(key);
    const s2 = (await collect(readPatches(dir, { shuffleBuffer: 8, seed: 3 }))).map(key);
    t.deepEqual(s1, s2);
    t.notDeepEqual(s1, back.map(key));
    t.deepEqual([...s1].sort(), back.map(key).sort());
  });

  test(`${format}: rolls over to bounded-size files, leaves no temp files, reads several files concurrently`, async (t) => {
    const dir = await tempDir(t);
    const { meta, patches } = dataset(40);
    const rowBytes = Z * P * P * 2 + Z + 2 * 3 * P * P;
    const maxBytes = 16 * 1024 + 8 * rowBytes + 2000;
    const files = await writeAll(dir, format, meta, patches, maxBytes);
    t.true(files.length >= 2, `expected several files, got ${files.length}`);
    for (const f of files) t.true(f.bytes <= maxBytes && f.bytes === (await stat(f.path)).size, `${f.path}: ${f.bytes} > ${maxBytes}`);
    t.is(files.reduce((s, f) => s + f.rows, 0), patches.length);
    const names = (await readdir(dir)).sort();
    t.deepEqual(names, files.map((_, i) => `shard-${String(i).padStart(5, '0')}.${format}`));
    const all = await collect(readPatches(dir, { readers: 3, shuffleBuffer: 5, seed: 1 }));
    const key = (p: { well: string; y: number; x: number }) => `${p.well}:${p.y}:${p.x}`;
    t.deepEqual(all.map(key).sort(), patches.map(key).sort());
    // Values survive the reuse of the writer's row-group buffers across groups and files.
    const byKey = new Map(patches.map((p) => [key(p), p]));
    let bad = 0;
    for (const p of all) {
      const src = byKey.get(key(p))!;
      for (let k = 0; k < src.input.length; k++) if (p.input[k] !== Math.fround(src.input[k] / 65535)) bad++;
      for (const [name, l] of src.labels) for (let k = 0; k < P * P; k++) if (p.labels.get(name)!.data[k] !== Math.fround(l.data[k] / 65535)) bad++;
    }
    t.is(bad, 0);
  });
}

async function duck(t: { teardown(fn: () => unknown): void }): Promise<DuckDBConnection> {
  const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
  const c = await db.connect();
  t.teardown(() => {
    c.closeSync();
    db.closeSync();
  });
  return c;
}

test('parquet: DuckDB reads shards without our code (rows, blob sizes, pixels, nulls, metadata)', async (t) => {
  const dir = await tempDir(t);
  const { wells, meta, patches } = dataset();
  const rowBytes = Z * P * P * 2 + Z + 2 * 3 * P * P;
  await writeAll(dir, 'parquet', meta, patches, 16 * 1024 + 8 * rowBytes + 2000);
  const c = await duck(t);
  const glob = join(dir, '*.parquet').replaceAll("'", "''");
  const summary = (await c.runAndReadAll(`
    select count(*)::int n, min(octet_length(input))::int i0, max(octet_length(input))::int i1,
      min(octet_length(input_mask))::int m, count(label_DAPI)::int dapi, count(label_MAP2)::int map2,
      count(mask_MAP2)::int mmap2, max(octet_length(label_DAPI))::int ld, max(octet_length(mask_DAPI))::int md,
      count(distinct well)::int wells
    from read_parquet('${glob}')`)).getRowObjects()[0];
  t.deepEqual(summary, { n: 24, i0: 2 * Z * P * P, i1: 2 * Z * P * P, m: Z, dapi: 24, map2: 12, mmap2: 12, ld: 2 * P * P, md: P * P, wells: 2 });
  const cols = (await c.runAndReadAll(`describe select * from read_parquet('${glob}')`)).getRows().map((r) => `${r[0]}:${r[1]}`);
  t.deepEqual(cols, shardColumns(LABELS).map((n) => `${n}:${n === 'well' || n === 'split' ? 'VARCHAR' : n === 'x' || n === 'y' ? 'INTEGER' : 'BLOB'}`));
  // Pixels: DuckDB decodes the blob; compare a few little-endian uint16 values with the canonical well.
  const p = patches[13];
  const w = wells.find((x) => x.well === p.well)!;
  const row = (await c.runAndReadAll(`select input, label_DAPI, label_MAP2 from read_parquet('${glob}') where well = '${p.well}' and y = ${p.y} and x = ${p.x} limit 1`)).getRows()[0];
  const input = (row[0] as { bytes: Uint8Array }).bytes;
  for (const [z, y, x] of [[0, 0, 0], [1, 5, 7], [2, P - 1, P - 1]]) {
    const k = (z * P + y) * P + x;
    t.is(Math.fround((input[2 * k] | (input[2 * k + 1] << 8)) / 65535), wellValue(w, z, p.y + y, p.x + x));
  }
  const dapi = (row[1] as { bytes: Uint8Array }).bytes;
  t.is(Math.fround((dapi[2 * 17] | (dapi[2 * 17 + 1] << 8)) / 65535), w.labels.get('DAPI')!.data[(p.y + 1) * w.width + p.x + 1]);
  t.is(row[2], null, 'B2 has no MAP2: the column is null');
  // File metadata.
  const kv = (await c.runAndReadAll(`select decode(key) k, decode(value) v from parquet_kv_metadata('${glob}') where decode(key) = '${META_KEY}'`)).getRows();
  t.true(kv.length >= 2);
  for (const [, v] of kv) t.deepEqual(JSON.parse(v as string), meta);
  // Blobs carry no min/max statistics (they would double the footer and leak pixels into it).
  const stats = (await c.runAndReadAll(`select count(*)::int from parquet_metadata('${glob}') where path_in_schema in ('input', 'label_DAPI') and (stats_min is not null or stats_max is not null)`)).getRows();
  t.is(stats[0][0], 0);
});

test('arrow: the IPC file follows the spec (independent walker) and apache-arrow tableFromIPC reads it', async (t) => {
  const dir = await tempDir(t);
  const { wells, meta, patches } = dataset();
  const [file] = await writeAll(dir, 'arrow', meta, patches);
  const bytes = new Uint8Array(await readFile(file.path));
  const ipc = walkIpcFile(bytes);
  t.deepEqual(ipc.fields.map((f) => f.name), shardColumns(LABELS));
  t.deepEqual(ipc.fields.map((f) => f.nullable), shardColumns(LABELS).map((n) => n.startsWith('label_') || n.startsWith('mask_')));
  t.deepEqual(JSON.parse(ipc.metadata.get(META_KEY)!), meta);
  t.is(ipc.batches.reduce((s, b) => s + b.length, 0), patches.length);
  t.false(ipc.batches.some((b) => b.compressed), 'record batches must be uncompressed');
  // Buffers: well(3) y(2) x(2) split(3) input(3: validity, offsets, data) ... label_DAPI at 16, label_MAP2 at 22.
  const b = ipc.batches[0];
  const p = patches[5];
  const w = wells.find((x) => x.well === p.well)!;
  const input = binaryValue(bytes, b, 11, 5);
  t.is(input.length, 2 * Z * P * P);
  const k = (2 * P + 3) * P + 4;
  t.is(Math.fround((input[2 * k] | (input[2 * k + 1] << 8)) / 65535), wellValue(w, 2, p.y + 3, p.x + 4));
  t.is(b.nodes[8].nullCount, patches.filter((q) => !q.labels.has('MAP2')).length, 'label_MAP2 null count');
  // Another reading path of the library (whole-file, sync) agrees.
  const table = tableFromIPC(bytes);
  t.is(table.numRows, patches.length);
  t.deepEqual(table.getChild('input')!.get(5), input);
  t.is(table.getChild('label_MAP2')!.get(patches.length - 1), null);
});

test('writer: bad options and patches get clear errors', async (t) => {
  const dir = await tempDir(t);
  const meta = testMeta();
  await t.throwsAsync(ShardWriter.create(dir, { meta, format: 'csv' as ShardFormat }), { message: /Expected one of parquet, arrow for format but received "csv"/ });
  await t.throwsAsync(ShardWriter.create(dir, { meta: { ...meta, schema_version: 2 } }), { message: /Expected 1 for meta.schema_version but received 2/ });
  await t.throwsAsync(ShardWriter.create(dir, { meta: { ...meta, labels: ['bad label'] } }), { message: /meta.*labels\.0: label names must match/ });
  await t.throwsAsync(ShardWriter.create(dir, { meta, maxBytes: 1000 }), { message: /Expected an integer of at least \d+ \(one 16x16x3 patch row/ });
  const w = await ShardWriter.create(dir, { meta });
  const good = cutPatch(syntheticWell('A1'), { y: 0, x: 0 }, { patchSize: P, split: 'train' });
  await t.throwsAsync(w.write({ ...good, input: new Uint16Array(10) }), { message: /Expected a Uint16Array of z_count\*P\*P = 3\*16\*16 = 768 values for patch.input of well A1 but received "Uint16Array\(10\)"/ });
  await t.throwsAsync(w.write({ ...good, labels: new Map([['GFP', { data: new Uint16Array(P * P) }]]) }), { message: /labels among meta.labels \[DAPI, MAP2\] .* "GFP"/ });
  await t.throwsAsync(w.write({ ...good, split: 'val' as 'train' }), { message: /'train' or 'test' for patch.split of well A1/ });
  await w.write(good);
  await w.close();
  await t.throwsAsync(ShardWriter.create(dir, { meta }), { message: /Expected true to replace the 1 shard file\(s\) already in/ });
  const again = await ShardWriter.create(dir, { meta, overwrite: true });
  await again.close();
  t.deepEqual(await readdir(dir), [], 'overwrite removed the old shard; an empty writer writes no file');
});

test('writer: abort leaves no temp file and no partial shard', async (t) => {
  const dir = await tempDir(t);
  const w = await ShardWriter.create(dir, { meta: testMeta() });
  await w.write(cutPatch(syntheticWell('A1'), { y: 1, x: 2 }, { patchSize: P, split: 'train' }));
  await w.abort();
  t.deepEqual(await readdir(dir), []);
});

/** Writes a one-row parquet shard with arbitrary metadata and blob sizes, as a foreign or older writer might. */
async function forgedParquet(path: string, meta: unknown, inputBytes: number): Promise<void> {
  const out = new ByteWriter();
  const pw = new ParquetWriter({ writer: out, schema: parquetSchema(LABELS), codec: 'UNCOMPRESSED', kvMetadata: [{ key: META_KEY, value: JSON.stringify(meta) }] });
  const blob = (n: number) => [new Uint8Array(n)];
  pw.write({
    columnData: [
      { name: 'well', data: ['A1'] }, { name: 'y', data: Int32Array.of(0) }, { name: 'x', data: Int32Array.of(0) }, { name: 'split', data: ['train'] },
      { name: 'input', data: blob(inputBytes) }, { name: 'input_mask', data: blob(Z) },
      { name: 'label_DAPI', data: [null] }, { name: 'mask_DAPI', data: [null] }, { name: 'label_MAP2', data: [null] }, { name: 'mask_MAP2', data: [null] },
    ],
    rowGroupSize: 1,
  });
  pw.finish();
  await writeFile(path, out.getBytes());
}

test('reader: wrong schema version, patch size, z count or blob size is an error naming the file', async (t) => {
  const dir = await tempDir(t);
  const meta = testMeta();
  await writeAll(dir, 'parquet', meta, [cutPatch(syntheticWell('A1'), { y: 0, x: 0 }, { patchSize: P, split: 'train' })]);
  const first = join(dir, 'shard-00000.parquet');
  const second = join(dir, 'shard-00001.parquet');

  await forgedParquet(second, { ...meta, schema_version: 99 }, 2 * Z * P * P);
  await t.throwsAsync(readShardMeta(dir), { message: `${second}: has shard schema_version 99 but this reader supports ${SCHEMA_VERSION}; rewrite the shards with this version of preprocess` });

  await forgedParquet(second, { ...meta, patch_size: 32 }, 2 * Z * 32 * 32);
  await t.throwsAsync(listShards(dir), { message: `${second}: has patch_size 32 but ${first} has 16; shards of one folder must come from one preprocess run` });

  await forgedParquet(second, { ...meta, z_count: 5 }, 2 * 5 * P * P);
  await t.throwsAsync(collect(readPatches(dir)), { message: new RegExp(`^${second}: has z_count 5 but ${first} has 3`) });

  await forgedParquet(second, meta, 100);
  await t.throwsAsync(collect(readPatches(dir)), { message: `${second}: row 0 (well A1, y 0, x 0) has an input of 100 bytes but z_count 3 and patch_size 16 need 2*3*16*16 = 1536` });

  await forgedParquet(second, { ...meta, labels: 'DAPI' }, 2 * Z * P * P);
  await t.throwsAsync(readShardMeta(dir), { message: /shard-00001.parquet: has invalid "isl" metadata: labels: / });

  await writeFile(second, 'not a parquet file');
  await t.throwsAsync(readShardMeta(dir), { message: new RegExp(`^${second}: is not a readable shard`) });

  await rm(second);
  await t.throwsAsync(collect(readPatches(dir, { patchSize: 32 })), { message: `${first}: has patch_size 16 but 32 was expected; reshard with --patch-size 32 or train with 16` });
  await t.throwsAsync(collect(readPatches(dir, { zCount: 13 })), { message: `${first}: has z_count 3 but 13 was expected` });
  await t.throwsAsync(readShardMeta(join(dir, 'missing')), { message: /missing: cannot list shard folder/ });
});

test('reader: an Arrow shard with another patch size or schema version is an error naming the file', async (t) => {
  const dir = await tempDir(t);
  const other = await tempDir(t);
  const well = syntheticWell('A1', { width: 40, height: 40 });
  await writeAll(dir, 'arrow', testMeta(), [cutPatch(well, { y: 0, x: 0 }, { patchSize: P, split: 'train' })]);
  await writeAll(other, 'arrow', testMeta({ patch_size: 32 }), [cutPatch(well, { y: 0, x: 0 }, { patchSize: 32, split: 'train' })]);
  const second = join(dir, 'shard-00001.arrow');
  await rename(join(other, 'shard-00000.arrow'), second);
  await t.throwsAsync(collect(readPatches(dir)), { message: `${second}: has patch_size 32 but ${join(dir, 'shard-00000.arrow')} has 16; shards of one folder must come from one preprocess run` });
  // Same bytes with the version digit in the schema metadata changed ("schema_version":1 -> 7, same length).
  const bytes = await readFile(second);
  const at = bytes.indexOf('"schema_version":1');
  t.true(at > 0);
  let i = at;
  while ((i = bytes.indexOf('"schema_version":1', i)) >= 0) bytes[i + 17] = 0x37;
  await writeFile(second, bytes);
  await t.throwsAsync(readShardMeta(dir), { message: `${second}: has shard schema_version 7 but this reader supports 1; rewrite the shards with this version of preprocess` });
});

test('reader: stopping early closes every shard file', async (t) => {
  const dir = await tempDir(t);
  const { meta, patches } = dataset(40);
  const rowBytes = Z * P * P * 2 + Z + 2 * 3 * P * P;
  await writeAll(dir, 'parquet', meta, patches, 16 * 1024 + 8 * rowBytes + 2000);
  const openShardFds = async () => {
    let k = 0;
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target.startsWith(dir)) k++;
    }
    return k;
  };
  let n = 0;
  let during = 0;
  for await (const p of readPatches(dir, { readers: 2, shuffleBuffer: 4 })) {
    t.is(p.input.length, Z * P * P);
    if (++n === 3) {
      during = await openShardFds();
      break;
    }
  }
  t.is(n, 3);
  t.true(during >= 1, 'files are open while reading');
  t.is(await openShardFds(), 0, 'every shard file handle is closed after the loop stops');
  t.is((await collect(readPatches(dir))).length, patches.length);
});
