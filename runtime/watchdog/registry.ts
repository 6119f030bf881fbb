import type Redis from 'ioredis';
import { Keys } from '../contract/keys';
import { createRedis, untilReady } from '../contract/redis';
import { RegistryReader, type NodeView } from '../contract/registry';
import type { RegistryObservation } from './core';
import { errorMessage } from './errors';
import { RedisRunLock, type RunLock } from './lock';

/** The registry as the watchdog reads it: runtime/contract's RegistryReader. */
export interface Registry {
  nodes(): Promise<NodeView[]>;
}

/** Reads the registry; an unreachable Redis is an observation ("unknown"), never "every node is stale". */
export async function observeRegistry(registry: Registry): Promise<RegistryObservation> {
  try {
    return { reachable: true, nodes: await registry.nodes() };
  } catch (err) {
    return { reachable: false, error: `registry unreachable: ${errorMessage(err)}` };
  }
}

export interface RegistryConnectionOptions {
  /** `rediss://host:port` on AWS (TLS), `redis://host:port` locally. */
  readonly url: string;
  /** The ElastiCache AUTH token. */
  readonly authToken?: string;
  /** @default DEFAULT_KEY_PREFIX */
  readonly keyPrefix?: string;
  /** How long to wait for the first connection; after that the cycles hold until Redis answers. */
  readonly readyTimeoutMs?: number;
  /** A node whose last heartbeat is older is expired: the nodes' own TTL. @default DEFAULT_TIMINGS.heartbeatTtlMs */
  readonly heartbeatTtlMs?: number;
}

export interface RegistryConnection {
  readonly reader: RegistryReader;
  /** The run lock, on the same connection: a Redis the run cannot lock is one it cannot read either. */
  readonly runLock: RunLock;
  close(): void;
}

/** Connects the registry reader with runtime/contract's client (TLS and AUTH token when given). */
export async function connectRegistry(options: RegistryConnectionOptions): Promise<RegistryConnection> {
  const redis: Redis = createRedis({
    url: options.url,
    authToken: options.authToken,
    connectionName: 'rtc-watchdog',
  });
  redis.on('error', () => undefined); // each failed read is reported by observeRegistry
  // Not ready in time is no failure here: the cycles report the registry unreachable and hold.
  await untilReady(redis, options.readyTimeoutMs ?? 3_000).catch(() => undefined);
  return {
    reader: new RegistryReader(redis, options.keyPrefix, options.heartbeatTtlMs),
    runLock: new RedisRunLock(redis, new Keys(options.keyPrefix).watchdogLock()),
    close: () => redis.disconnect(),
  };
}
