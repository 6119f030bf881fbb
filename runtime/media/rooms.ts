/**
 * The media agent's state in its Janus: session -> VideoRoom room, participant -> publisher handle,
 * subscription -> subscriber handle. Everything is keyed by session and participant ids, never by
 * the master connection that asked, so a master's crash changes nothing here and the next master
 * carries on with the same participants. One participant's requests run one at a time, in order
 * (a candidate trickled right after an offer waits for the publisher handle the offer creates).
 */
import { randomBytes } from 'node:crypto';
import {
  LIMITS,
  MEDIA_KINDS,
  MediaEvent,
  MediaKind,
  MediaRequest,
  MediaRequestError,
  MediaResults,
  PublishedFeed,
} from '../contract';
import { Lanes } from '../node/lanes';
import type { Logger } from '../node/log';
import { HandleEvent, JanusError, JanusSession, VideoRoomHandle } from './janus';

/** The agent's one Janus session and the handle it manages rooms with. */
export interface JanusLink {
  readonly session: JanusSession;
  readonly manager: VideoRoomHandle;
}

interface Publisher {
  readonly handle: VideoRoomHandle;
  readonly kinds: MediaKind[];
  /** Janus reported webrtcup: the feed can be subscribed to and the room was told. */
  up: boolean;
}

interface Subscription {
  readonly participantId: string;
  readonly handle: VideoRoomHandle;
}

interface Room {
  readonly created: Promise<void>;
  readonly publishers: Map<string, Publisher>;
  readonly subscriptions: Map<string, Subscription>;
  /** Requests under way that will add a handle: the room stays until they finish. */
  pending: number;
}

/** The requests the rooms carry out (`check` is the node's: it probes Janus first). */
export type RoomRequest = Exclude<MediaRequest, { op: 'check' }>;

type Done = Record<string, never>;
const DONE: Done = {};

/** Janus's "no such feed" (the feed is not published, or not up yet). */
const JANUS_NO_SUCH_FEED = 428;
/** Janus's "room exists": another request of the same session created it first. */
const JANUS_ROOM_EXISTS = 427;

export class MediaRooms {
  private janus?: JanusLink;
  private readonly rooms = new Map<string, Room>();
  private readonly lanes = new Lanes();

  constructor(
    /** Feeds coming up and going away; the agent pushes them to the masters. */
    private readonly emit: (event: MediaEvent) => void,
    private readonly log: Logger,
  ) {}

  /** A Janus session is open: requests can be carried out. */
  attach(link: JanusLink): void {
    this.janus = link;
  }

  get attached(): boolean {
    return this.janus !== undefined;
  }

  /**
   * Janus died (or its socket closed): every room, handle and feed in it is gone. The rooms are not
   * told their feeds went: the masters move them to another node (or rebuild them here once Janus
   * is back), where the same participants publish the same feed ids again.
   */
  lost(): void {
    if (!this.janus) return;
    this.janus = undefined;
    this.rooms.clear();
  }

  /** Sessions with a room here. */
  sessions(): string[] {
    return [...this.rooms.keys()];
  }

  /**
   * The session moved to another media node: its room here goes without a word to the room (its
   * participants publish and subscribe on the other node now; a trackUnpublished from here would
   * tear their new subscriptions down).
   */
  async moved(sessionId: string): Promise<void> {
    const room = this.rooms.get(sessionId);
    if (!room) return;
    this.rooms.delete(sessionId);
    const handles = [...room.publishers.values(), ...room.subscriptions.values()].map((h) => h.handle);
    room.publishers.clear();
    room.subscriptions.clear();
    await Promise.all(handles.map((handle) => handle.detach().catch(() => undefined)));
    await this.janus?.manager.destroyRoom(sessionId).catch(() => undefined);
    this.log.info('media_room_moved_away', { sessionId, handles: handles.length });
  }

  /** Whether the participant's publisher (up) or its subscription `target` exists here. */
  has(sessionId: string, participantId: string, target: string): boolean {
    const room = this.rooms.get(sessionId);
    if (target === 'publisher') return room?.publishers.get(participantId)?.up === true;
    return room?.subscriptions.get(target)?.participantId === participantId;
  }

  /** Whether anyone still publishes in the session's room here. */
  publishing(sessionId: string): boolean {
    return (this.rooms.get(sessionId)?.publishers.size ?? 0) > 0;
  }

  /** Every participant with a publisher or a subscription here. */
  participants(): { sessionId: string; participantId: string }[] {
    const found: { sessionId: string; participantId: string }[] = [];
    for (const [sessionId, room] of this.rooms) {
      const ids = new Set([
        ...room.publishers.keys(),
        ...[...room.subscriptions.values()].map((s) => s.participantId),
      ]);
      for (const participantId of ids) found.push({ sessionId, participantId });
    }
    return found;
  }

