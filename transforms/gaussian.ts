/**
 * Gaussian blur of a float32 plane, sigma in pixels, separable, mirrored borders.
 *
 * Borders mirror about the image edge, repeating the edge pixel (`cba|abcd|dcb`, OpenCV's
 * BORDER_REFLECT), so a blurred flat-field keeps zero slope at the image edge, and the fast path
 * below, whose blocks start at the edge, mirrors about the same axis. The kernel is
 * truncated at 4 sigma (as OpenCV does for float images) and normalized to sum 1.
 *
 * Large sigmas (flat-fields use H/16 = 128 px on 2048-px tiles) would cost ~1000 taps per pixel
 * per pass. With `method: 'auto'` (default) sigmas >= `FAST_SIGMA` (16 px) take the fast path:
 * mean over f x f blocks (f = floor(sigma / 8)), an exact blur of that small image with the
 * remaining sigma sqrt(sigma^2 - (f^2-1)/12) / f (removing the variance the block mean adds), then
 * bilinear upsampling back (which interpolates, adding no blur at the block centres and up to
 * f^2/4 px^2 of variance midway between them). Tested against `method: 'exact'` for sigma 16-32:
 * on a vignette (what large sigmas are used for: flat-fields) the difference is < 0.05% of the
 * image's range; on a vignetted texture of cell-sized blobs < 0.1% (test/transforms/gaussian.test.ts).
 */
import { badOption } from '../core/errors.ts';
import { plane, type Plane } from '../core/image.ts';
import { upsampleBlocks } from './upsample.ts';
import { requireFinite } from './validate.ts';
import { ALL_ONES, ensureMemory, I32, op, simdConst, V128, wasmModule } from './wasm.ts';

/** Sigma (px) from which `method: 'auto'` uses the block-mean / upsample approximation. */
export const FAST_SIGMA = 16;

export interface GaussianOptions {
  /** 'exact' (full separable kernel), 'fast' (block approximation), 'auto' (fast iff sigma >= FAST_SIGMA). */
  method?: 'auto' | 'exact' | 'fast';
}

/**
 * Blurs `p` with a Gaussian of standard deviation `sigma` pixels (both axes). Returns a new plane.
 * sigma = 0 returns a copy.
 * @throws IslError BAD_OPTION for a negative or non-finite sigma; BAD_INPUT for NaN/Infinity pixels.
 */
export function gaussianBlur(p: Plane<'float32'>, sigma: number, opts: GaussianOptions = {}): Plane<'float32'> {
  const { method = 'auto' } = opts;
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw badOption('sigma', 'a finite number of pixels >= 0', sigma);
  if (!['auto', 'exact', 'fast'].includes(method)) throw badOption('method', "'auto', 'exact' or 'fast'", method);
  if (sigma === 0) {
    requireFinite(p, 'image to blur');
    return plane('float32', p.width, p.height, Float32Array.from(p.data));
  }
  const f = Math.floor(sigma / 8);
  const fast = method === 'fast' || (method === 'auto' && sigma >= FAST_SIGMA);
  const out = fast && f >= 2 && p.width >= 2 * f && p.height >= 2 * f ? blurBlocks(p, sigma, f) : blurExact(p, sigma);
  // all taps are positive, so a NaN/Infinity input makes its neighbourhood non-finite: the kernel
  // flags that for free, and only then is the input scanned to name the pixel
  if (!out.finite) requireFinite(p, 'image to blur');
  return out.plane;
}

interface Blurred {
  plane: Plane<'float32'>;
  /** False if any output pixel is NaN or +-Infinity. */
  finite: boolean;
}

/** Normalized Gaussian taps w[0..r] (w[k] for offsets +-k), truncated at 4 sigma. */
export function gaussianKernel(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(4 * sigma));
  const w = new Float64Array(r + 1);
  let sum = 0;
  for (let k = 0; k <= r; k++) {
    w[k] = Math.exp((-k * k) / (2 * sigma * sigma));
    sum += k === 0 ? w[k] : 2 * w[k];
  }
  return Float32Array.from(w, (v) => v / sum);
}

/** Mirror index i into [0, n) repeating the edge (`cba|abc`); handles |offset| > n. */
function reflect(i: number, n: number): number {
  const period = 2 * n;
  let j = i % period;
  if (j < 0) j += period;
  return j < n ? j : period - 1 - j;
}

