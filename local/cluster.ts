/**
 * The whole HA cluster on one machine, with real parts: redis-server as ElastiCache (or a Redis
 * you name), HAProxy as the ALB, node processes as instances, Janus beside each media agent (given
 * an ICE address), and the watchdog with the local fleet, which replaces a flagged node the way an
 * Auto Scaling group replaces an instance. Everything binds to loopback but Janus's media.
 * `stop()` stops every child and removes what the cluster created.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, isIPv4 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { RtcHaAdmin } from '../runtime/client/admin';
import { createRedis, untilReady } from '../runtime/contract/redis';
import { RegistryReader, type NodeRole } from '../runtime/contract/registry';
import { DEFAULT_KEY_PREFIX, DEFAULT_TIMINGS } from '../runtime/contract/timings';
import { DEFAULT_POLICY, type FleetPolicy } from '../runtime/watchdog/core';
import { probeLive } from '../runtime/watchdog/probe';
import { Watchdog } from '../runtime/watchdog/watchdog';
import { requireBinary } from './child';
import { LOCAL_DEFAULTS, localApiSecret } from './defaults';
import { ClusterFleet, type FleetEvent, type LaunchNode } from './fleet';
import { Haproxy, startHaproxy } from './haproxy';
import { ClusterMedia } from './media';
import { startNodeProcess } from './node-process';
import { freePort } from './ports';
import { RedisServer, startRedisServer } from './redis-server';
import { StatusRow, statusRows } from './status-table';
import { startWebPage } from './web/server';

/** Timings the cluster gives its nodes and its watchdog; the defaults are runtime/contract's. */
export interface ClusterTimings {
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTtlMs: number;
  readonly drainDeadlineMs: number;
  readonly watchdogCycleMs: number;
  /** Nodes join the fleet only once ready, so the grace covers only their first heartbeats. */
  readonly watchdogGraceMs: number;
}

export const DEFAULT_CLUSTER_TIMINGS: ClusterTimings = {
  heartbeatIntervalMs: DEFAULT_TIMINGS.heartbeatIntervalMs,
  heartbeatTtlMs: DEFAULT_TIMINGS.heartbeatTtlMs,
  drainDeadlineMs: DEFAULT_TIMINGS.drainDeadlineMs,
  watchdogCycleMs: DEFAULT_TIMINGS.watchdogLocalCycleMs,
  watchdogGraceMs: 2 * DEFAULT_TIMINGS.heartbeatTtlMs,
};

export interface ClusterOptions {
  /** @default 3 */
  readonly masters?: number;
  /** @default 2 */
  readonly media?: number;
  /** Use this Redis instead of starting redis-server; the cluster's keys get a prefix of their own. */
  readonly redisUrl?: string;
  /** HAProxy's frontend port; 0 picks a free one. @default 8080 */
  readonly port?: number;
  /** HAProxy's stats port; 0 picks a free one. @default 8404 */
  readonly statsPort?: number;
  /** @default RTC_API_SECRET, or the local default */
  readonly apiSecret?: string;
  /**
   * A non-loopback IPv4 of this machine: each media agent runs Janus, which gathers ICE candidates
   * there (never on loopback). @default none: the media agents run without Janus and carry no media
   */
  readonly iceAddress?: string;
  /** Port of the web page (join a session, see the nodes, kill them); 0 picks a free one. @default no page */
  readonly webPort?: number;
  /** Where the logs go; a folder you name is kept. @default a `logs` folder in the run folder */
  readonly logDir?: string;
  /** Keep the run folder (logs, HAProxy config) after stop. @default false */
  readonly keepLogs?: boolean;
  readonly timings?: Partial<ClusterTimings>;
  /** Overrides of the watchdog's policy for both fleets (defaults: DEFAULT_POLICY, local grace). */
  readonly policy?: Partial<FleetPolicy>;
  /** @default 'haproxy' */
  readonly haproxyBinary?: string;
  /** @default 'redis-server' */
  readonly redisBinary?: string;
  /** @default node processes started with local/node-process */
  readonly launch?: LaunchNode;
  /** Fleet events and watchdog decisions, as they happen. */
  readonly onEvent?: (event: ClusterEvent) => void;
}

