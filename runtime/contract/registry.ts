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
  /** Media nodes running Janus (runtime/media/load.ts): what it carries, measured. */
  media: z
    .object({
      rooms: z.number().int().nonnegative(),
      publishers: z.number().int().nonnegative(),
      subscribers: z.number().int().nonnegative(),
      /** Bits per second into and out of Janus over the last second. */
      bitrateIn: z.number().nonnegative(),
      bitrateOut: z.number().nonnegative(),
      packetLoss: z.number().min(0).max(1).optional(),
      /** Janus's own CPU, a share of the machine (0..1). */
      janusCpu: z.number().nonnegative(),
      /**
       * Share (0..1) of the node still free: the lesser of its CPU and session headroom, 0 while
       * Janus is down or restarted recently. Placement ranks by it; the media fleet scales on 1 - it.
       */
      headroom: z.number().min(0).max(1),
    })
    .optional(),
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

// Heartbeat: one atomic write of the live record, the heartbeat time and the identity, stamped
// with Redis's clock so ages never depend on the nodes' clocks. Liveness is the heartbeat's age in
// the sorted set, not a key's TTL: no key here expires, so an eviction policy (volatile-*) never
// picks them and a full Redis (allow-oom) never refuses them. What it forgets after an hour of
// silence (identity, record, reservations) has this script as its owner.
// KEYS: node record, heartbeats, identities | ARGV: nodeId, state, load, identity, key prefix
const HEARTBEAT_SCRIPT = `#!lua flags=allow-oom
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'load', ARGV[3], 'at', now)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
-- forget nodes silent for an hour: long replaced
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[3], id)
  redis.call('DEL', ARGV[5] .. ':{nodes}:node:' .. id, ARGV[5] .. ':{nodes}:media-sessions:' .. id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
return now
`;

// Reserve a place for a session on the live, active media node with the most free share, counted
// from its reservations (fresh, unlike its last heartbeat's load) or its own count if higher. A node
// that measures its media headroom (load.media) is ranked by it, and takes nothing at 0.
// KEYS: heartbeats, then per candidate its record and reservations | ARGV: sessionId, ttlMs, candidates
const RESERVE_MEDIA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local best, bestScore, bestSet
for i = 3, #ARGV do
  local record, placed = KEYS[(i - 3) * 2 + 2], KEYS[(i - 3) * 2 + 3]
  local at = redis.call('ZSCORE', KEYS[1], ARGV[i])
  local rec = redis.call('HMGET', record, 'state', 'load')
  if at and now - tonumber(at) <= tonumber(ARGV[2]) and rec[1] == 'active' and rec[2] then
    if redis.call('SISMEMBER', placed, ARGV[1]) == 1 then return ARGV[i] end
    local ok, load = pcall(cjson.decode, rec[2])
    local capacity = ok and type(load) == 'table' and tonumber(load.capacity)
    -- the node's own count may know rooms the registry does not; its reservations are fresher
    local used = math.max(redis.call('SCARD', placed), tonumber(type(load) == 'table' and load.sessions) or 0)
    local headroom = capacity and type(load.media) == 'table' and tonumber(load.media.headroom)
    if capacity and used < capacity and (not headroom or headroom > 0) then
      local score = 1 - used / capacity - (tonumber(load.cpu) or 0) / 2
      if headroom then score = math.min(headroom, 1 - used / capacity) end
      if not best or score > bestScore then best, bestScore, bestSet = ARGV[i], score, placed end
    end
  end
end
if not best then return false end
redis.call('SADD', bestSet, ARGV[1])
return best
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
      JSON.stringify(this.identity),
      this.keys.prefix,
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

  /**
   * Reserves a place for `sessionId` on the ready media node with the most free share (its
   * reservations against its capacity, less half its cpu), atomically: a burst of creates never
   * puts more sessions on a node than its capacity. Idempotent per node; undefined when no ready
   * media node has room. `release` gives the place back.
   */
  async reserveMedia(sessionId: string, excluding: readonly string[] = []): Promise<NodeView | undefined> {
    const candidates = (await this.nodes('media')).filter(
      (n) => n.live?.state === 'active' && !excluding.includes(n.identity.nodeId),
    );
    if (candidates.length === 0) return undefined;
    const ids = candidates.map((n) => n.identity.nodeId);
    const chosen = await this.redis.eval(
      RESERVE_MEDIA_SCRIPT,
      1 + ids.length * 2,
      this.keys.heartbeats(),
      ...ids.flatMap((id) => [this.keys.node(id), this.keys.mediaSessions(id)]),
      sessionId,
      String(this.ttlMs),
      ...ids,
    );
    return candidates.find((n) => n.identity.nodeId === chosen);
  }

  /** Gives a session's place on a media node back (the session ended or moved). */
  async releaseMedia(sessionId: string, mediaNodeId: string): Promise<void> {
    await this.redis.srem(this.keys.mediaSessions(mediaNodeId), sessionId);
  }
}

/**
 * Removes the live records of `nodeIds`, as each node's own `deregister` would: they read as
 * expired at once, so nothing is placed on them and the masters move their sessions, while their
 * identities and last heartbeats stay (how the masters and the watchdog still know them). For nodes
 * that cannot deregister themselves: a pair's old active, whose media registration the new active's
 * store holds as replicated. Returns the ids whose live record it removed.
 */
export async function expireNodes(
  redis: Redis,
  nodeIds: readonly string[],
  prefix?: string,
): Promise<string[]> {
  const keys = new Keys(prefix);
  const removed = await Promise.all(nodeIds.map((id) => redis.del(keys.node(id))));
  return nodeIds.filter((_, i) => removed[i] > 0);
}

function parseLive(raw: Record<string, string> | undefined): NodeHeartbeat | undefined {
  if (!raw || !raw.state) return undefined;
  const state = z.enum(NODE_STATES).safeParse(raw.state);
  const load = NodeLoadSchema.safeParse(parseJsonOrUndefined(raw.load));
  return state.success && load.success ? { state: state.data, load: load.data } : undefined;
}
