import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** One benchmark result line: our time, the reference's time on the same input, and their ratio. */
export interface BenchResult {
  name: string;
  ours_s: number;
  ref_s: number;
  ratio: number;
  [extra: string]: unknown;
}

/** Median wall time in seconds of `fn` over `reps` runs after one warm-up. */
export async function timeIt(fn: () => unknown, reps = 5): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * Runs a Python reference (Debian's /usr/bin/python3 with python3-opencv/scipy/torch, from
 * `bench/setup`) and returns the number it prints last: its median time in seconds.
 */
export function pythonSeconds(script: string, args: string[] = []): number {
  const r = spawnSync('/usr/bin/python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`python reference failed (run bench/setup first?): ${r.stderr.trim().split('\n').pop()}`);
  const lines = r.stdout.trim().split('\n');
  const v = Number(lines[lines.length - 1]);
  if (!Number.isFinite(v)) throw new Error(`python reference printed no time: ${r.stdout}`);
  return v;
}

/** Prints one JSON line and returns it. */
export function report(name: string, ours_s: number, ref_s: number, extra: Record<string, unknown> = {}): BenchResult {
  const r: BenchResult = { name, ours_s: round(ours_s), ref_s: round(ref_s), ratio: round(ours_s / ref_s), ...extra };
  console.log(JSON.stringify(r));
  return r;
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}
