/**
 * Errors across thread and process boundaries, and which of them a runner retries. A job's
 * IslError comes back from its worker thread with its code, file, well, stage, stack and cause
 * (structured clone keeps only message and stack of an Error), so the caller sees the same error.
 */
import { IslError, type IslErrorCode } from '../core/errors.ts';

/** An error as plain data (what crosses `postMessage`). */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** An IslErrorCode, or a Node system error code such as ENOENT. */
  readonly code?: string;
  readonly file?: string;
  readonly stage?: string;
  readonly well?: string;
  readonly stack?: string;
  readonly cause?: SerializedError;
}

const ISL_CODES: ReadonlySet<string> = new Set<IslErrorCode>(['BAD_OPTION', 'BAD_INPUT', 'BAD_MANIFEST', 'STAGE_FAILED', 'WRITE_FAILED', 'WELL_FAILED']);

/**
 * Codes that mean the same call would fail again (a bad option, a bad file or manifest row):
 * runners fail such a well at once instead of retrying it.
 */
export const PERMANENT_CODES: ReadonlySet<IslErrorCode> = new Set(['BAD_OPTION', 'BAD_INPUT', 'BAD_MANIFEST']);

/** True for an error that retrying cannot fix (see {@link PERMANENT_CODES}). */
export function isPermanent(e: unknown): boolean {
  return e instanceof IslError && PERMANENT_CODES.has(e.code);
}

/** An error as plain data; causes are kept up to a few levels deep. */
export function serializeError(e: unknown, depth = 0): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const x = e as Error & { code?: unknown; file?: string; stage?: string; well?: string };
  const pick = <K extends 'file' | 'stage' | 'well'>(k: K) => (typeof x[k] === 'string' ? { [k]: x[k] } : {});
  return {
    name: e.name,
    message: e.message,
    ...(typeof x.code === 'string' ? { code: x.code } : {}),
    ...pick('file'),
    ...pick('stage'),
    ...pick('well'),
    ...(e.stack ? { stack: e.stack } : {}),
    ...(e.cause !== undefined && depth < 4 ? { cause: serializeError(e.cause, depth + 1) } : {}),
  };
}

/** The error {@link serializeError} described: an IslError when it had an IslError code, else an Error. */
export function reviveError(s: SerializedError): Error {
  const cause = s.cause ? reviveError(s.cause) : undefined;
  let e: Error;
  if (s.code !== undefined && ISL_CODES.has(s.code)) {
    // Fields are set after construction: the message already carries its "stage ..., file: " prefix.
    e = new IslError(s.code as IslErrorCode, '', cause === undefined ? {} : { cause });
    Object.assign(e, { message: s.message, file: s.file, stage: s.stage, well: s.well });
  } else {
    e = new Error(s.message, cause === undefined ? undefined : { cause });
    e.name = s.name;
    if (s.code !== undefined) Object.assign(e, { code: s.code });
  }
  if (s.stack) e.stack = s.stack;
  return e;
}