  /** Carries out a master's request, after the same participant's earlier ones. */
  run<R extends RoomRequest>(request: R): Promise<MediaResults[R['op']]> {
    if (request.op === 'feeds')
      return Promise.resolve({ feeds: this.feeds(request.sessionId) } as MediaResults[R['op']]);

    const key = `${request.sessionId}/${request.participantId}`;
    return this.lanes
      .run(key, () => this.execute(request))
      .catch((err: unknown) => {
        throw toMediaError(err);
      }) as Promise<MediaResults[R['op']]>;
  }

  private async execute(request: Exclude<RoomRequest, { op: 'feeds' }>): Promise<unknown> {
    const { sessionId, participantId } = request;
    switch (request.op) {
      case 'publish':
        return this.publish(sessionId, participantId, request.sdp);
      case 'subscribe':
        return this.subscribe(sessionId, participantId, request.feedId);
      case 'answer':
        await this.subscription(sessionId, participantId, request.subscriptionId).handle.start({
          type: 'answer',
          sdp: request.sdp,
        });
        return DONE;
      case 'trickle': {
        const handle =
          request.target === 'publisher'
            ? this.ownPublisher(sessionId, participantId).handle
            : this.subscription(sessionId, participantId, request.target).handle;
        if (request.candidate === null) await handle.trickleCompleted();
        else {
          const { candidate, sdpMid, sdpMLineIndex } = request.candidate;
          await handle.trickle({ candidate, sdpMid, sdpMLineIndex });
        }
        return DONE;
      }
      case 'unpublish':
        await this.dropPublisher(sessionId, participantId);
        return DONE;
      case 'unsubscribe':
        this.subscription(sessionId, participantId, request.subscriptionId);
        await this.dropSubscription(sessionId, request.subscriptionId);
        return DONE;
      case 'leave': {
        const room = this.rooms.get(sessionId);
        const own = [...(room?.subscriptions ?? [])].filter(([, s]) => s.participantId === participantId);
        await Promise.all([
          this.dropPublisher(sessionId, participantId),
          ...own.map(([id]) => this.dropSubscription(sessionId, id)),
        ]);
        return DONE;
      }
    }
  }

  private feeds(sessionId: string): PublishedFeed[] {
    const room = this.rooms.get(sessionId);
    return [...(room?.publishers ?? [])]
      .filter(([, p]) => p.up)
      .map(([participantId, p]) => ({ participantId, feedId: participantId, kinds: p.kinds }));
  }

  private async publish(
    sessionId: string,
    participantId: string,
    sdp: string,
  ): Promise<MediaResults['publish']> {
    // Publishing again replaces the feed (a client that lost its PeerConnection starts over).
    await this.dropPublisher(sessionId, participantId);
    return this.inRoom(sessionId, async (room, janus) => {
      const handle = await janus.session.attachVideoRoom();
      const publisher: Publisher = { handle, kinds: offerKinds(sdp), up: false };
      room.publishers.set(participantId, publisher);
      handle.onEvent((event) => this.publisherEvent(sessionId, participantId, publisher, event));
      try {
        await handle.joinAsPublisher(sessionId, participantId);
        const answer = await handle.publish({ type: 'offer', sdp });
        return { feedId: participantId, sdp: answer.sdp };
      } catch (err) {
        if (room.publishers.get(participantId) === publisher) room.publishers.delete(participantId);
        await handle.detach().catch(() => undefined);
        throw err;
      }
    });
  }

  private async subscribe(
    sessionId: string,
    participantId: string,
    feedId: string,
  ): Promise<MediaResults['subscribe']> {
    if (!this.rooms.get(sessionId)?.publishers.get(feedId)?.up) {
      throw new MediaRequestError('no_such_feed', `no feed ${feedId} is up in session ${sessionId}`);
    }
    return this.inRoom(sessionId, async (room, janus) => {
      const handle = await janus.session.attachVideoRoom();
      const subscriptionId = `sub-${randomBytes(9).toString('base64url')}`;
      const subscription: Subscription = { participantId, handle };
      room.subscriptions.set(subscriptionId, subscription);
      handle.onEvent((event) => {
        if (event.type !== 'hangup' && event.type !== 'detached') return;
        if (room.subscriptions.get(subscriptionId) !== subscription) return;
        this.log.info('media_subscription_ended', {
          sessionId,
          participantId,
          subscriptionId,
          event: event.type,
        });
        void this.dropSubscription(sessionId, subscriptionId);
      });
      try {
        const offer = await handle.joinAsSubscriber(sessionId, [feedId]);
        return { subscriptionId, sdp: offer.sdp };
      } catch (err) {
        await this.dropSubscription(sessionId, subscriptionId);
        throw err;
      }
    });
  }

