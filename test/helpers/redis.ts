import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { requirePrerequisite, type Register } from './prerequisite.ts';

/** Whether Debian's redis-server is installed (.ci/run installs it). */
export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;

/** ava's registrar when redis-server is installed, otherwise skipped, or failing under CI=true. */
export const withRedis = <T extends Register & { skip: Register }>(test: T): T => requirePrerequisite(test, 'redis-server', HAVE_REDIS, 'apt-get install redis-server');

/** Resolves once a child process has exited (at once if it already has). */
export const exited = (c: ChildProcess): Promise<void> =>
  new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a throwaway redis-server on 127.0.0.1 at a free port (no persistence, `noeviction` as
 * BullMQ needs) and waits until it accepts connections.
 */
export async function startRedis(ms = 20000): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = async () => {
    redis.kill('SIGTERM');
    await exited(redis);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${ms} ms: ${buf}`)), ms);
      redis.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${buf}`)));
      redis.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        if (/Ready to accept connections/.test(buf)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}
