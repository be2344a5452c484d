import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import { parse as parseNpy } from 'npyjs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { parse as parseYaml } from 'yaml';
import { writeCanonicalWell } from '../../../io/canonical.ts';
import { readPlane } from '../../../io/read.ts';
import { preprocessingSteps } from '../../../model/bioimageio/description.ts';
import { decodeOnnx, defaultOpset } from '../../../model/bioimageio/onnx_graph.ts';
import { writeModelDir } from '../../../model/onnx/model_dir.ts';
import { buildPlan, tiny, type ModelConfig } from '../../../model/plan.ts';
import { exportBioimageio } from '../../../pipelines/export_bioimageio.ts';
import { predict } from '../../../pipelines/predict.ts';
import { applyPreprocessing } from '../../../transforms/preprocessing.ts';
import { sharedDataset } from '../../helpers/shared.ts';
import { randomWeights } from '../../helpers/weights.ts';
import { specViolations } from './spec_rules.ts';
import { syntheticWell } from '../../helpers/synthetic_well.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SPECS = join(ROOT, '..', 'shared', 'specs', 'bioimageio');
const REAL = sharedDataset('isl-condition-b-top');
const config: ModelConfig = { ...structuredClone(tiny), heads: { autoencoding: 0, labels: ['DAPI', 'TUJ1'] } };

/** A checkpoint of the tiny network and a package of it, its sample the real ISL well when ../shared has it. */
async function exported() {
  const dir = mkdtempSync(join(tmpdir(), 'isl-bioimageio-'));
  await writeModelDir(join(dir, 'model'), config, randomWeights(buildPlan(config), 7));
  let sample = REAL;
  if (!sample) {
    sample = join(dir, 'sample');
    await writeCanonicalWell(sample, syntheticWell('A01', 90, 80, 3));
  }
  const zip = join(dir, 'model.bioimageio.zip');
  await exportBioimageio({ model: join(dir, 'model'), out: zip, sample, threads: 1 });
  const files = new Map(Object.entries(unzipSync(readFileSync(zip))));
  const d = parseYaml(new TextDecoder().decode(files.get('bioimageio.yaml')!));
  return { dir, zip, files, d };
}

const npy = (b: Uint8Array) => parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);

test('the spec-rule checker accepts the bioimage.io valid example and rejects broken variants of it', (t) => {
  const path = join(SPECS, 'example-unet2d-nuclei-broad.bioimageio.yaml');
  if (!existsSync(path)) return t.pass('skipped: ../shared/specs/bioimageio not found beside the repository');
  const example = parseYaml(readFileSync(path, 'utf8'));
  t.deepEqual(specViolations(example), []);
  const broken = structuredClone(example);
  broken.outputs[0].axes[2].size.axis_id = 'z';
  broken.inputs[0].axes[1].channel_names = ['raw intensity'];
  delete broken.cite;
  t.deepEqual(specViolations(broken).length, 3, specViolations(broken).join('\n'));
});

test('export --bioimageio writes a package that passes the 0.5 rules and reproduces its test outputs in ONNX Runtime', async (t) => {
  const { files, d } = await exported();
  t.log(REAL ? `sample: ${REAL}` : 'sample: a synthetic well (../shared/data/isl-condition-b-top not found)');
  t.deepEqual(specViolations(d, files), []);

  // The fields the brief and the shared example have.
  const example = existsSync(join(SPECS, 'example-unet2d-nuclei-broad.bioimageio.yaml')) ? parseYaml(readFileSync(join(SPECS, 'example-unet2d-nuclei-broad.bioimageio.yaml'), 'utf8')) : undefined;
  for (const k of ['format_version', 'type', 'name', 'description', 'authors', 'cite', 'license', 'documentation', 'covers', 'inputs', 'outputs', 'weights', 'timestamp']) {
    t.true(k in d, `missing ${k}`);
    if (example) t.true(k in example, `${k} is not a field of the valid example`);
  }
  t.is(d.format_version, '0.5.7');
  t.true(d.cite.some((c: { doi?: string }) => c.doi === '10.1016/j.cell.2018.03.040'));
  const input = d.inputs[0];
  t.deepEqual(input.axes.map((a: { type: string }) => a.type), ['batch', 'channel', 'space', 'space']);
  t.deepEqual(input.axes[1].channel_names, ['z_slot_00', 'z_slot_01']);
  // tiny: input 26 -> output 4 at stride 2; the smallest input with an output is 24 (-> 2 px).
  t.deepEqual(input.axes[2].size, { min: 24, step: 2 });
  t.deepEqual(input.preprocessing.map((p: { id: string }) => p.id), ['ensure_dtype', 'zero_mean_unit_variance', 'scale_linear', 'clip', 'ensure_dtype']);
  t.deepEqual(
    d.outputs.map((o: { id: string }) => o.id),
    ['dapi_median', 'dapi_mean', 'dapi_mode', 'dapi_std', 'dapi_entropy', 'tuj1_median', 'tuj1_mean', 'tuj1_mode', 'tuj1_std', 'tuj1_entropy'],
  );
  t.deepEqual(d.outputs[0].axes[2].size, { tensor_id: 'transmitted', axis_id: 'y', offset: -22 });
  const model = decodeOnnx(files.get('weights.onnx')!, 'weights.onnx');
  t.is(d.weights.onnx.opset_version, defaultOpset(model));

  // The packaged ONNX on test_input.npy (declared preprocessing applied) reproduces every test output.
  const ti = npy(files.get('test_input.npy')!);
  t.is(ti.dtype, 'f4');
  const [, c, h, w] = ti.shape;
  t.is(c, 2);
  t.true(h >= 54 && h === w, `test input ${h}x${w}: an output of at least 32 px`);
  const prepared = applyPreprocessing({ channels: c, height: h, width: w, data: ti.data as Float32Array }, preprocessingSteps(input, 'bioimageio.yaml'));
  const session = await ort.InferenceSession.create(files.get('weights.onnx')!, { intraOpNumThreads: 1 });
  const r = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', prepared.data, [1, c, h, w]) });
  t.deepEqual(session.outputNames, d.outputs.map((o: { id: string }) => o.id));
  for (const o of d.outputs) {
    const want = npy(files.get(o.test_tensor.source)!);
    t.deepEqual(want.shape, [1, 1, h - 22, w - 22]);
    const got = r[o.id].data as Float32Array;
    let worst = 0;
    (want.data as Float32Array).forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]))));
    t.true(worst <= 1e-4, `${o.id} differs by ${worst}`);
    // Random weights give near-flat distributions: their medians and modes barely vary, the rest must.
    const values = new Set(want.data as Float32Array);
    if (!/_(median|mode)$/.test(o.id)) t.true(values.size > 3, `${o.id} test output has contrast (${values.size} distinct values)`);
  }
  await session.release();

  // The cover: a 2:1 PNG under 500 kB with a prediction (green) that varies.
  const cover = files.get('cover.png')!;
  const meta = await sharp(cover).metadata();
  t.is(meta.format, 'png');
  t.is(meta.width, 2 * meta.height!);
  t.true(cover.length < 500_000);
  const { data } = await sharp(cover).raw().toBuffer({ resolveWithObject: true });
  const greens = new Set<number>();
  for (let y = 0; y < meta.height!; y++) for (let x = meta.height!; x < meta.width!; x++) greens.add(data[(y * meta.width! + x) * 3 + 1]);
  t.true(greens.size > 16, `the predicted half has ${greens.size} levels`);

  // numpy (Debian python3-numpy) reads our .npy as the same array.
  const py = spawnSync('/usr/bin/python3', ['-c', 'import numpy, sys; a = numpy.load(sys.argv[1]); print(a.dtype, a.shape, float(a[0, 1, 5, 7]))', writeTmp(files.get('test_input.npy')!)], { encoding: 'utf8' });
  if (py.status === 0) t.is(py.stdout.trim(), `float32 (1, 2, ${h}, ${w}) ${(ti.data as Float32Array)[(1 * h + 5) * w + 7]}`);
  else t.log('numpy not available: skipped the numpy read-back');
});

