/**
 * Opening a bioimage.io package that is broken: each an IslError BAD_INPUT naming the file and
 * the problem, raised before any well is predicted (describeModel is what predict calls first).
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { IslError } from '../../../core/errors.ts';
import { describeModel } from '../../../model/bioimageio/open.ts';
import { description, onnxNetwork, writePackage } from './foreign_package.ts';

const REQUEST = { statistics: ['mean' as const], tile: 18 };

function tmp(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'isl-open-errors-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function refused(t: any, path: string): Promise<IslError> {
  const e = await t.throwsAsync(describeModel(path, REQUEST));
  t.true(IslError.is(e, 'BAD_INPUT'), `${e?.name}: ${e?.message}`);
  return e as IslError;
}

test('the valid foreign package opens (the baseline the broken ones differ from)', async (t) => {
  const dir = tmp(t);
  const onnx = onnxNetwork();
  const info = await describeModel(writePackage(join(dir, 'p.zip'), description(onnx), onnx, true), REQUEST);
  t.is(info.config.zSlots, 3);
  t.is(info.config.inputSize - info.config.outputWindow, 2, 'a halo of 1 per side');
  t.true(info.wholeImage, 'zero_mean_unit_variance takes statistics of the whole well');
});

test('a zip without bioimageio.yaml names the zip and what it holds', async (t) => {
  const dir = tmp(t);
  const zip = join(dir, 'nodesc.zip');
  writeFileSync(zip, zipSync({ 'weights.onnx': onnxNetwork(), 'README.md': new TextEncoder().encode('x') }));
  const e = await refused(t, zip);
  t.is(e.file, zip);
  t.regex(e.message, /holds no bioimage\.io description \(bioimageio\.yaml or rdf\.yaml\); found weights\.onnx, README\.md/);
});

test('weights whose sha256 differs from the description name the weights file and both hashes', async (t) => {
  const dir = tmp(t);
  const onnx = onnxNetwork();
  const d = description(onnx);
  const recorded = d.weights.onnx.sha256 as string;
  const tampered = Uint8Array.from(onnx);
  tampered[tampered.length - 1] ^= 1; // one bit of the last weight
  for (const zip of [false, true]) {
    const p = writePackage(join(dir, zip ? 'p.zip' : 'p'), d, tampered, zip);
    const e = await refused(t, p);
    t.is(e.file, `${p}:weights.onnx`);
    t.regex(e.message, new RegExp(`has sha256 [0-9a-f]{64} but bioimageio\\.yaml records ${recorded} \\(corrupt or replaced weights\\)`));
  }
});

test('an unknown preprocessing op names the description, the tensor and the op', async (t) => {
  const dir = tmp(t);
  const onnx = onnxNetwork();
  const d = description(onnx);
  d.inputs[0].preprocessing.push({ id: 'binarize', kwargs: { threshold: 0.5 } });
  const p = writePackage(join(dir, 'p'), d, onnx);
  const e = await refused(t, p);
  t.is(e.file, `${p}:bioimageio.yaml`);
  t.true(e.message.startsWith(`${p}:bioimageio.yaml: `), e.message);
  t.regex(e.message, /inputs\[raw\]\.preprocessing: binarize is not supported; predict implements scale_linear, .*zero_mean_unit_variance/);
});

test('a corrupt zip (truncated) names the zip', async (t) => {
  const dir = tmp(t);
  const onnx = onnxNetwork();
  const good = writePackage(join(dir, 'good.zip'), description(onnx), onnx, true);
  const bytes = zipSync({ 'bioimageio.yaml': new TextEncoder().encode('type: model\n'), 'weights.onnx': onnx });
  const zip = join(dir, 'cut.zip');
  writeFileSync(zip, bytes.subarray(0, bytes.length - 30)); // the end-of-central-directory record is gone
  const e = await refused(t, zip);
  t.is(e.file, zip);
  t.regex(e.message, /is not a readable zip/);
  await t.notThrowsAsync(describeModel(good, REQUEST));
});
