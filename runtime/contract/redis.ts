import { isIP } from 'node:net';
import Redis, { RedisOptions, ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
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
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const redisOptions: RedisOptions = {
    host,
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: options.authToken ?? (url.password ? decodeURIComponent(url.password) : undefined),
    // SNI carries host names only: Node refuses (and warns about) an IP address as the server name.
    tls: url.protocol === 'rediss:' ? (isIP(host) ? {} : { servername: host }) : undefined,
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

/**
 * ioredis rejects these with a plain Error whose fixed message is its only type: a command timed
 * out (createRedis's commandTimeout), the connection closed under a pending command, or a command
 * was sent while disconnected (createRedis turns the offline queue off).
 */
const IOREDIS_UNAVAILABLE_MESSAGES: ReadonlySet<string> = new Set([
  'Command timed out',
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
]);
/** Redis replies that mean "not serving right now" (loading, failing over), not a bad command. */
const UNAVAILABLE_REPLY_CODES: ReadonlySet<string> = new Set([
  'LOADING',
  'READONLY',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'MASTERDOWN',
]);
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Whether `err` means "Redis is unreachable or slow right now" (answer 503 or registry_unavailable,
 * retry) rather than a bug: decided by the error's class, its Redis reply code or its system code.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof MaxRetriesPerRequestError) return true;
  if (err instanceof ReplyError) return UNAVAILABLE_REPLY_CODES.has(err.message.split(' ', 1)[0]);
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined) return NETWORK_ERROR_CODES.has(code);
  return err.constructor === Error && IOREDIS_UNAVAILABLE_MESSAGES.has(err.message);
}

/**
 * Whether `err` is Redis refusing a write because it is out of memory (maxmemory reached under
 * `noeviction`): answered 503 `registry_full`, distinct from an unreachable registry.
 */
export function isRedisOutOfMemory(err: unknown): boolean {
  return err instanceof Error && err instanceof ReplyError && err.message.startsWith('OOM ');
}
