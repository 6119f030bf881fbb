import { request } from 'node:http';
import type Redis from 'ioredis';
import {
  NodeLoad,
  NodeRegistration,
  NodeState,
  SessionStore,
  createRedis,
  untilReady,
} from '../../../../runtime/contract';
import { waitFor } from '../../../../local/ports';
import { RedisServer, startRedisServer } from '../../../../local/redis-server';
import type { MasterConfig } from '../../../../runtime/master/config';
import { MasterHandle, startMaster } from '../../../../runtime/master/master';
import { Logger, createLogger, silentLogger } from '../../../../runtime/node/log';

export const API_SECRET = 'test-api-secret-0123456789';

/** Short timings so failure handling shows within a test. */
export const FAST = { heartbeatIntervalMs: 100, heartbeatTtlMs: 400 } as const;

/** A real redis-server, a client on it, and the session store the masters use (same prefix). */
export interface TestRegistry {
  readonly server: RedisServer;
  readonly redis: Redis;
  readonly store: SessionStore;
  readonly prefix: string;
  stop(): Promise<void>;
}

export async function startRegistry(prefix = 'rtc'): Promise<TestRegistry> {
  const server = await startRedisServer();
  const redis = await untilReady(createRedis({ url: server.url }));
  return {
    server,
    redis,
    store: new SessionStore(redis, { prefix }),
    prefix,
    stop: async () => {
      redis.disconnect();
      await server.stop();
    },
  };
}

let masters = 0;

export function masterConfig(redisUrl: string, overrides: Partial<MasterConfig> = {}): MasterConfig {
  const nodeId = `master-${process.pid}-${++masters}`;
  return {
    nodeId,
    instanceId: nodeId,
    listenHost: '127.0.0.1',
    port: 0,
    redisUrl,
    keyPrefix: 'rtc',
    drainDeadlineMs: 2_000,
    ...FAST,
    apiSecret: API_SECRET,
    reconnectWindowMs: 30_000,
    joinTimeoutMs: 5_000,
    silentSocketTimeoutMs: 10_000,
    connectionTokenTtlMs: 60_000,
    ...overrides,
  };
}

/** An in-process master on a free port, once ready (`waitReady: false` to skip that). */
export async function startTestMaster(
  redisUrl: string,
  overrides: Partial<MasterConfig> = {},
  waitReady = true,
  log: Logger = silentLogger,
): Promise<MasterHandle> {
  const master = await startMaster(masterConfig(redisUrl, overrides), log);
  if (waitReady) await waitFor(`${master.nodeId} ready`, () => master.readiness().length === 0, 5_000);
  return master;
}

export interface HttpReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** The REST API of one master (no keep-alive, so nothing stays open after a test). */
export class Api {
  constructor(
    readonly url: string,
    private readonly secret = API_SECRET,
  ) {}

  call(
    method: string,
    path: string,
    body?: unknown,
    options: { auth?: string | null; raw?: string | Buffer } = {},
  ): Promise<HttpReply> {
    const auth =
      options.auth === undefined
        ? `Basic ${Buffer.from(`rtc-ha:${this.secret}`).toString('base64')}`
        : options.auth;
    const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.url}${path}`,
        { method, agent: false, headers: auth ? { authorization: auth } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: text ? JSON.parse(text) : undefined,
            });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async createSession(sessionId: string, metadata?: Record<string, unknown>): Promise<HttpReply> {
    const reply = await this.call('POST', '/v1/sessions', { sessionId, ...(metadata ? { metadata } : {}) });
    if (reply.status >= 300) throw new Error(`create session: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply;
  }

  /** A connection token for a (new) participant. */
  async token(sessionId: string, participantId: string, metadata?: Record<string, unknown>): Promise<string> {
    const reply = await this.call('POST', `/v1/sessions/${sessionId}/connections`, {
      participantId,
      ...(metadata ? { metadata } : {}),
    });
    if (reply.status >= 300)
      throw new Error(`create connection: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.token as string;
  }
}

/** A logger that keeps the event names a master logs, for tests that look at them. */
export function recordingLogger(): { log: Logger; events: string[] } {
  const events: string[] = [];
  return { log: createLogger('test', (line) => events.push(JSON.parse(line).event)), events };
}

/** A media node as the registry sees it, heartbeating with the load a test sets. */
export class FakeMediaNode {
  private readonly registration: NodeRegistration;
  private timer?: NodeJS.Timeout;

  constructor(
    redis: Redis,
    readonly nodeId: string,
    public load: Omit<NodeLoad, 'cpu'> & { cpu?: number } = { sessions: 0, connections: 0, capacity: 100 },
    public state: NodeState = 'active',
    prefix = 'rtc',
  ) {
    this.registration = new NodeRegistration(
      redis,
      {
        nodeId,
        role: 'media',
        instanceId: nodeId,
        address: `10.0.0.1:9090`,
        publicAddress: `${nodeId}.media.example`,
        version: 'test',
        startedAt: Date.now(),
      },
      prefix,
    );
  }

  async start(): Promise<this> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => undefined), FAST.heartbeatIntervalMs);
    return this;
  }

  /** Stops heartbeating: the node expires after the TTL, like a crashed one. */
  stop(): void {
    clearInterval(this.timer);
  }

  private beat(): Promise<number> {
    return this.registration.heartbeat({ state: this.state, load: { cpu: 0, ...this.load } });
  }
}

/**
 * Every session key (records, participants, mailboxes) with its content: what "nothing changed"
 * means in the tests. The registry's node keys change with every heartbeat and are left out.
 */
export async function sessionState(redis: Redis, prefix = 'rtc'): Promise<Record<string, unknown>> {
  const keys = (await redis.keys(`${prefix}:{s:*`)).sort();
  const state: Record<string, unknown> = {};
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === 'hash') {
      // The sweeper runs in the background on its own clock: its bookkeeping is no change by the test.
      const fields = await redis.hgetall(key);
      delete fields.emptySince;
      state[key] = fields;
    } else if (type === 'set') state[key] = (await redis.smembers(key)).sort();
    else if (type === 'zset') state[key] = await redis.zrange(key, 0, -1, 'WITHSCORES');
    else state[key] = await redis.get(key);
  }
  return state;
}

/** What `inProcessMaster` sets up: filled in by its beforeAll. */
export interface InProcessWorld {
  registry: TestRegistry;
  media: FakeMediaNode;
  master: MasterHandle;
  api: Api;
}

/**
 * A redis-server, one media node and one in-process master for a test file (beforeAll/afterAll).
 */
export function inProcessMaster(overrides: Partial<MasterConfig> = {}): InProcessWorld {
  const world = {} as InProcessWorld;
  beforeAll(async () => {
    world.registry = await startRegistry();
    world.media = await new FakeMediaNode(world.registry.redis, 'media-a').start();
    world.master = await startTestMaster(world.registry.server.url, overrides);
    world.api = new Api(world.master.url);
  });
  afterAll(async () => {
    world.media?.stop();
    await world.master?.close();
    await world.registry?.stop();
  });
  return world;
}
