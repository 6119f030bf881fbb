import type Redis from 'ioredis';
import { RegistryReader, createRedis, expireNodes } from '../contract';
import { mediaNodesToFence } from './core';

/** A node's session store (redis-server) as its replication section tells it. */
export interface StoreView {
  readonly role: 'master' | 'replica';
  /** The master a replica follows. */
  readonly following?: { readonly host: string; readonly port: number };
  /** A replica's link to its master is up (a master's always counts as up). */
  readonly linkUp: boolean;
  /** A replica is loading a full copy of its master. */
  readonly syncing: boolean;
  /** Replication offset: what a master has written, what a replica has applied. */
  readonly offset: number;
}

/** Parses `INFO replication` (pure). */
export function parseReplication(info: string): StoreView {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const number = (name: string) => Number(fields.get(name) ?? 0) || 0;
  if (fields.get('role') !== 'slave') {
    return { role: 'master', linkUp: true, syncing: false, offset: number('master_repl_offset') };
  }
  return {
    role: 'replica',
    following: { host: fields.get('master_host') ?? '', port: number('master_port') },
    linkUp: fields.get('master_link_status') === 'up',
    syncing: fields.get('master_sync_in_progress') === '1',
    offset: number('slave_repl_offset') || number('master_repl_offset'),
  };
}

/**
 * One store the agent watches and steers (its own, or its peer's, which it only reads). Commands
 * fail fast (createRedis: no offline queue, a short timeout) and the connection comes back by
 * itself, so an unreachable store costs one timeout per look, never a pile-up.
 */
export class Store {
  private readonly redis: Redis;

  constructor(
    readonly host: string,
    readonly port: number,
    options: { readonly password?: string; readonly timeoutMs: number; readonly name: string },
  ) {
    this.redis = createRedis({
      url: `redis://${host}:${port}`,
      authToken: options.password,
      commandTimeoutMs: options.timeoutMs,
      connectionName: options.name,
    });
    // Reachability is what view() answers; a failed reconnect is no news.
    this.redis.on('error', () => undefined);
  }

  /** Its replication state, or undefined when it does not answer. */
  async view(): Promise<StoreView | undefined> {
    try {
      return parseReplication(await this.redis.info('replication'));
    } catch {
      return undefined;
    }
  }

  /** REPLICAOF NO ONE: writable, keeping what it has (and taking writes again if they were paused). */
  async promote(): Promise<void> {
    await this.redis.call('REPLICAOF', 'NO', 'ONE');
    await this.redis.call('CLIENT', 'UNPAUSE');
  }

  /**
   * CLIENT PAUSE ms WRITE: every write waits (reads and replication go on), so what a node that steps
   * down holds stops changing at once and the new active copies all of it. A write still waiting when
   * the store becomes a replica is refused (READONLY); its client resends it to the new active.
   */
  async pauseWrites(ms: number): Promise<void> {
    await this.redis.call('CLIENT', 'PAUSE', String(ms), 'WRITE');
  }

  /**
   * Removes from its registry (keys under `keyPrefix`) the live record of every media node but
   * `ownMediaNode` (core.ts decides which): they read as expired at once, and the masters move their
   * sessions to a live one. Returns the ids it removed.
   */
  async fenceMediaNodes(ownMediaNode: string, keyPrefix: string): Promise<string[]> {
    const nodes = await new RegistryReader(this.redis, keyPrefix).nodes('media');
    return expireNodes(this.redis, mediaNodesToFence(nodes, ownMediaNode), keyPrefix);
  }

  /**
   * REPLICAOF host port: read-only, replacing what it has with a copy of that store's. Then takes
   * writes again if they were paused (a step-down): a paused replica applies nothing of its master's
   * stream either, so what the new active wrote would be lost if it died within the pause, and the
   * clients' writes still waiting are refused now (READONLY).
   */
  async follow(host: string, port: number): Promise<void> {
    await this.redis.call('REPLICAOF', host, String(port));
    await this.redis.call('CLIENT', 'UNPAUSE');
  }

  close(): void {
    this.redis.disconnect();
  }
}

/**
 * redis.conf for a pair node's store (pure): no persistence (the peer's copy is the durable one, and
 * a restarted node copies it back), reachable on loopback for the node's runtime and on the pair
 * address for the peer's replica, diskless full copies without the default 5 s wait for more
 * replicas (there is one), and the same password as master and for the replica link.
 */
export function storeConf(options: {
  readonly port: number;
  readonly bind: readonly string[];
  readonly dir: string;
  readonly password?: string;
}): string {
  return [
    `port ${options.port}`,
    `bind ${options.bind.join(' ')}`,
    `dir ${options.dir}`,
    'save ""',
    'appendonly no',
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
    ...(options.password
      ? [`requirepass ${options.password}`, `masterauth ${options.password}`]
      : ['protected-mode no']),
    '',
  ].join('\n');
}
