/** The salt_and_pepper stage's cache of denoised planes (pipelines/stages/salt_and_pepper.ts). */
import test from 'ava';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plane, type Plane } from '../../../core/image.ts';
import { cacheDir, saltAndPepper } from '../../../pipelines/stages/salt_and_pepper.ts';
import { newContext, type PreprocessContext, type TileItem } from '../../../pipelines/stages/items.ts';
import { removeSaltAndPepper } from '../../../transforms/median.ts';
import { rng } from '../../../core/random.ts';

let root: string;
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'isl-snp-'));
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A noisy 40x30 tile with hot and dead pixels; integer counts unless `fractional`. */
function tile(seed: number, fractional = false): TileItem {
  const r = rng(seed);
  const d = Float32Array.from({ length: 40 * 30 }, () => {
    const v = 500 + 100 * r.normal();
    return fractional ? v : Math.round(v);
  });
  for (let k = 0; k < 20; k++) d[Math.floor(r.range(0, d.length))] = k % 2 ? 65535 : 0;
  return { well: 'A1', tileRow: 0, tileCol: 0, channel: 'DAPI', z: 0, path: 'x.tif', modality: 'fluorescence', plane: plane('float32', 40, 30, d) };
}

async function run(ctx: PreprocessContext, t: TileItem, params: Record<string, unknown> = {}): Promise<Plane<'float32'>> {
  const impl = saltAndPepper.create(saltAndPepper.params.parse(params), ctx, 'salt_and_pepper');
  if (impl.type !== 'map') throw new Error('expected a map');
  return ((await impl.map(t)) as TileItem).plane;
}

async function entries(dir: string): Promise<string[]> {
  const subs = await readdir(dir).catch(() => [] as string[]);
  return (await Promise.all(subs.map(async (s) => (await readdir(join(dir, s))).map((f) => join(dir, s, f))))).flat();
}

const same = (a: Plane<'float32'>, b: Plane<'float32'>) => Buffer.compare(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength), Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)) === 0;

test('integer counts: stored once as uint16, read back bit for bit by a later pass, with the same notes', async (t) => {
  const out = join(root, 'int');
  const x = tile(1);
  const direct = removeSaltAndPepper(x.plane);
  const first = newContext({ mode: 'training', wells: ['A1'], output: out, estimating: 'fluorescence_dust' });
  t.true(same(await run(first, x), direct.plane));
  const [file] = await entries(cacheDir(out, 'salt_and_pepper'));
  t.is((await stat(file)).size, 24 + 40 * 30 * 2, 'uncompressed uint16 after a 24-byte header');
  // a later pass (fresh context, as a per-well job) reads the entry: change its recorded pass
  // count and the notes follow the file, proving it was read rather than recomputed
  const buf = await readFile(file);
  buf.writeUInt32LE(7, 12);
  await writeFile(file, buf);
  const later = newContext({ mode: 'training', wells: ['A1'], output: out });
  t.true(same(await run(later, x), direct.plane));
  t.is(later.wellNotes.get('A1')!.medianIterationsMax, 7);
  t.is(first.wellNotes.get('A1')!.medianIterationsMax, direct.iterations);
  t.is((await entries(cacheDir(out, 'salt_and_pepper'))).length, 1);
});

test('non-integer input is stored as float32 and comes back identical', async (t) => {
  const out = join(root, 'float');
  const x = tile(2, true);
  const direct = removeSaltAndPepper(x.plane).plane;
  t.true(same(await run(newContext({ mode: 'training', wells: ['A1'], output: out }), x), direct));
  const [file] = await entries(cacheDir(out, 'salt_and_pepper'));
  t.is((await stat(file)).size, 24 + 40 * 30 * 4);
  t.true(same(await run(newContext({ mode: 'training', wells: ['A1'], output: out }), x), direct));
});

test('keyed by input and options; a truncated entry is recomputed and replaced; cache: false writes nothing', async (t) => {
  const out = join(root, 'keys');
  const ctx = () => newContext({ mode: 'training', wells: ['A1'], output: out });
  const a = tile(3);
  const b = tile(4);
  await run(ctx(), a);
  await run(ctx(), b);
  await run(ctx(), a, { maxIterations: 2 });
  const files = await entries(cacheDir(out, 'salt_and_pepper'));
  t.is(files.length, 3, 'two inputs, and one of them with other options');
  // a foreign or cut entry (not something our atomic writes leave) is not trusted
  for (const f of files) await writeFile(f, (await readFile(f)).subarray(0, 100));
  t.true(same(await run(ctx(), a), removeSaltAndPepper(a.plane).plane));
  t.is((await Promise.all(files.map((f) => stat(f).then((s) => s.size)))).filter((s) => s === 24 + 40 * 30 * 2).length, 1, 'the entry used was rewritten whole');
  const off = join(root, 'off');
  t.true(same(await run(newContext({ mode: 'training', wells: ['A1'], output: off }), a, { cache: false }), removeSaltAndPepper(a.plane).plane));
  t.deepEqual(await entries(cacheDir(off, 'salt_and_pepper')), []);
  // transmitted tiles pass through untouched and are not cached
  const tr = { ...b, modality: 'transmitted' as const };
  t.is(await run(newContext({ mode: 'training', wells: ['A1'], output: off }), tr), tr.plane);
});
