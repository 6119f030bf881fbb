import Redis, { RedisOptions } from 'ioredis';
import { DEFAULT_TIMINGS } from './timings';

export interface RedisConnectionOptions {
  /** `redis://host:port` or `rediss://host:port` (TLS, as ElastiCache with in-transit encryption). */
  readonly url: string;
  /** AUTH token (ElastiCache) or password; overrides one in the URL. */
  readonly authToken?: string;
  /** @default DEFAULT_TIMINGS.redisCommandTimeoutMs */
  readonly commandTimeoutMs?: number;
  /** Connection name shown by CLIENT LIST. */
  readonly connectionName?: string;
}

/**
 * A Redis client that fails fast instead of queueing while Redis is away, so readiness reflects
 * reality, and that reconnects forever with capped, jittered backoff. Each reconnect opens a new
 * socket to the host name, which resolves DNS again: an ElastiCache failover moves the primary's
 * DNS name, and the client follows it.
 */
export function createRedis(options: RedisConnectionOptions): Redis {
  const url = new URL(options.url);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`Redis URL must start with redis:// or rediss://, got ${url.protocol}//`);
  }
  const redisOptions: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: options.authToken ?? (url.password ? decodeURIComponent(url.password) : undefined),
    tls: url.protocol === 'rediss:' ? { servername: url.hostname } : undefined,
    connectionName: options.connectionName,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_TIMINGS.redisCommandTimeoutMs,
    connectTimeout: 2_000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    keepAlive: 1_000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1_000) * (0.5 + Math.random() / 2),
    // A replica promoted during failover answers READONLY to writes until DNS moves: reconnect.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  return new Redis(redisOptions);
}

/** Runs a command and turns every Redis failure into `undefined`, for callers that degrade. */
export async function tryRedis<T>(op: () => Promise<T>): Promise<T | undefined> {
  try {
    return await op();
  } catch {
    return undefined;
  }
}

/** Resolves once `redis` is ready for commands, or rejects after `timeoutMs` naming what it waited for. */
export function untilReady(redis: Redis, timeoutMs = 5_000): Promise<Redis> {
  if (redis.status === 'ready') return Promise.resolve(redis);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(
        new Error(`Redis at ${redis.options.host}:${redis.options.port} not ready after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(redis);
    };
    redis.once('ready', onReady);
  });
}
