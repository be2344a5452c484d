import test from 'ava';
import { mkdtemp, readdir, rm, copyFile, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import { readCanonicalWell, writeCanonicalWell, writeCanonicalWellFrom } from '../../io/canonical.ts';
import { spawnSync } from 'node:child_process';
import { plane, stackPlane, zStack, type Well } from '../../core/image.ts';
import { sharedDataset, withShared } from '../helpers/shared.ts';
import { requirePrerequisite } from '../helpers/prerequisite.ts';
import { decodeGreyPng } from './png_reference.ts';

const ISL = 'isl-condition-b-top';

withShared(test, ISL)('loads the published ISL well: 13 z-planes + 3 labels, pixel values match an independent PNG decode', async (t) => {
  const dir = sharedDataset(ISL)!;
  const w = await readCanonicalWell(dir);
  t.is(w.well, 'A4');
  t.is(w.width, 1024);
  t.is(w.height, 640);
  t.is(w.transmitted.channel, 'PHASE_CONTRAST');
  t.is(w.transmitted.stack.depth, 13);
  t.deepEqual([...w.labels.keys()], ['DAPI_CONFOCAL', 'MAP2_CONFOCAL', 'NFH_CONFOCAL']);
  const files = await readdir(dir);
  const check = (name: string, p: { data: Float32Array }) => {
    const ref = decodeGreyPng(join(dir, files.find((f) => f.includes(name))!));
    t.is(ref.bitDepth, 16);
    let maxErr = 0;
    for (let i = 0; i < ref.data.length; i++) maxErr = Math.max(maxErr, Math.abs(p.data[i] - Math.fround(ref.data[i] / 65535)));
    t.is(maxErr, 0, `${name}: every pixel equals the reference decode / 65535`);
  };
  check('z_depth-0,', stackPlane(w.transmitted.stack, 0));
  check('z_depth-12,', stackPlane(w.transmitted.stack, 12));
  check('z_depth-10,', stackPlane(w.transmitted.stack, 10));
  check('DAPI_CONFOCAL', w.labels.get('DAPI_CONFOCAL')!);
  check('NFH_CONFOCAL', w.labels.get('NFH_CONFOCAL')!);
  // The dataset README: transmitted mean ~0.5, fluorescence background ~0.2.
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const tm = mean(stackPlane(w.transmitted.stack, 6).data);
  t.true(tm > 0.4 && tm < 0.6, `transmitted mean ${tm}`);
  const dapi = Float32Array.from(w.labels.get('DAPI_CONFOCAL')!.data).sort();
  const median = dapi[dapi.length >> 1];
  t.true(median > 0.1 && median < 0.3, `DAPI median ${median}`);
});

function smallWell(): Well {
  const W = 19;
  const H = 11;
  const planes = [0, 1, 2].map((z) => plane('float32', W, H, Float32Array.from({ length: W * H }, (_, i) => ((i * 37 + z * 101) % 1000) / 999)));
  const dapi = plane('float32', W, H, Float32Array.from({ length: W * H }, (_, i) => (i % 7) / 6));
  return { well: 'B3', width: W, height: H, transmitted: { channel: 'BRIGHTFIELD', stack: zStack(planes) }, labels: new Map([['DAPI_CONFOCAL', dapi]]) };
}

test('writeCanonicalWell writes ISL names + OME-TIFF; readCanonicalWell reads back within 1/65535', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'isl-canon-'));
  const w = smallWell();
  const paths = await writeCanonicalWell(dir, w, { lab: 'TEST', condition: 'C1', year: 2024, month: 1, day: 2, minute: 3, pixelSizeUm: 0.5 });
  t.deepEqual(paths.map((p) => p.slice(dir.length + 1)), [
    'lab-TEST,condition-C1,acquisition_date,year-2024,month-1,day-2,minute-3,well-B3,tile_computation-STITCHED,z_depth-0,channel-BRIGHTFIELD,is_mask-false.png',
    'lab-TEST,condition-C1,acquisition_date,year-2024,month-1,day-2,minute-3,well-B3,tile_computation-STITCHED,z_depth-1,channel-BRIGHTFIELD,is_mask-false.png',
    'lab-TEST,condition-C1,acquisition_date,year-2024,month-1,day-2,minute-3,well-B3,tile_computation-STITCHED,z_depth-2,channel-BRIGHTFIELD,is_mask-false.png',
    'lab-TEST,condition-C1,acquisition_date,year-2024,month-1,day-2,minute-3,well-B3,tile_computation-STITCHED,depth_computation-MAXPROJECT,channel-DAPI_CONFOCAL,is_mask-false.png',
    'lab-TEST,condition-C1,acquisition_date,year-2024,month-1,day-2,minute-3,well-B3,tile_computation-STITCHED.ome.tif',
  ]);
  t.is((await readdir(dir)).length, 5, 'no temp files left');
  const png = decodeGreyPng(paths[1]);
  t.is(png.data[5], Math.round(w.transmitted.stack.data[w.width * w.height + 5] * 65535));
  const back = await readCanonicalWell(dir);
  t.is(back.transmitted.stack.depth, 3);
  let maxErr = 0;
  back.transmitted.stack.data.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - w.transmitted.stack.data[i]))));
  t.true(maxErr <= 0.5 / 65535 + 1e-9, `max error ${maxErr}`);
  t.deepEqual(Array.from(back.labels.get('DAPI_CONFOCAL')!.data).map((v) => Math.round(v * 6)), Array.from(w.labels.get('DAPI_CONFOCAL')!.data).map((v) => Math.round(v * 6)));
  const b = await readFile(paths[4]);
  const tiff = await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  t.is(await tiff.getImageCount(), 4);
  const desc = String(await (await tiff.getImage(0)).fileDirectory.loadValue('ImageDescription'));
  t.regex(desc, /<Image ID="Image:0" Name="BRIGHTFIELD"><Pixels[^>]* Type="uint16" SizeX="19" SizeY="11" SizeZ="3" SizeC="1" SizeT="1" PhysicalSizeX="0.5" PhysicalSizeY="0.5"/);
  t.regex(desc, /<Image ID="Image:1" Name="DAPI_CONFOCAL">/);
  const page3 = (await (await tiff.getImage(3)).readRasters()) as unknown as ArrayLike<number>[];
  t.deepEqual(Array.from(page3[0]), Array.from(decodeGreyPng(paths[3]).data));
  await rm(dir, { recursive: true });
});