/**
 * Exact separable blur in WebAssembly SIMD (4 pixels per instruction): a module specialized per
 * kernel (taps are constants, offsets immediates), a horizontal pass over rows padded by mirroring,
 * then a vertical pass reading rows through a table of mirrored row addresses.
 */
function blurExact(p: Plane<'float32'>, sigma: number): Blurred {
  const { width: W, height: H } = p;
  const w = gaussianKernel(sigma);
  const r = w.length - 1;
  const WV = Math.ceil(W / 4) * 4;
  const k = kernelFor(w, WV);
  const PS = Math.ceil((WV + 2 * r) / 4) * 4; // padded source row, floats
  // layout (floats): source H x PS | tmp H x WV | out H x WV | row table H + 2r (i32)
  const src = 0;
  const tmp = src + H * PS;
  const out = tmp + H * WV;
  const table = out + H * WV;
  const f = ensureMemory(k.mem, (table + H + 2 * r) * 4);
  const d = p.data;
  for (let y = 0; y < H; y++) {
    const row = src + y * PS;
    f.set(d.subarray(y * W, (y + 1) * W), row + r);
    for (let i = 1; i <= r; i++) f[row + r - i] = d[y * W + reflect(-i, W)];
    for (let x = W; x < PS - r; x++) f[row + r + x] = d[y * W + reflect(x, W)];
  }
  const rows = new Int32Array(k.mem.buffer, table * 4, H + 2 * r);
  for (let i = 0; i < H + 2 * r; i++) rows[i] = (tmp + reflect(i - r, H) * WV) * 4;
  k.h(src * 4, tmp * 4, H, PS * 4, WV * 4, WV / 4);
  const finite = k.v(table * 4, out * 4, H, WV * 4, WV / 4) !== 0;
  const o = plane('float32', W, H);
  for (let y = 0; y < H; y++) o.data.set(f.subarray(out + y * WV, out + y * WV + W), y * W);
  return { plane: o, finite };
}

interface BlurKernel {
  mem: WebAssembly.Memory;
  /** h(src, dst, rows, srcStride, dstStride, vectors): bytes; source rows padded by r on the left. */
  h: (src: number, dst: number, rows: number, srcStride: number, dstStride: number, nvec: number) => void;
  /** v(table, dst, rows, dstStride, vectors) -> 1 if every output is finite; table[r + y] = byte address of (mirrored) tmp row y (tmp rows WV floats apart). */
  v: (table: number, dst: number, rows: number, dstStride: number, nvec: number) => number;
}

const blurKernels = new Map<string, BlurKernel>();
/** One memory for all blur kernels (calls are synchronous and each loads its image). */
const memory = new WebAssembly.Memory({ initial: 1 });