/** One structured watchdog line (a decision, or a cycle that failed). */
export interface WatchdogEvent {
  readonly type: 'watchdog';
  readonly at: number;
  readonly line: Readonly<Record<string, unknown>>;
}

export type ClusterEvent = FleetEvent | WatchdogEvent;

export interface Cluster {
  readonly urls: {
    readonly signaling: string;
    readonly rest: string;
    readonly stats: string;
    /** The web page, when asked for (`webPort`). */
    readonly web?: string;
  };
  readonly apiSecret: string;
  /** Where Janus gathers ICE; undefined: no Janus, no media. */
  readonly iceAddress?: string;
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** What the nodes and the watchdog run with. */
  readonly timings: ClusterTimings;
  /** The folder with the logs and HAProxy's config. */
  readonly runDir: string;
  readonly logDir: string;
  readonly fleet: ClusterFleet;
  readonly haproxy: Haproxy;
  /** The redis-server the cluster started; undefined with `redisUrl`. */
  readonly redisServer?: RedisServer;
  /** The registry, read with the cluster's own connection. */
  readonly registry: RegistryReader;
  /** One row per node: process, registry, HAProxy, sessions, heartbeat age. */
  status(): Promise<StatusRow[]>;
  /**
   * Signals a node of the fleet by its id (SIGKILL: crash, SIGSTOP/SIGCONT: hang, SIGTERM: drain);
   * false when no node has that id.
   */
  signal(nodeId: string, signal: NodeJS.Signals): boolean;
  /** Stops every child and removes what the cluster created; safe to call twice. */
  stop(): Promise<void>;
}

/** Thrown for problems the user can fix (a missing binary, a port in use, a node that does not start). */
export class ClusterStartError extends Error {
  override readonly name = 'ClusterStartError';
}