test('readCanonicalWell: missing z-plane, several wells, duplicate label, wrong size give clear errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'isl-canon-'));
  const paths = await writeCanonicalWell(dir, smallWell(), { omeTiff: false });
  await rm(paths[1]);
  await t.throwsAsync(readCanonicalWell(dir), { message: `${dir}: well B3: missing z_depth-1 of BRIGHTFIELD (found 0,2)` });
  await copyFile(paths[0], paths[1]);
  await copyFile(paths[0], join(dir, 'well-C1,z_depth-0,channel-BRIGHTFIELD,is_mask-false.png'));
  await t.throwsAsync(readCanonicalWell(dir), { message: 'Expected one of B3, C1 (the folder holds several wells) for well but received undefined (undefined)' });
  await t.throwsAsync(readCanonicalWell(dir, { well: 'Z9' }), { message: 'Expected one of B3, C1 for well but received "Z9" (string)' });
  const c1 = await readCanonicalWell(dir, { well: 'C1' });
  t.is(c1.transmitted.stack.depth, 1);
  t.is(c1.labels.size, 0);
  await copyFile(paths[3], join(dir, 'well-B3,depth_computation-MAXPROJECT,channel-DAPI_CONFOCAL,is_mask-false.png'));
  await t.throwsAsync(readCanonicalWell(dir, { well: 'B3' }), { message: /: duplicate label DAPI_CONFOCAL for well B3 \(also / });
  await rm(join(dir, 'well-B3,depth_computation-MAXPROJECT,channel-DAPI_CONFOCAL,is_mask-false.png'));
  await writeFile(paths[2], Buffer.from('not a png'));
  await t.throwsAsync(readCanonicalWell(dir, { well: 'B3' }), { message: `${paths[2]}: cannot decode image (corrupt or truncated?): Input file contains unsupported image format` });
  await rm(dir, { recursive: true });
});

