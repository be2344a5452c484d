/**
 * Shard write (and read) throughput: `npm run bench -- shards [patches]`.
 *
 * The same patches (P = 256, 13 z-planes, 3 labels with masks: 2.3 MB per row) are written as
 * - Parquet through our ShardWriter (hyparquet-writer, uncompressed, one row group per 64 MiB),
 * - Parquet through parquet-wasm's streaming writer (`transformParquetStream`, uncompressed,
 *   statistics off, one Arrow batch per 64 MiB), the alternative we measured against,
 * - Arrow IPC through our ShardWriter (apache-arrow, uncompressed),
 * and compared with writing the same blob bytes to one raw file (the reference: `ratio` is how
 * many times slower than a plain sequential write). Reading back with readPatches (to float32)
 * is compared with reading the raw file back. Prints one JSON line per measurement.
 */
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { tableToIPC, Table as ArrowTable } from 'apache-arrow';
import * as parquetWasm from 'parquet-wasm';
import { timeIt, report, type BenchResult } from './lib.ts';
import { ShardWriter, shardRecordBatch } from '../io/shards/writer.ts';
import { readPatches } from '../io/shards/reader.ts';
import { SCHEMA_VERSION, type ShardMeta, type ShardPatch } from '../io/shards/schema.ts';
import { rng } from '../core/random.ts';

const P = 256;
const Z = 13;
const LABELS = ['DAPI_CONFOCAL', 'MAP2_CONFOCAL', 'NFH_CONFOCAL'];
const count = Number(process.argv[2] ?? 120);
const reps = 3;

const meta: ShardMeta = {
  schema_version: SCHEMA_VERSION, labels: LABELS, patch_size: P, z_count: Z, transmitted_channel: 'PHASE_CONTRAST',
  normalization: { method: 'bench' }, source: { bench: 'shards' }, split: { train: ['A1', 'A2'], test: ['B1'] }, seed: 1,
};

// Noise-like counts (incompressible, like a real z-stack's low bits); one label missing in a third of rows.
const r = rng(1);
const pool = new Uint16Array((Z + 1) * P * P + 4096);
for (let i = 0; i < pool.length; i++) pool[i] = r.int(65536);
const patches: ShardPatch[] = Array.from({ length: count }, (_, i) => {
  const off = (i * 37) % 4096;
  const labels = new Map(LABELS.filter((_, k) => k < 2 || i % 3).map((l, k) => [l, { data: pool.slice(off + k * 1000, off + k * 1000 + P * P) }]));
  return { well: ['A1', 'A2', 'B1'][i % 3], y: i, x: 2 * i, split: i % 3 === 2 ? 'test' : 'train', input: pool.slice(off, off + Z * P * P), labels };
});
const blobs = patches.flatMap((p) => [p.input, ...[...p.labels.values()].flatMap((l) => [l.data, new Uint8Array(P * P)])]);
const bytes = blobs.reduce((s, b) => s + b.byteLength, 0);
const MB = bytes / 1e6;

const root = await mkdtemp(join(tmpdir(), 'isl-bench-shards-'));
let runId = 0;
const fresh = () => join(root, `run-${runId++}`);

async function rawWrite(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const fh = await open(join(dir, 'raw.bin'), 'w');
  for (const b of blobs) await fh.write(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  await fh.close();
}

async function ours(dir: string, format: 'parquet' | 'arrow'): Promise<void> {
  const w = await ShardWriter.create(dir, { format, meta, maxBytes: 1 << 30, overwrite: true });
  for (const p of patches) await w.write(p);
  await w.close();
}

async function wasm(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const perGroup = Math.max(1, Math.floor((64 << 20) / (bytes / count)));
  async function* batches() {
    for (let i = 0; i < patches.length; i += perGroup) {
      const ipc = tableToIPC(new ArrowTable([shardRecordBatch(meta, patches.slice(i, i + perGroup))]), 'stream');
      for (const b of parquetWasm.Table.fromIPCStream(ipc).recordBatches()) yield b;
    }
  }
  const props = new parquetWasm.WriterPropertiesBuilder()
    .setCompression(parquetWasm.Compression.UNCOMPRESSED)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(parquetWasm.EnabledStatistics.None)
    .setKeyValueMetadata(new Map([['isl', JSON.stringify(meta)]]))
    .build();
  const out = await parquetWasm.transformParquetStream(Readable.toWeb(Readable.from(batches())) as ReadableStream, props);
  const fh = await open(join(dir, 'shard-00000.parquet'), 'w');
  await out.pipeTo(Writable.toWeb(fh.createWriteStream()));
}

async function readAll(dir: string): Promise<void> {
  let n = 0;
  for await (const p of readPatches(dir, { readers: 2 })) n += p.input.length;
  if (n !== count * Z * P * P) throw new Error(`read ${n} input values, expected ${count * Z * P * P}`);
}

try {
  console.error(`${count} patches of ${P}x${P}x${Z} + ${LABELS.length} labels: ${MB.toFixed(0)} MB of blobs; temp folder ${root}`);
  const rawDir = fresh();
  const ref = await timeIt(() => rawWrite(rawDir), reps);
  const dirs = { parquet: fresh(), arrow: fresh(), wasm: fresh() };
  const rows: BenchResult[] = [];
  const measure = async (name: string, fn: () => Promise<void>, refS: number) => {
    const s = await timeIt(fn, reps);
    rows.push(report(name, s, refS, { MB_s: Math.round(MB / s) }));
  };
  await measure('shards write parquet (hyparquet-writer)', () => ours(dirs.parquet, 'parquet'), ref);
  await measure('shards write parquet (parquet-wasm stream)', () => wasm(dirs.wasm), ref);
  await measure('shards write arrow ipc (apache-arrow)', () => ours(dirs.arrow, 'arrow'), ref);
  const refRead = await timeIt(async () => void (await readFile(join(rawDir, 'raw.bin'))), reps);
  await measure('shards read parquet -> float32 (readPatches)', () => readAll(dirs.parquet), refRead);
  await measure('shards read arrow -> float32 (readPatches)', () => readAll(dirs.arrow), refRead);
  console.log(JSON.stringify({ raw_write_MB_s: Math.round(MB / ref), raw_read_MB_s: Math.round(MB / refRead), MB: Math.round(MB) }));
  for (const row of rows) console.log(`| ${row.name} | ${row.MB_s} | ${row.ours_s} | ${row.ref_s} | ${row.ratio} |`);
} finally {
  await rm(root, { recursive: true, force: true });
}