function writeTmp(b: Uint8Array): string {
  const p = join(mkdtempSync(join(tmpdir(), 'isl-npy-')), 'a.npy');
  writeFileSync(p, b);
  return p;
}

test('predict --model PACKAGE (zip or folder) gives the predictions of the checkpoint it came from', async (t) => {
  const { dir, zip, files } = await exported();
  const wells = [syntheticWell('A01', 37, 30, 1), syntheticWell('B07', 45, 33, 3)];
  for (const w of wells) await writeCanonicalWell(join(dir, 'wells', w.well), w);
  const folder = join(dir, 'unzipped');
  for (const [name, bytes] of files) {
    mkdirSync(dirname(join(folder, name)), { recursive: true });
    writeFileSync(join(folder, name), bytes);
  }
  const run = (model: string, out: string) => predict({ model, input: join(dir, 'wells'), output: join(dir, out), stats: ['median', 'entropy'], normalize: 'none', workers: 1, progress: false, tile: 8 });
  for (const [model, out] of [[join(dir, 'model'), 'ref'], [zip, 'zip'], [folder, 'folder']]) {
    const s = await run(model, out);
    t.deepEqual(s.failed, []);
    t.is(s.done.length, 2);
  }
  for (const w of wells)
    for (const out of ['zip', 'folder'])
      for (let page = 0; page < 4; page++) {
        const file = (o: string) => join(dir, o, w.well, `well-${w.well},prediction.ome.tif`);
        const [a, b] = await Promise.all([readPlane(file('ref'), { page }), readPlane(file(out), { page })]);
        let worst = 0;
        (a.data as Float32Array).forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (b.data as Float32Array)[i]))));
        t.true(worst <= 1e-4, `${out} ${w.well} page ${page} differs by ${worst}`);
        if (page % 2 === 1) t.true(new Set(a.data as Float32Array).size > 3, 'the entropy map varies');
      }
  // A statistic the package does not output is refused before any well runs.
  const e = await t.throwsAsync(predict({ model: zip, input: join(dir, 'wells'), output: join(dir, 'x'), stats: ['median'], labels: ['NOPE'], progress: false }));
  t.regex(e!.message, /labels of the package \(DAPI, TUJ1\)/);
});

test('export --bioimageio without --sample, or with ONNX-only flags, and package flags without --bioimageio are usage errors (exit 2)', (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'pipelines/export.ts'), '--model', '/nonexistent', '--bioimageio', '/tmp/x.zip'], { encoding: 'utf8', cwd: ROOT });
  t.is(r.status, 2);
  t.regex(r.stderr, /--sample/);
  // Package options without --bioimageio (and ONNX options with it) are mistakes, not ignored.
  const stray = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'pipelines/export.ts'), '--model', '/nonexistent', '--sample', '/tmp/w'], { encoding: 'utf8', cwd: ROOT });
  t.is(stray.status, 2);
  t.regex(stray.stderr, /for --sample but/);
  const mixed = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'pipelines/export.ts'), '--model', '/nonexistent', '--bioimageio', '/tmp/x.zip', '--sample', '/tmp/w', '--layout', 'nhwc'], { encoding: 'utf8', cwd: ROOT });
  t.is(mixed.status, 2);
  t.regex(mixed.stderr, /for --layout but/);
});
