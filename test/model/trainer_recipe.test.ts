import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IslError } from '../../core/errors.ts';
import { deriveSeed, mulberry32 } from '../../core/random.ts';
import { loadCheckpoint } from '../../model/checkpoint.ts';
import { buildPlan, phased, tiny, withHeads } from '../../model/plan.ts';
import { learningRate } from '../../model/schedule.ts';
import { assembleExample, evaluate, train, type PatchLike, type PatchSource } from '../../model/trainer.ts';
import { memoryPatchSource } from '../helpers/patch_source.ts';

const P = 30;
const Z = 2;

/**
 * Patches at rows `ys` (one patch per row value per copy) whose "nuclei" label is plane 0 scaled.
 * Patches at `poisoned` rows have NaN inputs: training on one would make the loss NaN.
 */
function rowSource(ys: number[], copies: number, seed: number, poisoned: number[] = [], invertLater: number[] = []): PatchSource {
  const u = mulberry32(seed);
  const patches: PatchLike[] = ys.flatMap((y) =>
    Array.from({ length: copies }, () => {
      const input = Float32Array.from({ length: Z * P * P }, () => (poisoned.includes(y) ? NaN : 0.2 + Math.floor(u() * 4) / 6));
      const data = Float32Array.from({ length: P * P }, (_, i) => (input[i] - 0.2) * 0.9);
      return { y, input, inputMask: Uint8Array.of(1, 1), labels: new Map([['nuclei', { data, mask: new Uint8Array(P * P).fill(1) }]]) };
    }),
  );
  // From epoch 1 on, patches at `invertLater` rows teach the inverse relation.
  return memoryPatchSource(patches, {
    patchSize: P, zCount: Z, labels: ['nuclei'],
    atEpoch: (p, e) => {
      if (e === 0 || !invertLater.includes(p.y!)) return p;
      const l = p.labels.get('nuclei')!;
      return { ...p, labels: new Map([['nuclei', { data: l.data.map((v) => 0.75 - v), mask: l.mask }]]) };
    },
  });
}

const base = { config: tiny, batch: 4, lr: 1e-3, seed: 7, jsonProgress: true, threads: 1 };
const readLog = async (dir: string) => (await readFile(join(dir, 'train.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));

test('intensity jitter: drawn after the crop and transform (same geometry and targets), deterministic per seed, an affine of the input within its bounds', (t) => {
  const plan = buildPlan(withHeads(tiny, { autoencoding: 2, labels: ['nuclei'] }));
  const S = plan.inputSize;
  const so = plan.outputSize;
  const C = plan.config.inputChannels;
  const p = rowSource([0], 1, 3).epoch(0);
  const patch = (async () => (await p[Symbol.asyncIterator]().next()).value as PatchLike)();
  return patch.then((pt) => {
    const cut = (seed: number, jitter?: { gainJitter: number; offsetJitter: number }) => {
      const input = new Float32Array(C * S * S);
      const heads = new Map(plan.heads.map((h) => [h.name, { values: new Float32Array(so * so), mask: new Uint8Array(so * so) }]));
      assembleExample(plan, pt, P, Z, seed, input, 0, heads, 0, jitter);
      return { input, heads };
    };
    const jitter = { gainJitter: 0.2, offsetJitter: 0.05 };
    const gains: number[] = [];
    for (let k = 0; k < 40; k++) {
      const seed = deriveSeed(7, 'example', k);
      const off = cut(seed);
      const on = cut(seed, jitter);
      t.deepEqual(on, cut(seed, jitter));
      for (const [h, v] of off.heads) t.deepEqual(on.heads.get(h), v, `targets of example ${k}`);
      // Image channels: on = off * g + o for one (g, o) per example; mask channels unchanged.
      const img = off.input.subarray(0, S * S);
      const jit = on.input.subarray(0, S * S);
      const i0 = img.indexOf(Math.min(...img));
      const i1 = img.indexOf(Math.max(...img));
      const g = (jit[i1] - jit[i0]) / (img[i1] - img[i0]);
      const o = jit[i0] - g * img[i0];
      t.true(Math.abs(g - 1) <= 0.2 + 1e-6 && Math.abs(o) <= 0.05 + 1e-6);
      for (let c = 0; c < C; c += 2) for (let i = 0; i < S * S; i++) t.true(Math.abs(on.input[c * S * S + i] - (off.input[c * S * S + i] * g + o)) < 1e-5);
      t.deepEqual(on.input.subarray(S * S, 2 * S * S), off.input.subarray(S * S, 2 * S * S));
      gains.push(g);
    }
    t.true(Math.min(...gains) < 0.9 && Math.max(...gains) > 1.1, `gains ${Math.min(...gains)}..${Math.max(...gains)}`);
  });
});

test('--resume continues bit for bit with augmentation and a schedule on, taking the recipe from the checkpoint', async (t) => {
  const a = await mkdtemp(join(tmpdir(), 'isl-recipe-a-'));
  const b = await mkdtemp(join(tmpdir(), 'isl-recipe-b-'));
  const recipe = { gainJitter: 0.2, offsetJitter: 0.05, warmup: 2, decay: 'cosine' as const, decaySteps: 5, lr: 3e-3 };
  await train({ ...base, ...recipe, out: a, steps: 6 }, rowSource([0], 10, 2));
  await train({ ...base, ...recipe, out: b, steps: 3 }, rowSource([0], 10, 2));
  // No recipe options: they come from b's checkpoint (the defaults would be lr 1e-4, no jitter, no schedule).
  await train({ out: b, steps: 6, resume: true, jsonProgress: true, threads: 1 }, rowSource([0], 10, 2));
  const [ca, cb] = [await loadCheckpoint(a), await loadCheckpoint(b)];
  t.like(cb.train?.options, { ...recipe, batch: 4, window: 26 });
  let differ = 0;
  for (const [name, w] of ca.weights) {
    const v = cb.weights.get(name)!;
    for (let i = 0; i < w.length; i++) if (w[i] !== v[i]) differ++;
  }
  t.is(differ, 0);
  const log = await readLog(b);
  t.deepEqual(log.map((l) => l.step), [1, 2, 3, 4, 5, 6]);
  t.deepEqual(log.map((l) => l.lr), [1, 2, 3, 4, 5, 6].map((s) => learningRate({ ...recipe, decayFactor: 0.1 }, s)));
  // Jitter changes the run: without it the weights differ.
  const c = await mkdtemp(join(tmpdir(), 'isl-recipe-c-'));
  await train({ ...base, ...recipe, gainJitter: 0, offsetJitter: 0, out: c, steps: 6 }, rowSource([0], 10, 2));
  t.not((await loadCheckpoint(c)).weights.get('projection/conv/filter')![0], ca.weights.get('projection/conv/filter')![0]);
  for (const d of [a, b, c]) await rm(d, { recursive: true });
});

test('--val-rows: validation on rows >= R only, r logged per step line, best/ holds the step with the best validation', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'isl-recipe-val-'));
  // Rows 0 and 10 train (y + 30 <= 40), row 20 straddles the line (poisoned: never trained on), 40 and 50 validate.
  const src = rowSource([0, 10, 20, 40, 50], 4, 5, [20]);
  const r = await train({ ...base, lr: 0.02, out, steps: 16, valRows: 40, valEvery: 4, valPatches: 6 }, src);
  const log = await readLog(out);
  t.true(log.every((l) => Number.isFinite(l.loss)), 'a poisoned (straddling) patch was trained on');
  const vals = log.filter((l) => l.val);
  t.deepEqual(vals.map((l) => l.step), [4, 8, 12, 16]);
  const bestLine = vals.reduce((m, l) => (l.val.nuclei > m.val.nuclei ? l : m));
  t.deepEqual(vals.at(-1).best, { step: bestLine.step, r: bestLine.val.nuclei });
  t.deepEqual(r.best, { step: bestLine.step, r: bestLine.val.nuclei });
  const best = await loadCheckpoint(join(out, 'best'));
  t.is(best.train?.step, bestLine.step);
  // The best weights give the logged validation r again, on patches of rows >= 40 only.
  const valOnly: PatchSource = { ...src, test: async function* () { let n = 0; for await (const p of src.epoch(0)) if (p.y! >= 40 && n++ < 6) yield p; } };
  const again = await evaluate(buildPlan(best.config), best.weights, valOnly, 4, 6, 1);
  t.deepEqual(again, bestLine.val);
  // It learns: the best validation is well above the first.
  t.true(bestLine.val.nuclei > vals[0].val.nuclei + 0.3, `validation r ${JSON.stringify(vals.map((l) => [l.step, l.val.nuclei, l.loss]))}`);
  await rm(out, { recursive: true });
});