function kernelFor(w: Float32Array, WV: number): BlurKernel {
  const key = `${WV}:${w.join(',')}`;
  const rowBytes = WV * 4;
  let k = blurKernels.get(key);
  if (k) return k;
  const r = w.length - 1;
  const taps = (i: number) => [...simdConst(w[i])];
  // horizontal: params src 0, dst 1, rows 2, sstride 3, dstride 4, nvec 5; locals y 6, v 7, a 8, o 9
  const h: number[] = [];
  const e = (arr: number[], ...xs: number[][]) => xs.forEach((x) => arr.push(...x));
  e(h, op.const(0), op.set(6), op.block, op.loop);
  e(h, op.get(6), op.get(2), op.geU, op.brIf(1));
  e(h, op.get(0), op.get(6), op.get(3), op.mul, op.add, op.set(8));
  e(h, op.get(1), op.get(6), op.get(4), op.mul, op.add, op.set(9));
  e(h, op.const(0), op.set(7), op.block, op.loop);
  e(h, op.get(7), op.get(5), op.geU, op.brIf(1));
  e(h, op.get(9)); // store address
  e(h, taps(0), op.get(8), op.load(r * 4), op.f32x4mul);
  for (let i = 1; i <= r; i++) e(h, taps(i), op.get(8), op.load((r - i) * 4), op.get(8), op.load((r + i) * 4), op.f32x4add, op.f32x4mul, op.f32x4add);
  e(h, op.store(0));
  e(h, op.get(8), op.const(16), op.add, op.set(8), op.get(9), op.const(16), op.add, op.set(9));
  e(h, op.get(7), op.const(1), op.add, op.set(7), op.br(0), op.end, op.end);
  e(h, op.get(6), op.const(1), op.add, op.set(6), op.br(0), op.end, op.end);
  // vertical: params table 0, dst 1, rows 2, dstride 3, nvec 4; locals y 5, v 6, x 7, o 8, row pointers 9..9+2r
  const v: number[] = [];
  const P0 = 9;
  const ACC = P0 + 2 * r + 1;
  const OK = ACC + 1;
  e(v, ALL_ONES, op.set(OK));
  // one output row: x over the vectors, rows of the window read through `row(j)`, j = 0..2r
  const rowLoop = (row: (j: number) => number[]) => {
    e(v, op.const(0), op.set(7), op.const(0), op.set(6), op.block, op.loop);
    e(v, op.get(6), op.get(4), op.geU, op.brIf(1));
    e(v, taps(0), row(r), op.f32x4mul);
    for (let i = 1; i <= r; i++) e(v, taps(i), row(r - i), row(r + i), op.f32x4add, op.f32x4mul, op.f32x4add);
    e(v, op.set(ACC), op.get(8), op.get(7), op.add, op.get(ACC), op.store(0));
    // finite lanes: acc - acc == 0 (NaN and +-Infinity give NaN)
    e(v, op.get(OK), op.get(ACC), op.get(ACC), op.f32x4sub, simdConst(0), op.f32x4eq, op.v128and, op.set(OK));
    e(v, op.get(7), op.const(16), op.add, op.set(7));
    e(v, op.get(6), op.const(1), op.add, op.set(6), op.br(0), op.end, op.end);
  };
  e(v, op.const(0), op.set(5), op.block, op.loop);
  e(v, op.get(5), op.get(2), op.geU, op.brIf(1));
  e(v, op.get(1), op.get(5), op.get(3), op.mul, op.add, op.set(8));
  // interior rows (r <= y < rows - r) are consecutive in tmp: one base address, immediate offsets
  e(v, op.get(5), op.const(r), op.geU, op.get(5), op.const(r), op.add, op.get(2), op.ltU, op.and, op.if);
  e(v, op.get(0), op.get(5), op.const(2), op.shl, op.add, op.i32load(0), op.set(P0));
  rowLoop((j) => [...op.get(P0), ...op.get(7), ...op.add, ...op.load(j * rowBytes)]);
  e(v, op.else);
  for (let j = 0; j <= 2 * r; j++) e(v, op.get(0), op.get(5), op.const(2), op.shl, op.add, op.i32load(j * 4), op.set(P0 + j));
  rowLoop((j) => [...op.get(P0 + j), ...op.get(7), ...op.add, ...op.load(0)]);
  e(v, op.end);
  e(v, op.get(5), op.const(1), op.add, op.set(5), op.br(0), op.end, op.end);
  e(v, op.get(OK), op.i32x4allTrue);
  const mod = wasmModule([
    { name: 'h', params: 6, locals: [[4, I32]], body: h },
    { name: 'v', params: 5, returnsI32: true, locals: [[4 + 2 * r + 1, I32], [2, V128]], body: v },
  ]);
  const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
  k = { mem: memory, h: inst.exports.h as BlurKernel['h'], v: inst.exports.v as BlurKernel['v'] };
  if (blurKernels.size >= 16) blurKernels.clear(); // bound the compiled code kept
  blurKernels.set(key, k);
  return k;
}

function blurBlocks(p: Plane<'float32'>, sigma: number, f: number): Blurred {
  const { width: W, height: H } = p;
  const cw = Math.ceil(W / f);
  const ch = Math.ceil(H / f);
  // block means (edge blocks may be partial)
  const sum = new Float64Array(cw * ch);
  const cnt = new Float64Array(cw * ch);
  const src = p.data;
  for (let y = 0; y < H; y++) {
    const cy = ((y / f) | 0) * cw;
    for (let x = 0; x < W; x++) {
      const j = cy + ((x / f) | 0);
      sum[j] += src[y * W + x];
      cnt[j]++;
    }
  }
  const small = plane('float32', cw, ch, Float32Array.from(sum, (s, j) => s / cnt[j]));
  const remaining = Math.sqrt(Math.max(sigma * sigma - (f * f - 1) / 12, 0)) / f;
  const exact = remaining > 0 ? blurExact(small, remaining) : undefined;
  const out = upsampleBlocks(exact ? exact.plane : small, f, W, H);
  return { plane: out, finite: exact ? exact.finite : small.data.every(Number.isFinite) };
}