/** Starts the cluster; on any failure stops what it started and throws a ClusterStartError. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const masters = options.masters ?? LOCAL_DEFAULTS.masters;
  const mediaAgents = options.media ?? LOCAL_DEFAULTS.media;
  if (!Number.isInteger(masters) || masters < 1) throw new ClusterStartError('masters must be 1 or more');
  if (!Number.isInteger(mediaAgents) || mediaAgents < 0)
    throw new ClusterStartError('media must be 0 or more');
  const timings: ClusterTimings = { ...DEFAULT_CLUSTER_TIMINGS, ...options.timings };
  const apiSecret = options.apiSecret ?? localApiSecret();
  const { iceAddress } = options;
  if (iceAddress !== undefined && (!isIPv4(iceAddress) || iceAddress.startsWith('127.')))
    throw new ClusterStartError(
      `the ICE address must be a non-loopback IPv4 of this machine (Janus never gathers on loopback), got "${iceAddress}"`,
    );
  const cleanup: Array<() => Promise<void> | void> = [];
  const runCleanup = async () => {
    for (const step of cleanup.splice(0).reverse())
      await Promise.resolve()
        .then(step)
        .catch(() => undefined);
  };

  const runDir = mkdtempSync(join(tmpdir(), 'rtc-ha-cluster-'));
  const logDir = options.logDir ?? join(runDir, 'logs');
  mkdirSync(logDir, { recursive: true });

  try {
    requireBinary(options.haproxyBinary ?? 'haproxy', 'haproxy');
    if (!options.redisUrl) requireBinary(options.redisBinary ?? 'redis-server', 'redis-server', '--version');
    const port = await portFor(options.port ?? LOCAL_DEFAULTS.port, "HAProxy's frontend", '--port');
    const statsPort = await portFor(
      options.statsPort ?? LOCAL_DEFAULTS.statsPort,
      "HAProxy's stats page",
      '--stats-port',
    );
    const webPort =
      options.webPort === undefined
        ? undefined
        : await portFor(options.webPort, 'the web page', '--web-port');

    const { redisUrl, keyPrefix, redisServer } = await startRedis(options, logDir, cleanup);
    const redis = await connect(redisUrl, 'rtc-local-cluster');
    cleanup.push(() => redis.disconnect());
    if (!redisServer) cleanup.push(() => deleteKeys(redis, keyPrefix));
    const registry = new RegistryReader(redis, keyPrefix, timings.heartbeatTtlMs);

    const haproxy = await startHaproxy({
      port,
      statsPort,
      socketPath: join(runDir, 'haproxy.sock'),
      slots: masters * 2 + 2,
      dir: runDir,
      logFile: join(logDir, 'haproxy.log'),
      binary: options.haproxyBinary,
    });
    cleanup.push(() => haproxy.stop());

    const media = iceAddress === undefined ? undefined : new ClusterMedia(iceAddress);
    if (media) cleanup.push(() => media.remove());
    const launch =
      options.launch ??
      nodeLauncher({
        redisUrl,
        keyPrefix,
        apiSecret,
        timings,
        controlSecret: randomBytes(24).toString('hex'),
        media,
      });
    const fleet = new ClusterFleet({
      launch,
      haproxy,
      logDir,
      onEvent: options.onEvent,
      drainGraceMs: timings.drainDeadlineMs + 5_000,
    });
    cleanup.push(() => fleet.stop());
    await fleet.start({ media: mediaAgents, master: masters });

    const stopWatchdog = runWatchdog(fleet, registry, timings, options, logDir);
    cleanup.push(stopWatchdog);

    const status = async () =>
      statusRows(
        fleet.members(),
        await registry.nodes().catch(() => undefined),
        await haproxy.slots().catch(() => undefined),
      );
    const signal = (nodeId: string, sig: NodeJS.Signals) => {
      const member = fleet.members().find((m) => m.nodeId === nodeId);
      member?.handle.kill(sig);
      return member !== undefined;
    };
    const urls = { signaling: haproxy.wsUrl, rest: `${haproxy.url}/v1`, stats: haproxy.statsUrl };
    const web =
      webPort === undefined
        ? undefined
        : await startWebPage({
            port: webPort,
            signalingUrl: haproxy.wsUrl,
            admin: new RtcHaAdmin({ baseUrl: haproxy.url, secret: apiSecret }),
            media: media !== undefined,
            status,
            signal,
          });
    if (web) cleanup.push(() => web.stop());

    const cluster: Cluster = {
      urls: { ...urls, web: web?.url },
      apiSecret,
      iceAddress,
      redisUrl,
      keyPrefix,
      timings,
      runDir,
      logDir,
      fleet,
      haproxy,
      redisServer,
      registry,
      status,
      signal,
      stop: async () => {
        await runCleanup();
        if (!options.keepLogs) rmSync(runDir, { recursive: true, force: true });
      },
    };
    return cluster;
  } catch (err) {
    await runCleanup();
    const message = err instanceof Error ? err.message : String(err);
    // The logs say why a node did not start: keep them when there are any.
    if (options.keepLogs || hasLogs(logDir))
      throw new ClusterStartError(`${message}\n(logs kept in ${logDir})`);
    rmSync(runDir, { recursive: true, force: true });
    throw new ClusterStartError(message);
  }
}

/** Node processes (local/node-process) configured for this cluster. */
function nodeLauncher(settings: {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly apiSecret: string;
  readonly timings: ClusterTimings;
  /** Masters and media agents prove it to each other on the control channel. */
  readonly controlSecret: string;
  readonly media?: ClusterMedia;
}): LaunchNode {
  const { timings } = settings;
  return async (spec) => {
    const media = spec.role === 'media' ? settings.media?.forAgent(spec.nodeId) : undefined;
    try {
      const node = await startNodeProcess({
        kind: spec.role,
        logFile: spec.logFile,
        // Janus starts before the agent is ready.
        startTimeoutMs: media ? 30_000 : undefined,
        env: {
          RTC_NODE_ID: spec.nodeId,
          RTC_INSTANCE_ID: spec.instanceId,
          RTC_REDIS_URL: settings.redisUrl,
          RTC_KEY_PREFIX: settings.keyPrefix,
          RTC_API_SECRET: spec.role === 'master' ? settings.apiSecret : undefined,
          RTC_MEDIA_CONTROL_SECRET: settings.controlSecret,
          RTC_HEARTBEAT_INTERVAL_MS: String(timings.heartbeatIntervalMs),
          RTC_HEARTBEAT_TTL_MS: String(timings.heartbeatTtlMs),
          RTC_DRAIN_DEADLINE_MS: String(timings.drainDeadlineMs),
          ...media?.env,
        },
      });
      if (media) void node.exited.then(() => media.release());
      return node;
    } catch (err) {
      media?.release();
      throw err;
    }
  };
}

