import type Redis from 'ioredis';
import { ChannelEnvelopeSchema, Keys, numberedFrameSeq, parseJsonOrUndefined } from '../contract';
import type { Logger } from '../node/log';

/** What a local socket of a session receives from the session's channel. */
export interface ChannelMember {
  readonly participantId?: string;
  /** A numbered frame for this participant, as the registry stored it. */
  deliverLive(raw: string, seq: number): void;
  /** The participant was claimed with `epoch`. */
  onTakeover(epoch: number): void;
  /** The participant was removed from the session. */
  onRemoved(): void;
  /** Frames may have been published while nobody listened: replay the mailbox. */
  resync(): void;
}

const NONE: ReadonlySet<ChannelMember> = new Set();

interface Subscription {
  readonly members: Set<ChannelMember>;
  /**
   * The members by participant id (set once they joined): a notice for a room of N costs N
   * lookups, not N scans of N members.
   */
  readonly byParticipant: Map<string, Set<ChannelMember>>;
  /** Highest takeover epoch seen per participant, for claims whose notice came first. */
  readonly takeovers: Map<string, number>;
  readonly subscribed: Promise<unknown>;
}

/**
 * Subscriptions to session channels (docs/contract.md, Redis layout): this master listens to a
 * session's channel while any local socket belongs to it, and hands deliveries, takeover notices
 * and removals to those sockets. Pub/sub is lossy across a reconnect of the subscriber, so on
 * every reconnect it subscribes again and makes every local socket replay its mailbox.
 */
export class SessionChannels {
  private readonly sessions = new Map<string, Subscription>();
  private readonly channelToSession = new Map<string, string>();
  private resubscribing = false;
  /**
   * Channels whose unsubscribe failed while Redis was away. ioredis forgets a channel only when
   * Redis confirms the unsubscribe, so it would subscribe these again on reconnect: drop them then.
   */
  private readonly leftBehind = new Set<string>();

  constructor(
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
  ) {
    subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    // ioredis resubscribes by itself after 'ready'; doing it again (after that, on the same
    // connection) tells us when the subscriptions are live again.
    subscriber.on('ready', () => setImmediate(() => void this.resync()));
  }

  /** The subscriber is connected and its subscriptions are live. */
  get connected(): boolean {
    return this.subscriber.status === 'ready' && !this.resubscribing;
  }

  /** Subscribes `member` to the session's events; resolves once the subscription is live. */
  async attach(sessionId: string, member: ChannelMember): Promise<void> {
    let sub = this.sessions.get(sessionId);
    if (!sub) {
      const channel = this.keys.sessionChannel(sessionId);
      sub = {
        members: new Set(),
        byParticipant: new Map(),
        takeovers: new Map(),
        subscribed: this.subscriber.subscribe(channel),
      };
      this.sessions.set(sessionId, sub);
      this.channelToSession.set(channel, sessionId);
    }
    sub.members.add(member);
    if (member.participantId !== undefined) {
      const same = sub.byParticipant.get(member.participantId) ?? new Set();
      sub.byParticipant.set(member.participantId, same.add(member));
    }
    try {
      await sub.subscribed;
    } catch (err) {
      this.detach(sessionId, member);
      throw err;
    }
  }

  detach(sessionId: string, member: ChannelMember): void {
    const sub = this.sessions.get(sessionId);
    if (!sub?.members.delete(member)) return;
    const same = member.participantId === undefined ? undefined : sub.byParticipant.get(member.participantId);
    if (same?.delete(member) && same.size === 0) sub.byParticipant.delete(member.participantId!);
    if (sub.members.size > 0) return;
    const channel = this.keys.sessionChannel(sessionId);
    this.sessions.delete(sessionId);
    this.channelToSession.delete(channel);
    // Messages of a session nobody holds are ignored; a failed unsubscribe is retried on reconnect.
    this.subscriber.unsubscribe(channel).catch(() => this.leftBehind.add(channel));
  }

  /** The newest epoch a takeover notice announced for the participant (0 if none seen). */
  latestTakeover(sessionId: string, participantId: string): number {
    return this.sessions.get(sessionId)?.takeovers.get(participantId) ?? 0;
  }

  /** Sessions with local sockets. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private async resync(): Promise<void> {
    const stale = [...this.leftBehind].filter((channel) => !this.channelToSession.has(channel));
    this.leftBehind.clear();
    if (stale.length > 0) {
      this.subscriber.unsubscribe(...stale).catch(() => stale.forEach((c) => this.leftBehind.add(c)));
    }
    const channels = [...this.channelToSession.keys()];
    if (channels.length === 0) return;
    this.resubscribing = true;
    try {
      await this.subscriber.subscribe(...channels);
    } catch (err) {
      // The connection dropped again; the next 'ready' retries.
      this.log.warn('resubscribe_failed', { error: err });
      return;
    } finally {
      this.resubscribing = false;
    }
    let sockets = 0;
    for (const sub of this.sessions.values()) {
      for (const member of sub.members) {
        sockets++;
        member.resync();
      }
    }
    this.log.info('channels_resynced', { sessions: this.sessions.size, sockets });
  }

  private dispatch(channel: string, message: string): void {
    const sessionId = this.channelToSession.get(channel);
    const sub = sessionId === undefined ? undefined : this.sessions.get(sessionId);
    if (!sub) return;
    const envelope = ChannelEnvelopeSchema.safeParse(parseJsonOrUndefined(message));
    if (!envelope.success) {
      this.log.warn('bad_channel_message', { channel, error: envelope.error.message });
      return;
    }
    const event = envelope.data;
    const membersOf = (participantId: string) => sub.byParticipant.get(participantId) ?? NONE;
    switch (event.kind) {
      case 'deliver':
        for (const [participantId, raw] of event.frames) {
          const seq = numberedFrameSeq(raw);
          if (seq !== undefined) for (const m of membersOf(participantId)) m.deliverLive(raw, seq);
        }
        break;
      case 'takeover':
        sub.takeovers.set(
          event.participantId,
          Math.max(event.epoch, sub.takeovers.get(event.participantId) ?? 0),
        );
        for (const m of membersOf(event.participantId)) m.onTakeover(event.epoch);
        break;
      case 'removed':
        for (const m of membersOf(event.participantId)) m.onRemoved();
        break;
    }
  }
}
