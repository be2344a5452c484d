import test from 'ava';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { IslError } from '../../core/errors.ts';
import { removeStaleTemps, tempPathFor, tempTarget, writeAtomic, writeFileAtomic } from '../../io/atomic.ts';

const tmp = () => mkdtemp(join(tmpdir(), 'isl-atomic-'));

test('tempPathFor names a temp beside the file that tempTarget maps back to it', (t) => {
  const p = tempPathFor('/out/wells/A1/x,channel-DAPI.png');
  t.is(dirname(p), '/out/wells/A1');
  t.is(tempTarget(basename(p)), 'x,channel-DAPI.png');
  t.not(tempPathFor('/a/b'), tempPathFor('/a/b'));
  for (const name of ['b', '.b', '.b.tmp', '.b.12.zz.tmp', 'b.12.0123abcd.tmp']) t.is(tempTarget(name), undefined, name);
});

test('removeStaleTemps removes only temps, of the named file or the accepted names', async (t) => {
  const dir = await tmp();
  const names = ['a.json', 'b.f32', basename(tempPathFor(join(dir, 'a.json'))), basename(tempPathFor(join(dir, 'b.f32'))), basename(tempPathFor(join(dir, 'c.png')))];
  for (const n of names) await writeFile(join(dir, n), 'x');
  t.is(await removeStaleTemps(dir, 'b.f32'), 1);
  t.is(await removeStaleTemps(dir, (n) => n.endsWith('.png')), 1);
  t.deepEqual((await readdir(dir)).sort(), [names[2], 'a.json', 'b.f32'].sort());
  t.is(await removeStaleTemps(dir), 1);
  t.deepEqual((await readdir(dir)).sort(), ['a.json', 'b.f32']);
  t.is(await removeStaleTemps(join(dir, 'missing')), 0);
});

test('a refused disk write is IslError WRITE_FAILED naming the file, and leaves no temp', async (t) => {
  const dir = await tmp();
  await writeFile(join(dir, 'file'), 'x');
  const target = join(dir, 'file', 'sub', 'out.json'); // a folder under a regular file: ENOTDIR/EEXIST
  const e = await t.throwsAsync(writeFileAtomic(target, '{}'));
  t.true(IslError.is(e, 'WRITE_FAILED'), String(e));
  t.is((e as IslError).file, target);
  t.truthy((e as IslError).cause);
  // Errors of the producer that are not file-system calls pass unchanged.
  const bad = new IslError('BAD_OPTION', 'nope');
  t.is(await t.throwsAsync(writeAtomic(join(dir, 'ok.json'), async () => { throw bad; })), bad);
  t.deepEqual((await readdir(dir)).sort(), ['file']);
  await writeFileAtomic(join(dir, 'ok.json'), '{"a":1}');
  t.is(await readFile(join(dir, 'ok.json'), 'utf8'), '{"a":1}');
});
