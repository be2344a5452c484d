/**
 * Errors with a stable `code`, the file or row at fault, and the pipeline stage, so runners can
 * decide to retry, skip a well or fail, and users see what to fix.
 */
export type IslErrorCode =
  | 'BAD_OPTION' // an option or config value is invalid
  | 'BAD_INPUT' // a file or manifest row is missing, corrupt, or inconsistent
  | 'BAD_MANIFEST'
  | 'STAGE_FAILED' // wraps an error thrown inside a pipeline stage
  | 'WRITE_FAILED' // the file system refused an output write (disk full, permissions, read-only)
  | 'WELL_FAILED'; // a well's job died (its worker thread crashed) without an error of its own

export class IslError extends Error {
  readonly code: IslErrorCode;
  /** The file (or manifest row, as `manifest.csv:12`) the problem is in, if known. */
  readonly file?: string;
  /** The pipeline stage that raised it, if any. */
  readonly stage?: string;
  /** The well it concerns, so other wells can go on. */
  readonly well?: string;
  /** The API option key a BAD_OPTION is about (e.g. `blockSize`); a CLI names its flag instead. */
  readonly option?: string;

  constructor(code: IslErrorCode, message: string, opts: { file?: string; stage?: string; well?: string; option?: string; cause?: unknown } = {}) {
    const where = [opts.stage && `stage ${opts.stage}`, opts.file].filter(Boolean).join(', ');
    super(where ? `${where}: ${message}` : message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'IslError';
    this.code = code;
    this.file = opts.file;
    this.stage = opts.stage;
    this.well = opts.well;
    this.option = opts.option;
  }

  static is(e: unknown, code?: IslErrorCode): e is IslError {
    return e instanceof IslError && (code === undefined || e.code === code);
  }
}

/** "Expected <what> for <name> but received <value> (<type>)": the one formatter for bad options. */
export function badOption(name: string, what: string, value: unknown): IslError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new IslError('BAD_OPTION', `Expected ${what} for ${name} but received ${shown} (${value === null ? 'null' : typeof value})`, { option: name });
}

/** Error for a bad file: states the file and what was expected vs found. */
export function badInput(file: string, message: string, well?: string, cause?: unknown): IslError {
  return new IslError('BAD_INPUT', message, { file, well, cause });
}
