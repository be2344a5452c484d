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

/** Parses a number option. */
export function number(value: string, _previous?: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`Expected a number but received ${JSON.stringify(value)}`);
  return n;
}

/**
 * Runs `main` as the process's work: parses argv, awaits, and turns any failure into one line on
 * stderr and an exit code. `main` may return a number to exit with (e.g. 1 when some wells failed).
 */
export async function runCli(program: Command, main: (opts: any, program: Command) => Promise<number | void>, argv = process.argv): Promise<void> {
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
    process.stderr.write(`${program.name()}: ${oneLine(e)}\n`);
    if (process.env.ISL_DEBUG) console.error(e);
    process.exitCode = IslError.is(e, 'BAD_OPTION') ? 2 : 1;
  }
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
