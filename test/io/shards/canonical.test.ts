import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { DuckDBInstance } from '@duckdb/node-api';
import { readCanonicalWell } from '../../../io/canonical.ts';
import { ShardWriter } from '../../../io/shards/writer.ts';
import { readPatches, readShardMeta } from '../../../io/shards/reader.ts';
import { SCHEMA_VERSION, type ShardMeta } from '../../../io/shards/schema.ts';
import { samplePatches, cutPatch } from '../../../transforms/patches.ts';
import { sharedDataset, withShared } from '../../helpers/shared.ts';
import { tempDir } from './helpers.ts';

const NAME = 'isl-condition-b-top';
const P = 128;

withShared(test, NAME)('the real canonical well shards to Parquet and Arrow losslessly (checked with DuckDB and a direct PNG decode)', async (t) => {
  const src = sharedDataset(NAME)!;
  const well = await readCanonicalWell(src);
  const labels = [...well.labels.keys()].sort();
  t.is(well.transmitted.stack.depth, 13);
  const origins = samplePatches(well, { patchSize: P, count: 24, seed: 11, labels });
  for (const l of labels) t.true(origins.some((o) => o.reason === `foreground:${l}`), `no foreground patch for ${l}`);
  const meta: ShardMeta = {
    schema_version: SCHEMA_VERSION, labels, patch_size: P, z_count: 13, transmitted_channel: well.transmitted.channel,
    normalization: { method: 'none' }, source: { dataset: NAME }, split: { train: [well.well], test: [] }, seed: 11,
  };
  const root = await tempDir(t);
  for (const format of ['parquet', 'arrow'] as const) {
    const w = await ShardWriter.create(join(root, format), { format, meta, maxBytes: 4 << 20 });
    for (const o of origins) await w.write(cutPatch(well, o, { patchSize: P, split: 'train', labels }));
    const files = await w.close();
    t.true(files.length >= 2, `${format}: 24 patches of ~${(13 * P * P * 2 + 3 * 3 * P * P) >> 10} KiB roll over 4 MiB files`);
    t.true(files.every((f) => f.bytes <= 4 << 20));
    t.deepEqual(await readShardMeta(join(root, format)), meta);
    let n = 0;
    for await (const p of readPatches(join(root, format), { shuffleBuffer: 6, seed: 1 })) {
      n++;
      const s = well.transmitted.stack;
      const z = n % 13;
      for (const [y, x] of [[0, 0], [P - 1, P - 1], [n % P, (3 * n) % P]]) t.is(p.input[(z * P + y) * P + x], s.data[(z * s.height + p.y + y) * s.width + p.x + x]);
      t.deepEqual([...p.labels.keys()], labels);
    }
    t.is(n, origins.length);
  }

  // Independent: DuckDB reads the Parquet shards; sharp decodes the source PNG of z-plane 6.
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  t.teardown(() => {
    c.closeSync();
    db.closeSync();
  });
  const glob = join(root, 'parquet', '*.parquet').replaceAll("'", "''");
  const [[count, bytes]] = (await c.runAndReadAll(`select count(*)::int, min(octet_length(input))::int from read_parquet('${glob}')`)).getRows();
  t.deepEqual([count, bytes], [24, 13 * P * P * 2]);
  const o = origins[3];
  const [[blob]] = (await c.runAndReadAll(`select input from read_parquet('${glob}') where y = ${o.y} and x = ${o.x} limit 1`)).getRows();
  const png = (await readdir(src)).find((f) => f.includes('z_depth-6,'))!;
  const { data, info } = await sharp(join(src, png)).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const ref = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  const stored = (blob as { bytes: Uint8Array }).bytes;
  let bad = 0;
  for (let y = 0; y < P; y++)
    for (let x = 0; x < P; x++) {
      const k = (6 * P + y) * P + x;
      if ((stored[2 * k] | (stored[2 * k + 1] << 8)) !== ref[(o.y + y) * info.width + o.x + x]) bad++;
    }
  t.is(bad, 0, `${bad} of ${P * P} pixels of z 6 differ from the PNG`);
});
