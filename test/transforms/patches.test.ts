import test from 'ava';
import { plane } from '../../core/image.ts';
import { cutPatch, samplePatches, splitWells, wellPatches } from '../../transforms/patches.ts';
import { syntheticWell } from '../io/shards/helpers.ts';

const P = 16;
const BRIGHT = 50000 / 65535;

test('samplePatches: seeded, inside the well, stratified over the whole well', (t) => {
  const w = syntheticWell('A1', { width: 200, height: 120 });
  const a = samplePatches(w, { patchSize: P, count: 40, seed: 5, foregroundFraction: 0 });
  t.deepEqual(samplePatches(w, { patchSize: P, count: 40, seed: 5, foregroundFraction: 0 }), a);
  t.notDeepEqual(samplePatches(w, { patchSize: P, count: 40, seed: 6, foregroundFraction: 0 }), a);
  t.notDeepEqual(samplePatches(syntheticWell('A2', { width: 200, height: 120 }), { patchSize: P, count: 40, seed: 5, foregroundFraction: 0 }), a, 'each well gets its own stream');
  t.is(a.length, 40);
  t.true(a.every((o) => o.reason === 'stratified' && Number.isInteger(o.y) && Number.isInteger(o.x) && o.y >= 0 && o.x >= 0 && o.y <= w.height - P && o.x <= w.width - P));
  // Every one of the 4x4 blocks of the origin range gets at least one origin (uniform sampling would leave 16 x (15/16)^40 = 1.2 blocks empty on average).
  const hits = new Set(a.map((o) => `${Math.floor((o.y * 4) / (w.height - P + 1))},${Math.floor((o.x * 4) / (w.width - P + 1))}`));
  t.is(hits.size, 16);
});

test('samplePatches: every label the well has gets foreground patches that contain its bright pixels', (t) => {
  const w = syntheticWell('A1', { width: 160, height: 128, labels: ['DAPI', 'MAP2', 'NFH'] });
  const o = samplePatches(w, { patchSize: P, count: 20, seed: 1, labels: ['DAPI', 'MAP2', 'NFH', 'TUJ1'] });
  t.is(o.length, 20);
  t.is(o.filter((x) => x.reason === 'stratified').length, 10);
  for (const label of ['DAPI', 'MAP2', 'NFH']) {
    const fg = o.filter((x) => x.reason === `foreground:${label}`);
    t.true(fg.length >= 3, `${label}: ${fg.length} foreground patches`);
    const img = w.labels.get(label)!.data;
    for (const { y, x } of fg) {
      let max = 0;
      for (let r = 0; r < P; r++) for (let c = 0; c < P; c++) max = Math.max(max, img[(y + r) * w.width + x + c]);
      t.true(max >= BRIGHT, `${label} patch at ${y},${x} has no bright pixel (max ${max * 65535})`);
    }
  }
  t.false(o.some((x) => x.reason.endsWith('TUJ1')), 'labels the well lacks are skipped');
  // With fewer patches than labels + 1, each label still gets one.
  const few = samplePatches(w, { patchSize: P, count: 3, seed: 1, foregroundFraction: 0.1 });
  t.deepEqual(few.map((x) => x.reason).sort(), ['foreground:DAPI', 'foreground:MAP2', 'foreground:NFH']);
});

test('samplePatches: constant labels fall back to uniform origins; a well of exactly P works', (t) => {
  const w = syntheticWell('A1', { width: 40, height: 40, labels: ['DAPI'] });
  w.labels.get('DAPI')!.data.fill(0.25);
  const o = samplePatches(w, { patchSize: P, count: 6, seed: 2 });
  t.is(o.filter((x) => x.reason === 'uniform:DAPI').length, 3);
  const tiny = syntheticWell('B1', { width: P, height: P });
  t.deepEqual(new Set(samplePatches(tiny, { patchSize: P, count: 5, seed: 2 }).map((x) => `${x.y},${x.x}`)), new Set(['0,0']));
});

