import test from 'ava';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedDump } from '../../fixtures/truth.ts';
import { preprocess } from '../../pipelines/preprocess.ts';

// A well killed mid-write (kill -9) leaves `wells/<well>/.<name>.<pid>.<rand>.tmp` and no
// completion record; the --resume rerun redoes the well and removes that temp.
test('a --resume rerun of a killed well removes its stale temp files and writes the same outputs', async (t) => {
  const dump = await cachedDump({ preset: 'ci', seed: 7, wells: 2, labels: ['DAPI', 'MAP2'], truthCanvases: 'projection' });
  const out = await mkdtemp(join(tmpdir(), 'isl-stale-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  await preprocess({ input: dump, output: out, workers: 1, progress: false, shards: false });
  const dir = join(out, 'wells', 'A1');
  const names = (await readdir(dir)).sort();
  const before = await Promise.all(names.map((f) => readFile(join(dir, f))));
  const ome = names.find((f) => f.endsWith('.ome.tif'))!;
  const stale = `.${ome}.4194000.0badf00d.tmp`;
  await writeFile(join(dir, stale), 'half a file');
  const records = join(out, 'records');
  const rec = (await readdir(records)).filter((f) => f.includes('A1'));
  t.is(rec.length, 1);
  await rm(join(records, rec[0]));
  const s = await preprocess({ input: dump, output: out, workers: 1, progress: false, shards: false, resume: true });
  t.deepEqual(s.wells.done, ['A1']);
  t.deepEqual((await readdir(dir)).sort(), names, 'the temp is gone and nothing else changed name');
  const after = await Promise.all(names.map((f) => readFile(join(dir, f))));
  names.forEach((f, i) => t.true(after[i].equals(before[i]), `${f} differs after the rerun`));
});
