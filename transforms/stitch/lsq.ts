/**
 * Global tile positions from pairwise offsets ("spring system"): weighted least squares per
 * connected group of linked tiles, iterative removal of the worst inconsistent link, then a
 * robust stage -> canvas affine fit that places unlinked tiles and islands and flags tiles far
 * from their stage position (stage faults).
 */
import { badOption } from '../../core/errors.ts';
import { quantiles } from '../quantile.ts';

/** A trusted pairwise measurement: tile b sits at (dx, dy) px from tile a. */
export interface Link {
  readonly a: number;
  readonly b: number;
  readonly dx: number;
  readonly dy: number;
  /** Relative confidence (> 0), e.g. from the NCC and overlap size. */
  readonly weight: number;
  /** The offset expected from the stage or grid (px); breaks ties when choosing a link to drop. */
  readonly nominalDx?: number;
  readonly nominalDy?: number;
}

/** x' = a*x + b*y + tx, y' = c*x + d*y + ty: stage px -> canvas px. */
export interface Affine {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly tx: number;
  readonly ty: number;
}

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface SolveOptions {
  /** Stage (or nominal grid) top-left position of each tile, px; undefined for missing tiles. */
  readonly stage: readonly (Point | undefined)[];
  /** Drop the worst link while its deleted residual exceeds dropFactor x the mean residual (default 3)... */
  readonly dropFactor?: number;
  /** ...and this many px (default 1), so consistent sub-pixel noise is never pruned. */
  readonly minDropPx?: number;
  /**
   * Distance from the fitted stage model beyond which a linked tile is a stage fault (px). Default:
   * max(3 px, 5 x the robust spread (1.4826 MAD) of all linked tiles' distances).
   */
  readonly faultPx?: number;
}

export interface Solution {
  /** Top-left of each tile on the canvas (px, not yet shifted to a zero origin); undefined for missing tiles. */
  readonly positions: (Point | undefined)[];
  /** 'links' when solved from links, 'stage' when placed from the fitted stage model alone. */
  readonly placedBy: ('links' | 'stage' | undefined)[];
  /** Group (connected component of kept links) of each tile; -1 for missing tiles. */
  readonly group: number[];
  /** Per input link: kept in the final solve, and its residual |p_b - p_a - (dx, dy)| (px). */
  readonly kept: boolean[];
  readonly residual: number[];
  /** Root-mean-square residual of kept links (px); 0 without links. */
  readonly residualRms: number;
  readonly stageModel: Affine;
  /** Distance of each tile from the fitted stage model (px). */
  readonly stageDistance: (number | undefined)[];
  readonly fault: boolean[];
  readonly faultPx: number;
}

/** Solves the SPD system M x = r in place (Cholesky), M n x n row-major. */
function cholSolve(m: Float64Array, n: number, rhs: Float64Array[]): void {
  for (let j = 0; j < n; j++) {
    let s = m[j * n + j];
    for (let k = 0; k < j; k++) s -= m[j * n + k] ** 2;
    const d = Math.sqrt(Math.max(s, 1e-12));
    m[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = m[i * n + j];
      for (let k = 0; k < j; k++) t -= m[i * n + k] * m[j * n + k];
      m[i * n + j] = t / d;
    }
  }
  for (const r of rhs) {
    for (let i = 0; i < n; i++) {
      let t = r[i];
      for (let k = 0; k < i; k++) t -= m[i * n + k] * r[k];
      r[i] = t / m[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let t = r[i];
      for (let k = i + 1; k < n; k++) t -= m[k * n + i] * r[k];
      r[i] = t / m[i * n + i];
    }
  }
}

/** Connected components over present tiles using the kept links. */
function components(n: number, present: boolean[], links: readonly Link[], kept: boolean[]): number[] {
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  links.forEach((l, k) => {
    if (kept[k]) parent[find(l.a)] = find(l.b);
  });
  const ids = new Map<number, number>();
  return parent.map((_, i) => {
    if (!present[i]) return -1;
    const r = find(i);
    if (!ids.has(r)) ids.set(r, ids.size);
    return ids.get(r)!;
  });
}

/** Relative positions of each group (first tile of the group at the origin). */
function solveGroups(n: number, group: number[], links: readonly Link[], kept: boolean[]): Point[] {
  const pos: Point[] = Array.from({ length: n }, () => ({ x: 0, y: 0 }));
  const groups = new Map<number, number[]>();
  group.forEach((g, i) => {
    if (g >= 0) groups.set(g, [...(groups.get(g) ?? []), i]);
  });
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    // Unknowns: every member but the first (gauge), indexed by position in `members`.
    const idx = new Map(members.map((t, k) => [t, k - 1]));
    const m = members.length - 1;
    const mat = new Float64Array(m * m);
    const bx = new Float64Array(m);
    const by = new Float64Array(m);
    links.forEach((l, k) => {
      if (!kept[k] || !idx.has(l.a) || !idx.has(l.b)) return;
      const ia = idx.get(l.a)!, ib = idx.get(l.b)!, w = l.weight;
      if (ia >= 0) {
        mat[ia * m + ia] += w;
        bx[ia] -= w * l.dx;
        by[ia] -= w * l.dy;
      }
      if (ib >= 0) {
        mat[ib * m + ib] += w;
        bx[ib] += w * l.dx;
        by[ib] += w * l.dy;
      }
      if (ia >= 0 && ib >= 0) {
        mat[ia * m + ib] -= w;
        mat[ib * m + ia] -= w;
      }
    });
    cholSolve(mat, m, [bx, by]);
    members.forEach((t, k) => {
      if (k > 0) pos[t] = { x: bx[k - 1], y: by[k - 1] };
    });
  }
  return pos;
}

