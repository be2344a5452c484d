import test from 'ava';
import { rng } from '../../../core/random.ts';
import { plane } from '../../../core/image.ts';
import { overlapNcc, pairOffset, pairWindows, type Rect } from '../../../transforms/stitch/ncc.ts';
import { phaseCorrelation } from '../../../transforms/stitch/phase.ts';
import { synthWell } from './synth.ts';

test('phaseCorrelation peaks at the circular shift of b relative to a', (t) => {
  const w = 64, h = 32;
  const r = rng(1);
  const big = Float32Array.from({ length: 128 * 64 }, () => r.uniform());
  const a = new Float32Array(w * h), b = new Float32Array(w * h);
  const sx = 5, sy = -3; // b(x, y) = a(x + sx, y + sy)
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      a[y * w + x] = big[(y + 10) * 128 + x + 20];
      b[y * w + x] = big[(y + 10 + sy) * 128 + x + 20 + sx];
    }
  const s = phaseCorrelation(a, b, w, h);
  let best = 0;
  for (let i = 1; i < s.data.length; i++) if (s.data[i] > s.data[best]) best = i;
  t.is(best % s.width, sx);
  t.is(Math.floor(best / s.width), s.height + sy);
});

test('overlapNcc is 1 on identical content, ~0 on independent noise, and reports the overlap size', (t) => {
  const r = rng(2);
  const a = plane('float32', 50, 40, Float32Array.from({ length: 2000 }, () => r.uniform()));
  const self = overlapNcc(a, a, 0, 0);
  t.true(Math.abs(self.ncc - 1) < 1e-9);
  t.is(self.n, 2000);
  const b = plane('float32', 50, 40, Float32Array.from({ length: 2000 }, () => r.uniform()));
  t.true(Math.abs(overlapNcc(a, b, 10, 5).ncc) < 0.1);
  t.is(overlapNcc(a, b, 10, 5).n, 40 * 35);
  t.is(overlapNcc(a, b, 50, 0).n, 0);
});

test('pairOffset recovers random subpixel offsets of textured tiles within 0.15 px', (t) => {
  const { tiles } = synthWell({ rows: 3, cols: 3, tile: 192, overlap: 40, jitter: 6, seed: 11, noise: 2 });
  const at = (r: number, c: number) => tiles.find((x) => x.tileRow === r && x.tileCol === c)!;
  let worst = 0;
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 3; c++)
      for (const [dr, dc] of [[0, 1], [1, 0]]) {
        if (r + dr > 2 || c + dc > 2) continue;
        const a = at(r, c), b = at(r + dr, c + dc);
        const o = pairOffset(a.plane, b.plane, { nominalDx: b.stageX - a.stageX, nominalDy: b.stageY - a.stageY, searchX: 14, searchY: 14 });
        t.true(o.found);
        t.true(o.ncc > 0.9, `ncc ${o.ncc}`);
        worst = Math.max(worst, Math.abs(o.dx - (b.x - a.x)), Math.abs(o.dy - (b.y - a.y)));
      }
  t.log(`worst axis error ${worst.toFixed(3)} px over 12 pairs`);
  t.true(worst <= 0.15, `worst ${worst}`);
});

test('pairOffset tests wrap-around interpretations: a deviation beyond half the padded strip is found', (t) => {
  // Nominal overlap 24 px pads to 32; b actually sits 18 px closer, so the phase-correlation peak
  // lands at index 14, whose plain reading (+14) is wrong: only the wrapped one (-18) verifies.
  const { canvas } = synthWell({ rows: 1, cols: 1, tile: 300, overlap: 0, jitter: 0, seed: 9 });
  const cut = (x0: number) => {
    const p = plane('float32', 128, 128);
    for (let y = 0; y < 128; y++) for (let x = 0; x < 128; x++) p.data[y * 128 + x] = canvas.data[(y + 20) * canvas.width + x + x0];
    return p;
  };
  const o = pairOffset(cut(10), cut(10 + 104 - 18), { nominalDx: 104, nominalDy: 0, searchX: 20, searchY: 4 });
  t.true(o.found);
  t.true(Math.abs(o.dx - 86) < 0.2, `dx ${o.dx}`);
  t.true(Math.abs(o.dy) < 0.2, `dy ${o.dy}`);
});

test('pairOffset reports found=false when the nominal overlap is empty, and rejects bad options', (t) => {
  const p = plane('float32', 32, 32);
  const o = pairOffset(p, p, { nominalDx: 40, nominalDy: 0, searchX: 4, searchY: 4 });
  t.false(o.found);
  t.is(o.ncc, -1);
  t.is(o.dx, 40);
  t.throws(() => pairOffset(p, p, { nominalDx: 20, nominalDy: 0, searchX: -1, searchY: 4 }), { message: /Expected a search radius >= 0 px for searchX but received -1/ });
  t.throws(() => pairOffset(p, p, { nominalDx: Number.NaN, nominalDy: 0, searchX: 1, searchY: 4 }), { message: /for nominalDx/ });
});

test('pairOffset on pairWindows gives bit-identical results to the whole tiles', (t) => {
  const { tiles } = synthWell({ rows: 2, cols: 2, tile: 96, overlap: 20, jitter: 4, seed: 12, noise: 2 });
  const [a, b, c] = tiles;
  const crop = (p: typeof a.plane, r: Rect) => {
    const q = plane('float32', r.width, r.height);
    for (let y = 0; y < r.height; y++) q.data.set(p.data.subarray((r.y + y) * p.width + r.x, (r.y + y) * p.width + r.x + r.width), y * r.width);
    return q;
  };
  // Right and lower neighbours, subpixel and negative nominals, searches larger than the tile, and
  // nominals with no overlap at all (1 px windows).
  const cases = [
    [a, b, 76.4, 0.3, 8, 8], [a, c, -0.5, 76.5, 8, 3], [b, a, -76, 2, 10, 10], [a, b, 76, 0, 200, 200], [a, b, 120, 0, 4, 4], [a, b, -150, 40, 4, 4], [c, b, 70, -70, 12, 12],
  ] as const;
  for (const [p, q, nominalDx, nominalDy, searchX, searchY] of cases) {
    const opts = { nominalDx, nominalDy, searchX, searchY };
    const w = pairWindows(96, 96, 96, 96, opts);
    const whole = pairOffset(p.plane, q.plane, opts);
    const windowed = pairOffset(crop(p.plane, w.a), crop(q.plane, w.b), { ...opts, originA: w.a, originB: w.b });
    t.deepEqual(windowed, whole, JSON.stringify(opts));
    t.true(w.a.width * w.a.height <= 96 * 96 && w.a.width >= 1 && w.b.height >= 1);
  }
  t.deepEqual(pairWindows(96, 96, 96, 96, { nominalDx: 76, nominalDy: 0, searchX: 8, searchY: 8 }).a, { x: 67, y: 0, width: 29, height: 96 });
  t.throws(() => pairOffset(a.plane, b.plane, { nominalDx: 76, nominalDy: 0, searchX: 4, searchY: 4, originA: { x: 0.5, y: 0 } }), { message: /for originA/ });
});
