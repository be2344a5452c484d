/**
 * The evaluation report as one self-contained HTML page: inline CSS, images as relative links to
 * PNGs beside it, the training curve as inline SVG; no script and no network, so it opens
 * offline from a file:// URL.
 */
import type { Metrics } from './metrics.ts';
import type { ObjectMatch } from '../../transforms/evaluate/objects.ts';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number for a table cell: 3 decimals, "n/a" for NaN or absent. */
function num(v: number | undefined, digits = 3): string {
  return v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(digits);
}

/** p-values span many orders of magnitude: scientific below 0.001; below float64's resolution of 1 - P, a bound. */
function pval(p: number): string {
  if (p < 1e-15) return '&lt; 1e-15';
  return p < 1e-3 ? p.toExponential(1) : p.toFixed(3);
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1400px;padding:0 16px;color:#222}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:4px}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2),th{text-align:left}
figure{margin:0}.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start;margin:6px 0 18px}figcaption{font-size:.9em;color:#444;text-align:center}
img.heatmap{height:auto}figure.c{width:258px}img.crop{width:256px;height:auto;image-rendering:pixelated;border:1px solid #ccc}
.note{color:#555;font-size:.92em}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}
`;

function objectRow(name: string, m: ObjectMatch): string {
  return `<tr><td>${escapeHtml(name)}</td><td>${m.trueObjects}</td><td>${m.predictedObjects}</td><td>${m.matched}</td><td>${m.split}</td><td>${m.merged}</td><td>${m.added}</td><td>${m.missed}</td><td>${num(m.accuracy)}</td></tr>`;
}

/**
 * Renders the report page.
 * @param m the metrics (as written to metrics.json).
 * @param trainSvg inline SVG of the training curves, if a training log was given.
 * @returns the HTML text.
 */
export function reportHtml(m: Metrics, trainSvg?: string): string {
  const h: string[] = [];
  h.push('<!doctype html>', '<html lang="en"><head><meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">');
  h.push('<title>In silico labeling: evaluation report</title>', `<style>${CSS}</style></head><body>`);
  h.push('<h1>In silico labeling: evaluation report</h1>');
  h.push(`<p class="note">Predictions <code>${escapeHtml(m.pred)}</code> against true images <code>${escapeHtml(m.truth)}</code>. Pearson r from ${m.wells[0]?.labels[0]?.samples.toLocaleString('en-US') ?? 'n/a'} random pixels (seed ${m.seed}, drawn with replacement) and over every pixel, as in Christiansen et al., Cell 2018.</p>`);
  const links: string[] = [];
  if (m.links.qcReport) links.push(`<a href="${escapeHtml(m.links.qcReport)}">QC report</a>`);
  if (m.links.trainLog) links.push(`<a href="#training">training curves</a> (<a href="${escapeHtml(m.links.trainLog)}">train.jsonl</a>)`);
  links.push('<a href="metrics.json">metrics.json</a>');
  h.push(`<p>${links.join(' · ')}</p>`);

  h.push('<h2 id="metrics">Metrics</h2>');
  h.push('<table id="metrics-table"><thead><tr><th>well</th><th>label</th><th>r (sampled)</th><th>r (whole image)</th><th>noise ceiling</th></tr></thead><tbody>');
  for (const w of m.wells) {
    for (const l of w.labels) {
      h.push(`<tr><td>${escapeHtml(w.well)}</td><td>${escapeHtml(l.label)}</td><td>${num(l.r)}</td><td>${num(l.rWhole)}</td><td>${l.ceiling ? `${num(l.ceiling.r)} <span class="note">(${escapeHtml(l.ceiling.formula)})</span>` : 'n/a'}</td></tr>`);
    }
  }
  h.push('</tbody></table>');
  if (m.wells.length > 1) {
    h.push('<table id="summary-table"><thead><tr><th>label</th><th>wells</th><th>mean r</th></tr></thead><tbody>');
    for (const s of m.summary) h.push(`<tr><td>${escapeHtml(s.label)}</td><td>${s.wells}</td><td>${num(s.meanR)}</td></tr>`);
    h.push('</tbody></table>');
  }

  const withObjects = m.wells.filter((w) => w.objects);
  if (withObjects.length) {
    h.push('<h2 id="objects">Nuclei (object level)</h2>');
    h.push('<p class="note">Nuclei are segmented in the true and predicted images (Gaussian smoothing, Otsu threshold, connected components, distance-transform watershed for touching nuclei) and matched by maximum overlap. A true nucleus claimed by two or more predicted ones is split; a predicted nucleus claiming two or more true ones is merged; added and missed nuclei overlap nothing. Accuracy = (true nuclei - errors) / true nuclei. Comparisons with the generator cell list leave out nuclei within 3 px of the image border.</p>');
    h.push('<table id="objects-table"><thead><tr><th>well / comparison</th><th>label</th><th>true</th><th>predicted</th><th>matched</th><th>split</th><th>merged</th><th>added</th><th>missed</th><th>accuracy</th></tr></thead><tbody>');
    for (const w of withObjects) {
      const o = w.objects!;
      const row = (name: string, mm: ObjectMatch) => objectRow(name, mm).replace('</td>', `</td><td>${escapeHtml(o.label)}</td>`);
      h.push(row(`${w.well}: prediction vs true image`, o.match));
      if (o.truthVsCells) h.push(row(`${w.well}: true image vs cell list`, o.truthVsCells));
      if (o.predVsCells) h.push(row(`${w.well}: prediction vs cell list`, o.predVsCells));
    }
    h.push('</tbody></table>');
    const ld = withObjects.filter((w) => w.objects!.liveDead);
    if (ld.length) {
      h.push('<h3>Nuclear size of live vs dead cells</h3><table id="live-dead-table"><thead><tr><th>well</th><th>image</th><th>live nuclei</th><th>dead nuclei</th><th>median area live (px)</th><th>median area dead (px)</th><th>KS D</th><th>KS p</th></tr></thead><tbody>');
      const median = (a: readonly number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] : NaN);
      for (const w of ld) {
        const l = w.objects!.liveDead!;
        for (const [name, v] of [['true', l.truth], ['predicted', l.pred]] as const) {
          h.push(`<tr><td>${escapeHtml(w.well)}</td><td>${name}</td><td>${v.liveAreas.length}</td><td>${v.deadAreas.length}</td><td>${num(median(v.liveAreas), 0)}</td><td>${num(median(v.deadAreas), 0)}</td><td>${v.ks ? num(v.ks.statistic) : 'n/a'}</td><td>${v.ks ? pval(v.ks.pValue) : 'n/a'}</td></tr>`);
        }
      }
      h.push('</tbody></table>');
    }
  }

  for (const w of m.wells) {
    h.push(`<h2 id="well-${escapeHtml(w.well)}">Well ${escapeHtml(w.well)} <span class="note">(${w.width} x ${w.height} px)</span></h2>`);
    for (const l of w.labels) {
      h.push(`<h3>${escapeHtml(l.label)}: r = ${num(l.r)}</h3>`);
      h.push('<div class="row">');
      h.push(`<figure><img class="heatmap" src="${escapeHtml(l.images.heatmap)}" alt="heatmap of true vs predicted ${escapeHtml(l.label)}"><figcaption>true vs predicted intensity, pixels per 1,000</figcaption></figure>`);
      const cap = `top-left ${l.crop.width} x ${l.crop.height} px${l.crop.gain !== 1 ? `, display gain ${num(l.crop.gain, 2)}` : ''}`;
      h.push(`<figure class="c"><img class="crop" src="${escapeHtml(l.images.truth)}" alt="true ${escapeHtml(l.label)}"><figcaption>true (${cap})</figcaption></figure>`);
      h.push(`<figure class="c"><img class="crop" src="${escapeHtml(l.images.pred)}" alt="predicted ${escapeHtml(l.label)}"><figcaption>predicted</figcaption></figure>`);
      h.push(`<figure class="c"><img class="crop" src="${escapeHtml(l.images.error)}" alt="error image of ${escapeHtml(l.label)}"><figcaption class="legend">error: <span style="background:#f0f"></span>too bright <span style="background:#0cc"></span>too dark</figcaption></figure>`);
      h.push('</div>');
    }
    if (w.objects) {
      h.push(`<h3>Nuclei: ${escapeHtml(w.objects.label)}</h3><div class="row"><figure class="c"><img class="crop" src="${escapeHtml(w.objects.image)}" alt="nuclear outlines of well ${escapeHtml(w.well)}"><figcaption class="legend">outlines: <span style="background:#0e0"></span>true <span style="background:#f0f"></span>predicted</figcaption></figure></div>`);
    }
  }

  if (trainSvg) h.push('<section id="training"><h2>Training curves</h2>', trainSvg, '</section>');
  h.push('</body></html>');
  return h.join('\n');
}
