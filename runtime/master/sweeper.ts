import type Redis from 'ioredis';
import { DEFAULT_TIMINGS } from '../contract/timings';
import { RegistryReader, SessionStore } from '../contract';
import type { Logger } from '../node/log';
import type { Departures } from './departures';

// Only the holder deletes the lock, and only while it still holds it.
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface SweeperOptions {
  /** How often this master tries to take the lock and sweep. */
  readonly intervalMs: number;
  /** Most sessions one run looks at. */
  readonly maxSessions: number;
  /**
   * Whether this master sweeps now; while false, each round is skipped (a standby of the
   * active-standby pair, whose Redis is a read-only replica, has nothing to sweep).
   * @default - always
   */
  readonly active?: () => boolean;
}

/**
 * Ends what nobody else ends (docs/contract.md, "Session lifecycle"). Every master tries every
 * interval; the one that takes the sweeper lock (SET NX PX, released by its holder) sweeps the
 * sessions whose turn came in the session index, at most `maxSessions` per run, each with one
 * script: participants that never connected expire, those whose master is dead (its heartbeat
 * expired) start their reconnect window, those past it are removed and the room gets
 * participantLeft, and a session empty for its timeout is deleted with its media reservation.
 */
export class Sweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly redis: Redis,
    private readonly store: SessionStore,
    private readonly registry: RegistryReader,
    private readonly departures: Departures,
    private readonly nodeId: string,
    private readonly options: SweeperOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.run()
        .then(() => undefined)
        .catch((err: unknown) => this.log.warn('sweep_failed', { error: err }))
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs);
  }

  /** Stops sweeping; resolves once the run under way, if any, is done. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One run, if this master is active and gets the lock: returns how many sessions it swept. */
  async run(): Promise<number> {
    if (this.options.active && !this.options.active()) return 0;
    const lock = this.store.keys.sweeperLock();
    // The lock outlives a run that times out on every command; a crashed holder's expires.
    const lockMs = this.options.intervalMs * 5;
    if ((await this.redis.set(lock, this.nodeId, 'PX', lockMs, 'NX')) !== 'OK') return 0;
    try {
      const due = await this.store.dueSessions(this.options.maxSessions);
      if (due.length === 0) return 0;
      const nodes = await this.registry.nodes();
      // This master is alive by definition; another one only after a long silence (a loaded master misses
      // beats; its participants must not be swept from under its open sockets).
      const liveMasters = nodes
        .filter(
          (n) =>
            n.identity.role === 'master' &&
            (n.identity.nodeId === this.nodeId || n.heartbeatAgeMs < DEFAULT_TIMINGS.sweeperOwnerSilenceMs),
        )
        .map((n) => n.identity.nodeId);
      const mediaNodes = nodes.filter((n) => n.identity.role === 'media').map((n) => n.identity.nodeId);
      for (const sessionId of due) await this.sweep(sessionId, liveMasters, mediaNodes);
      return due.length;
    } finally {
      await this.redis.eval(RELEASE_LOCK, 1, lock, this.nodeId);
    }
  }

  private async sweep(sessionId: string, liveMasters: string[], mediaNodes: string[]): Promise<void> {
    const result = await this.store.sweepSession(sessionId, liveMasters);
    if (result.outcome === 'kept') {
      for (const participantId of result.removed) {
        this.log.info('participant_swept', { sessionId, participantId });
        await this.departures.announceLeft(sessionId, participantId);
      }
    } else if (result.outcome === 'deleted') {
      this.log.info('session_expired', { sessionId, mediaNode: result.mediaNode?.nodeId });
    } else {
      // A create that died between its media reservation and its record: give the place back.
      for (const mediaNodeId of mediaNodes) await this.registry.releaseMedia(sessionId, mediaNodeId);
    }
  }
}
