import test from 'ava';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { plane } from '../../core/image.ts';
import { cachedDump } from '../../fixtures/truth.ts';
import { readCanonicalWell, writeCanonicalWell } from '../../io/canonical.ts';
import { openCanonicalWindows } from '../../io/canonical_windows.ts';
import { ShardWriter } from '../../io/shards/writer.ts';
import { readShardMeta } from '../../io/shards/reader.ts';
import type { ShardPatch } from '../../io/shards/schema.ts';
import { preprocess } from '../../pipelines/preprocess.ts';
import { canonicalPatches, writeShards } from '../../pipelines/shards.ts';
import { samplePatches, wellPatches, type SamplePatchesOptions } from '../../transforms/patches.ts';
import { syntheticWell, tempDir } from './shards/helpers.ts';

type Opts = SamplePatchesOptions & { split: 'train' | 'test' };

/** The patches of the well loaded whole (the path the shard step used before) and read window by window. */
async function both(dir: string, well: string, o: Opts): Promise<{ whole: ShardPatch[]; windowed: ShardPatch[]; source: string }> {
  const whole = [...wellPatches(await readCanonicalWell(dir, { well }), o)];
  const w = await openCanonicalWindows(dir, { well });
  const windowed: ShardPatch[] = [];
  try {
    for await (const p of canonicalPatches(w, o)) windowed.push(p);
  } finally {
    await w.close();
  }
  return { whole, windowed, source: w.source };
}

/** Copies the well's PNGs only (no OME-TIFF): the PNG fallback. */
async function pngOnly(dir: string, to: string): Promise<string> {
  await mkdir(to, { recursive: true });
  for (const f of await readdir(dir)) if (f.endsWith('.png')) await copyFile(join(dir, f), join(to, f));
  return to;
}

test('window-by-window patches equal the whole-well patches on a preprocessed fixture (OME-TIFF strips and PNG fallback), and the shard files are byte-identical', async (t) => {
  const dump = await cachedDump({ preset: 'ci', seed: 7, wells: 3, sparseWell: true });
  const out = await tempDir(t);
  await preprocess({ input: dump, output: out, workers: 1, progress: false, shards: false, keepFailedQc: true });
  const wells = (await readdir(join(out, 'wells'))).sort();
  t.deepEqual(wells, ['A1', 'A2', 'A3']);
  const cases: Opts[] = [
    { patchSize: 64, count: 24, seed: 3, split: 'train' },
    { patchSize: 96, count: 9, seed: 8, split: 'test', foregroundFraction: 1, foregroundQuantile: 0.99 },
    { patchSize: 32, count: 5, seed: 1, split: 'train', foregroundFraction: 0 },
  ];
  let compared = 0;
  for (const well of wells) {
    for (const o of cases) {
      const { whole, windowed, source } = await both(join(out, 'wells', well), well, o);
      t.is(source, 'ome-tiff');
      t.is(windowed.length, o.count);
      t.deepEqual(windowed, whole, `${well} ${JSON.stringify(o)}`);
      compared += windowed.length;
    }
    const png = await both(await pngOnly(join(out, 'wells', well), join(out, 'png', well)), well, cases[0]);
    t.is(png.source, 'png');
    t.deepEqual(png.windowed, png.whole);
  }
  t.is(compared, 3 * (24 + 9 + 5));
  // Every label got foreground origins in the compared sets (the label scans matter, not only the stratified grid).
  const a1 = await readCanonicalWell(join(out, 'wells', 'A1'));
  const reasons = new Set(samplePatches(a1, cases[0]).map((o) => o.reason));
  t.deepEqual([...reasons].sort(), ['foreground:CELLMASK', 'foreground:DAPI', 'foreground:MAP2', 'foreground:PROPIDIUM_IODIDE', 'stratified']);

  // The shard step end to end against the whole-well patches written by the same writer.
  const res = await writeShards(out, wells, { patchSize: 64, patchesPerWell: 12, seed: 5, mode: 'training', source: { input: dump } });
  const meta = await readShardMeta(join(out, 'shards'));
  const ref = await ShardWriter.create(join(out, 'ref'), { format: 'parquet', maxBytes: 512e6, meta, overwrite: true });
  for (const w of wells) {
    const split = res.split.test.includes(w) ? 'test' : 'train';
    for (const p of wellPatches(await readCanonicalWell(join(out, 'wells', w), { well: w }), { patchSize: 64, count: 12, seed: 5, split })) await ref.write(p);
  }
  const refFiles = await ref.close();
  t.is(res.rows, 36);
  t.is(res.files.length, refFiles.length);
  for (let i = 0; i < refFiles.length; i++) t.true((await readFile(res.files[i])).equals(await readFile(refFiles[i].path)), `shard file ${i} differs`);
});

test('window-by-window sampling: constant labels, ties at the maximum, a well of exactly the patch size', async (t) => {
  const root = await tempDir(t);
  const base = syntheticWell('B3', { width: 70, height: 45, depth: 2, labels: ['DAPI'] });
  // 20 % of the pixels at the maximum: the top quantile is all ties.
  const ties = new Float32Array(70 * 45);
  for (let i = 0; i < ties.length; i++) ties[i] = (i % 5 === 0 ? 40000 : 100 + (i % 7)) / 65535;
  const labels = new Map([...base.labels, ['FLAT', plane('float32', 70, 45, new Float32Array(70 * 45).fill(1234 / 65535))], ['TIES', plane('float32', 70, 45, ties)]]);
  await writeCanonicalWell(join(root, 'B3'), { ...base, labels });
  for (const o of [{ patchSize: 16, count: 12, seed: 2, split: 'train' as const }, { patchSize: 45, count: 4, seed: 9, split: 'test' as const, labels: ['TIES', 'GFP'] }]) {
    const { whole, windowed, source } = await both(join(root, 'B3'), 'B3', o);
    t.is(source, 'ome-tiff');
    t.deepEqual(windowed, whole);
  }
  const { windowed } = await both(join(root, 'B3'), 'B3', { patchSize: 16, count: 12, seed: 2, split: 'train' });
  t.true(windowed.some((p) => p.labels.get('TIES')!.data.some((v) => v === 40000)));
});
