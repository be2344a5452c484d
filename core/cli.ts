/**
 * CLI conventions shared by every pipeline: commander for options and `--help`, and one failure
 * path: a one-line reason on stderr and a non-zero exit (2 for bad usage, 1 for failed work).
 */
import { isMainThread } from 'node:worker_threads';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { IslError } from './errors.ts';

/** A commander program with the project's conventions (errors on stderr, no auto-exit). */
export function command(name: string, description: string): Command {
  return new Command(name).description(description).showHelpAfterError('(run with --help for usage)').exitOverride();
}

/** Parses a positive integer option, with the project's error wording. */
export function positiveInt(value: string, _previous?: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected a positive integer but received ${JSON.stringify(value)}`);
  return n;
}

/** Parses a non-negative integer option (0 allowed, e.g. "0 skips"). */
export function nonNegativeInt(value: string, _previous?: unknown): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`Expected a non-negative integer but received ${JSON.stringify(value)}`);
  return n;
}

/** Parses a number option. */
export function number(value: string, _previous?: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`Expected a number but received ${JSON.stringify(value)}`);
  return n;
}

/**
 * Runs `main` as the process's work: parses argv, awaits, and turns any failure into one line on
 * stderr and an exit code. `main` may return a number to exit with (e.g. 1 when some wells failed).
 * @param flags API option keys whose flag is not the one of the same attribute name
 *   (e.g. `{ lockDurationMs: '--lock-duration' }`), for error messages.
 */
export async function runCli(program: Command, main: (opts: any, program: Command) => Promise<number | void>, argv = process.argv, flags: Readonly<Record<string, string>> = {}): Promise<void> {
  let opts: unknown;
  try {
    program.parse(argv);
    opts = program.opts();
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2; // help/version print and exit 0
      return;
    }
    throw e;
  }
  try {
    const code = await main(opts, program);
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    process.stderr.write(`${program.name()}: ${oneLine(flagNamed(program, e, flags))}\n`);
    if (process.env.ISL_DEBUG) console.error(e);
    process.exitCode = IslError.is(e, 'BAD_OPTION') ? 2 : 1;
  }
}

/**
 * A BAD_OPTION about an API key (`blockSize`) reworded to name the program's flag for it
 * (`--block-size`), so users read the option they typed.
 */
function flagNamed(program: Command, e: unknown, flags: Readonly<Record<string, string>>): unknown {
  if (!IslError.is(e, 'BAD_OPTION') || !e.option) return e;
  const flag = flags[e.option] ?? program.options.find((o) => o.attributeName() === e.option)?.long;
  return flag ? new Error(e.message.replace(`for ${e.option} but`, `for ${flag} but`)) : e;
}

/** The one-line reason for an error (the first line of its message). */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}

/**
 * True when this module is the process's entry point (pipelines run nothing on import). Worker
 * threads share the process's argv, so a module they import is never the entry point there.
 */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry || !isMainThread) return false;
  const path = new URL(importMetaUrl).pathname;
  return path === entry || path.replace(/\.ts$/, '') === entry.replace(/\.ts$/, '');
}