function median(v: number[]): number {
  return v.length === 0 ? 0 : quantiles(v, [0.5])[0];
}

/** Least-squares affine q ~ A s + t over the given pairs; a mean translation (A = I) when under-determined. */
function fitAffine(s: Point[], q: Point[]): Affine {
  const n = s.length;
  if (n === 0) return { a: 1, b: 0, c: 0, d: 1, tx: 0, ty: 0 };
  const mx = s.reduce((t, p) => t + p.x, 0) / n, my = s.reduce((t, p) => t + p.y, 0) / n;
  let sxx = 0, sxy = 0, syy = 0;
  for (const p of s) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
    syy += (p.y - my) ** 2;
  }
  const det = sxx * syy - sxy * sxy;
  // A full affine (6 parameters) from a few jittered tiles extrapolates the jitter into scale and
  // shear errors across the grid: fit it only on 16+ tiles spanning both axes, else translate.
  if (n < 16 || det <= 1e-6 * Math.max(1, sxx * syy)) {
    // Mean, not median: the callers pass inliers only, and the mean of jitter is the tighter estimate.
    return { a: 1, b: 0, c: 0, d: 1, tx: q.reduce((t, p, i) => t + p.x - s[i].x, 0) / n, ty: q.reduce((t, p, i) => t + p.y - s[i].y, 0) / n };
  }
  const qx = q.reduce((t, p) => t + p.x, 0) / n, qy = q.reduce((t, p) => t + p.y, 0) / n;
  let ux = 0, uy = 0, vx = 0, vy = 0;
  s.forEach((p, i) => {
    const dx = p.x - mx, dy = p.y - my;
    ux += dx * (q[i].x - qx);
    uy += dy * (q[i].x - qx);
    vx += dx * (q[i].y - qy);
    vy += dy * (q[i].y - qy);
  });
  const a = (ux * syy - uy * sxy) / det, b = (uy * sxx - ux * sxy) / det;
  const c = (vx * syy - vy * sxy) / det, d = (vy * sxx - vx * sxy) / det;
  return { a, b, c, d, tx: qx - a * mx - b * my, ty: qy - c * mx - d * my };
}

/** Applies an affine to a point. */
export function applyAffine(m: Affine, p: Point): Point {
  return { x: m.a * p.x + m.b * p.y + m.tx, y: m.c * p.x + m.d * p.y + m.ty };
}