test('--val-rows: when validation gets worse as training goes on, best/ keeps the early step', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'isl-recipe-val2-'));
  // Epoch 0 (10 steps) teaches the relation the validation rows have, later epochs its inverse.
  const r = await train({ ...base, lr: 0.02, out, steps: 20, valRows: 40, valEvery: 5, valPatches: 6 }, rowSource([0, 10, 40, 50], 20, 5, [], [0, 10]));
  const vals = (await readLog(out)).filter((l) => l.val);
  const bestLine = vals.reduce((m, l) => (l.val.nuclei > m.val.nuclei ? l : m));
  t.true(bestLine.step < 20, `validation r ${JSON.stringify(vals.map((l) => [l.step, l.val.nuclei]))}`);
  t.deepEqual(r.best, { step: bestLine.step, r: bestLine.val.nuclei });
  const best = await loadCheckpoint(join(out, 'best'));
  t.is(best.train?.step, bestLine.step);
  t.not(best.weights.get('projection/conv/filter')![0], (await loadCheckpoint(out)).weights.get('projection/conv/filter')![0]);
  await rm(out, { recursive: true });
});

test('--init: another config or another z-slot count than the model\'s are distinct BAD_OPTIONs', async (t) => {
  const a = await mkdtemp(join(tmpdir(), 'isl-recipe-init-'));
  await train({ ...base, out: a, steps: 1 }, rowSource([0], 4, 1));
  const e1 = await t.throwsAsync(train({ ...base, config: phased, out: join(a, 'x'), steps: 1, init: a }, rowSource([0], 4, 1)));
  t.true(IslError.is(e1, 'BAD_OPTION') && e1.option === 'config', String(e1));
  t.regex(e1!.message, /the config of the --init model .* \(tiny\), or none/);
  const e2 = await t.throwsAsync(train({ ...base, zSlots: 4, out: join(a, 'y'), steps: 1, init: a }, rowSource([0], 4, 1)));
  t.true(IslError.is(e2, 'BAD_OPTION') && e2.option === 'zSlots', String(e2));
  t.regex(e2!.message, /the z-slots of the --init model .* \(2\), or none for zSlots but received 4/);
  // Without --config the model's own is used.
  await t.notThrowsAsync(train({ out: join(a, 'z'), steps: 1, init: a, batch: 2, jsonProgress: true, threads: 1 }, rowSource([0], 4, 1)));
  await rm(a, { recursive: true });
});
