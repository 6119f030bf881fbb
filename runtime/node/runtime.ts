import { createServer, IncomingMessage, Server, ServerResponse, ServerOptions } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type Redis from 'ioredis';
import { version } from '../../package.json';
import {
  DEFAULT_TIMINGS,
  LIMITS,
  NodeIdentity,
  NodeLoad,
  NodeRegistration,
  NodeRole,
  untilReady,
} from '../contract';
import type { NodeConfig } from './config';
import { CpuSampler } from './cpu';
import { HeartbeatLoop } from './heartbeat';
import { Readiness, serveHealth } from './health';
import { sendError } from './http';
import type { Logger } from './log';
import { connectRedis } from './redis';

/** A running node, as its process entry and in-process tests see it. */
export interface NodeHandle {
  readonly nodeId: string;
  readonly port: number;
  /** http://127.0.0.1:<port>, https:// when the node serves TLS */
  readonly url: string;
  /** Reasons /ready answers 503; empty when ready. */
  readiness(): string[];
  /** SIGTERM: stop taking work, hand over or finish it, leave, stop (see the node's own doc). */
  drain(): Promise<void>;
  /** Stops at once. */
  close(): Promise<void>;
}

/** What a node adds to the shared plumbing when it starts. */
export interface NodeHooks {
  /** Load to publish, without `cpu` (the runtime samples it). */
  readonly load: () => Promise<Omit<NodeLoad, 'cpu'>>;
  /** Runs after each successful heartbeat. */
  readonly afterBeat?: () => Promise<void>;
  /** Reasons beyond the registry and draining not to take work. */
  readonly readiness?: Readiness;
  /** Every request but /live and /ready (404 without it). */
  readonly handleRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Media nodes: where clients send media. */
  readonly publicAddress?: string;
}

/** The certificate chain and private key a node serves TLS with, PEM (Node's `cert` and `key`). */
export interface NodeTls {
  readonly cert: string;
  readonly key: string;
}

/**
 * The plumbing masters and media agents share: the command connection to Redis, the HTTP server
 * with /live and /ready, the registry identity, the heartbeat loop and the draining flag.
 * Construct it, attach what the node needs (e.g. `server.on('upgrade')`), then `start(hooks)`.
 */
export class NodeRuntime {
  readonly redis: Redis;
  readonly server: Server;
  private heartbeat?: HeartbeatLoop;
  private registration?: NodeRegistration;
  private hooks?: NodeHooks;
  private draining = false;
  private boundPort = 0;

  constructor(
    readonly config: NodeConfig,
    readonly role: NodeRole,
    readonly log: Logger,
    /** Long-lived sockets (WebSockets) the node holds beyond LIMITS.extraHttpConnections. */
    sockets = 0,
    /** With it, the node serves HTTPS (and WebSockets over TLS) on its port, and nothing in clear. */
    readonly tls?: NodeTls,
  ) {
    this.redis = connectRedis(config, 'commands', log);
    // Explicit bounds, not Node's defaults: a client that trickles its headers or body, or opens
    // connections and sends nothing, holds them for seconds, and only so many at once.
    const bounds: ServerOptions = {
      headersTimeout: DEFAULT_TIMINGS.httpHeadersTimeoutMs,
      requestTimeout: DEFAULT_TIMINGS.httpRequestTimeoutMs,
      connectionsCheckingInterval: DEFAULT_TIMINGS.httpTimeoutCheckIntervalMs,
    };
    const route = (req: IncomingMessage, res: ServerResponse) => this.route(req, res);
    this.server = tls
      ? createTlsServer(
          {
            ...bounds,
            cert: tls.cert,
            key: tls.key,
            minVersion: 'TLSv1.2',
            // The handshake comes before the headers: it gets no longer than they do (Node: 120 s).
            handshakeTimeout: DEFAULT_TIMINGS.httpHeadersTimeoutMs,
          },
          route,
        )
      : createServer(bounds, route);
    this.server.keepAliveTimeout = DEFAULT_TIMINGS.httpKeepAliveTimeoutMs;
    this.server.maxConnections = sockets + LIMITS.extraHttpConnections;
  }

  get port(): number {
    return this.boundPort;
  }
  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.boundPort}`;
  }
  get isDraining(): boolean {
    return this.draining;
  }

  /** Listens, then heartbeats. Resolves once listening (Redis may still be away: not ready). */
  async start(hooks: NodeHooks): Promise<NodeIdentity> {
    this.hooks = hooks;
    const { config, log } = this;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(config.port, config.listenHost, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as { port: number }).port;
    const identity: NodeIdentity = {
      nodeId: config.nodeId,
      role: this.role,
      instanceId: config.instanceId,
      address: config.advertiseAddress ?? `127.0.0.1:${this.boundPort}`,
      publicAddress: hooks.publicAddress,
      version,
      startedAt: Date.now(),
    };
    this.registration = new NodeRegistration(this.redis, identity, config.keyPrefix);
    const cpu = new CpuSampler();
    this.heartbeat = new HeartbeatLoop({
      registration: this.registration,
      intervalMs: config.heartbeatIntervalMs,
      ttlMs: config.heartbeatTtlMs,
      beat: async () => ({
        state: this.draining ? 'draining' : 'active',
        load: { cpu: cpu.sample(), ...(await hooks.load()) },
      }),
      afterBeat: hooks.afterBeat,
      log,
    });
    // The first beat waits (briefly) for the connection, so a healthy start logs no failure; a
    // reconnect after an outage beats at once, so readiness comes back without waiting a tick.
    void untilReady(this.redis, 2_000)
      .catch(() => undefined)
      .then(() => this.heartbeat?.start());
    this.redis.on('ready', () => void this.heartbeat?.beatNow());
    log.info('node_started', { role: this.role, port: this.boundPort, identity });
    return identity;
  }

  /** The node's handle; `drain` runs its steps once however often it is called. */
  handle(steps: { drain: () => Promise<void>; close: () => Promise<void> }): NodeHandle {
    let drained: Promise<void> | undefined;
    return {
      nodeId: this.config.nodeId,
      port: this.port,
      url: this.url,
      readiness: () => this.readiness(),
      drain: () => (drained ??= steps.drain()),
      close: steps.close,
    };
  }

  /** Reasons not to take new work; empty when ready. */
  readiness(): string[] {
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    if (!this.heartbeat?.healthy) {
      reasons.push(this.heartbeat?.started ? 'registry unreachable (heartbeat failing)' : 'starting');
    }
    return reasons.concat(this.hooks?.readiness?.() ?? []);
  }

  /** Turns not-ready at once and publishes `draining` in the registry. */
  startDraining(): void {
    if (this.draining) return;
    this.draining = true;
    this.log.info('drain_started');
    void this.heartbeat?.beatNow();
  }

  /**
   * Stops heartbeating, leaves the registry when asked (a clean exit; a node that still holds
   * work for others to take over stays so that it expires), closes the server and Redis.
   */
  async shutdown(options: { deregister: boolean }): Promise<void> {
    await this.heartbeat?.stop();
    if (options.deregister && this.registration) {
      await this.registration
        .deregister()
        .catch((err: unknown) => this.log.warn('deregister_failed', { error: err }));
    }
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.redis.disconnect();
    this.log.info('node_stopped', { deregistered: options.deregister });
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    if (serveHealth(req, res, this.config.nodeId, () => this.readiness())) return;
    if (this.hooks?.handleRequest) this.hooks.handleRequest(req, res);
    else sendError(res, 404, 'not_found', 'no such route');
  }
}
