/**
 * The paper's true-vs-predicted heatmap as an image: one cell per joint-histogram bin, coloured
 * on a log scale (background pixels dominate, so a linear scale shows one bright cell) and
 * labelled with its count per 1,000 pixels.
 */
import sharp from 'sharp';
import type { JointHistogram } from './joint_histogram.ts';
import { viridis } from './colormap.ts';

/** Options of {@link heatmapSvg}. */
export interface HeatmapOptions {
  /** Title above the plot (e.g. "DAPI_CONFOCAL, r = 0.91"). */
  readonly title?: string;
  /** Side of one cell, px; default 36. */
  readonly cellSize?: number;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A count per 1,000 short enough for a cell: 812, 31.5, 0.42, <0.01, or blank for 0. */
function formatCount(v: number): string {
  if (v === 0) return '';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 0.01) return v.toFixed(2);
  return '<.01';
}

/**
 * Renders a joint histogram as a standalone SVG (x = true intensity, y = predicted intensity,
 * both 0 to 1; colour = log10(1 + count per 1,000)).
 *
 * @param h histogram from `jointHistogram`.
 * @param opts title and cell size (px).
 * @returns SVG text with explicit width and height.
 */
export function heatmapSvg(h: JointHistogram, opts: HeatmapOptions = {}): string {
  const cell = opts.cellSize ?? 36;
  const n = h.bins;
  const left = 78;
  const top = opts.title ? 44 : 16;
  const plot = cell * n;
  const width = left + plot + 24;
  const height = top + plot + 64;
  const maxLog = Math.log10(1 + 1000);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  if (opts.title) parts.push(`<text x="${left + plot / 2}" y="28" font-size="17" text-anchor="middle" fill="#111">${escapeXml(opts.title)}</text>`);
  const fontSize = Math.max(9, Math.round(cell / 3));
  for (let p = 0; p < n; p++) {
    for (let t = 0; t < n; t++) {
      const v = h.perThousand[p * n + t];
      const c = Math.log10(1 + v) / maxLog;
      const [r, g, b] = viridis(c);
      const x = left + t * cell;
      const y = top + (n - 1 - p) * cell;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${r},${g},${b})"/>`);
      const label = formatCount(v);
      if (label) {
        const ink = c > 0.6 ? '#111' : '#fff';
        parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + fontSize / 3}" font-size="${fontSize}" text-anchor="middle" fill="${ink}">${escapeXml(label)}</text>`);
      }
    }
  }
  parts.push(`<rect x="${left}" y="${top}" width="${plot}" height="${plot}" fill="none" stroke="#333" stroke-width="1"/>`);
  for (let i = 0; i <= n; i++) {
    const tick = (i / n).toFixed(1);
    const x = left + i * cell;
    const y = top + plot - i * cell;
    parts.push(`<line x1="${x}" y1="${top + plot}" x2="${x}" y2="${top + plot + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x}" y="${top + plot + 20}" font-size="13" text-anchor="middle" fill="#111">${tick}</text>`);
    parts.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#333"/>`);
    parts.push(`<text x="${left - 9}" y="${y + 4}" font-size="13" text-anchor="end" fill="#111">${tick}</text>`);
  }
  parts.push(`<text x="${left + plot / 2}" y="${top + plot + 46}" font-size="15" text-anchor="middle" fill="#111">true intensity</text>`);
  parts.push(`<text x="0" y="0" font-size="15" text-anchor="middle" fill="#111" transform="translate(22 ${top + plot / 2}) rotate(-90)">predicted intensity</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * The heatmap as PNG bytes (the SVG rasterised by sharp/librsvg with the system's DejaVu fonts).
 * @param h histogram from `jointHistogram`.
 * @param opts as for {@link heatmapSvg}.
 */
export function heatmapPng(h: JointHistogram, opts: HeatmapOptions = {}): Promise<Buffer> {
  return sharp(Buffer.from(heatmapSvg(h, opts))).flatten({ background: '#ffffff' }).png().toBuffer();
}
