import type { NodeHeartbeat, NodeRegistration } from '../contract';
import type { Logger } from './log';

export interface HeartbeatLoopOptions {
  readonly registration: NodeRegistration;
  readonly intervalMs: number;
  /** A heartbeat older than this no longer proves the registry is reachable. */
  readonly ttlMs: number;
  /** State and load to publish; may read Redis (a failure counts as a failed heartbeat). */
  readonly beat: () => Promise<NodeHeartbeat>;
  /** Runs after each successful heartbeat, one at a time (a master's media-node check). */
  readonly afterBeat?: () => Promise<void>;
  readonly log: Logger;
}

/**
 * Writes this node's heartbeat every interval. Its outcome is the node's proof that the registry
 * is reachable: /ready follows `healthy`. One beat runs at a time, so a stalled Redis (each
 * command times out after 1 s) never piles up beats.
 */
export class HeartbeatLoop {
  private lastOkAt?: number;
  private lastFailed = false;
  private inFlight?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: HeartbeatLoopOptions) {}

  /** The last beat succeeded, recently enough. */
  get healthy(): boolean {
    return !this.lastFailed && this.lastOkAt !== undefined && Date.now() - this.lastOkAt < this.options.ttlMs;
  }

  /** Whether a beat ever succeeded (tells "starting" from "lost the registry" in /ready). */
  get started(): boolean {
    return this.lastOkAt !== undefined;
  }

  start(): void {
    void this.beatNow().finally(() => this.schedule());
  }

  /** Beats now (or joins the beat in flight), e.g. to publish `draining` at once. */
  beatNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inFlight ??= this.tick().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** Stops beating; resolves once the beat in flight, if any, is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => void this.beatNow().finally(() => this.schedule()),
      this.options.intervalMs,
    );
  }

  private async tick(): Promise<void> {
    const { registration, beat, afterBeat, log } = this.options;
    try {
      await registration.heartbeat(await beat());
    } catch (err) {
      if (!this.lastFailed) log.warn('heartbeat_failed', { error: err });
      this.lastFailed = true;
      return;
    }
    if (this.lastFailed) log.info('heartbeat_recovered');
    this.lastFailed = false;
    this.lastOkAt = Date.now();
    if (!afterBeat || this.stopped) return;
    try {
      await afterBeat();
    } catch (err) {
      log.warn('after_heartbeat_failed', { error: err });
    }
  }
}
