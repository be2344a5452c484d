import test from 'ava';
import { solvePositions, type Link, type Point } from '../../../transforms/stitch/lsq.ts';

/** 3x3 grid, step 100 px, true positions = stage + small per-tile deviations. */
const step = 100;
const stage: Point[] = Array.from({ length: 9 }, (_, i) => ({ x: (i % 3) * step, y: Math.floor(i / 3) * step }));
const dev = [[0, 0], [1.5, -0.5], [-1, 2], [0.5, 1], [2, 0], [-1.5, -1], [1, 1], [0, -2], [-0.5, 0.5]];
const truth = stage.map((s, i) => ({ x: s.x + dev[i][0], y: s.y + dev[i][1] }));
function gridLinks(skip: (a: number, b: number) => boolean = () => false, pos = truth): Link[] {
  const out: Link[] = [];
  for (let i = 0; i < 9; i++)
    for (const j of [i % 3 < 2 ? i + 1 : -1, i + 3 < 9 ? i + 3 : -1])
      if (j >= 0 && !skip(i, j)) out.push({ a: i, b: j, dx: pos[j].x - pos[i].x, dy: pos[j].y - pos[i].y, nominalDx: stage[j].x - stage[i].x, nominalDy: stage[j].y - stage[i].y, weight: 1 });
  return out;
}
function maxError(p: (Point | undefined)[], ref = truth): number {
  const ox = ref[0].x - p[0]!.x, oy = ref[0].y - p[0]!.y;
  return Math.max(...p.map((q, i) => Math.max(Math.abs(q!.x + ox - ref[i].x), Math.abs(q!.y + oy - ref[i].y))));
}

test('exact links give exact positions, zero residual, no fault', (t) => {
  const s = solvePositions(9, gridLinks(), { stage });
  t.true(maxError(s.positions) < 1e-6);
  t.true(s.residualRms < 1e-6);
  t.deepEqual(s.fault, new Array(9).fill(false));
  t.true(s.kept.every(Boolean));
});

test('a wrong link with a high weight is dropped and the rest stay exact', (t) => {
  const links = gridLinks();
  links[3] = { ...links[3], dx: links[3].dx + 9, dy: links[3].dy - 7, weight: 5 };
  const s = solvePositions(9, links, { stage });
  t.false(s.kept[3]);
  t.is(s.kept.filter((k) => !k).length, 1);
  t.true(maxError(s.positions) < 1e-6, `max error ${maxError(s.positions)}`);
  t.true(s.residual[3] > 10);
});

test('unlinked tiles and islands are placed from the fitted stage model, never floating', (t) => {
  // Tile 8 has no links; tiles 2 and 5 form an island linked only to each other.
  const cut = (a: number, b: number) => b === 8 || a === 8 || ((a === 1 && b === 2) || (a === 4 && b === 5) || (a === 2 && b === 5) ? a === 1 || a === 4 : false);
  const s = solvePositions(9, gridLinks(cut), { stage });
  t.is(s.placedBy[8], 'stage');
  t.is(s.placedBy[2], 'links');
  t.not(s.group[2], s.group[0]);
  t.is(s.group[2], s.group[5]);
  // Stage-placed tiles are off by their own deviation from the stage plus the model's (devs <= 2 px per axis).
  const e = maxError(s.positions);
  t.true(e <= 4, `max error ${e}`);
  const m = s.stageModel;
  t.true(Math.abs(s.positions[8]!.x - (m.a * stage[8].x + m.b * stage[8].y + m.tx)) < 1e-9);
  // The island keeps its internal offset exactly.
  t.true(Math.abs(s.positions[5]!.y - s.positions[2]!.y - (truth[5].y - truth[2].y)) < 1e-6);
});

test('a tile linked far from its stage position is flagged as a stage fault', (t) => {
  const moved = truth.map((p, i) => (i === 4 ? { x: p.x + 25, y: p.y - 18 } : p));
  const s = solvePositions(9, gridLinks(undefined, moved), { stage });
  t.deepEqual(s.fault.map((f, i) => (f ? i : -1)).filter((i) => i >= 0), [4]);
  t.true(s.stageDistance[4]! > 25);
  t.true(maxError(s.positions, moved) < 1e-6);
});

test('missing tiles stay undefined; bad links and options are rejected', (t) => {
  const st = stage.map((p, i) => (i === 4 ? undefined : p));
  const s = solvePositions(9, gridLinks((a, b) => a === 4 || b === 4), { stage: st });
  t.is(s.positions[4], undefined);
  t.is(s.group[4], -1);
  t.throws(() => solvePositions(9, gridLinks(), { stage: st }), { message: /links between present tiles/ });
  t.throws(() => solvePositions(8, [], { stage }), { message: /Expected 8 stage positions/ });
  t.throws(() => solvePositions(9, [{ a: 0, b: 1, dx: 1, dy: 0, weight: 0 }], { stage }), { message: /positive link weight/ });
});
