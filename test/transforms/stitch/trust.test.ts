import test from 'ava';
import { nccThreshold, nullPairs } from '../../../transforms/stitch/trust.ts';

test('nullPairs draws distinct non-adjacent present tiles, deterministically per seed', (t) => {
  const present = new Array(12).fill(true);
  present[5] = false;
  const a = nullPairs(3, 4, present, 10, 7);
  t.deepEqual(a, nullPairs(3, 4, present, 10, 7));
  t.notDeepEqual(a, nullPairs(3, 4, present, 10, 8));
  t.is(a.length, 10);
  for (const p of a) {
    const d = Math.abs(Math.floor(p.a / 4) - Math.floor(p.b / 4)) + Math.abs((p.a % 4) - (p.b % 4));
    t.true(d >= 2);
    t.true(present[p.a] && present[p.b]);
  }
  t.is(nullPairs(1, 2, [true, true], 10, 0).length, 0);
});

test('nccThreshold: max(floor, mean + k sd, null max)', (t) => {
  const v = [0.1, 0.2, 0.3, 0.2, 0.2];
  const sd = Math.sqrt(0.02 / 4);
  const r = nccThreshold(v, { k: 4 });
  t.true(Math.abs(r.threshold - (0.2 + 4 * sd)) < 1e-12);
  t.is(r.method, 'null');
  t.is(nccThreshold([0.01, 0.02], { k: 0 }).threshold, 0.1);
  t.is(nccThreshold([0.01, 0.02], { k: 0 }).method, 'floor');
  t.is(nccThreshold([0.1, 0.5], { k: 0 }).threshold, 0.5);
  t.is(nccThreshold([]).method, 'floor');
  t.throws(() => nccThreshold(v, { floor: 2 }), { message: /Expected an NCC in \[-1, 1\] for floor/ });
});
