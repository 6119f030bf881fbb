import { LIMITS, PresenceNotice, SessionStore } from '../contract';
import type { Logger } from '../node/log';

const RETRY_MS = 500;

/**
 * Join and reconnect notices (docs/contract.md, "Presence"). A claim is announced to the room
 * through the registry's `announce`, which sends each claim once (participantJoined the first time
 * the room hears of a participant, participantReconnected after) and skips claims already announced
 * or superseded, so retrying is always safe. Claims of one session are batched: while one call is
 * under way, the next ones wait and go out together (at most LIMITS.presenceBatchMax a call), so a
 * herd of joins costs a few registry calls instead of one each. A failed call is retried while this
 * master lives; a claim whose master died unannounced is announced by the participant's next claim.
 */
export class Presence {
  private readonly waiting = new Map<string, Map<string, PresenceNotice>>();
  private readonly flushing = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly store: SessionStore,
    private readonly log: Logger,
  ) {}

  /** Announces a claim; a newer claim of the same participant replaces one still waiting. */
  claimed(sessionId: string, notice: PresenceNotice): void {
    if (this.stopped) return;
    const queue = this.waiting.get(sessionId) ?? new Map<string, PresenceNotice>();
    this.waiting.set(sessionId, queue);
    this.enqueue(queue, notice);
    if (!this.flushing.has(sessionId)) setImmediate(() => void this.flush(sessionId));
  }

  /** The master stops: notices not sent yet are left to the participants' next claims. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private enqueue(queue: Map<string, PresenceNotice>, notice: PresenceNotice): void {
    const queued = queue.get(notice.participantId);
    if (!queued || queued.epoch < notice.epoch) queue.set(notice.participantId, notice);
  }

  private async flush(sessionId: string): Promise<void> {
    const queue = this.waiting.get(sessionId);
    if (this.stopped || this.flushing.has(sessionId) || !queue) return;
    if (queue.size === 0) {
      this.waiting.delete(sessionId);
      return;
    }
    const batch = [...queue.values()].slice(0, LIMITS.presenceBatchMax);
    for (const notice of batch) queue.delete(notice.participantId);
    this.flushing.add(sessionId);
    try {
      await this.store.announce(sessionId, batch);
    } catch (err) {
      this.log.warn('announce_retry', { sessionId, participants: batch.length, error: err });
      for (const notice of batch) this.enqueue(queue, notice);
      this.flushing.delete(sessionId);
      this.later(() => this.flush(sessionId));
      return;
    }
    this.flushing.delete(sessionId);
    await this.flush(sessionId);
  }

  private later(run: () => Promise<void>): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void run();
    }, RETRY_MS);
    this.timers.add(timer);
  }
}
