/**
 * The ISL filename convention of the published in-silico-labeling data: comma-separated
 * `key-value` tokens (plus bare markers such as `acquisition_date`), e.g.
 * `lab-FINKBEINER,condition-KEVAN_0_8,acquisition_date,year-2015,month-10,day-5,minute-0,well-A4,
 * tile_computation-STITCHED,z_depth-3,channel-PHASE_CONTRAST,is_mask-false.png`. Transmitted planes
 * carry `z_depth-N`; projected labels carry `depth_computation-MAXPROJECT`; predictions add
 * `statistic-MEDIAN` (or another statistic). Raw tiles may carry `tile_row-R,tile_col-C`.
 */

/** The fields of one ISL filename. */
export interface IslName {
  readonly lab?: string;
  readonly condition?: string;
  readonly year?: number;
  readonly month?: number;
  readonly day?: number;
  readonly minute?: number;
  readonly well: string;
  /** e.g. STITCHED. */
  readonly tileComputation?: string;
  readonly tileRow?: number;
  readonly tileCol?: number;
  /** z index of a transmitted plane (`z_depth-N`). */
  readonly z?: number;
  /** How a label was projected over z, e.g. MAXPROJECT (`depth_computation-...`). */
  readonly depthComputation?: string;
  readonly channel: string;
  /** Set on predictions, e.g. MEDIAN. */
  readonly statistic?: string;
  readonly isMask: boolean;
  /** File extension without the dot, e.g. png. */
  readonly extension: string;
  /** Tokens that are not one of the fields above, kept in order for a faithful round trip. */
  readonly extra?: readonly (readonly [key: string, value: string | undefined])[];
}

const INT_KEYS = { year: 'year', month: 'month', day: 'day', minute: 'minute', z_depth: 'z', tile_row: 'tileRow', tile_col: 'tileCol' } as const;
const STR_KEYS = { lab: 'lab', condition: 'condition', well: 'well', tile_computation: 'tileComputation', depth_computation: 'depthComputation', channel: 'channel', statistic: 'statistic' } as const;
const DATE_KEYS = new Set(['acquisition_date', 'year', 'month', 'day', 'minute']);

/**
 * Parses an ISL-convention file name (a base name; directories are ignored).
 * @returns the fields, or undefined when the name does not follow the convention (no `well-`,
 *   no `channel-`, or a malformed number), so callers can skip unrelated files
 */
export function parseIslName(fileName: string): IslName | undefined {
  const base = fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const extension = base.slice(dot + 1).toLowerCase();
  const stem = base.slice(0, dot).replace(/\.ome$/i, '');
  const out: Record<string, string | number | boolean | undefined> = {};
  const extra: [string, string | undefined][] = [];
  for (const token of stem.split(',')) {
    const dash = token.indexOf('-');
    const key = dash < 0 ? token : token.slice(0, dash);
    const value = dash < 0 ? undefined : token.slice(dash + 1);
    if (key in INT_KEYS) {
      if (value === undefined || !/^\d+$/.test(value)) return undefined;
      out[INT_KEYS[key as keyof typeof INT_KEYS]] = Number(value);
    } else if (key in STR_KEYS) {
      if (!value) return undefined;
      out[STR_KEYS[key as keyof typeof STR_KEYS]] = value;
    } else if (key === 'is_mask') {
      if (value !== 'true' && value !== 'false') return undefined;
      out.isMask = value === 'true';
    } else if (key !== 'acquisition_date') {
      extra.push([key, value]);
    }
  }
  if (typeof out.well !== 'string' || typeof out.channel !== 'string') return undefined;
  return { ...(out as object), isMask: out.isMask === true, extension, ...(extra.length ? { extra } : {}) } as IslName;
}

/**
 * Formats fields as an ISL-convention file name, in the published datasets' token order: lab,
 * condition, acquisition date, well, tile, z or depth computation, channel, statistic, mask.
 * Date tokens appear (behind the `acquisition_date` marker) only if given.
 */
export function formatIslName(n: IslName): string {
  const t: string[] = [];
  const kv = (k: string, v: string | number | undefined) => {
    if (v !== undefined) t.push(`${k}-${v}`);
  };
  kv('lab', n.lab);
  kv('condition', n.condition);
  if ([n.year, n.month, n.day, n.minute].some((v) => v !== undefined)) t.push('acquisition_date');
  kv('year', n.year);
  kv('month', n.month);
  kv('day', n.day);
  kv('minute', n.minute);
  kv('well', n.well);
  kv('tile_computation', n.tileComputation);
  kv('tile_row', n.tileRow);
  kv('tile_col', n.tileCol);
  kv('z_depth', n.z);
  kv('depth_computation', n.depthComputation);
  kv('channel', n.channel);
  kv('statistic', n.statistic);
  for (const [k, v] of n.extra ?? []) if (!DATE_KEYS.has(k)) t.push(v === undefined ? k : `${k}-${v}`);
  t.push(`is_mask-${n.isMask}`);
  return `${t.join(',')}.${n.extension}`;
}
