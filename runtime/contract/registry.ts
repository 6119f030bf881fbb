import type Redis from 'ioredis';
import { z } from 'zod';
import { parseJsonOrUndefined } from './json';
import { Keys } from './keys';
import { DEFAULT_TIMINGS } from './timings';

export const NODE_ROLES = ['master', 'media'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

/** Who a node is; kept after its heartbeats stop so the watchdog knows what went stale. */
export const NodeIdentitySchema = z.object({
  nodeId: z.string(),
  role: z.enum(NODE_ROLES),
  /** EC2 instance id on AWS, or a local process label. */
  instanceId: z.string(),
  /** host:port other nodes and the watchdog use (/live, /ready). */
  address: z.string(),
  /** Media nodes: the address clients send media to. */
  publicAddress: z.string().optional(),
  version: z.string(),
  startedAt: z.number(),
});
export type NodeIdentity = z.infer<typeof NodeIdentitySchema>;

export const NodeLoadSchema = z.object({
  /** 0..1 over the last interval. */
  cpu: z.number(),
  /** Sessions (rooms) placed on a media node, or sessions with sockets on a master. */
  sessions: z.number().int().nonnegative(),
  connections: z.number().int().nonnegative(),
  /** Most sessions this node takes. */
  capacity: z.number().int().positive(),
});
export type NodeLoad = z.infer<typeof NodeLoadSchema>;

export const NODE_STATES = ['active', 'draining'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export interface NodeHeartbeat {
  readonly state: NodeState;
  readonly load: NodeLoad;
}

/** One node as the registry sees it now. */
export interface NodeView {
  readonly identity: NodeIdentity;
  /** Redis-clock time of the last heartbeat (ms). */
  readonly lastHeartbeatAt: number;
  readonly heartbeatAgeMs: number;
  /** The live record expired: no heartbeat within the TTL. */
  readonly expired: boolean;
  /** Present while not expired. */
  readonly live?: NodeHeartbeat;
}

// Heartbeat: one atomic write of the live record (with TTL), the heartbeat time and the identity,
// stamped with Redis's clock so ages never depend on the nodes' clocks.
const HEARTBEAT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'load', ARGV[3], 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
-- forget nodes silent for an hour: long replaced
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
for _, id in ipairs(old) do redis.call('HDEL', KEYS[3], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
return now
`;

function redisNowMs(time: ReadonlyArray<string | number>): number {
  return Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
}

/** Writes one node's heartbeats into the registry. */
export class NodeRegistration {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    readonly identity: NodeIdentity,
    prefix?: string,
    private readonly ttlMs: number = DEFAULT_TIMINGS.heartbeatTtlMs,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Resolves with the Redis time of the heartbeat; rejects if Redis is unreachable. */
  async heartbeat(beat: NodeHeartbeat): Promise<number> {
    const { nodeId } = this.identity;
    const now = await this.redis.eval(
      HEARTBEAT_SCRIPT,
      3,
      this.keys.node(nodeId),
      this.keys.heartbeats(),
      this.keys.identities(),
      nodeId,
      beat.state,
      JSON.stringify(beat.load),
      String(this.ttlMs),
      JSON.stringify(this.identity),
    );
    return Number(now);
  }

  /**
   * Leaves on a clean exit: the live record goes at once, so no session is placed on the node and
   * nobody waits for its TTL. Its identity and last heartbeat stay (until the hourly sweep), because
   * they are how the watchdog knows the node once registered: a node that left while its instance
   * still runs is then judged like any other silent node (docs/watchdog.md, "Booting nodes").
   */
  async deregister(): Promise<void> {
    await this.redis.del(this.keys.node(this.identity.nodeId));
  }
}

/** Reads the registry: every node that heartbeated within the last hour, stale ones included. */
export class RegistryReader {
  private readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    prefix?: string,
    private readonly ttlMs: number = DEFAULT_TIMINGS.heartbeatTtlMs,
  ) {
    this.keys = new Keys(prefix);
  }

  /** Rejects when Redis is unreachable: callers must treat that as "unknown", never as "all dead". */
  async nodes(role?: NodeRole): Promise<NodeView[]> {
    const [time, beats, identities] = await Promise.all([
      this.redis.time(),
      this.redis.zrange(this.keys.heartbeats(), 0, -1, 'WITHSCORES'),
      this.redis.hgetall(this.keys.identities()),
    ]);
    const now = redisNowMs(time);
    const ids: string[] = [];
    const lastAt = new Map<string, number>();
    for (let i = 0; i < beats.length; i += 2) {
      ids.push(beats[i]);
      lastAt.set(beats[i], Number(beats[i + 1]));
    }
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.node(id));
    const records = ids.length ? ((await pipeline.exec()) ?? []) : [];

    const views: NodeView[] = [];
    ids.forEach((nodeId, i) => {
      const parsed = NodeIdentitySchema.safeParse(parseJsonOrUndefined(identities[nodeId]));
      if (!parsed.success) return; // a node we cannot identify is nothing to act on
      if (role && parsed.data.role !== role) return;
      const [err, raw] = records[i] ?? [];
      const live = err ? undefined : parseLive(raw as Record<string, string>);
      const lastHeartbeatAt = lastAt.get(nodeId) ?? 0;
      const heartbeatAgeMs = Math.max(0, now - lastHeartbeatAt);
      const expired = !live || heartbeatAgeMs > this.ttlMs;
      views.push({
        identity: parsed.data,
        lastHeartbeatAt,
        heartbeatAgeMs,
        expired,
        live: expired ? undefined : live,
      });
    });
    return views;
  }

  /** The ready media node with the most free capacity, or undefined if none can take a session. */
  async leastLoadedMedia(excluding: readonly string[] = []): Promise<NodeView | undefined> {
    const candidates = (await this.nodes('media')).filter(
      (n) =>
        n.live?.state === 'active' &&
        n.live.load.sessions < n.live.load.capacity &&
        !excluding.includes(n.identity.nodeId),
    );
    const freeShare = (n: NodeView) =>
      1 - n.live!.load.sessions / n.live!.load.capacity - n.live!.load.cpu / 2;
    return candidates.sort((a, b) => freeShare(b) - freeShare(a))[0];
  }
}

function parseLive(raw: Record<string, string> | undefined): NodeHeartbeat | undefined {
  if (!raw || !raw.state) return undefined;
  const state = z.enum(NODE_STATES).safeParse(raw.state);
  const load = NodeLoadSchema.safeParse(parseJsonOrUndefined(raw.load));
  return state.success && load.success ? { state: state.data, load: load.data } : undefined;
}
