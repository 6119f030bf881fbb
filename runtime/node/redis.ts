import type Redis from 'ioredis';
import { createRedis } from '../contract';
import type { NodeConfig } from './config';
import type { Logger } from './log';

/**
 * A Redis connection of this node (createRedis: fail fast, reconnect forever), with its events
 * logged. ioredis emits 'error' on every failed reconnect attempt; an unhandled one would be
 * printed as noise, so log the first of each kind of failure and the recovery.
 */
export function connectRedis(config: NodeConfig, purpose: string, log: Logger): Redis {
  const redis = createRedis({
    url: config.redisUrl,
    authToken: config.redisAuthToken,
    connectionName: `${config.nodeId}:${purpose}`,
  });
  let lastError: string | undefined;
  redis.on('error', (err: Error) => {
    if (err.message === lastError) return;
    lastError = err.message;
    log.warn('redis_error', { connection: purpose, error: err.message });
  });
  redis.on('ready', () => {
    if (lastError !== undefined) log.info('redis_recovered', { connection: purpose });
    lastError = undefined;
  });
  return redis;
}
