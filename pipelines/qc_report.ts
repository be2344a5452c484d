/**
 * OUT/qc/qc.json and OUT/qc/index.html: every well's QC verdict with its reasons, and thumbnails
 * of its middle transmitted plane and its labels (a self-contained page, no network).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeAtomic, writeFileAtomic } from '../io/atomic.ts';
import type { IslName } from '../io/isl_names.ts';
import { listIslFiles } from '../io/isl_folders.ts';
import { preprocessOut } from '../io/out_layout.ts';

export interface WellQc {
  readonly well: string;
  /** false for wells that failed QC or could not be processed. */
  readonly pass: boolean;
  readonly reasons: string[];
  readonly warnings: string[];
  readonly metrics: Record<string, unknown>;
  readonly thumbnails: { name: string; file: string }[];
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Thumbnails (8-bit PNG, 160 px wide, contrast-stretched) of the middle z-plane and each label of a written well. */
async function thumbnails(output: string, well: string): Promise<{ name: string; file: string }[]> {
  const dir = preprocessOut.well(output, well);
  let names: { f: string; n: IslName }[];
  try {
    names = listIslFiles(dir, 'a written well').filter((x) => x.name.extension === 'png').map((x) => ({ f: x.file, n: x.name }));
  } catch {
    names = []; // a well that failed before writing has no thumbnails
  }
  const zs = names.filter((x) => x.n!.z !== undefined).sort((a, b) => a.n!.z! - b.n!.z!);
  const picks = [...(zs.length ? [zs[zs.length >> 1]] : []), ...names.filter((x) => x.n!.depthComputation)];
  const out: { name: string; file: string }[] = [];
  await mkdir(preprocessOut.qc(output, 'thumbs'), { recursive: true });
  for (const { f, n } of picks) {
    const name = n!.z !== undefined ? `${n!.channel} z${n!.z}` : n!.channel;
    const thumb = `${well}_${name.replace(/\s+/g, '_')}.png`;
    const file = `thumbs/${thumb}`;
    await writeAtomic(preprocessOut.qcThumb(output, thumb), (tmp) => sharp(join(dir, f)).resize({ width: 160 }).normalise().toColourspace('b-w').png().toFile(tmp));
    out.push({ name, file });
  }
  return out;
}

/** Writes the QC report from the wells' job results (their `qc` notes) and the wells that failed outright. */
export async function writeQcReport(output: string, results: ReadonlyMap<string, Record<string, unknown>>, failed: ReadonlyMap<string, string>): Promise<WellQc[]> {
  const wells: WellQc[] = [];
  for (const [well, notes] of [...results].sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true }))) {
    const v = notes.qc as { pass: boolean; reasons: string[]; warnings: string[]; metrics: Record<string, unknown> } | undefined;
    wells.push({
      well,
      pass: v?.pass ?? true,
      reasons: v?.reasons ?? [],
      warnings: [...(v?.warnings ?? []), ...(v ? [] : ['no QC stage in the graph'])],
      metrics: v?.metrics ?? {},
      thumbnails: await thumbnails(output, well),
    });
  }
  for (const [well, error] of failed) wells.push({ well, pass: false, reasons: [`not processed: ${error}`], warnings: [], metrics: {}, thumbnails: [] });
  await writeFileAtomic(preprocessOut.qc(output, 'qc.json'), JSON.stringify({ wells, passed: wells.filter((w) => w.pass).map((w) => w.well), failed: wells.filter((w) => !w.pass).map((w) => w.well) }, null, 2));
  const rows = wells.map((w) => `<tr class="${w.pass ? 'pass' : 'fail'}"><td>${esc(w.well)}</td><td>${w.pass ? 'pass' : 'FAIL'}</td><td>${w.reasons.map(esc).join('<br>')}${w.warnings.length ? `<div class="warn">${w.warnings.map(esc).join('<br>')}</div>` : ''}</td><td>${w.thumbnails.map((t) => `<figure><img src="${esc(t.file)}" alt="${esc(w.well)} ${esc(t.name)}"><figcaption>${esc(t.name)}</figcaption></figure>`).join('')}</td></tr>`);
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>QC report</title><style>
body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}
tr.fail td:nth-child(2){color:#b00;font-weight:bold}tr.pass td:nth-child(2){color:#070}.warn{color:#885}figure{display:inline-block;margin:0 .3em;text-align:center}figcaption{font-size:.75em}
</style></head><body><h1>Quality control</h1><p>${wells.filter((w) => w.pass).length} of ${wells.length} wells pass. Failing wells are left out of the training shards unless --keep-failed-qc is given.</p>
<table><thead><tr><th>well</th><th>verdict</th><th>reasons</th><th>thumbnails</th></tr></thead><tbody>${rows.join('\n')}</tbody></table></body></html>`;
  await writeFileAtomic(preprocessOut.qc(output, 'index.html'), html);
  return wells;
}
