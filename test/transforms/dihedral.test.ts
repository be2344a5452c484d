import test from 'ava';
import { DIHEDRAL_COUNT, dihedralSize, transformPlane, transformStack, untransformPlane } from '../../transforms/dihedral.ts';

// A 3 x 2 image (width 3, height 2) with distinct values: rows [0 1 2], [3 4 5].
const W = 3;
const H = 2;
const img = Float32Array.of(0, 1, 2, 3, 4, 5);

test('the 8 transforms are the 8 distinct symmetries; id 5 is numpy rot90 and id 2 flipud', (t) => {
  const outs = Array.from({ length: DIHEDRAL_COUNT }, (_, r) => [...transformPlane(img, W, H, r)].join());
  t.is(new Set(outs).size, 8);
  t.deepEqual([...transformPlane(img, W, H, 0)], [0, 1, 2, 3, 4, 5]);
  // np.rot90([[0,1,2],[3,4,5]]) = [[2,5],[1,4],[0,3]]
  t.deepEqual([...transformPlane(img, W, H, 5)], [2, 5, 1, 4, 0, 3]);
  t.deepEqual(dihedralSize(5, W, H), { width: 2, height: 3 });
  t.deepEqual([...transformPlane(img, W, H, 2)], [3, 4, 5, 0, 1, 2]);
  t.deepEqual([...transformPlane(img, W, H, 4)], [2, 1, 0, 5, 4, 3]);
  t.deepEqual([...transformPlane(img, W, H, 1)], [0, 3, 1, 4, 2, 5]);
});

test('untransformPlane inverts transformPlane; stacks transform plane by plane', (t) => {
  for (let r = 0; r < DIHEDRAL_COUNT; r++) t.deepEqual([...untransformPlane(transformPlane(img, W, H, r), W, H, r)], [...img]);
  const stack = { width: W, height: H, depth: 2, data: Float32Array.of(...img, ...img.map((v) => v + 10)) };
  const s = transformStack(stack, 5);
  t.deepEqual([s.width, s.height, s.depth], [2, 3, 2]);
  t.deepEqual([...s.data], [2, 5, 1, 4, 0, 3, 12, 15, 11, 14, 10, 13]);
  t.throws(() => transformPlane(img, W, H, 8), { message: /dihedral transform id in 0..7/ });
});
