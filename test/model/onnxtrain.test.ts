/**
 * The hand-written backward pass of the ONNX training graph, every trainable tensor against
 * finite differences (test/helpers/grad_check.ts), on `phased`, the config whose plan holds every
 * op kind (and kernel/stride) of every named ISL config. model/README.md lists the injected gradient
 * bugs this test fails on, with their measured errors.
 */
import test from 'ava';
import { buildPlan, configs, phased, type Plan } from '../../model/plan.ts';
import { gradCheck, gradFailures, relativeError } from '../helpers/grad_check.ts';

/** Op kinds with their kernel/stride, e.g. `conv 4/2`: what the backward pass must handle. */
function opKinds(plan: Plan): Set<string> {
  return new Set(plan.ops.map((o) => ('kernel' in o ? `${o.op} ${o.kernel}/${o.stride}` : o.op)));
}

// Smallest input of `phased` (2 px output): a few CPU-seconds, every op kept.
const CHECKED = buildPlan(phased, { inputSize: 34 });
/** Relative error a tensor's gradient may have beyond 4 sigma of the loss's rounding (see README). */
const RTOL = 0.15;

// The baselines (unet, deeplab: max-pool, 2/2 transposed and dilated convs) have their own
// whole-tensor check in test/model/baselines.test.ts.
test('the checked plan holds every op kind of every ISL config', (t) => {
  const have = opKinds(CHECKED);
  for (const [name, config] of Object.entries(configs)) {
    if (config.arch === 'unet' || config.arch === 'deeplab') continue;
    const missing = [...opKinds(buildPlan(config))].filter((k) => !have.has(k));
    t.deepEqual(missing, [], `config ${name} has ops the gradient check does not cover`);
  }
  for (const k of ['crop_channels', 'pad_channels', 'avgpool 2/2', 'conv_transpose 4/2', 'upsample_nearest', 'pad_edge']) t.true(have.has(k), k);
});

test('every gradient tensor of the training graph matches finite differences', async (t) => {
  const report = await gradCheck(CHECKED, { seed: 1 });
  t.is(report.tensors.length, CHECKED.weights.filter((w) => w.trainable).length);
  const bad = gradFailures(report, RTOL);
  const worst = [...report.tensors].sort((a, b) => relativeError(b) - relativeError(a)).slice(0, 4);
  t.log(`${bad.length} of ${report.tensors.length} tensors beyond tolerance; loss ${report.loss.toFixed(6)}, its rounding noise ${report.lossNoise.toExponential(1)}; worst relative errors: ${worst.map((w) => `${w.name} ${relativeError(w).toFixed(3)}`).join(', ')}`);
  t.deepEqual(
    bad.map((b) => `${b.name}: graph ${b.graph.map((x) => x.toExponential(3))} fd ${b.fd.map((x) => x.toExponential(3))} (|g| ${b.gradNorm.toExponential(2)})`),
    [],
  );
});
