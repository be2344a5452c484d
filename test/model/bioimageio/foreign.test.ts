/**
 * `predict --model` on a bioimage.io 0.5 package written as another toolkit would write it
 * (foreign_package.ts). The expected prediction is computed here by hand from the weights and
 * the declared preprocessing.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IslError } from '../../../core/errors.ts';
import { plane, zStack, type Well } from '../../../core/image.ts';
import { mulberry32 } from '../../../core/random.ts';
import { readCanonicalWell, writeCanonicalWell } from '../../../io/canonical.ts';
import { readPlane } from '../../../io/read.ts';
import { predict } from '../../../pipelines/predict.ts';
import { BIAS, C, description, EPS, onnxNetwork, W, writePackage } from './foreign_package.ts';

function fixtureWell(name: string, w: number, h: number, depth: number, seed: number): Well {
  const u = mulberry32(seed);
  const planes = Array.from({ length: depth }, (_, z) => plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => 0.4 + 0.25 * Math.sin((i % w) / 3 + z) * Math.cos(Math.floor(i / w) / 4 - z) + 0.15 * u())));
  return { well: name, width: w, height: h, transmitted: { channel: 'BRIGHTFIELD', stack: zStack(planes) }, labels: new Map() };
}

/**
 * The expected prediction, by hand in float64: per channel (x, y reduced) z = (v - mean) / (std + eps)
 * with the population std; conv 3x3 of W on z with the image mirrored about its edge pixels
 * (predict pads wells by reflection so border pixels are predicted; the halo hides the network's own zero padding); sigmoid.
 */
function byHand(well: Well): Float64Array {
  const { width: w, height: h } = well;
  const s = well.transmitted.stack.data;
  const n = w * h;
  const z = new Float64Array(C * n);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += s[c * n + i];
    const mean = sum / n;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += (s[c * n + i] - mean) ** 2;
    const std = Math.sqrt(sq / n);
    for (let i = 0; i < n; i++) z[c * n + i] = (s[c * n + i] - mean) / (std + EPS);
  }
  const mirror = (i: number, len: number) => (i < 0 ? -i : i >= len ? 2 * (len - 1) - i : i);
  const out = new Float64Array(n);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = BIAS;
      for (let c = 0; c < C; c++) for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) v += W[c][dy][dx] * z[c * n + mirror(y + dy - 1, h) * w + mirror(x + dx - 1, w)];
      out[y * w + x] = 1 / (1 + Math.exp(-v));
    }
  return out;
}

function tmp(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'isl-foreign-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("predict --model runs another toolkit's package (zip and folder) through the tiling with its declared preprocessing: equals the prediction computed by hand", async (t) => {
  const dir = tmp(t);
  const onnx = onnxNetwork();
  const zip = writePackage(join(dir, 'tiny.zip'), description(onnx), onnx, true);
  const folder = writePackage(join(dir, 'tiny'), description(onnx), onnx);
  const wells = [fixtureWell('A01', 41, 35, C, 1), fixtureWell('B02', 23, 50, C, 2)];
  for (const w of wells) await writeCanonicalWell(join(dir, 'wells', w.well), w);
  for (const [model, out] of [[zip, 'zip'], [folder, 'folder']]) {
    // tile 18: several passes per well, so tile placement matters.
    const s = await predict({ model, input: join(dir, 'wells'), output: join(dir, out), stats: ['mean'], normalize: 'none', tile: 18, workers: 1, progress: false });
    t.deepEqual(s.failed, []);
    t.is(s.done.length, 2);
    for (const w of wells) {
      const expected = byHand(await readCanonicalWell(join(dir, 'wells', w.well))); // the 16-bit values predict reads
      const got = (await readPlane(join(dir, out, w.well, `well-${w.well},prediction.ome.tif`), { page: 0 })).data as Float32Array;
      t.is(got.length, expected.length);
      let worst = 0;
      let spread = 0;
      got.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - expected[i]));
        spread = Math.max(spread, Math.abs(expected[i] - expected[0]));
      });
      t.true(worst < 2e-6, `${out} ${w.well}: differs from the hand computation by ${worst}`);
      t.true(spread > 0.1, `the expected map varies (${spread})`); // a constant map would hide misplaced tiles
    }
  }
  // The package outputs one value per pixel: asking for a median is refused before any work, naming the flag's key.
  const e = await t.throwsAsync(predict({ model: zip, input: join(dir, 'wells'), output: join(dir, 'x'), stats: ['median'], progress: false }));
  t.true(IslError.is(e, 'BAD_OPTION'));
  t.regex(e!.message, /statistics the package outputs \(mean/);
});

/** Runs predict on a one-well folder with `model` and returns the IslError it throws or the well's failure. */
async function failure(dir: string, model: string, depth = C): Promise<{ code?: string; file?: string; message: string }> {
  const wells = join(dir, `wells-${depth}`);
  await writeCanonicalWell(join(wells, 'A01'), fixtureWell('A01', 30, 30, depth, 5));
  try {
    const s = await predict({ model, input: wells, output: join(dir, `out-${Math.random()}`), stats: ['mean'], normalize: 'none', tile: 18, workers: 1, progress: false });
    if (s.failed.length === 0) return { message: 'no error' };
    return { code: s.failed[0].code, file: undefined, message: s.failed[0].error };
  } catch (e) {
    return { code: (e as IslError).code, file: (e as IslError).file, message: (e as Error).message };
  }
}

test('a package predict cannot run fails with BAD_INPUT naming its description and what does not fit: 3-D input, no ONNX weights, channels other than the z-planes', async (t) => {
  const dir = tmp(t);
  const onnx = onnxNetwork();

  const threeD = description(onnx);
  threeD.inputs[0].axes.splice(2, 0, { type: 'space', id: 'z', size: 8 });
  const p3 = writePackage(join(dir, 'three-d'), threeD, onnx);
  const e3 = await failure(dir, p3);
  t.is(e3.code, 'BAD_INPUT');
  t.is(e3.file, `${p3}:bioimageio.yaml`);
  t.regex(e3.message, /input raw is 3-D \(space axes z, y, x\)/);

  const torch = description(onnx);
  torch.weights = { pytorch_state_dict: { source: 'weights.pt', sha256: '0'.repeat(64) }, torchscript: { source: 'weights.ts', sha256: '0'.repeat(64) } };
  const pt = writePackage(join(dir, 'torch'), torch, undefined);
  const et = await failure(dir, pt);
  t.is(et.code, 'BAD_INPUT');
  t.is(et.file, `${pt}:bioimageio.yaml`);
  t.regex(et.message, /has no onnx weights \(it has pytorch_state_dict, torchscript\)/);

  // A well of 5 z-planes for a 3-channel network: the well fails (others would still run), naming package and well.
  const ok = writePackage(join(dir, 'ok'), description(onnx), onnx);
  const ec = await failure(dir, ok, 5);
  t.is(ec.code, 'BAD_INPUT');
  t.regex(ec.message, /takes 3 channels \(z-planes\) but well A01 .* has 5 z-planes/);
  t.true(ec.message.startsWith(`${ok}:bioimageio.yaml: `), ec.message); // the runner's error names the package's description
});
