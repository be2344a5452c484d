/**
 * Training curves for the report: `train.jsonl` (one JSON object per line, `{step, loss, ...}`)
 * drawn as an inline SVG line chart, so the page needs no script and no network.
 */
import { badInput } from '../../core/errors.ts';

/** One series of a training log: a numeric field against step. */
export interface CurveSeries {
  readonly name: string;
  readonly points: readonly (readonly [step: number, value: number])[];
}

/**
 * Reads the loss-like series of a `train.jsonl` text: every numeric field whose name contains
 * "loss" (loss, val_loss, ...), against `step`. Blank lines are skipped.
 * @param text file contents.
 * @param file path for error messages.
 * @throws IslError BAD_INPUT for a line that is not JSON or lacks a numeric `step`.
 */
export function parseTrainLog(text: string, file: string): CurveSeries[] {
  const series = new Map<string, [number, number][]>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw badInput(`${file}:${i + 1}`, 'expected one JSON object per line ({"step": ..., "loss": ...})');
    }
    if (!row || typeof row !== 'object' || typeof (row as { step?: unknown }).step !== 'number') {
      throw badInput(`${file}:${i + 1}`, 'expected a numeric "step" field in every line');
    }
    const r = row as Record<string, unknown>;
    for (const [k, v] of Object.entries(r)) {
      if (k === 'step' || !/loss/i.test(k) || typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (!series.has(k)) series.set(k, []);
      series.get(k)!.push([r.step as number, v]);
    }
  });
  return [...series].map(([name, points]) => ({ name, points }));
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Compact tick label: 1200 -> "1.2k", 0.0031 -> "0.0031". */
function tick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4) return `${+(v / 1000).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/**
 * Line chart of the series: x = step, y = value on a log scale when all values are positive and
 * span more than a factor of 20 (losses usually do), else linear.
 * @param series from {@link parseTrainLog}.
 * @param size width and height, px; default 640 x 320.
 * @returns an `<svg>` element (text) to inline in HTML, with a legend and axis labels.
 */
export function trainCurveSvg(series: readonly CurveSeries[], size: { width: number; height: number } = { width: 640, height: 320 }): string {
  const { width, height } = size;
  const left = 64;
  const right = 16;
  const top = 16;
  const bottom = 44;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="40"><text x="8" y="24" font-size="14">no loss values in the training log</text></svg>`;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (x0 === x1) (x0 -= 1, x1 += 1);
  const yMin = Math.min(...ys);
  const yMax = Math.max(...ys);
  const log = yMin > 0 && yMax / yMin > 20;
  const f = (v: number): number => (log ? Math.log10(v) : v);
  let y0 = f(yMin);
  let y1 = f(yMax);
  if (y0 === y1) (y0 -= 1, y1 += 1);
  const pw = width - left - right;
  const ph = height - top - bottom;
  const sx = (v: number): number => left + ((v - x0) / (x1 - x0)) * pw;
  const sy = (v: number): number => top + ph - ((f(v) - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="training loss curve" font-family="sans-serif">`);
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="#fff" stroke="#999"/>`);
  for (let i = 0; i <= 4; i++) {
    const xv = x0 + ((x1 - x0) * i) / 4;
    const yv = log ? 10 ** (y0 + ((y1 - y0) * i) / 4) : y0 + ((y1 - y0) * i) / 4;
    out.push(`<text x="${sx(xv).toFixed(1)}" y="${top + ph + 16}" font-size="12" text-anchor="middle">${tick(xv)}</text>`);
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${sy(yv).toFixed(1)}" y2="${sy(yv).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${(sy(yv) + 4).toFixed(1)}" font-size="12" text-anchor="end">${tick(yv)}</text>`);
  }
  out.push(`<text x="${left + pw / 2}" y="${height - 6}" font-size="13" text-anchor="middle">step</text>`);
  out.push(`<text transform="translate(14 ${top + ph / 2}) rotate(-90)" font-size="13" text-anchor="middle">${log ? 'loss (log scale)' : 'loss'}</text>`);
  series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length];
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    out.push(`<text x="${left + pw - 8}" y="${top + 18 + 16 * k}" font-size="12" text-anchor="end" fill="${colour}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
