/**
 * Image IO speed: our readPlane (sharp/libvips) against pure-JS decoders (geotiff, utif2) and
 * OpenCV (Debian python3-opencv, the reference), and our writers against cv2.imwrite /
 * tifffile. Input: a 2048x2048 uint16 plane (smooth gradient + seeded noise, like a microscope tile).
 *
 *   npm run bench -- io
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import UTIF from 'utif2';
import { plane } from '../core/image.ts';
import { readPlane } from '../io/read.ts';
import { writeOmeTiff, writePng, writeTiff } from '../io/write.ts';
import { pythonSeconds, report, timeIt } from './lib.ts';

const N = 2048;
const dir = await mkdtemp(join(tmpdir(), 'bench-io-'));
const img = plane('uint16', N, N);
let s = 12345;
for (let y = 0; y < N; y++)
  for (let x = 0; x < N; x++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: deterministic noise
    img.data[y * N + x] = 1000 + ((x + y) >> 2) + (s >>> 24);
  }
const files = {
  'tiff-none': join(dir, 'none.tif'),
  'tiff-lzw': join(dir, 'lzw.tif'),
  'tiff-deflate': join(dir, 'deflate.tif'),
  png16: join(dir, 'a.png'),
};
await writeTiff(files['tiff-none'], img, { compression: 'none' });
await writeTiff(files['tiff-lzw'], img, { compression: 'lzw' });
await writeTiff(files['tiff-deflate'], img, { compression: 'deflate' });
await writePng(files.png16, img);

const REPS = 5;
const py = (body: string, path: string) =>
  pythonSeconds(
    `import sys, time, cv2, numpy as np\np=sys.argv[1]\n${body}\nts=[]\nfor i in range(${REPS + 1}):\n  t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)\nprint(sorted(ts[1:])[${REPS >> 1}])`,
    [path],
  );

for (const [name, path] of Object.entries(files)) {
  const ours = await timeIt(async () => {
    const p = await readPlane(path);
    if (p.data[0] !== img.data[0]) throw new Error('wrong decode');
  }, REPS);
  const extra: Record<string, number> = {};
  if (name !== 'png16') {
    extra.geotiff_s = await timeIt(async () => {
      const b = await readFile(path);
      const t = await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      await (await t.getImage()).readRasters();
    }, 3);
    extra.utif2_s = await timeIt(async () => {
      const b = await readFile(path);
      const ifds = UTIF.decode(b);
      UTIF.decodeImage(b, ifds[0]);
    }, 3);
  }
  const ref = py(`def f():\n  a=cv2.imread(p, cv2.IMREAD_UNCHANGED)\n  assert a.dtype==np.uint16`, path);
  report(`io.read.${name}`, ours, ref, { MB: (N * N * 2) / 1e6, ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, Number(v.toPrecision(4))])) });
}

// Writers, each against the OpenCV/tifffile equivalent on the same 8 MB plane.
const out = join(dir, 'out');
const ourPng = await timeIt(() => writePng(`${out}.png`, img), 3);
const refPng = py(`a=cv2.imread(p, cv2.IMREAD_UNCHANGED)\ndef f():\n  cv2.imwrite('${out}-ref.png', a)`, files.png16);
report('io.write.png16', ourPng, refPng);
const ourTif = await timeIt(() => writeTiff(`${out}.tif`, img, { compression: 'deflate' }), 3);
const refTif = py(`a=cv2.imread(p, cv2.IMREAD_UNCHANGED)\ndef f():\n  cv2.imwrite('${out}-ref.tif', a, [cv2.IMWRITE_TIFF_COMPRESSION, 8])`, files.png16);
report('io.write.tiff-deflate', ourTif, refTif);
const stack = Array.from({ length: 8 }, () => ({ name: 'PHASE_CONTRAST', plane: img }));
const ourOme = await timeIt(() => writeOmeTiff(`${out}.ome.tif`, stack, { pixelSizeUm: 0.5 }), 3);
let refOme = NaN;
try {
  refOme = pythonSeconds(
    `import sys, time, cv2, tifffile, numpy as np\na=cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)\ns=np.stack([a]*8)\nts=[]\nfor i in range(4):\n  t=time.perf_counter(); tifffile.imwrite('${out}-ref.ome.tif', s, ome=True, compression='zlib', metadata={'axes':'ZYX','PhysicalSizeX':0.5,'PhysicalSizeY':0.5}); ts.append(time.perf_counter()-t)\nprint(sorted(ts[1:])[1])`,
    [files.png16],
  );
} catch (e) {
  console.error(`tifffile reference unavailable: ${(e as Error).message}`);
}
report('io.write.ome-tiff-8x-deflate', ourOme, refOme);
await rm(dir, { recursive: true });
