/**
 * `npm run bench -- stitch [pair|composite|well]`
 *
 * pair: registration of one 2048x2048 tile pair with a 300 px overlap (the paper's setup):
 *   `pairOffset` vs an OpenCV reference on the same overlap (Hann window + cv2.phaseCorrelate,
 *   then numpy NCC on the implied overlap to verify it).
 * composite: compositing alone (16 planes, layout from the true positions) in a fresh process, for its peak RSS.
 * well: a 6x6 well of 2048x2048 tiles, 13 z + 3 labels, tiles generated on the fly: registration
 *   (stitchWellFrom on z 6, each tile generated when asked for) + compositing of all 16 planes,
 *   wall time and peak RSS (peak_rss_register_MB: the high-water mark after registration). Run with
 *   `node --expose-gc --import tsx bench/stitch.ts well` so registration garbage is collected
 *   before the composite phase's RSS is sampled.
 */
import { writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { rng } from '../core/random.ts';
import { plane, type Plane } from '../core/image.ts';
import { compositePlane, layoutOf } from '../transforms/stitch/composite.ts';
import { pairOffset } from '../transforms/stitch/ncc.ts';
import { stitchWellFrom } from '../transforms/stitch/well.ts';
import { pythonSeconds, report, timeIt } from './lib.ts';

const T = 2048, OV = 300, STEP = T - OV;
const mode = process.argv[2] ?? 'all';

/** A periodic (period P) textured field: blurred uniform noise plus sparse blobs, 100..~700 counts. */
const P = 4096;
function field(seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(P * P);
  for (let i = 0; i < a.length; i++) a[i] = r.uniform();
  // Two separable box passes (radius 2) with wrap-around, then scale.
  const t = new Float32Array(P * P);
  for (let pass = 0; pass < 2; pass++) {
    for (let y = 0; y < P; y++) {
      const o = y * P;
      let s = 0;
      for (let k = -2; k <= 2; k++) s += a[o + ((k + P) % P)];
      for (let x = 0; x < P; x++) {
        t[o + x] = s / 5;
        s += a[o + ((x + 3) % P)] - a[o + ((x - 2 + P) % P)];
      }
    }
    for (let x = 0; x < P; x++) {
      let s = 0;
      for (let k = -2; k <= 2; k++) s += t[((k + P) % P) * P + x];
      for (let y = 0; y < P; y++) {
        a[y * P + x] = s / 5;
        s += t[((y + 3) % P) * P + x] - t[((y - 2 + P) % P) * P + x];
      }
    }
  }
  for (let i = 0; i < a.length; i++) a[i] = 100 + 600 * a[i];
  return a;
}

/** Tile (row, col) of plane k (z or label) cut from the field at its true jittered position. */
function tileOf(f: Float32Array, pos: { x: number; y: number }, k: number): Plane<'uint16'> {
  const p = plane('uint16', T, T);
  // Each plane sees the specimen slightly shifted and scaled, so planes differ but share geometry.
  const ox = pos.x + 3 * k, oy = pos.y + 5 * k, g = 1 + 0.02 * k;
  for (let v = 0; v < T; v++) {
    const row = ((oy + v) % P) * P;
    const o = v * T;
    for (let u = 0; u < T; u++) p.data[o + u] = g * f[row + ((ox + u) % P)];
  }
  return p;
}

const PY_HEAD = `
import sys, time, numpy as np, cv2
cv2.setNumThreads(2)
T, OV, STEP = ${T}, ${OV}, ${STEP}
a = np.fromfile(sys.argv[1], np.float32).reshape(T, T)
b = np.fromfile(sys.argv[2], np.float32).reshape(T, T)
def ncc(dx, dy):
    x0, y0, x1, y1 = max(0, dx), max(0, dy), min(T, dx + T), min(T, dy + T)
    if x1 <= x0 or y1 <= y0: return -1.0, 0
    u = a[y0:y1, x0:x1].astype(np.float64).ravel(); v = b[y0 - dy:y1 - dy, x0 - dx:x1 - dx].astype(np.float64).ravel()
    u = u - u.mean(); v = v - v.mean()
    return float(u @ v / np.sqrt((u @ u) * (v @ v))), u.size
def bench(register):
    r = register()
    assert abs(r[0] - (STEP + 7)) < 1 and abs(r[1] + 4) < 1, r
    ts = []
    for _ in range(7):
        t0 = time.perf_counter(); register(); ts.append(time.perf_counter() - t0)
    print(sorted(ts)[3])
`;
const PY_MINIMAL = `
win = cv2.createHanningWindow((OV, T), cv2.CV_32F)
def register():
    sa = np.ascontiguousarray(a[:, STEP:]); sb = np.ascontiguousarray(b[:, :OV])
    (sx, sy), resp = cv2.phaseCorrelate(sa, sb, win)
    return STEP - sx, -sy, ncc(STEP - int(round(sx)), -int(round(sy)))[0]
bench(register)
`;
const PY_SAME = `
R = 102
def tukey(n, f=0.2):
    w = np.ones(n); m = max(1, int(f * n)); i = np.arange(m)
    w[:m] = 0.5 * (1 - np.cos(np.pi * (i + 0.5) / m)); w[n - m:] = w[:m][::-1]; return w
def core(lo, hi):
    p = 1 << int(np.log2(hi - lo))
    if p < 0.8 * (hi - lo): return lo, hi
    c = lo + (hi - lo - p) // 2; return c, c + p
def register():
    x0, x1 = core(STEP, T); y0, y1 = core(0, T)
    w, h = x1 - x0, y1 - y0
    win = np.outer(tukey(h), tukey(w)).astype(np.float32)
    sa = a[y0:y1, x0:x1]; sb = b[y0:y1, x0 - STEP:x1 - STEP]
    fa = cv2.dft((sa - sa.mean()) * win, flags=cv2.DFT_COMPLEX_OUTPUT)
    fb = cv2.dft((sb - sb.mean()) * win, flags=cv2.DFT_COMPLEX_OUTPUT)
    c = cv2.mulSpectrums(fa, fb, 0, conjB=True)
    c /= np.maximum(cv2.magnitude(c[..., 0], c[..., 1]), 1e-12)[..., None]
    s = cv2.idft(c, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    loc = (s >= cv2.dilate(s, np.ones((3, 3), np.uint8))) 
    ys, xs = np.nonzero(loc)
    top = np.argsort(-s[ys, xs])[:8]
    best = (-2.0, 0, 0)
    for k in top:
        for sy in (ys[k], ys[k] - h):
            for sx in (xs[k], xs[k] - w):
                if abs(sx) <= R and abs(sy) <= R:
                    v, n = ncc(STEP + sx, sy)
                    if n >= 0.25 * w * h and v > best[0]: best = (v, STEP + sx, sy)
    v, dx, dy = best
    for _ in range(4):
        moved = False
        for ex, ey in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            u = ncc(dx + ex, dy + ey)[0]
            if u > v: v, dx, dy, moved = u, dx + ex, dy + ey, True
        if not moved: break
    def par(l, c, r):
        d = l - 2 * c + r
        return 0.0 if d >= 0 else max(-0.5, min(0.5, 0.5 * (l - r) / d))
    fx = par(ncc(dx - 1, dy)[0], v, ncc(dx + 1, dy)[0]); fy = par(ncc(dx, dy - 1)[0], v, ncc(dx, dy + 1)[0])
    return dx + fx, dy + fy, v
bench(register)
`;

if (mode === 'all' || mode === 'pair') {
  const f = field(1);
  const A = tileOf(f, { x: 100, y: 200 }, 0);
  const B = tileOf(f, { x: 100 + STEP + 7, y: 200 - 4 }, 0);
  const a = plane('float32', T, T, Float32Array.from(A.data));
  const b = plane('float32', T, T, Float32Array.from(B.data));
  const opts = { nominalDx: STEP, nominalDy: 0, searchX: 102, searchY: 102 };
  const found = pairOffset(a, b, opts);
  if (Math.abs(found.dx - (STEP + 7)) > 0.2 || Math.abs(found.dy + 4) > 0.2) throw new Error(`pair bench: wrong offset ${found.dx}, ${found.dy}`);
  const ours = await timeIt(() => pairOffset(a, b, opts), 7);
  const dir = mkdtempSync(join(tmpdir(), 'stitch-bench-'));
  writeFileSync(join(dir, 'a.f32'), a.data);
  writeFileSync(join(dir, 'b.f32'), b.data);
  const files = [join(dir, 'a.f32'), join(dir, 'b.f32')];
  // Reference 1: the minimal OpenCV registration (one phase-correlation peak, one NCC check).
  const refMin = pythonSeconds(PY_HEAD + PY_MINIMAL, files);
  // Reference 2: the same algorithm as pairOffset in numpy + OpenCV (cv2.dft/idft, 8 peaks, every
  // wrap-around reading in the window verified by NCC, hill climb, parabola).
  const refSame = pythonSeconds(PY_HEAD + PY_SAME, files);
  rmSync(dir, { recursive: true });
  report('stitch pair 2048x2048, 300 px overlap (vs same algorithm in numpy+cv2)', ours, refSame, { candidates: found.candidates });
  report('stitch pair 2048x2048, 300 px overlap (vs cv2.phaseCorrelate + 1 NCC)', ours, refMin);
}

if (mode === 'composite') {
  // Compositing alone in a fresh process (layout from the true positions), so its peak RSS is not
  // the registration's high-water mark: canvas + field + one tile + V8.
  const rows = 6, cols = 6, K = 16;
  const f = field(2);
  const r = rng(3);
  const truth = Array.from({ length: rows * cols }, (_, i) => ({ x: 500 + (i % cols) * STEP + r.int(21) - 10, y: 700 + Math.floor(i / cols) * STEP + r.int(21) - 10 }));
  const ox = Math.min(...truth.map((p) => p.x)), oy = Math.min(...truth.map((p) => p.y));
  const tiles = truth.map((p, i) => ({ row: Math.floor(i / cols), col: i % cols, x: p.x - ox, y: p.y - oy }));
  const layout = { width: Math.max(...tiles.map((t) => t.x)) + T, height: Math.max(...tiles.map((t) => t.y)) + T, tileWidth: T, tileHeight: T, tiles, ramp: { x: OV, y: OV } };
  const before = process.resourceUsage().maxRSS / 1024;
  const canvas = plane('float32', layout.width, layout.height);
  let genMs = 0, live = 0;
  const t0 = performance.now();
  for (let k = 0; k < K; k++)
    await compositePlane(layout, (row, col) => {
      const g0 = performance.now();
      const p = tileOf(f, truth[row * cols + col], k);
      genMs += performance.now() - g0;
      const m = process.memoryUsage();
      live = Math.max(live, m.arrayBuffers);
      return p;
    }, canvas);
  const s = (performance.now() - t0 - genMs) / 1000;
  console.log(JSON.stringify({ name: 'stitch composite only, 6x6 x 2048^2, 16 planes', composite_s: +s.toFixed(2), per_plane_s: +(s / K).toFixed(2), canvas_MB: +((layout.width * layout.height * 4) / 2 ** 20).toFixed(0), rss_before_canvas_MB: +before.toFixed(0), peak_rss_MB: +(process.resourceUsage().maxRSS / 1024).toFixed(0), peak_live_typed_arrays_MB: +(live / 2 ** 20).toFixed(0) }));
}

if (mode === 'all' || mode === 'well') {
  const rows = 6, cols = 6, Z = 13, LABELS = 3;
  const t0 = performance.now();
  const f = field(2);
  const r = rng(3);
  const truth = Array.from({ length: rows * cols }, (_, i) => ({ x: 500 + (i % cols) * STEP + r.int(21) - 10, y: 700 + Math.floor(i / cols) * STEP + r.int(21) - 10 }));
  const tGen = performance.now();
  // Registration input: the reference plane (z 6) of each tile, uint16 as a raw dump would give it,
  // generated when stitchWellFrom asks for it (as a reader would load it) and dropped after.
  let refGenMs = 0;
  const tReg0 = performance.now();
  const rep = await stitchWellFrom(truth.map((_, i) => ({ tileRow: Math.floor(i / cols), tileCol: i % cols })), (row, col) => {
    const g0 = performance.now();
    const p = tileOf(f, truth[row * cols + col], 6);
    refGenMs += performance.now() - g0;
    return p;
  }, { overlap: OV, well: 'bench' });
  const tReg = performance.now();
  const peakAfterRegister = process.resourceUsage().maxRSS * 1024;
  (globalThis as { gc?: () => void }).gc?.();
  let rss = process.memoryUsage().rss;
  let genMs = 0;
  const layout = layoutOf(rep);
  let checksum = 0;
  const canvas = plane('float32', layout.width, layout.height);
  for (let k = 0; k < Z + LABELS; k++) {
    await compositePlane(layout, (row, col) => {
      const g0 = performance.now();
      const p = tileOf(f, truth[row * cols + col], k);
      genMs += performance.now() - g0;
      rss = Math.max(rss, process.memoryUsage().rss);
      return p;
    }, canvas);
    checksum += canvas.data[(canvas.height >> 1) * canvas.width + (canvas.width >> 1)];
    rss = Math.max(rss, process.memoryUsage().rss);
  }
  const tEnd = performance.now();
  const err = rep.tiles.map((t) => {
    const i = t.row * cols + t.col;
    return { ex: t.x - (truth[i].x - truth[0].x) - rep.tiles[0].x, ey: t.y - (truth[i].y - truth[0].y) - rep.tiles[0].y };
  });
  const mx = err.reduce((s, e) => s + e.ex, 0) / err.length, my = err.reduce((s, e) => s + e.ey, 0) / err.length;
  const rmsErr = Math.sqrt(err.reduce((s, e) => s + (e.ex - mx) ** 2 + (e.ey - my) ** 2, 0) / err.length);
  const canvasMB = (layout.width * layout.height * 4) / 2 ** 20;
  console.log(
    JSON.stringify({
      name: 'stitch well 6x6 x 2048^2, 13 z + 3 labels',
      register_s: +((tReg - tReg0 - refGenMs) / 1000).toFixed(2),
      composite_s: +((tEnd - tReg - genMs) / 1000).toFixed(2),
      tile_generation_s: +((genMs + refGenMs) / 1000).toFixed(2),
      field_s: +((tGen - t0) / 1000).toFixed(2),
      total_stitch_s: +((tEnd - tReg0 - genMs - refGenMs) / 1000).toFixed(2),
      canvas: `${layout.width}x${layout.height}`,
      canvas_MB: +canvasMB.toFixed(0),
      peak_rss_MB: +(process.resourceUsage().maxRSS / 1024).toFixed(0),
      peak_rss_register_MB: +(peakAfterRegister / 2 ** 20).toFixed(0),
      rss_composite_max_MB: +(rss / 2 ** 20).toFixed(0),
      position_rms_px: +rmsErr.toFixed(3),
      pairs_used: rep.pairs.filter((p) => p.used).length,
      pairs: rep.pairs.length,
      checksum: +checksum.toFixed(1),
    }),
  );
}
