/** Connected-component labelling of a binary mask (two-pass union-find). */
import { badOption, IslError } from '../../core/errors.ts';

/** A label image: 0 = background, 1..count = objects. */
export interface Labels {
  readonly width: number;
  readonly height: number;
  /** Row-major labels, length width * height. */
  readonly data: Int32Array;
  /** Number of objects; labels are 1..count with no gaps. */
  readonly count: number;
}

/**
 * Labels the connected foreground regions of a mask, numbered 1..count in raster order of
 * their first pixel.
 *
 * @param mask row-major, non-zero = foreground, length width * height.
 * @param width px.
 * @param height px.
 * @param connectivity 8 (default, diagonal neighbours connect, like scikit-image's default in 2-D) or 4.
 * @throws IslError BAD_INPUT when the mask length is not width * height; BAD_OPTION when connectivity is not 4 or 8.
 */
export function connectedComponents(mask: ArrayLike<number>, width: number, height: number, connectivity: 4 | 8 = 8): Labels {
  if (mask.length !== width * height) throw new IslError('BAD_INPUT', `Expected a mask of ${width * height} pixels for ${width}x${height} but received ${mask.length}`);
  if (connectivity !== 4 && connectivity !== 8) throw badOption('connectivity', '4 or 8', connectivity);
  const n = width * height;
  const provisional = new Int32Array(n);
  // At most one provisional label per two pixels in a row can start a run, so n / 2 + 2 suffices.
  const parent = new Int32Array((n >> 1) + 2);
  let next = 1;
  const find = (a: number): number => {
    while (parent[a] !== a) {
      parent[a] = parent[parent[a]];
      a = parent[a];
    }
    return a;
  };
  const union = (a: number, b: number): number => {
    if (a === b) return a;
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return ra;
    if (ra < rb) return (parent[rb] = ra);
    return (parent[ra] = rb);
  };
  const diag = connectivity === 8;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      if (!mask[i]) continue;
      let l = x > 0 ? provisional[i - 1] : 0;
      if (y > 0) {
        const up = i - width;
        let m = provisional[up];
        if (m) l = l ? union(l, m) : m;
        if (diag) {
          if (x > 0 && (m = provisional[up - 1])) l = l ? union(l, m) : m;
          if (x < width - 1 && (m = provisional[up + 1])) l = l ? union(l, m) : m;
        }
      }
      if (!l) {
        if (next >= parent.length) throw new Error('connectedComponents: label table overflow'); // cannot happen: the table has room for every run
        l = next;
        parent[next] = next;
        next++;
      }
      provisional[i] = l;
    }
  }
  // Renumber roots 1..count in order of first appearance.
  const final = new Int32Array(next);
  let count = 0;
  const out = new Int32Array(width * height);
  for (let i = 0; i < out.length; i++) {
    const l = provisional[i];
    if (!l) continue;
    const r = find(l);
    if (!final[r]) final[r] = ++count;
    out[i] = final[r];
  }
  return { width, height, data: out, count };
}

/**
 * Pixel count of each object.
 * @returns array of length count + 1; index 0 is the background.
 */
export function objectAreas(labels: Labels): Int32Array {
  const areas = new Int32Array(labels.count + 1);
  for (let i = 0; i < labels.data.length; i++) areas[labels.data[i]]++;
  return areas;
}
