/**
 * Progress of long work: a bar on a TTY (cli-progress), JSON lines on stderr otherwise, so logs
 * and CI stay machine-readable. Every pipeline and runner reports through this one reporter.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Adds `n` finished units (default 1) and optionally updates named fields (loss, well, ...). */
  tick(n?: number, fields?: Record<string, unknown>): void;
  /** Changes the total when it becomes known later. */
  setTotal(total: number): void;
  /** Ends the bar (or prints the final JSON line). Safe to call twice. */
  stop(): void;
}

export interface ProgressOptions {
  /** Where to report; default process.stderr. */
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Force JSON lines (true) or a bar (false); default: bar only when the stream is a TTY. */
  json?: boolean;
  /** Minimum interval between JSON lines, ms (default 1000); the first and last are always printed. */
  intervalMs?: number;
}

/** Starts reporting progress of `task` over `total` units (0 if unknown). */
export function progress(task: string, total: number, opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const json = opts.json ?? !(stream as NodeJS.WriteStream).isTTY;
  return json ? jsonProgress(task, total, stream, opts.intervalMs ?? 1000) : barProgress(task, total, stream as NodeJS.WriteStream);
}

function jsonProgress(task: string, total: number, stream: NodeJS.WritableStream, intervalMs: number): Progress {
  const start = Date.now();
  let done = 0;
  let last = 0;
  let stopped = false;
  let fields: Record<string, unknown> = {};
  const emit = () => {
    const elapsed = (Date.now() - start) / 1000;
    const eta = done > 0 && total > 0 ? (elapsed / done) * (total - done) : null;
    stream.write(JSON.stringify({ event: 'progress', task, done, total, elapsed_s: round(elapsed), eta_s: eta === null ? null : round(eta), ...fields }) + '\n');
    last = Date.now();
  };
  emit();
  return {
    tick(n = 1, f) {
      done += n;
      if (f) fields = { ...fields, ...f };
      if (Date.now() - last >= intervalMs || (total > 0 && done >= total)) emit();
    },
    setTotal(t) {
      total = t;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (Date.now() - last > 0) emit();
    },
  };
}

function barProgress(task: string, total: number, stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    { stream, format: `${task} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} {info}`, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  let stopped = false;
  return {
    tick(n = 1, f) {
      bar.increment(n, f ? { info: Object.entries(f).map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`).join(' ') } : undefined);
    },
    setTotal(t) {
      bar.setTotal(t);
    },
    stop() {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x) : Number(x.toPrecision(4));
}