test('samplePatches/cutPatch: bad options get clear errors', (t) => {
  const w = syntheticWell('A1', { width: 40, height: 30 });
  t.throws(() => samplePatches(w, { patchSize: 32, count: 1, seed: 0 }), { message: 'Expected at most the size of well A1 (40x30 px) for patchSize but received 32 (number)' });
  t.throws(() => samplePatches(w, { patchSize: 8, count: 0, seed: 0 }), { message: /Expected a positive integer for count but received 0/ });
  t.throws(() => samplePatches(w, { patchSize: 8, count: 1, seed: 0, foregroundFraction: 2 }), { message: /Expected a number in \[0, 1\] for foregroundFraction/ });
  t.throws(() => cutPatch(w, { y: 20, x: 0 }, { patchSize: 16, split: 'train' }), { message: 'Expected an integer origin with the 16px patch inside well A1 (40x30) for origin but received "20,0" (string)' });
});

test('cutPatch: 16-bit counts are exactly the canonical PNG values; masks are cut at the same place', (t) => {
  const w = syntheticWell('A1', { width: 50, height: 40 });
  const masks = new Map([['DAPI', plane('uint8', 50, 40, Uint8Array.from({ length: 2000 }, (_, i) => (i % 50 < 25 ? 1 : 0)))]]);
  const p = cutPatch(w, { y: 7, x: 20 }, { patchSize: P, split: 'test', masks });
  t.is(p.split, 'test');
  const { data } = w.transmitted.stack;
  let bad = 0;
  for (let z = 0; z < 3; z++)
    for (let y = 0; y < P; y++)
      for (let x = 0; x < P; x++) {
        const v = p.input[(z * P + y) * P + x];
        if (Math.fround(v / 65535) !== data[(z * 40 + 7 + y) * 50 + 20 + x]) bad++;
      }
  t.is(bad, 0);
  const dapi = p.labels.get('DAPI')!;
  t.is(dapi.data[0], Math.round(w.labels.get('DAPI')!.data[7 * 50 + 20] * 65535));
  t.deepEqual([...dapi.mask!.subarray(0, P)], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.is(p.labels.get('MAP2')!.mask, undefined, 'no mask given: all valid');
  t.deepEqual([...cutPatch(w, { y: 0, x: 0 }, { patchSize: P, split: 'train', labels: ['MAP2', 'GFP'] }).labels.keys()], ['MAP2']);
  t.is([...wellPatches(w, { patchSize: P, count: 4, seed: 1, split: 'train' })].length, 4);
});

test('splitWells: by well, seeded, disjoint, independent of input order', (t) => {
  const wells = ['A1', 'A2', 'B1', 'B2', 'C1', 'C2', 'D1', 'D2', 'E1', 'E2'];
  const s = splitWells(wells, { testFraction: 0.2, seed: 3 });
  t.is(s.test.length, 2);
  t.is(s.train.length, 8);
  t.deepEqual([...s.train, ...s.test].sort(), wells);
  t.deepEqual(splitWells([...wells].reverse(), { testFraction: 0.2, seed: 3 }), s);
  const seeds = new Set(Array.from({ length: 10 }, (_, k) => splitWells(wells, { testFraction: 0.2, seed: k }).test.join()));
  t.true(seeds.size > 3, 'different seeds choose different test wells');
  t.is(splitWells(['A1', 'A2'], { testFraction: 0.1, seed: 0 }).test.length, 1, 'at least one test well');
  t.is(splitWells(['A1', 'A2'], { testFraction: 0.9, seed: 0 }).train.length, 1, 'at least one train well');
  t.deepEqual(splitWells(['A1'], { testFraction: 0.2, seed: 0 }), { train: ['A1'], test: [] });
  t.deepEqual(splitWells(wells, { testFraction: 0, seed: 0 }).test, []);
  t.throws(() => splitWells(['A1', 'A1'], { testFraction: 0.5, seed: 0 }), { message: 'Expected distinct well names for wells but received "A1" (string)' });
  t.throws(() => splitWells(wells, { testFraction: 1.5, seed: 0 }), { message: /Expected a number in \[0, 1\] for testFraction/ });
});
