/** Colour maps for report figures. */

/** Viridis (matplotlib's perceptually uniform map) sampled at 9 points; linear in between. */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/**
 * Viridis colour of `v` in [0, 1] (clipped) as 8-bit RGB.
 * @param v position on the map, 0 = dark purple, 1 = yellow.
 */
export function viridis(v: number): [number, number, number] {
  const x = Math.max(0, Math.min(1, Number.isNaN(v) ? 0 : v)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}
