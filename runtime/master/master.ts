import { DEFAULT_TIMINGS, LIMITS, RegistryReader, SessionStore, tokenKeyFrom } from '../contract';
import { untilEmptyOrDeadline } from '../node/drain';
import { createLogger, Logger } from '../node/log';
import { connectRedis } from '../node/redis';
import { NodeHandle, NodeRuntime } from '../node/runtime';
import { ServeLease } from '../standby/lease';
import type { MasterConfig } from './config';
import { Departures } from './departures';
import { MediaBroker } from './media-broker';
import { MediaPlacement } from './media-placement';
import { Presence } from './presence';
import { ApiCredential, createRestHandler } from './rest';
import { SessionChannels } from './session-channels';
import { Sockets } from './sockets';
import { Sweeper } from './sweeper';

/**
 * Masters are placed by the load balancer, not by the registry; the registry still wants a
 * capacity, so a master reports one that its sessions never reach.
 */
const MASTER_CAPACITY = 100_000;

/**
 * A running master. `drain()` (SIGTERM): not ready at once, `draining` in the registry, new
 * sockets and creates refused, every client told to resume elsewhere (reconnect + 4503, its
 * participant left as it is); resolves once the sockets are gone or the drain deadline passed,
 * and the master left the registry and stopped. `close()` drops every socket the same way, at once.
 */
export type MasterHandle = NodeHandle;

/**
 * Starts a master: REST under /v1, WebSocket signaling on /ws, /live and /ready, all on one port
 * (docs/contract.md). Resolves once listening; it turns ready when its first heartbeat succeeds
 * and its event subscriber is connected. Redis being away never stops or crashes it.
 */
export async function startMaster(
  config: MasterConfig,
  log: Logger = createLogger(config.nodeId),
): Promise<MasterHandle> {
  const maxSockets = config.maxSockets ?? LIMITS.maxSocketsPerMaster;
  const tls = config.tls && { cert: config.tls.certificateChain, key: config.tls.privateKey };
  const runtime = new NodeRuntime(config, 'master', log, maxSockets, tls);
  const { redis } = runtime;
  const subscriber = connectRedis(config, 'events', log);
  const store = new SessionStore(redis, {
    prefix: config.keyPrefix,
    reconnectWindowMs: config.reconnectWindowMs,
    pendingParticipantTimeoutMs: config.connectionTokenTtlMs,
    emptySessionTimeoutMs: config.emptySessionTimeoutMs,
    sessionSweepEveryMs: config.sessionSweepEveryMs,
  });
  const registry = new RegistryReader(redis, config.keyPrefix, config.heartbeatTtlMs);
  const credentials = apiCredentials(config);
  const channels = new SessionChannels(subscriber, store.keys, log);
  const departures = new Departures(store, config.reconnectWindowMs, log);
  const placement = new MediaPlacement(redis, store, registry, config.nodeId, config.heartbeatTtlMs, log);
  const presence = new Presence(store, log);
  const media = new MediaBroker({
    nodeId: config.nodeId,
    secret: config.mediaControlSecret,
    store,
    registry,
    log,
    turn: config.turn,
  });
  const readiness = () => runtime.readiness();
  const sockets = new Sockets(
    {
      nodeId: config.nodeId,
      store,
      channels,
      departures,
      presence,
      media,
      tokenKey: credentials.map((c) => c.tokenKey),
      joinTimeoutMs: config.joinTimeoutMs,
      log,
    },
    config.silentSocketTimeoutMs,
    () => (runtime.isDraining ? 'draining' : readiness().length ? 'not_ready' : undefined),
    maxSockets,
  );
  runtime.server.on('upgrade', (req, socket, head) => sockets.handleUpgrade(req, socket, head));
  // In an active-standby pair only the active node serves; one that steps down sends its clients on.
  const lease = config.serveLeaseFile
    ? new ServeLease(config.serveLeaseFile, () => sockets.drainAll())
    : undefined;
  const sweeper = new Sweeper(
    redis,
    store,
    registry,
    departures,
    config.nodeId,
    {
      intervalMs: config.sweepIntervalMs ?? DEFAULT_TIMINGS.sweepIntervalMs,
      maxSessions: LIMITS.sweepMaxSessions,
      // A standby's Redis is a read-only replica: it sweeps once it serves, not before.
      active: () => !lease || lease.reasons().length === 0,
    },
    log,
  );

  const started = runtime.start({
    load: async () => ({
      sessions: channels.sessionCount,
      connections: sockets.joinedCount,
      capacity: MASTER_CAPACITY,
    }),
    afterBeat: () => placement.replaceExpired(),
    readiness: () => [
      ...(channels.connected ? [] : ['event subscriber disconnected']),
      ...(lease?.reasons() ?? []),
    ],
    handleRequest: createRestHandler({
      store,
      placement,
      departures,
      credentials,
      connectionTokenTtlMs: config.connectionTokenTtlMs,
      readiness,
      log,
    }),
  });
  await started.catch((err: unknown) => {
    // Listening failed (port taken): leave nothing open behind.
    lease?.stop();
    sockets.terminateAll();
    media.close();
    subscriber.disconnect();
    redis.disconnect();
    throw err;
  });
  sweeper.start();

  const stop = async () => {
    lease?.stop();
    sockets.terminateAll();
    await sweeper.stop();
    if (departures.pending > 0) log.warn('reconnect_windows_abandoned', { participants: departures.pending });
    departures.stop();
    presence.stop();
    media.close();
    subscriber.disconnect();
    await runtime.shutdown({ deregister: true });
  };
  return runtime.handle({
    drain: async () => {
      runtime.startDraining();
      sockets.drainAll();
      const outcome = await untilEmptyOrDeadline(() => sockets.size === 0, config.drainDeadlineMs, 50);
      log.info('drain_done', { outcome, sockets: sockets.size });
      await stop();
    },
    close: stop,
  });
}

/** The current API secret, then the previous one during a rotation (docs/deploying.md). */
function apiCredentials(config: MasterConfig): ApiCredential[] {
  const secrets = [config.apiSecret, config.previousApiSecret].filter((s): s is string => s !== undefined);
  return secrets.map((secret) => ({ secret, tokenKey: tokenKeyFrom(secret, config.tokenSecret) }));
}
