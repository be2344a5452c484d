/**
 * Redis connection options for BullMQ from a `redis://` or `rediss://` (TLS) URL, a password
 * option or the ISL_REDIS_PASSWORD / REDIS_PASSWORD environment variables. Credentials never
 * appear in logs: print `redactUrl(url)`.
 */
import type { ConnectionOptions } from 'bullmq';
import { badOption } from '../core/errors.ts';

export interface RedisOptions {
  /** `redis://[user[:password]@]host[:port][/db]` or `rediss://...` for TLS. */
  readonly url: string;
  /** Overrides the URL's password; default: the URL's, else $ISL_REDIS_PASSWORD, else $REDIS_PASSWORD. */
  readonly password?: string;
  /** CA bundle (PEM text) for TLS with a private CA; `rejectUnauthorized` stays on. */
  readonly tlsCa?: string;
}

/** Parses and validates a queue URL into ioredis options (maxRetriesPerRequest null, as BullMQ requires). */
export function redisConnection(opts: RedisOptions): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch {
    throw badOption('--queue', 'a URL like redis://HOST:PORT or rediss://HOST:PORT', redactUrl(opts.url));
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw badOption('--queue', 'a redis:// or rediss:// URL', redactUrl(opts.url));
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw badOption('--queue', 'a database number after the host (redis://HOST:PORT/DB)', redactUrl(opts.url));
  const password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined) ?? process.env.ISL_REDIS_PASSWORD ?? process.env.REDIS_PASSWORD;
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(password ? { password } : {}),
    ...(u.protocol === 'rediss:' ? { tls: opts.tlsCa ? { ca: opts.tlsCa } : {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The URL with user name and password replaced by `***`, for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(\w+:\/\/)([^@/]*)@/, '$1***@');
}
