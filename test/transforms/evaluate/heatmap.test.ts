import test from 'ava';
import sharp from 'sharp';
import { plane } from '../../../core/image.ts';
import { jointHistogram, heatmapPng, heatmapSvg } from '../../../transforms/evaluate/index.ts';

test('jointHistogram: bins of 0.1, counts per 1,000, row = predicted, column = true', (t) => {
  // 10 pixels: 5 at (true 0.05, pred 0.05), 3 at (true 0.95, pred 0.15), 1 at (1.0, 1.0), 1 at (-0.2, 0.55)
  const tv = [0.05, 0.05, 0.05, 0.05, 0.05, 0.95, 0.95, 0.95, 1.0, -0.2];
  const pv = [0.05, 0.05, 0.05, 0.05, 0.05, 0.15, 0.15, 0.15, 1.0, 0.55];
  const h = jointHistogram(plane('float32', 10, 1, Float32Array.from(tv)), plane('float32', 10, 1, Float32Array.from(pv)));
  t.is(h.bins, 10);
  t.is(h.perThousand[0 * 10 + 0], 500);
  t.is(h.perThousand[1 * 10 + 9], 300);
  t.is(h.perThousand[9 * 10 + 9], 100);
  t.is(h.perThousand[5 * 10 + 0], 100);
  t.is(h.perThousand.reduce((a, b) => a + b, 0), 1000);
});

test('jointHistogram: errors for NaN pixels and bad bins', (t) => {
  const a = plane('float32', 2, 1, Float32Array.from([0.1, NaN]));
  t.throws(() => jointHistogram(a, a), { message: 'Expected finite intensities but pixel 1 is NaN (truth)' });
  t.throws(() => jointHistogram(a, a, 0), { message: 'Expected a positive integer for bins but received 0 (number)' });
});

test('heatmap: SVG has axis labels and tick values; PNG decodes at the SVG size', async (t) => {
  const a = plane('float32', 8, 8, Float32Array.from({ length: 64 }, (_, i) => i / 64));
  const h = jointHistogram(a, a);
  const svg = heatmapSvg(h, { title: 'A1 DAPI: r = 1.000' });
  for (const s of ['true intensity', 'predicted intensity', '>0.0<', '>0.5<', '>1.0<', 'A1 DAPI: r = 1.000', '>109<']) t.true(svg.includes(s), s);
  const png = await heatmapPng(h, { title: 'x' });
  const meta = await sharp(png).metadata();
  const [w, hh] = [Number(/width="(\d+)"/.exec(svg)![1]), Number(/height="(\d+)"/.exec(svg)![1])];
  t.is(meta.format, 'png');
  t.is(meta.width, w);
  t.true(meta.height! >= hh - 28 && meta.height! <= hh); // titled vs untitled top margin
  // 7 of 64 ramp pixels fall in each of the first bins: 109 per 1,000.
  // Diagonal cells are non-empty (viridis, not the empty-bin purple); an off-diagonal one is empty.
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const px = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
  const left = 78;
  const top = 44;
  const cell = 36;
  const centre = (tb: number, pb: number) => px(left + tb * cell + 4, top + (9 - pb) * cell + 4);
  t.deepEqual(centre(0, 9), [68, 1, 84]);
  t.notDeepEqual(centre(3, 3), [68, 1, 84]);
});
