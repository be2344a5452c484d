import test from 'ava';
import { buildPlan, countParams, paper, small, tiny, withHeads, configByName, outputStride, type Plan } from '../../model/plan.ts';

const paper35 = withHeads(paper, { autoencoding: 26, labels: Array.from({ length: 9 }, (_, i) => `label${i}`) });

function tensor(plan: Plan, name: string) {
  const op = plan.ops.find((o) => o.output === name);
  if (!op) throw new Error(`no tensor ${name}`);
  return op;
}

test('paper config with 26 + 9 heads has the reference parameter count', (t) => {
  const plan = buildPlan(paper35);
  t.is(countParams(plan), 9_273_708);
  t.is(countParams(plan, (w) => !w.name.startsWith('head/')), 8_113_388);
  t.is(countParams(plan, (w) => w.name.startsWith('head/label3/')), 33_152);
  t.is(plan.heads.length, 35);
});

test('paper towers match the reference depths and sizes (isl_torch_ref.py: [16,12,12,12,12], 36 px)', (t) => {
  const plan = buildPlan(paper);
  const outs = [0, 1, 2, 3, 4].map((i) => tensor(plan, `tower${i}/block17/add`).shape);
  t.deepEqual(outs.map((s) => s[2]), [16, 12, 12, 12, 12]);
  t.deepEqual(outs.map((s) => s[0]), [36, 36, 36, 36, 36]);
  t.deepEqual(tensor(plan, 'tower0/crop').shape, [72, 72, 16]);
  t.deepEqual(tensor(plan, 'towers/concat').shape, [36, 36, 64]);
  // first down-scale block of tower 4: 250 -> 124 with depths from the stage's output size 122 (r = 4, expand = next even of 21.6)
  t.deepEqual(tensor(plan, 'tower4/block0/expand/conv').shape, [124, 124, 22]);
  t.deepEqual(tensor(plan, 'tower4/block0/add').shape, [124, 124, 16]);
});

test('250 px gives 8 px; fully convolutional sizes are 250 + 16k', (t) => {
  t.is(buildPlan(paper).outputSize, 8);
  t.is(buildPlan(paper, { inputSize: 266 }).outputSize, 24);
  t.is(buildPlan(paper, { inputSize: 250 + 16 * 10 }).outputSize, 168);
  t.is(outputStride(paper), 16);
  const e = t.throws(() => buildPlan(paper, { inputSize: 258 }));
  t.regex(e!.message, /Expected 250 \+ k \* 16 px .* for inputSize but received 258/);
});

test('small and tiny configs have the paper structure and consistent sizes', (t) => {
  const s = buildPlan(small);
  t.is(s.outputSize, small.outputWindow);
  t.is(buildPlan(small, { inputSize: small.inputSize + 8 }).outputSize, small.outputWindow + 8);
  const ti = buildPlan(tiny);
  t.is(ti.outputSize, tiny.outputWindow);
  t.deepEqual(tensor(ti, 'input').shape, [26, 26, 4]);
  for (const h of ti.heads) t.deepEqual(tensor(ti, h.output).shape, [4, 4, 256]);
  t.deepEqual(ti.heads.map((h) => h.name), ['autoencoding_0', 'autoencoding_1', 'nuclei']);
});

test('a larger input is the same network: same weights, larger output', (t) => {
  for (const [cfg, k] of [[paper, 4], [small, 5]] as const) {
    const a = buildPlan(cfg);
    const b = buildPlan(cfg, { inputSize: cfg.inputSize + k * outputStride(cfg) });
    t.is(b.outputSize, cfg.outputWindow + k * outputStride(cfg));
    t.deepEqual(
      b.weights.map((w) => [w.name, w.shape]),
      a.weights.map((w) => [w.name, w.shape]),
    );
  }
});

test('weights have unique names and every op input exists before use', (t) => {
  for (const plan of [buildPlan(paper35), buildPlan(small)]) {
    const names = plan.weights.map((w) => w.name);
    t.is(new Set(names).size, names.length);
    const seen = new Set<string>();
    for (const op of plan.ops) {
      const ins = 'inputs' in op ? op.inputs : 'input' in op ? [op.input] : [];
      for (const i of ins) t.true(seen.has(i), `${op.output} uses ${i}`);
      t.false(seen.has(op.output), `duplicate tensor ${op.output}`);
      seen.add(op.output);
    }
  }
});

test('inconsistent configs and unknown names give clear errors', (t) => {
  const bad = { ...tiny, towers: [{ crop: 20, scale: 0 }, { crop: 24, scale: 1 }] };
  t.throws(() => buildPlan(bad), { message: /towers all end at the same size/ });
  t.throws(() => buildPlan({ ...tiny, inputChannels: 3 }), { message: /Expected 2 \* zSlots = 4 for tiny.inputChannels but received 3/ });
  t.throws(() => configByName('huge'), { message: /Expected one of paper, small, tiny, phased, unet, deeplab for --config but received "huge"/ });
  t.throws(() => buildPlan(withHeads(tiny, { autoencoding: 2, labels: ['a', 'a'] })), { message: /distinct label names/ });
});
