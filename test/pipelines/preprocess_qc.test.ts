/**
 * `--keep-failed-qc` (README: "Wells failing QC are left out of the shards unless
 * --keep-failed-qc"): a fixture dump whose well A2 fails QC (its transmitted z-planes relabelled
 * so the sharpest sits at z=0, an off-centre acquisition) is left out of the shards by default,
 * still preprocessed and listed in qc.json; a rerun with the flag shards it.
 */
import test from 'ava';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedDump } from '../../fixtures/truth.ts';
import { readPatches } from '../../io/shards/reader.ts';
import { preprocessOut } from '../../io/out_layout.ts';
import { preprocess } from '../../pipelines/preprocess.ts';

async function shardedWells(out: string): Promise<string[]> {
  const wells = new Set<string>();
  for await (const p of readPatches(preprocessOut.shards(out))) wells.add(p.well);
  return [...wells].sort();
}

test('a well failing QC is excluded from the shards by default and kept with keepFailedQc', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'isl-keep-qc-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dump = join(root, 'dump');
  await cp(await cachedDump({ preset: 'ci', seed: 7, wells: 2, labels: ['DAPI', 'MAP2'], truthCanvases: 'projection' }), dump, { recursive: true });
  const manifest = join(dump, 'manifest.csv');
  const [header, ...rows] = (await readFile(manifest, 'utf8')).trim().split('\n');
  const zCol = header.split(',').indexOf('z');
  // The fixture's sharpest plane is the centre z=2 of 5: the file acquired at z' is declared at z'-2 (mod 5).
  const shifted = rows.map((r) => {
    const c = r.split(',');
    if (c[1] === 'A2' && c[5] === 'PHASE_CONTRAST') c[zCol] = String((Number(c[zCol]) + 3) % 5);
    return c.join(',');
  });
  await writeFile(manifest, [header, ...shifted].join('\n') + '\n');

  const out = join(root, 'out');
  const shards = { patchSize: 64, patchesPerWell: 6, testFraction: 0.5, seed: 1 };
  const s = await preprocess({ input: dump, output: out, workers: 2, progress: false, shards });
  t.deepEqual(s.wells.done.sort(), ['A1', 'A2']);
  const verdict = (w: string) => s.qc!.find((q) => q.well === w)!;
  t.true(verdict('A1').pass, verdict('A1').reasons.join('; '));
  t.false(verdict('A2').pass);
  t.deepEqual(verdict('A2').reasons, ['out of focus: the sharpest transmitted plane is z=0, more than 1.25 planes from the centre z=2']);
  const qcJson = JSON.parse(await readFile(preprocessOut.qc(out, 'qc.json'), 'utf8'));
  t.is(JSON.stringify(qcJson).includes('out of focus'), true, 'qc.json lists the reason');
  t.deepEqual(await shardedWells(out), ['A1']);

  const kept = await preprocess({ input: dump, output: out, workers: 2, progress: false, shards, resume: true, keepFailedQc: true });
  t.deepEqual(kept.wells.skipped.sort(), ['A1', 'A2'], 'the rerun resumes: only QC and shards are redone');
  t.false(kept.qc!.find((q) => q.well === 'A2')!.pass, 'still reported as failing');
  t.deepEqual(await shardedWells(out), ['A1', 'A2']);
});
