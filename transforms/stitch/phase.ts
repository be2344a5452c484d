/**
 * Phase correlation of two equally sized strips through 2-D FFTs (fft.js, radix-4).
 *
 * Only proposes candidate shifts: the phase-correlation surface is circular, so a peak at index
 * (px, py) means a shift of px or px - N (and py or py - M); callers verify each interpretation by
 * true NCC on the implied overlap (see ncc.ts).
 */
import FFT from 'fft.js';

/** The circular phase-correlation surface of two strips, N x M (powers of two), row-major. */
export interface PhaseSurface {
  /** Padded width N (power of two) and height M. */
  readonly width: number;
  readonly height: number;
  /** Correlation value per circular shift; index = sy * width + sx. */
  readonly data: Float32Array;
}

const ffts = new Map<number, FFT>();
function fftOf(n: number): FFT {
  let f = ffts.get(n);
  if (!f) ffts.set(n, (f = new FFT(n)));
  return f;
}

/** Smallest power of two >= n (and >= 2, fft.js's minimum). */
export function nextPow2(n: number): number {
  let p = 2;
  while (p < n) p <<= 1;
  return p;
}

/**
 * Tukey window weights of length n: flat in the middle, cosine tapers over `taper` of the length
 * at each end. Tapering removes the strip-edge discontinuity that otherwise puts a spurious peak
 * at zero shift, exactly where the true shift of a nominal overlap lies.
 */
function tukey(n: number, taper: number): Float64Array {
  const w = new Float64Array(n).fill(1);
  const m = Math.max(1, Math.floor(taper * n));
  for (let i = 0; i < m && i < n; i++) {
    const v = 0.5 * (1 - Math.cos((Math.PI * (i + 0.5)) / m));
    w[i] = v;
    w[n - 1 - i] = v;
  }
  return w;
}

/** In-place 2-D complex FFT of an interleaved N x M buffer (rows then columns). */
function fft2(buf: Float64Array, n: number, m: number, inverse: boolean): void {
  const fr = fftOf(n);
  const fc = fftOf(m);
  const rowIn = new Float64Array(2 * n);
  const rowOut = new Float64Array(2 * n);
  for (let y = 0; y < m; y++) {
    const row = buf.subarray(2 * n * y, 2 * n * (y + 1));
    rowIn.set(row);
    if (inverse) fr.inverseTransform(rowOut, rowIn);
    else fr.transform(rowOut, rowIn);
    row.set(rowOut);
  }
  const colIn = new Float64Array(2 * m);
  const colOut = new Float64Array(2 * m);
  for (let x = 0; x < n; x++) {
    for (let y = 0, i = 2 * x; y < m; y++, i += 2 * n) {
      colIn[2 * y] = buf[i];
      colIn[2 * y + 1] = buf[i + 1];
    }
    if (inverse) fc.inverseTransform(colOut, colIn);
    else fc.transform(colOut, colIn);
    for (let y = 0, i = 2 * x; y < m; y++, i += 2 * n) {
      buf[i] = colOut[2 * y];
      buf[i + 1] = colOut[2 * y + 1];
    }
  }
}

/**
 * Phase correlation of strip `a` against strip `b`, both `width` x `height` row-major float32.
 * A peak at circular index (sx, sy) means b(x, y) ~ a(x + sx, y + sy): content of `b` sits at
 * (sx, sy) relative to `a`'s frame, modulo the padded size.
 *
 * Both strips are mean-subtracted, Tukey-windowed (taper: fraction per edge, default 0.2) and
 * zero-padded to powers of two; they are packed as the real and imaginary parts of one complex
 * FFT, so each call costs one forward and one inverse 2-D FFT.
 * @param a, b strips of width * height pixels (row-major)
 * @param width, height strip size in px (both >= 2)
 * @throws RangeError when the strip arrays do not hold width * height pixels
 */
export function phaseCorrelation(a: Float32Array, b: Float32Array, width: number, height: number, taper = 0.2): PhaseSurface {
  if (a.length !== width * height || b.length !== width * height) throw new RangeError(`Expected two strips of ${width}x${height} px but received ${a.length} and ${b.length} px`);
  const n = nextPow2(width);
  const m = nextPow2(height);
  const wx = tukey(width, taper);
  const wy = tukey(height, taper);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  const buf = new Float64Array(2 * n * m);
  for (let y = 0; y < height; y++) {
    const o = 2 * n * y;
    const r = y * width;
    for (let x = 0; x < width; x++) {
      const w = wx[x] * wy[y];
      buf[o + 2 * x] = (a[r + x] - ma) * w;
      buf[o + 2 * x + 1] = (b[r + x] - mb) * w;
    }
  }
  fft2(buf, n, m, false);
  // Unpack A = (Z[k] + conj Z[-k]) / 2 and B = (Z[k] - conj Z[-k]) / 2i, then the normalised cross
  // power A conj(B) / |A conj(B)|, whose inverse transform peaks at the shift of b relative to a.
  const out = new Float64Array(2 * n * m);
  for (let ky = 0; ky < m; ky++) {
    const nky = (m - ky) & (m - 1);
    for (let kx = 0; kx < n; kx++) {
      const nkx = (n - kx) & (n - 1);
      const i = 2 * (ky * n + kx);
      const j = 2 * (nky * n + nkx);
      const zr = buf[i], zi = buf[i + 1];
      const cr = buf[j], ci = -buf[j + 1]; // conj Z[-k]
      const ar = 0.5 * (zr + cr), ai = 0.5 * (zi + ci);
      // (Z - conj Z[-k]) / 2i = (dr + i di) / 2i = (di - i dr) / 2
      const dr = zr - cr, di = zi - ci;
      const br = 0.5 * di, bi = -0.5 * dr;
      const pr = ar * br + ai * bi;
      const pi = ai * br - ar * bi;
      const mag = Math.hypot(pr, pi);
      if (mag > 1e-12) {
        out[i] = pr / mag;
        out[i + 1] = pi / mag;
      }
    }
  }
  fft2(out, n, m, true);
  const data = new Float32Array(n * m);
  for (let k = 0; k < n * m; k++) data[k] = out[2 * k];
  return { width: n, height: m, data };
}