function hasLogs(dir: string): boolean {
  return readdirSync(dir).some((name) => statSync(join(dir, name)).size > 0);
}

/** `wanted`, or a free port when 0; a port in use is a clear error naming its flag. */
async function portFor(wanted: number, what: string, flag: string): Promise<number> {
  if (wanted === 0) return freePort();
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(wanted, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  if (!free) {
    throw new ClusterStartError(
      `port ${wanted} (${what}) is in use: stop what listens there, or pass ${flag} <another port> (0 picks a free one)`,
    );
  }
  return wanted;
}

async function startRedis(
  options: ClusterOptions,
  logDir: string,
  cleanup: Array<() => Promise<void> | void>,
): Promise<{ redisUrl: string; keyPrefix: string; redisServer?: RedisServer }> {
  if (options.redisUrl) {
    // A shared Redis: keys of this run only, removed on stop.
    return { redisUrl: options.redisUrl, keyPrefix: `rtc-local-${randomBytes(4).toString('hex')}` };
  }
  const redisServer = await startRedisServer({ binary: options.redisBinary });
  cleanup.push(() => redisServer.stop());
  redisServer.process.stderr?.pipe(createWriteStream(join(logDir, 'redis-server.log')));
  return { redisUrl: redisServer.url, keyPrefix: DEFAULT_KEY_PREFIX, redisServer };
}

async function connect(url: string, name: string): Promise<Redis> {
  const redis = createRedis({ url, connectionName: name });
  redis.on('error', () => undefined); // reads fail and report; the status table shows '?'
  try {
    return await untilReady(redis, 5_000);
  } catch (err) {
    redis.disconnect();
    throw new ClusterStartError(`cannot reach Redis at ${url}: ${err instanceof Error ? err.message : err}`);
  }
}

/** Deletes every key under `prefix:` (SCAN, bounded batches). */
async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  for (let round = 0; round < 10_000; round += 1) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
    if (cursor === '0') return;
  }
}

/** Runs the watchdog loop in the background; resolves the returned stop function once it ended. */
function runWatchdog(
  fleet: ClusterFleet,
  registry: RegistryReader,
  timings: ClusterTimings,
  options: ClusterOptions,
  logDir: string,
): () => Promise<void> {
  const log = createWriteStream(join(logDir, 'watchdog.log'), { flags: 'a' });
  const policy = (role: NodeRole): FleetPolicy => ({
    ...DEFAULT_POLICY[role],
    graceMs: timings.watchdogGraceMs,
    ...options.policy,
  });
  const watchdog = new Watchdog({
    registry,
    fleet: fleet.watchdogFleet,
    probe: (address) => probeLive(address),
    policy: { master: policy('master'), media: policy('media') },
    dimensions: { Cluster: 'local' },
    sink: (line) => {
      log.write(`${JSON.stringify(line)}\n`);
      if (line.msg !== undefined) options.onEvent?.({ type: 'watchdog', at: Date.now(), line });
    },
  });
  const abort = new AbortController();
  const done = watchdog.run({ cycleMs: timings.watchdogCycleMs, signal: abort.signal });
  return async () => {
    abort.abort();
    await done;
    await new Promise((resolve) => log.end(resolve));
  };
}