  private publisherEvent(
    sessionId: string,
    participantId: string,
    publisher: Publisher,
    event: HandleEvent,
  ): void {
    const room = this.rooms.get(sessionId);
    if (room?.publishers.get(participantId) !== publisher) return;
    if (event.type === 'webrtcup' && !publisher.up) {
      publisher.up = true;
      this.log.info('media_feed_up', { sessionId, participantId, kinds: publisher.kinds });
      this.emit({
        type: 'trackPublished',
        sessionId,
        participantId,
        feedId: participantId,
        kinds: publisher.kinds,
      });
    } else if (event.type === 'hangup' || event.type === 'detached') {
      this.log.info('media_feed_ended', { sessionId, participantId, event: event.type });
      void this.dropPublisher(sessionId, participantId);
    }
  }

  /**
   * Runs `work` against the session's room, creating it first when needed; the room stays while
   * the work runs, and goes once it ends with nobody in it.
   */
  private async inRoom<T>(sessionId: string, work: (room: Room, janus: JanusLink) => Promise<T>): Promise<T> {
    const janus = this.need();
    let room = this.rooms.get(sessionId);
    if (!room) {
      const created = janus.manager
        .createRoom(sessionId, { publishers: LIMITS.maxParticipantsPerSession })
        .catch((err: unknown) => {
          if (!(err instanceof JanusError && err.code === JANUS_ROOM_EXISTS)) throw err;
        });
      room = { created, publishers: new Map(), subscriptions: new Map(), pending: 0 };
      this.rooms.set(sessionId, room);
    }
    const current = room;
    current.pending++;
    try {
      await current.created;
      return await work(current, janus);
    } finally {
      current.pending--;
      this.closeIfEmpty(sessionId, current);
    }
  }

  private async dropPublisher(sessionId: string, participantId: string): Promise<void> {
    const room = this.rooms.get(sessionId);
    const publisher = room?.publishers.get(participantId);
    if (!room || !publisher) return;
    room.publishers.delete(participantId);
    if (publisher.up)
      this.emit({ type: 'trackUnpublished', sessionId, participantId, feedId: participantId });
    // Detaching hangs the PeerConnection up and takes the feed out of the room.
    await publisher.handle.detach().catch(() => undefined);
    this.closeIfEmpty(sessionId, room);
  }

  private async dropSubscription(sessionId: string, subscriptionId: string): Promise<void> {
    const room = this.rooms.get(sessionId);
    const subscription = room?.subscriptions.get(subscriptionId);
    if (!room || !subscription) return;
    room.subscriptions.delete(subscriptionId);
    await subscription.handle.detach().catch(() => undefined);
    this.closeIfEmpty(sessionId, room);
  }

  /** Rooms outlive their participants in Janus: destroy one as soon as nobody is in it. */
  private closeIfEmpty(sessionId: string, room: Room): void {
    if (room.pending > 0 || room.publishers.size > 0 || room.subscriptions.size > 0) return;
    if (this.rooms.get(sessionId) !== room) return;
    this.rooms.delete(sessionId);
    this.janus?.manager.destroyRoom(sessionId).then(
      () => this.log.info('media_room_destroyed', { sessionId }),
      (err: unknown) => this.log.warn('media_room_destroy_failed', { sessionId, error: err }),
    );
  }

  private ownPublisher(sessionId: string, participantId: string): Publisher {
    const publisher = this.rooms.get(sessionId)?.publishers.get(participantId);
    if (!publisher) throw new MediaRequestError('no_such_feed', `${participantId} does not publish`);
    return publisher;
  }

  private subscription(sessionId: string, participantId: string, subscriptionId: string): Subscription {
    const subscription = this.rooms.get(sessionId)?.subscriptions.get(subscriptionId);
    if (subscription?.participantId !== participantId) {
      throw new MediaRequestError(
        'no_such_subscription',
        `${participantId} has no subscription ${subscriptionId}`,
      );
    }
    return subscription;
  }

  private need(): JanusLink {
    if (!this.janus)
      throw new MediaRequestError('media_unavailable', 'Janus is not running on this media node');
    return this.janus;
  }
}

/** The kinds an SDP offer sends: its audio and video m-lines that are not recvonly or inactive. */
export function offerKinds(sdp: string): MediaKind[] {
  const kinds = new Set<MediaKind>();
  for (const section of sdp.split(/\r?\n(?=m=)/).slice(1)) {
    const kind = /^m=(\w+) [1-9]/.exec(section)?.[1] as MediaKind | undefined;
    if (
      kind &&
      (MEDIA_KINDS as readonly string[]).includes(kind) &&
      !/^a=(recvonly|inactive)\s*$/m.test(section)
    ) {
      kinds.add(kind);
    }
  }
  return MEDIA_KINDS.filter((kind) => kinds.has(kind));
}

/** What a failed request tells the master: Janus's refusals and a lost Janus, as media error codes. */
export function toMediaError(err: unknown): MediaRequestError {
  if (err instanceof MediaRequestError) return err;
  if (err instanceof JanusError) {
    return err.code === JANUS_NO_SUCH_FEED
      ? new MediaRequestError('no_such_feed', err.message)
      : new MediaRequestError('media_failed', err.message);
  }
  return new MediaRequestError('media_unavailable', (err as Error)?.message ?? String(err));
}