// tifffile (Debian python3-tifffile) is the independent reader of the BigTIFF OME-TIFF; CI has it.
const tifffile = spawnSync('/usr/bin/python3', ['-c', 'import tifffile, numpy'], { encoding: 'utf8' }).status === 0;

requirePrerequisite(test, 'python3-tifffile', tifffile, '/usr/bin/python3 importing tifffile and numpy: apt-get install python3-tifffile')('writeCanonicalWellFrom: planes produced one at a time; past the BigTIFF threshold the OME-TIFF is BigTIFF and tifffile reads every plane exactly', async (t) => {
  const W = 37, H = 23, D = 3;
  const value = (ch: number, z: number, i: number) => ((ch * 7919 + z * 104729 + i * 31) % 65536) / 65535;
  const asked: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'isl-bigtiff-'));
  try {
    for (const [name, threshold, big] of [['classic', undefined, false], ['big', 1000, true]] as const) {
      const out = join(dir, name);
      const files = await writeCanonicalWellFrom(out, {
        well: 'B2', width: W, height: H, transmitted: { channel: 'BRIGHTFIELD', depth: D }, labels: ['DAPI', 'MAP2'],
        plane: (ch, z) => {
          asked.push(`${ch}${z}`);
          const c = ['BRIGHTFIELD', 'DAPI', 'MAP2'].indexOf(ch);
          return plane('float32', W, H, Float32Array.from({ length: W * H }, (_, i) => value(c, z, i)));
        },
      }, { lab: 'L', condition: 'C', bigTiffAbove: threshold });
      const ome = files.find((f) => f.endsWith('.ome.tif'))!;
      t.is(files.length, D + 2 + 1);
      const py = spawnSync('/usr/bin/python3', ['-c', `
import sys, json, tifffile, numpy as np
with tifffile.TiffFile(sys.argv[1]) as f:
    print(json.dumps({"big": f.is_bigtiff, "ome": f.is_ome, "series": [list(s.shape) for s in f.series],
                      "sums": [int(p.asarray().astype(np.int64).sum()) for p in f.pages], "first": [int(v) for v in f.pages[0].asarray().ravel()[:5]]}))
`, ome], { encoding: 'utf8' });
      t.is(py.status, 0, py.stderr);
      const r = JSON.parse(py.stdout);
      t.is(r.big, big, `${name}: BigTIFF ${big}`);
      t.true(r.ome);
      t.deepEqual(r.series, [[D, H, W], [H, W], [H, W]]);
      const pages: [number, number][] = [...[...Array(D).keys()].map((z): [number, number] => [0, z]), [1, 0], [2, 0]];
      const sums = pages.map(([c, z]) => {
        let s = 0;
        for (let i = 0; i < W * H; i++) s += Math.round(value(c, z, i) * 65535);
        return s;
      });
      t.deepEqual(r.sums, sums, `${name}: every page's pixel sum equals the planes given`);
      t.deepEqual(r.first, [0, 1, 2, 3, 4].map((i) => Math.round(value(0, 0, i) * 65535)));
      const back = await readCanonicalWell(out);
      t.is(back.transmitted.stack.data[W * H + 5], Math.fround(Math.round(value(0, 1, 5) * 65535) / 65535));
    }
    t.deepEqual(asked.slice(0, 5), ['BRIGHTFIELD0', 'BRIGHTFIELD1', 'BRIGHTFIELD2', 'DAPI0', 'MAP20'], 'each plane asked for once, in order');
    t.is(asked.length, 10);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
