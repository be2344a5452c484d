import test from 'ava';
import * as ort from 'onnxruntime-node';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan, tiny, withHeads } from '../../../model/plan.ts';
import { exportOnnx } from '../../../model/onnx/export.ts';
import { writeModelDir } from '../../../model/onnx/model_dir.ts';
import { randomWeights } from '../../helpers/weights.ts';

const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'pipelines/export.ts', ...args], { cwd: new URL('../../..', import.meta.url).pathname, encoding: 'utf8' });

test('export CLI writes a checkpoint as the ONNX model exportOnnx builds; bad usage exits 2 naming the flag, a missing checkpoint 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'isl-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = withHeads(tiny, { autoencoding: 1, labels: ['nuclei'] });
  const weights = randomWeights(buildPlan(config), 5);
  await writeModelDir(dir, config, weights);
  const out = join(dir, 'stats.onnx');
  const r = run(['--model', dir, '--out', out, '--outputs', 'probabilities,median']);
  t.is(r.status, 0, r.stderr);
  const bytes = readFileSync(out);
  t.true(bytes.equals(exportOnnx(buildPlan(config), weights, { outputs: ['probabilities', 'median'] })), 'the file is exportOnnx of the checkpoint');
  const s = await ort.InferenceSession.create(bytes);
  t.deepEqual([...s.outputNames].sort(), ['median/nuclei', 'probabilities/nuclei']);
  t.deepEqual([...s.inputNames], ['input']);
  await s.release();

  const bad = run(['--model', dir, '--outputs', 'probabilities,bogus']);
  t.is(bad.status, 2, bad.stderr);
  t.regex(bad.stderr, /--outputs/);
  const missing = run(['--model', join(dir, 'nowhere')]);
  t.is(missing.status, 1, missing.stderr);
  t.regex(missing.stderr, /nowhere/);
});
