import type { SessionStore } from '../contract';
import type { Logger } from '../node/log';

const RETRY_MS = 1_000;

/**
 * Participants going away (docs/contract.md, "Delivery semantics"). A lost socket marks its
 * participant `disconnected` (fenced by the epoch this master held); the participant keeps its
 * place and mailbox for the reconnect window and, if nobody resumed it by then, is removed and the
 * room gets `participantLeft`. A resume anywhere bumps the epoch, so both writes then change
 * nothing. Writes that fail because Redis is away are retried while this master lives.
 */
export class Departures {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly store: SessionStore,
    private readonly windowMs: number,
    private readonly log: Logger,
  ) {}

  socketLost(sessionId: string, participantId: string, epoch: number): void {
    if (this.stopped) return;
    const marked = this.store.markDisconnected(sessionId, participantId, epoch).then(
      (r) => r.ok,
      (err: unknown) => {
        this.log.warn('mark_disconnected_failed', { sessionId, participantId, error: err });
        return undefined; // unknown: mark again when the window ends
      },
    );
    this.later(this.windowMs, async () => {
      const ok = await marked;
      if (ok !== false) await this.expire(sessionId, participantId, epoch, ok === undefined);
    });
  }

  /** Tells the rest of the room that `participantId` is gone for good. */
  async announceLeft(sessionId: string, participantId: string): Promise<void> {
    try {
      await this.store.deliverToOthers(sessionId, participantId, { type: 'participantLeft', participantId });
      this.log.info('participant_left', { sessionId, participantId });
    } catch (err) {
      this.log.warn('announce_left_retry', { sessionId, participantId, error: err });
      this.later(RETRY_MS, () => this.announceLeft(sessionId, participantId));
    }
  }

  /** Timers that have not fired; a master that exits leaves them (see runtime/master/README.md). */
  get pending(): number {
    return this.timers.size;
  }

  /** The master stops: pending windows are dropped and sockets closing from now on start none. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async expire(sessionId: string, participantId: string, epoch: number, mark: boolean) {
    try {
      if (mark && !(await this.store.markDisconnected(sessionId, participantId, epoch)).ok) return;
      const removed = await this.store.removeParticipant(sessionId, participantId, {
        epoch,
        onlyIfDisconnected: true,
      });
      if (!removed.ok) return; // resumed, or removed by someone else
    } catch (err) {
      this.log.warn('reconnect_window_retry', { sessionId, participantId, error: err });
      this.later(RETRY_MS, () => this.expire(sessionId, participantId, epoch, true));
      return;
    }
    this.log.info('participant_expired', { sessionId, participantId, epoch });
    await this.announceLeft(sessionId, participantId);
  }

  private later(ms: number, run: () => Promise<void>): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void run();
    }, ms);
    this.timers.add(timer);
  }
}
