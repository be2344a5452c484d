/**
 * `npm run discover -- --input DIR [--template T] [--transmitted C,..] [--overlap F]` (see --help):
 * writes manifest.csv (and dump.json if absent) for a raw dump; the work is io/discover.ts.
 */
import { join } from 'node:path';
import { command, isMain, number, positiveInt, runCli } from '../core/cli.ts';
import { discover } from '../io/discover.ts';
import { DUMP_CONFIG, MANIFEST } from '../io/manifest.ts';
import { TILE_ORDERS, TILE_ORIGINS } from '../io/tile_numbering.ts';

/** Comma-separated and repeatable list option. */
function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** The `discover` command line. */
export async function main(argv = process.argv): Promise<void> {
  const program = command('discover', 'Write manifest.csv (and dump.json if absent) for a raw microscope dump.')
    .requiredOption('--input <dir>', 'dump folder (manifest.csv and dump.json are written here)')
    .option('--template <pattern>', "filename template relative to the input, e.g. '{well}_r{row}_c{col}_z{z}_{channel}.tif'; placeholders {well} {row} {col} {z} {channel} {tile}")
    .option('--grid-cols <n>', 'grid columns, to turn {tile} into row/column (this or --grid-rows)', positiveInt)
    .option('--grid-rows <n>', 'grid rows, to turn {tile} into row/column (this or --grid-cols)', positiveInt)
    .option('--tile-order <order>', `{tile} numbering fills a grid ${TILE_ORDERS.join(' or ')} first (default row)`)
    .option('--tile-origin <corner>', `corner of the first {tile}: ${TILE_ORIGINS.join(', ')} (default UL)`)
    .option('--snake', 'serpentine {tile} order: every second row (column with --tile-order column) runs backwards')
    .option('--tile-base <n>', 'index of the first {tile} (default 0)', number)
    .option('--tile-config <file>', 'Fiji TileConfiguration file (default: TileConfiguration.txt in the input, if present)')
    .option('--channel <name>', 'channel name when file names carry none')
    .option('--well <name>', 'well name when file names carry none (default: the input folder name)')
    .option('--transmitted <channels>', 'transmitted-light channels for dump.json (comma-separated; default: BRIGHTFIELD, PHASE_CONTRAST, DIC if found)', list)
    .option('--overlap <fraction>', 'nominal tile overlap as a fraction of the tile width, for dump.json', number)
    .option('--overlap-px <pixels>', 'nominal tile overlap in pixels, for dump.json', number)
    .option('--pixel-size <um>', 'pixel size in micrometres, for dump.json', number)
    .option('--dry-run', 'print what would be written, write nothing')
    .addHelpText('after', '\nLayouts: TileConfiguration.txt (Fiji), --template, else ISL-convention names\n(lab-...,well-A4,...,z_depth-3,channel-PHASE_CONTRAST,is_mask-false.png). Multi-page TIFFs\nwithout {z} become one row per page. Exits 1 with a one-line reason on failure.');
  await runCli(
    program,
    async (o: Record<string, any>) => {
      const d = await discover(o.input, {
        template: o.template,
        gridCols: o.gridCols,
        gridRows: o.gridRows,
        tileOrder: o.tileOrder,
        tileOrigin: o.tileOrigin,
        snake: o.snake,
        tileBase: o.tileBase,
        tileConfig: o.tileConfig,
        channel: o.channel,
        well: o.well,
        transmitted: o.transmitted,
        overlap: o.overlap,
        overlapPx: o.overlapPx,
        pixelSizeUm: o.pixelSize,
        dryRun: o.dryRun,
      });
      const wells = new Set(d.entries.map((e) => e.well)).size;
      const verb = o.dryRun ? 'would write' : 'wrote';
      console.log(`${verb} ${join(o.input, MANIFEST)}: ${d.entries.length} rows, ${wells} well${wells === 1 ? '' : 's'}, layout ${d.layout}${d.ignored.length ? `, ${d.ignored.length} image files not matched (e.g. ${d.ignored[0]})` : ''}`);
      const configState = d.wroteConfig ? 'wrote' : d.configExisted ? 'kept existing' : 'would write';
      console.log(`${configState} ${join(o.input, DUMP_CONFIG)}: ${JSON.stringify(d.config)}`);
    },
    argv,
  );
}

if (isMain(import.meta.url)) await main();
