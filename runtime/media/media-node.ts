/**
 * The media agent's Janus, wired: the supervised child (spec from the agent's config), the agent's
 * one Janus session (reopened after each restart), the rooms in it, their load figures and the
 * node's media headroom.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  DEFAULT_TIMINGS,
  MediaRequestError,
  type MediaEvent,
  type MediaRequest,
  type MediaResults,
  type NodeLoad,
} from '../contract';
import type { Logger } from '../node/log';
import type { MediaConfig } from './config';
import { JanusClient, JanusSupervisor, debianJanusLibDir, newJanusSecret } from './janus';
import { MediaRooms } from './rooms';

export type MediaLoad = NonNullable<NodeLoad['media']>;

/** Janus's CPU share at which a node counts as full: the 70 % line, with the agent's own share beside it. */
export const JANUS_CPU_CEILING = 0.7;

/** Janus sessions without a request for this long are destroyed; the agent's keepalive runs well within it. */
const SESSION_TIMEOUT_SECONDS = 60;

/** Janus never runs as root: an agent started as root (tests) runs it as nobody. */
const NOBODY = { uid: 65534, gid: 65534 };

/**
 * How much of the node is still free (0..1): the lesser of its CPU headroom (Janus's CPU against
 * JANUS_CPU_CEILING) and its session headroom; 0 while Janus cannot take rooms.
 */
export function mediaHeadroom(input: {
  readonly ready: boolean;
  readonly janusCpu: number;
  readonly sessions: number;
  readonly capacity: number;
}): number {
  if (!input.ready) return 0;
  const cpu = 1 - input.janusCpu / JANUS_CPU_CEILING;
  const sessions = 1 - input.sessions / input.capacity;
  return Math.max(0, Math.min(1, cpu, sessions));
}

/**
 * Janus died (`lost`, said the moment the supervisor sees it, before it restarts Janus) or is back
 * with a session open after a restart (`restarted`); the agent tells the masters.
 */
export type JanusStateListener = (state: 'lost' | 'restarted', reason?: string) => void;

export class MediaNode {
  readonly rooms: MediaRooms;
  private client?: JanusClient;
  private startError?: string;
  /** The session being opened after the last `up`. */
  private opening?: Promise<void>;

  private constructor(
    private readonly supervisor: JanusSupervisor,
    emit: (event: MediaEvent) => void,
    private readonly log: Logger,
    private readonly onJanus: JanusStateListener,
  ) {
    this.rooms = new MediaRooms(emit, log);
    supervisor.on((event) => {
      if (event.type === 'up') this.opening = this.open(event.restarts > 0);
      else {
        // Said first: the masters move the rooms while the supervisor restarts Janus.
        this.onJanus('lost', event.reason);
        this.rooms.lost();
      }
    });
  }

  /** Starts Janus; a Janus that cannot start leaves the node live but not ready, saying why. */
  static async start(
    config: MediaConfig,
    emit: (event: MediaEvent) => void,
    log: Logger,
    onJanus: JanusStateListener = () => undefined,
  ): Promise<MediaNode> {
    const iceAddress = config.iceAddress as string;
    const publicAddress = config.publicAddress;
    const taken = [config.port];
    const supervisor = new JanusSupervisor({
      spec: {
        configDir: join(tmpdir(), `rtc-ha-janus-${randomBytes(6).toString('hex')}`),
        libDir: debianJanusLibDir(),
        apiPort: await freeLoopbackPort(taken),
        apiSecret: newJanusSecret(),
        adminPort: await freeLoopbackPort(taken),
        adminSecret: newJanusSecret(),
        rtpPortMin: config.mediaPortMin,
        rtpPortMax: config.mediaPortMax,
        iceAddress,
        // On AWS the node sits behind a 1:1 NAT: its host candidates must carry the public address.
        natPublicAddress:
          publicAddress && publicAddress !== iceAddress && isIP(publicAddress) ? publicAddress : undefined,
        sessionTimeoutSeconds: SESSION_TIMEOUT_SECONDS,
        serverName: config.nodeId,
        logLevel: 4,
      },
      log,
      runAs: process.getuid?.() === 0 ? NOBODY : undefined,
    });
    const node = new MediaNode(supervisor, emit, log, onJanus);
    await supervisor.start().catch((err: unknown) => {
      node.startError = (err as Error).message.split('\n')[0];
      log.error('janus_start_failed', { error: err });
    });
    // The first heartbeat must see the session open: else it publishes no headroom while /ready
    // already says yes, and a session created then finds no media node with room.
    await node.opening;
    return node;
  }

  /** Reasons to take no new session because of Janus; empty when it can take rooms. */
  readiness(): string[] {
    if (this.startError) return [`janus failed to start: ${this.startError}`];
    const reasons = this.supervisor.readiness();
    if (reasons.length === 0 && !this.rooms.attached) reasons.push('janus session not open');
    return reasons;
  }

  /**
   * A client reported a connection stalled: a Janus that does not answer its ping in half the
   * master's check timeout is restarted (the masters then move the rooms) and the check fails;
   * else it says whether the connection still exists here.
   */
  async check(request: Extract<MediaRequest, { op: 'check' }>): Promise<MediaResults['check']> {
    if (!(await this.supervisor.probe(DEFAULT_TIMINGS.mediaCheckTimeoutMs / 2))) {
      throw new MediaRequestError('media_unavailable', 'Janus does not answer: restarting it');
    }
    return { exists: this.rooms.has(request.sessionId, request.participantId, request.target) };
  }

  /** The figures the heartbeat publishes (zeros and no headroom while Janus is down). */
  async load(sessions: number, capacity: number): Promise<MediaLoad> {
    const janus = await this.supervisor.load().catch((err: unknown) => {
      this.log.warn('janus_load_failed', { error: err });
      return undefined;
    });
    const figures = janus ?? { rooms: 0, publishers: 0, subscribers: 0, bitrateIn: 0, bitrateOut: 0, cpu: 0 };
    const { cpu, ...counts } = figures;
    const ready = janus !== undefined && this.readiness().length === 0;
    return {
      ...counts,
      janusCpu: cpu,
      headroom: mediaHeadroom({ ready, janusCpu: cpu, sessions, capacity }),
    };
  }

  async stop(): Promise<void> {
    this.rooms.lost();
    this.client?.close();
    await this.supervisor.stop();
  }

  /** Opens the agent's one Janus session (after each start or restart); its keepalive keeps it. */
  private async open(restarted: boolean): Promise<void> {
    try {
      const client = await this.supervisor.connectClient();
      this.client = client;
      // First of the close listeners: the rooms must be gone before the session's handles hear
      // `detached`, or each feed would be announced gone to its room while the masters move it.
      client.onClose(() => this.rooms.lost());
      const session = await client.createSession();
      const manager = await session.attachVideoRoom();
      this.rooms.attach({ session, manager });
      this.log.info('janus_session_open', { session: session.id });
      if (restarted) this.onJanus('restarted');
    } catch (err) {
      // The supervisor notices a dead Janus by itself and restarts it; `up` opens a session again.
      this.log.error('janus_session_failed', { error: err });
    }
  }
}

/**
 * A free TCP port on 127.0.0.1 for Janus's APIs (they listen there only), none of `taken`: the
 * agent's own port is free too until it listens, after Janus started. Adds the port to `taken`.
 */
async function freeLoopbackPort(taken: number[]): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: picked } = server.address() as { port: number };
        server.close(() => resolve(picked));
      });
    });
    if (taken.includes(port)) continue;
    taken.push(port);
    return port;
  }
  throw new Error(`no free loopback port outside ${taken.join(', ')} in 10 tries`);
}
