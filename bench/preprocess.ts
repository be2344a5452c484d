/**
 * `npm run bench -- preprocess [--wells N] [--grid G] [--tile PX] [--z Z] [--workers W] [--keep DIR]`
 *
 * End-to-end preprocessing throughput on a generated dump (default: the benchmark scale,
 * the fixtures `bench` preset: 4 wells of 6x6 tiles of 1024 px, 13 z, 3 labels; pass smaller
 * sizes for a quick run). Prints MB/s of raw input, peak RSS, per-stage seconds, and the ratio of
 * the whole run to the I/O floor measured in the same script: decoding every raw file once with
 * the same reader (sharp).
 *
 * `--keep DIR` keeps the dump and output in DIR; a later run with the same DIR and sizes reuses
 * DIR/dump when its generation completed (fixtures/generate.ts writes truth/summary.json last)
 * with the same options, and rewrites DIR/out from scratch.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { spawnSync } from 'node:child_process';
import type { DumpTruthSummary } from '../fixtures/generate.ts';
import { readDump } from '../io/manifest.ts';
import { readPlane } from '../io/read.ts';
import { preprocess } from '../pipelines/preprocess.ts';
import { report } from './lib.ts';

const { values: a } = parseArgs({
  options: { wells: { type: 'string', default: '4' }, grid: { type: 'string', default: '6' }, tile: { type: 'string', default: '1024' }, z: { type: 'string', default: '13' }, workers: { type: 'string', default: '2' }, keep: { type: 'string' } },
});
const dir = a.keep ?? (await mkdtemp(join(tmpdir(), 'isl-bench-preprocess-')));

/** True when `dump` holds a completed generation (truth/summary.json is written last) with these options. */
async function reusableDump(dump: string): Promise<boolean> {
  const s = await readFile(join(dump, 'truth', 'summary.json'), 'utf8').then((x) => JSON.parse(x) as DumpTruthSummary, () => undefined);
  if (!s) return false;
  const o = s.options;
  return s.seed === 1 && s.preset === 'bench' && o.wells === Number(a.wells) && o.grid === Number(a.grid) && o.tile === Number(a.tile) && o.z === Number(a.z) && o.truthCanvases === 'none';
}
try {
  const t0 = performance.now();
  let genS: number | undefined;
  if (await reusableDump(join(dir, 'dump'))) console.error(`reusing the generated dump in ${join(dir, 'dump')}`);
  else {
    // Generated in a child process so this process's peak RSS is the preprocessing's alone.
    const g = spawnSync(process.execPath, ['--import', 'tsx', 'fixtures/generate.ts', '--out', join(dir, 'dump'), '--preset', 'bench', '--seed', '1', '--wells', a.wells!, '--grid', a.grid!, '--tile', a.tile!, '--z', a.z!, '--truth-canvases', 'none'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (g.status !== 0) throw new Error('fixture generation failed');
    genS = (performance.now() - t0) / 1000;
  }
  await rm(join(dir, 'out'), { recursive: true, force: true });
  const dump = await readDump(join(dir, 'dump'));
  const files = [...dump.wells.values()].flatMap((w) => w.rows.map((r) => r.file));
  const bytes = (await Promise.all(files.map((f) => stat(f).then((s) => s.size)))).reduce((x, y) => x + y, 0);
  // I/O floor: decode every raw file once, 2 at a time (both cores).
  const limit = pLimit(2);
  const t1 = performance.now();
  await Promise.all(files.map((f) => limit(() => readPlane(f))));
  const decodeS = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const s = await preprocess({ input: join(dir, 'dump'), output: join(dir, 'out'), workers: Number(a.workers), progress: false, shards: { patchSize: 256, patchesPerWell: 32 } });
  const runS = (performance.now() - t2) / 1000;
  const run = JSON.parse(await readFile(s.runJson, 'utf8'));
  report('preprocess end-to-end vs decoding the raw files once', runS, decodeS, {
    wells: dump.wells.size, files: files.length, raw_MB: Number((bytes / 1e6).toFixed(1)), MB_s: Number((bytes / 1e6 / runS).toFixed(2)),
    peak_rss_MB: Math.round(process.resourceUsage().maxRSS / 1024), failed: s.wells.failed.length, generate_s: genS === undefined ? 'reused' : Number(genS.toFixed(1)), stages_s: run.timings_s,
  });
} finally {
  if (!a.keep) await rm(dir, { recursive: true, force: true });
}