/**
 * Solves tile positions from links. Within each group of linked tiles, positions minimise
 * sum w * |p_b - p_a - (dx, dy)|^2. Links are then judged by their deleted residual (the misfit of
 * the link to the system solved without it, for the 64 largest residuals); while the largest
 * exceeds `dropFactor` x the mean residual and `minDropPx`, one link is dropped (among those within
 * half of the largest, the one deviating most from its direction's typical offset) and the system
 * re-solved. The stage -> canvas affine is
 * then fitted robustly (iteratively reweighted: tiles beyond 3 robust spreads are ignored) on the
 * largest group; other groups are translated onto it by their median offset from the model, and
 * tiles without links are placed at the model's prediction, so no tile floats.
 * @param n number of grid slots (tile indices 0..n-1)
 * @param links trusted measurements between present tiles
 * @throws IslError BAD_OPTION when stage has the wrong length, a link names a missing tile or has a
 *   non-positive weight, or an option is out of range
 */
export function solvePositions(n: number, links: readonly Link[], opts: SolveOptions): Solution {
  const { stage } = opts;
  const dropFactor = opts.dropFactor ?? 3;
  const minDropPx = opts.minDropPx ?? 1;
  if (stage.length !== n) throw badOption('stage', `${n} stage positions (one per grid slot)`, stage.length);
  if (!(dropFactor > 1)) throw badOption('dropFactor', 'a factor > 1', dropFactor);
  if (!(minDropPx >= 0)) throw badOption('minDropPx', 'a distance >= 0 px', minDropPx);
  if (opts.faultPx !== undefined && !(opts.faultPx > 0)) throw badOption('faultPx', 'a distance > 0 px', opts.faultPx);
  const present = stage.map((s) => s !== undefined);
  for (const l of links) {
    if (!present[l.a] || !present[l.b]) throw badOption('links', 'links between present tiles', `${l.a}-${l.b}`);
    if (!(l.weight > 0)) throw badOption('weight', 'a positive link weight', l.weight);
  }
  const kept = links.map(() => true);
  const residual = new Array<number>(links.length).fill(0);
  const solve = (keep: boolean[]) => {
    const g = components(n, present, links, keep);
    return { group: g, rel: solveGroups(n, g, links, keep) };
  };
  let cur = solve(kept);
  // Deviation of each link from the median deviation-from-nominal of links with the same nominal direction.
  const dirOf = (l: Link) => `${Math.sign(Math.round((l.nominalDx ?? l.dx) / 8))},${Math.sign(Math.round((l.nominalDy ?? l.dy) / 8))}`;
  const devs = new Map<string, Point[]>();
  for (const l of links) devs.set(dirOf(l), [...(devs.get(dirOf(l)) ?? []), { x: l.dx - (l.nominalDx ?? 0), y: l.dy - (l.nominalDy ?? 0) }]);
  const typical = new Map([...devs].map(([d, v]) => [d, { x: median(v.map((p) => p.x)), y: median(v.map((p) => p.y)) }]));
  const atypical = links.map((l) => {
    const t = typical.get(dirOf(l))!;
    return Math.hypot(l.dx - (l.nominalDx ?? 0) - t.x, l.dy - (l.nominalDy ?? 0) - t.y);
  });
  for (;;) {
    let sum = 0, cnt = 0;
    const order: number[] = [];
    links.forEach((l, k) => {
      residual[k] = Math.hypot(cur.rel[l.b].x - cur.rel[l.a].x - l.dx, cur.rel[l.b].y - cur.rel[l.a].y - l.dy);
      if (!kept[k]) return;
      sum += residual[k];
      cnt++;
      order.push(k);
    });
    if (!cnt) break;
    order.sort((p, q) => residual[q] - residual[p]);
    // A confident wrong link pushes its error onto its neighbours, so residuals of the full solve
    // can point at good links. Judge each link by its deleted residual instead: how far the rest
    // of the system, solved without it, is from its measurement (0 for bridges, which nothing checks).
    const trials = order.slice(0, 64).map((k) => {
      kept[k] = false;
      const r = solve(kept);
      kept[k] = true;
      const l = links[k];
      const deleted = r.group[l.a] === r.group[l.b] ? Math.hypot(r.rel[l.b].x - r.rel[l.a].x - l.dx, r.rel[l.b].y - r.rel[l.a].y - l.dy) : 0;
      return { k, deleted };
    });
    const top = Math.max(...trials.map((t) => t.deleted));
    if (top <= minDropPx || top <= dropFactor * (sum / cnt)) break;
    // Links on one inconsistent cycle tie; drop the one least like the typical deviation from
    // nominal of its direction (stage jitter is small, so a grid's outliers look atypical).
    let drop = trials[0].k;
    let worst = -1;
    for (const t of trials) {
      if (t.deleted < 0.5 * top) continue;
      if (atypical[t.k] > worst) {
        worst = atypical[t.k];
        drop = t.k;
      }
    }
    kept[drop] = false;
    cur = solve(kept);
  }
  const { group, rel } = cur;
  const sizes = new Map<number, number>();
  group.forEach((g) => g >= 0 && sizes.set(g, (sizes.get(g) ?? 0) + 1));
  let main = -1;
  for (const [g, s] of sizes) if (s >= 2 && (main < 0 || s > sizes.get(main)!)) main = g;
  const linked = (i: number) => present[i] && (sizes.get(group[i]) ?? 0) >= 2;

  let model: Affine = { a: 1, b: 0, c: 0, d: 1, tx: 0, ty: 0 };
  if (main >= 0) {
    let use = group.map((g) => g === main);
    for (let it = 0; it < 4; it++) {
      const ids = use.flatMap((u, i) => (u ? [i] : []));
      model = fitAffine(ids.map((i) => stage[i]!), ids.map((i) => rel[i]));
      const dist = group.map((g, i) => (g === main ? Math.hypot(applyAffine(model, stage[i]!).x - rel[i].x, applyAffine(model, stage[i]!).y - rel[i].y) : NaN));
      const d = dist.filter((v) => !Number.isNaN(v));
      const spread = 1.4826 * median(d.map((v) => Math.abs(v - median(d))));
      const cut = Math.max(3 * spread + median(d), 1);
      const next = dist.map((v) => !Number.isNaN(v) && v <= cut);
      if (next.every((v, i) => v === use[i])) break;
      use = next;
    }
  }
  const positions: (Point | undefined)[] = new Array(n).fill(undefined);
  const placedBy: ('links' | 'stage' | undefined)[] = new Array(n).fill(undefined);
  const shift = new Map<number, Point>();
  for (const g of sizes.keys()) {
    if (g === main || sizes.get(g)! < 2) continue;
    const ids = group.flatMap((h, i) => (h === g ? [i] : []));
    const off = ids.map((i) => ({ x: applyAffine(model, stage[i]!).x - rel[i].x, y: applyAffine(model, stage[i]!).y - rel[i].y }));
    shift.set(g, { x: median(off.map((p) => p.x)), y: median(off.map((p) => p.y)) });
  }
  for (let i = 0; i < n; i++) {
    if (!present[i]) continue;
    if (linked(i)) {
      const t = shift.get(group[i]) ?? { x: 0, y: 0 };
      positions[i] = { x: rel[i].x + t.x, y: rel[i].y + t.y };
      placedBy[i] = 'links';
    } else {
      positions[i] = applyAffine(model, stage[i]!);
      placedBy[i] = 'stage';
    }
  }
  const stageDistance = positions.map((p, i) => (p ? Math.hypot(applyAffine(model, stage[i]!).x - p.x, applyAffine(model, stage[i]!).y - p.y) : undefined));
  const linkedDist = stageDistance.filter((d, i): d is number => d !== undefined && linked(i));
  const faultPx = opts.faultPx ?? Math.max(3, 5 * 1.4826 * median(linkedDist.map((v) => Math.abs(v - median(linkedDist)))) + median(linkedDist));
  const fault = stageDistance.map((d, i) => d !== undefined && linked(i) && d > faultPx);
  // Final residuals against placed positions, so dropped links spanning two groups are comparable.
  links.forEach((l, k) => {
    const pa = positions[l.a]!, pb = positions[l.b]!;
    residual[k] = Math.hypot(pb.x - pa.x - l.dx, pb.y - pa.y - l.dy);
  });
  const keptRes = residual.filter((_, k) => kept[k]);
  const residualRms = keptRes.length ? Math.sqrt(keptRes.reduce((t, r) => t + r * r, 0) / keptRes.length) : 0;
  return { positions, placedBy, group, kept, residual, residualRms, stageModel: model, stageDistance, fault, faultPx };
}
