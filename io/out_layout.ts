/**
 * The layout of every output folder, named once: each command builds its output paths here, and
 * every path is checked to stay inside its folder, so a hostile well or channel name (`../../x`,
 * `/etc`, NUL) cannot make a command write elsewhere.
 *
 *   preprocess OUT/  records/<well>.json   completion records (runners/job.ts names them)
 *                    cache/<stage>/        salt-and-pepper planes (removed after the run)
 *                    cache/denoised/       completion records of the denoise step
 *                    fields/<stage>.json, fields/<stage>_<channel>_<what>.tif
 *                    wells/<well>/         canonical wells (io/canonical.ts)
 *                    stitch/<well>.json    stitch reports
 *                    tiles/<well>/<tile>.tif  (graphs without stitching)
 *                    shards/, shards/split.json
 *                    qc/index.html, qc/qc.json, qc/thumbs/
 *                    run.json, plate.zarr/ (--zarr)
 *   predict    OUT/  <well>/               PNGs, OME-TIFF, prediction.json
 *                    .records/             completion records; .records/parts/ of blocks
 *                    .blocks/<well>/<block>.f32  raw maps of split wells (removed after merging)
 *                    plate.zarr/           the statistics as an OME-Zarr plate
 *   evaluate   REPORT/  metrics.json, index.html, <well>/<label>_<image>.png
 *   demo       OUT/  dump/, preprocessed/, model/, held-out/ (links to the test wells), predictions/, report/
 */
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { IslError } from '../core/errors.ts';

/**
 * Why `name` cannot be one path component (a file or folder name), or undefined when it can:
 * empty, `.`/`..`, a separator, NUL.
 */
export function unsafeName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'is empty';
  if (name === '.' || name === '..') return 'is a relative folder reference';
  if (name.includes('\0')) return 'contains a NUL character';
  if (/[/\\]/.test(name)) return 'contains a path separator';
  return undefined;
}

/**
 * `root/parts...`, each part one path component.
 * @throws IslError BAD_INPUT naming the part when it is not a single component or the path would
 *   leave `root`.
 */
export function inside(root: string, ...parts: string[]): string {
  for (const p of parts) {
    const why = unsafeName(p);
    if (why) throw new IslError('BAD_INPUT', `output name ${JSON.stringify(p)} ${why}: refusing a path that could leave ${root}`, { file: root });
  }
  const path = join(root, ...parts);
  const rel = relative(resolve(root), resolve(path));
  if (rel.startsWith('..') || isAbsolute(rel) || (parts.length > 0 && rel === '')) throw new IslError('BAD_INPUT', `output path ${JSON.stringify(parts.join(sep))} leaves ${root}`, { file: root });
  return path;
}

/** A stage name as a file name (graph stage names may hold `/`). */
const stageFile = (stage: string) => stage.replaceAll('/', '_');

/** OUT/ of pipelines/preprocess.ts. */
export const preprocessOut = {
  records: (out: string) => inside(out, 'records'),
  cache: (out: string) => inside(out, 'cache'),
  stageCache: (out: string, stage: string) => inside(out, 'cache', stageFile(stage)),
  denoiseRecords: (out: string) => inside(out, 'cache', 'denoised'),
  fields: (out: string) => inside(out, 'fields'),
  fieldInfo: (out: string, stage: string) => inside(out, 'fields', `${stageFile(stage)}.json`),
  fieldImage: (out: string, stage: string, channel: string, what: string) => inside(out, 'fields', `${stageFile(stage)}_${channel}_${what}.tif`),
  wells: (out: string) => inside(out, 'wells'),
  well: (out: string, well: string) => inside(out, 'wells', well),
  stitchReport: (out: string, well: string) => inside(out, 'stitch', `${well}.json`),
  tile: (out: string, well: string, file: string) => inside(out, 'tiles', well, file),
  shards: (out: string) => inside(out, 'shards'),
  split: (out: string) => inside(out, 'shards', 'split.json'),
  qc: (out: string, file?: string) => (file === undefined ? inside(out, 'qc') : inside(out, 'qc', file)),
  qcThumb: (out: string, file: string) => inside(out, 'qc', 'thumbs', file),
  runJson: (out: string) => inside(out, 'run.json'),
  /** The canonical wells as one OME-Zarr plate (io/zarr/, `--zarr`). */
  plate: (out: string) => inside(out, 'plate.zarr'),
} as const;

/** OUT/ of pipelines/predict.ts. */
export const predictOut = {
  well: (out: string, well: string) => inside(out, well),
  file: (out: string, well: string, file: string) => inside(out, well, file),
  records: (out: string) => inside(out, '.records'),
  blocks: (out: string) => inside(out, '.blocks'),
  wellBlocks: (out: string, well: string) => inside(out, '.blocks', well),
  block: (out: string, well: string, part: string) => inside(out, '.blocks', well, `${part}.f32`),
  /** The statistics of every well as one OME-Zarr plate (io/zarr/). */
  plate: (out: string) => inside(out, 'plate.zarr'),
} as const;

/** REPORT/ of pipelines/evaluate.ts. */
export const reportOut = {
  metrics: (out: string) => inside(out, 'metrics.json'),
  index: (out: string) => inside(out, 'index.html'),
  /** A report image, relative to REPORT (as index.html links it) and as a path. */
  image: (out: string, well: string, file: string) => ({ href: `${well}/${file}`, path: inside(out, well, file) }),
} as const;

/** OUT/ of pipelines/demo.ts (`npm start`): each step's folder. */
export const demoOut = (out: string) => ({
  dump: inside(out, 'dump'),
  pre: inside(out, 'preprocessed'),
  model: inside(out, 'model'),
  heldOut: inside(out, 'held-out'),
  pred: inside(out, 'predictions'),
  report: inside(out, 'report'),
});
