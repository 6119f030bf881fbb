import type {
  ClientFrame,
  ErrorCode,
  IceCandidateInit,
  IceServer,
  JoinedFrame,
  MediaNodeSummary,
  PublishedFeed,
  ServerFrame,
} from '../contract/wire';
import { DEFAULT_TIMINGS } from '../contract/timings';
import type { EventHandler } from './event-handler';

/**
 * Media for RtcHaSession: publishing and subscribing through the session's media node (Janus's
 * VideoRoom), negotiated over the signaling socket the session already has. The client offers for
 * publishing, the media node offers for subscribing; the app never handles SDP. One
 * RTCPeerConnection publishes, one more per subscribed feed: VideoRoom gives every publisher and
 * every subscription a handle of its own, and one connection per handle keeps each renegotiation
 * (and each teardown) local to one feed. Masters hold no media, so a signaling resume leaves every
 * connection as it is.
 */

export type MediaClientFrame = Extract<
  ClientFrame,
  {
    type:
      'publish' | 'unpublish' | 'subscribe' | 'subscribeAnswer' | 'unsubscribe' | 'trickle' | 'mediaStalled';
  }
>;
type Reply = Extract<ServerFrame, { type: 'publishAnswer' | 'subscribeOffer' | 'subscribed' }>;

/** What the SDK calls on an RTCPeerConnection: the standard one, or a Node implementation's. */
export interface PeerConnectionLike {
  readonly localDescription: { readonly type: string; readonly sdp: string } | null;
  readonly connectionState?: string;
  onicecandidate: EventHandler<{ candidate: IceCandidateLike | null }> | null;
  ontrack: EventHandler<{ track: MediaStreamTrack; streams: readonly MediaStream[] }> | null;
  onconnectionstatechange: EventHandler<unknown> | null;
  addTransceiver(track: MediaStreamTrack, init: { direction: 'sendonly'; streams: MediaStream[] }): unknown;
  createOffer(): Promise<{ type?: string; sdp?: string }>;
  createAnswer(): Promise<{ type?: string; sdp?: string }>;
  setLocalDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
  setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
  /** The standard getStats (a Map-like RTCStatsReport); without it, only connection states are watched. */
  getStats?(): Promise<{ forEach(callback: (stat: StatLike) => void): void }>;
  close(): void;
}
/** The fields of an `inbound-rtp` stat the SDK reads. */
export interface StatLike {
  readonly type: string;
  readonly kind?: string;
  readonly bytesReceived?: number;
  readonly packetsReceived?: number;
  readonly framesDecoded?: number;
}
export interface IceCandidateLike {
  readonly candidate: string;
  readonly sdpMid?: string | null;
  readonly sdpMLineIndex?: number | null;
  readonly usernameFragment?: string | null;
}
export type PeerConnectionConstructor = new (configuration: RTCConfiguration) => PeerConnectionLike;

/** A WebRTC implementation: browsers have one built in; in Node, pass one (`rtc` option). */
export interface RtcImplementation {
  readonly RTCPeerConnection: PeerConnectionConstructor;
  /** Builds a subscription's stream when the implementation's `track` events carry none. */
  readonly MediaStream?: new (tracks: MediaStreamTrack[]) => MediaStream;
}

export interface MediaOptions {
  /**
   * The WebRTC implementation. Node has none built in: pass one there, or media calls throw
   * `no_webrtc` (signaling keeps working).
   * @default - the global RTCPeerConnection and MediaStream (browsers)
   */
  readonly rtc?: RtcImplementation;
  /**
   * STUN and TURN servers for every media connection, besides the TURN server of the session's
   * media node that the platform hands out with fresh credentials (joined, resumed,
   * mediaNodeChanged) when it runs one.
   * @default - none of the app's own
   */
  readonly iceServers?: RTCIceServer[];
  /**
   * `relay` sends all media through the TURN servers of `iceServers`.
   * @default 'all'
   */
  readonly iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * Subscribe to every feed the other participants publish, as they appear; when false, call
   * `subscribe(feedId)` on `trackPublished`.
   * @default true
   */
  readonly autoSubscribe?: boolean;
  /**
   * A media request (publish, subscribe) with no reply this long after it went out fails.
   * @default 15000
   */
  readonly mediaTimeoutMs?: number;
}

/** The media part of RtcHaSession's events. */
export interface MediaEvents {
  /** A feed is up (one a join or resume lists too); with autoSubscribe, another's is being subscribed. */
  trackPublished: PublishedFeed;
  /** A feed ended; `trackRemoved` follows if it was subscribed. */
  trackUnpublished: { participantId: string; feedId: string };
  /** A subscribed feed's media: attach `stream` to a video or audio element. */
  trackAdded: { participantId: string; feedId: string; stream: MediaStream };
  /** A subscribed feed ended: unpublished, unsubscribed, or the session closed, left or failed. */
  trackRemoved: { participantId: string; feedId: string };
  /** A media failure no call of the app reports: an automatic subscription, a connection's ICE. */
  mediaError: { code: MediaErrorCode; message: string; feedId?: string };
  /**
   * The session's media node died or the session moved (mediaNodeChanged): the SDK publishes the
   * same tracks again and subscribes again to every feed it had, on `mediaNodeId` (null: no media
   * node has room yet, it waits for the next mediaNodeChanged). Nobody rejoins the session.
   */
  mediaReconnecting: { mediaNodeId: string | null };
  /**
   * Every connection it had is up again (the publisher, and each subscription whose feed came
   * back; a feed that ended meanwhile is not waited for). `gapMs`: from mediaReconnecting (when
   * the SDK heard of the loss) to now. A re-subscribed feed gets a new `trackAdded` (a new stream).
   */
  mediaRestored: { gapMs: number; mediaNodeId: string | null };
  /**
   * The session's media node drained and every connection switched to `mediaNodeId` without a
   * gap (make-before-break: each new subscription got its `trackAdded` once its media decoded,
   * then the old one closed). `tookMs`: from mediaNodeChanged to the last switch.
   */
  mediaMoved: { tookMs: number; mediaNodeId: string };
}

export type MediaErrorCode =
  /** No RTCPeerConnection here: pass options.rtc. */
  | 'no_webrtc'
  | 'not_joined'
  | 'closed'
  | 'already_publishing'
  | 'unknown_feed'
  /** No reply within mediaTimeoutMs. */
  | 'timeout'
  /** The local WebRTC stack failed (an offer, an answer, a description). */
  | 'negotiation_failed'
  /** ICE or DTLS failed on a connection. */
  | 'connection_failed'
  /** The master refused the request: its error code. */
  | ErrorCode;

/** Thrown (rejected) by the media calls. */
export class RtcHaMediaError extends Error {
  override readonly name = 'RtcHaMediaError';
  constructor(
    readonly code: MediaErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The own published feed. */
export interface Publication {
  readonly feedId: string;
  unpublish(): void;
}

/** A subscribed feed. */
export interface RemoteFeed {
  readonly participantId: string;
  readonly feedId: string;
  readonly stream: MediaStream;
}

/** What the media part needs of its session. */
export interface MediaHost {
  /** The last joined/resumed frame; undefined before the first join. */
  info(): JoinedFrame | undefined;
  /** Sends now if the socket is open and joined; false otherwise. */
  send(frame: MediaClientFrame): boolean;
  emit<K extends keyof MediaEvents>(event: K, payload: MediaEvents[K]): void;
}

interface PendingRequest {
  readonly frame: MediaClientFrame;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: RtcHaMediaError) => void;
  timer?: ReturnType<typeof setTimeout>;
  /** Sent again after a resume: the first may have been carried out, its reply lost. */
  resent?: boolean;
}

/**
 * A connection's own ICE candidates, held until the media node has the SDP they belong to and kept
 * until the connection is up: the resume sends them all again, so one made while the socket was
 * down or sent into a master that died still arrives (ICE ignores a candidate it has).
 */
class Trickle {
  private readonly gathered: (IceCandidateInit | null)[] = [];
  private open = false;

  constructor(
    private readonly pc: PeerConnectionLike,
    private readonly target: () => string | undefined,
    /** Sends now, or drops the frame while the socket is down. */
    private readonly send: (frame: MediaClientFrame) => void,
  ) {
    pc.onicecandidate = ({ candidate }) => {
      const init = candidate ? toCandidate(candidate) : null;
      this.gathered.push(init);
      if (this.open) this.sendOne(init);
    };
  }

  /** The media node has the SDP: send what gathered so far, and later candidates as they come. */
  start(): void {
    this.open = true;
    for (const candidate of this.gathered) this.sendOne(candidate);
  }

  /** After a resume: the previous master may have dropped some of them. */
  resend(): void {
    if (this.open && this.pc.connectionState !== 'connected') this.start();
  }

  private sendOne(candidate: IceCandidateInit | null): void {
    const target = this.target();
    if (target !== undefined) this.send({ type: 'trickle', target, candidate });
  }
}

/** The candidate's fields (a Node implementation's candidate may have no toJSON). */
function toCandidate(c: IceCandidateLike): IceCandidateInit {
  return {
    candidate: c.candidate,
    sdpMid: c.sdpMid ?? null,
    sdpMLineIndex: c.sdpMLineIndex ?? null,
    ...(c.usernameFragment ? { usernameFragment: c.usernameFragment } : {}),
  };
}

interface Publisher {
  readonly pc: PeerConnectionLike;
  readonly trickle: Trickle;
  /** What is published: published again, as it is, on another media node. */
  readonly tracks: readonly MediaStreamTrack[];
  readonly stream: MediaStream | undefined;
  /** The app's Publication: the same across republishes. */
  readonly token: object;
  /** Its publish request: an unpublish that overtakes the answer ends it. */
  requestId?: string;
  feedId?: string;
  readonly watch: StallWatch;
}

interface Subscription {
  readonly feed: PublishedFeed;
  pc?: PeerConnectionLike;
  trickle?: Trickle;
  subscriptionId?: string;
  stream?: MediaStream;
  /** trackAdded was emitted: trackRemoved is owed. */
  added: boolean;
  ready?: Promise<RemoteFeed>;
  /** Its subscribe request, while its offer is awaited. */
  requestId?: string;
  /** The media node was lost or drains: subscribe again once the feed is up on the new one (trackPublished). */
  waiting?: boolean;
  /** The connection this one replaces, still playing until this one's media decodes (make-before-break). */
  previous?: Previous;
  readonly watch: StallWatch;
}

/** A subscription's old connection during a handover or an in-place renegotiation. */
interface Previous {
  readonly pc: PeerConnectionLike;
  /** On the same media node (a renegotiation): unsubscribed there once replaced. */
  readonly sameNode?: { readonly subscriptionId: string };
}

/** The safety net's view of one connection: when media last arrived, when it last reported. */
export interface StallWatch {
  /** It was connected once: only then can it stall. */
  live?: boolean;
  bytes: number;
  changedAt: number;
  /** When it may report again (doubling back-off while the stall lasts). */
  reportAfter: number;
  backoffMs: number;
}

export function newStallWatch(): StallWatch {
  return { bytes: -1, changedAt: Date.now(), reportAfter: 0, backoffMs: DEFAULT_TIMINGS.mediaStallMs };
}

/** The connection is up: its stall clock starts now. */
function goLive(watch: StallWatch): void {
  if (watch.live) return;
  watch.live = true;
  watch.changedAt = Date.now();
}

/** A media node lost (or draining: `handover`): what must come back before mediaRestored (mediaMoved). */
interface Recovery {
  readonly since: number;
  mediaNodeId: string | null;
  /** 'publisher' and the feed ids of the subscriptions. */
  readonly waiting: Set<string>;
  /** To publish again once a media node is named (the move named none). */
  republish?: Publisher;
  /** The old node still carries the media: switch make-before-break, nothing is lost. */
  readonly handover?: boolean;
}

/**
 * The media state of one RtcHaSession: its publisher, its subscriptions, the feeds in the room, and
 * the requests waiting for a reply (re-sent after a resume: the master that took one may have died
 * before its reply went out).
 */
export class SessionMedia {
  private publisher: Publisher | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly known = new Map<string, PublishedFeed>();
  /** Feeds the app unsubscribed from: autoSubscribe leaves them alone. */
  private readonly declined = new Set<string>();
  private readonly requests = new Map<string, PendingRequest>();
  /** Frames without a reply (answers, candidates, teardowns) that found the socket down. */
  private readonly outbox: MediaClientFrame[] = [];
  private readonly requestPrefix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  private nextRequest = 1;
  private closed = false;
  private recovery: Recovery | undefined;
  /** The platform's TURN server on the session's media node, from the last frame naming one. */
  private platformIceServers: RTCIceServer[] = [];
  /** The publisher connection a handover keeps sending to the old node until subscribers switched. */
  private retiringPublisher: PeerConnectionLike | undefined;
  /** Old connections still carrying media during a handover, closed once replaced. */
  private readonly retiring = new Set<PeerConnectionLike>();
  private stallTimer: ReturnType<typeof setInterval> | undefined;
  private readonly autoSubscribe: boolean;
  private readonly timeoutMs: number;

  constructor(
    private readonly host: MediaHost,
    private readonly options: MediaOptions,
  ) {
    this.autoSubscribe = options.autoSubscribe ?? true;
    this.timeoutMs = options.mediaTimeoutMs ?? 15_000;
  }

  /** Feeds published in the session now, the own one included. */
  get feeds(): PublishedFeed[] {
    return [...this.known.values()];
  }

  async publish(source: MediaStream | readonly MediaStreamTrack[]): Promise<Publication> {
    if (this.publisher)
      throw new RtcHaMediaError('already_publishing', 'publishing already: unpublish() first');
    const stream = isTrackList(source) ? undefined : source;
    const tracks = isTrackList(source) ? [...source] : source.getTracks();
    const token = {};
    const publisher = this.newPublisher(tracks, stream, token);
    this.publisher = publisher;
    try {
      const feedId = await this.negotiatePublisher(publisher);
      return {
        feedId,
        unpublish: () => {
          if (this.publisher?.token === token || this.recovery?.republish?.token === token) this.unpublish();
        },
      };
    } catch (err) {
      this.publishFailed(publisher, err);
      throw err;
    }
  }

  private newPublisher(
    tracks: readonly MediaStreamTrack[],
    stream: MediaStream | undefined,
    token: object,
  ): Publisher {
    const pc = this.newPeerConnection();
    const publisher: Publisher = {
      pc,
      tracks,
      stream,
      token,
      watch: newStallWatch(),
      trickle: new Trickle(
        pc,
        () => 'publisher',
        (f) => this.host.send(f),
      ),
    };
    this.watchConnection(pc, undefined, () => {
      goLive(publisher.watch);
      if (this.publisher !== publisher) return;
      const old = this.retiringPublisher;
      if (old) {
        this.retiringPublisher = undefined;
        setTimeout(() => this.closeRetired(old), DEFAULT_TIMINGS.mediaHandoverMs);
      }
      this.connectionBack('publisher');
    });
    this.watchStalls();
    return publisher;
  }

  /** Offers the publisher's tracks to the media node and applies its answer; resolves with the feed id. */
  private async negotiatePublisher(publisher: Publisher): Promise<string> {
    const { pc, tracks, stream } = publisher;
    for (const track of tracks)
      pc.addTransceiver(track, { direction: 'sendonly', streams: stream ? [stream] : [] });
    const offer = await negotiate(() => pc.createOffer());
    await negotiate(() => pc.setLocalDescription({ type: 'offer', sdp: offer.sdp ?? '' }));
    this.assertCurrent(publisher === this.publisher);
    const sdp = pc.localDescription?.sdp ?? offer.sdp ?? '';
    publisher.requestId = this.newRequestId();
    const answer = await this.request(
      { type: 'publish', requestId: publisher.requestId, sdp },
      publisher.requestId,
    );
    this.assertCurrent(publisher === this.publisher);
    if (answer.type !== 'publishAnswer') throw new RtcHaMediaError('internal', `${answer.type} for publish`);
    publisher.feedId = answer.feedId;
    await negotiate(() => pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp }));
    publisher.trickle.start();
    return answer.feedId;
  }

  private publishFailed(publisher: Publisher, err: unknown): void {
    if (this.publisher !== publisher) return;
    this.publisher = undefined;
    publisher.pc.close();
    // The media node may hold the feed: it answered, or its reply is what timed out.
    if (publisher.feedId !== undefined || (err as RtcHaMediaError).code === 'timeout') {
      this.sendOrQueue({ type: 'unpublish' });
    }
    this.connectionGone('publisher');
  }

  /** Stops publishing; the others get trackUnpublished. */
  unpublish(): void {
    const publisher = this.publisher;
    if (this.recovery?.republish) {
      this.recovery.republish = undefined;
      this.connectionGone('publisher');
    }
    if (!publisher) return;
    this.publisher = undefined;
    publisher.pc.close();
    this.connectionGone('publisher');
    // Not sent again after a resume: the unpublish that follows it ends whatever it started.
    if (publisher.requestId !== undefined) {
      this.fail(publisher.requestId, new RtcHaMediaError('closed', 'unpublished before the answer'));
    }
    this.sendOrQueue({ type: 'unpublish' });
  }

  async subscribe(feedId: string): Promise<RemoteFeed> {
    const existing = this.subscriptions.get(feedId);
    if (existing?.ready && !existing.waiting) return existing.ready;
    this.assertJoined();
    this.rtc(); // fail before asking the master for an offer nothing can answer
    const feed = this.known.get(feedId);
    if (!feed) throw new RtcHaMediaError('unknown_feed', `no feed ${feedId} in the session`);
    this.declined.delete(feedId);
    const sub: Subscription = { feed, added: false, watch: newStallWatch() };
    this.subscriptions.set(feedId, sub);
    return this.startSubscription(sub);
  }

  private startSubscription(sub: Subscription): Promise<RemoteFeed> {
    const { feedId } = sub.feed;
    sub.ready = this.runSubscription(sub).catch((err: unknown) => {
      if (this.subscriptions.get(feedId) === sub) this.dropSubscription(sub, true);
      throw err;
    });
    return sub.ready;
  }

  unsubscribe(feedId: string): void {
    this.declined.add(feedId);
    const sub = this.subscriptions.get(feedId);
    if (sub) this.dropSubscription(sub, true);
  }

  // ---- from the session -----------------------------------------------------------------------

  /** A reply to a media request, or a (deduplicated) room event; other frames are not media. */
  onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'publishAnswer':
      case 'subscribeOffer':
        this.settle(String(frame.requestId), frame);
        return;
      case 'subscribed':
        this.settle(answerKey(frame.subscriptionId), frame);
        return;
      case 'trackPublished':
        this.onPublished({ participantId: frame.participantId, feedId: frame.feedId, kinds: frame.kinds });
        return;
      case 'trackUnpublished':
        this.onUnpublished(frame.feedId);
        return;
      case 'mediaNodeChanged':
        this.platformIceServers = iceServersOf(frame.iceServers);
        if (frame.handover && frame.mediaNode) this.handOver(frame.mediaNode);
        else this.onMoved(frame.mediaNode);
        return;
      case 'renegotiate':
        this.renegotiate(frame.target);
        return;
      case 'participantLeft':
        // Its feed may never have come back after a move: nothing would say it ended.
        for (const feed of [...this.known.values()])
          if (feed.participantId === frame.participantId) this.onUnpublished(feed.feedId);
    }
  }

  /**
   * The session's media node was lost (it died, its Janus died, or it went silent) and the
   * platform moved the session to `mediaNode`, or rebuilt it in place: every connection here is
   * dead. The publisher publishes the same tracks again on a new connection; each subscription
   * waits for its feed to be up on the new node (its trackPublished) and subscribes again. Feed
   * ids are participant ids, so the feeds keep their ids and nothing is announced twice.
   */
  private onMoved(mediaNode: MediaNodeSummary | null): void {
    if (this.closed) return;
    const publisher = this.publisher;
    const subs = [...this.subscriptions.values()];
    if (!publisher && subs.length === 0 && !this.recovery) return;
    const mediaNodeId = mediaNode?.nodeId ?? null;
    // A handover cut short (the node it moved to died too) is a loss from here on.
    const first = this.recovery === undefined || this.recovery.handover === true;
    const publisherWaited = this.recovery?.waiting.has('publisher') ?? false;
    const recovery: Recovery =
      this.recovery && !first ? this.recovery : { since: Date.now(), mediaNodeId, waiting: new Set() };
    recovery.mediaNodeId = mediaNodeId;
    this.recovery = recovery;
    if (first) this.host.emit('mediaReconnecting', { mediaNodeId });
    this.closeRetiring();
    for (const sub of subs) {
      // The old node's offers and answers are void; its subscriptions died with it.
      sub.pc?.close();
      sub.previous?.pc.close();
      if (sub.requestId !== undefined)
        this.fail(sub.requestId, new RtcHaMediaError('closed', 'the media node was lost'));
      if (sub.subscriptionId !== undefined)
        this.fail(answerKey(sub.subscriptionId), new RtcHaMediaError('closed', 'the media node was lost'));
      const next: Subscription = {
        feed: sub.feed,
        added: sub.added,
        stream: undefined,
        waiting: true,
        watch: newStallWatch(),
      };
      this.subscriptions.set(sub.feed.feedId, next);
      recovery.waiting.add(sub.feed.feedId);
    }
    // An established publisher, or one being published again after an earlier move.
    const old =
      publisher && (publisher.feedId !== undefined || publisherWaited) ? publisher : recovery.republish;
    if (old) {
      old.pc.close();
      if (old.requestId !== undefined)
        this.fail(old.requestId, new RtcHaMediaError('closed', 'the media node was lost'));
      recovery.waiting.add('publisher');
      this.publisher = undefined;
      recovery.republish = mediaNode ? undefined : old;
      if (mediaNode) this.republish(old);
    }
    this.maybeRestored();
  }

  /**
   * The session's media node drains (mediaNodeChanged with handover) and the platform moved the
   * session to `mediaNode`, while the old node still carries every connection: make-before-break.
   * The publisher publishes the same tracks there on a new connection and keeps the old one
   * sending for DEFAULT_TIMINGS.mediaHandoverMs after the new one is up (subscribers switch
   * meanwhile); each subscription subscribes again once its feed is up there, keeps playing the
   * old connection until the new one's media decodes, then gets `trackAdded` with the new stream
   * and closes the old one. `mediaMoved` says when all switched; no `mediaReconnecting`: no gap.
   */
  private handOver(mediaNode: MediaNodeSummary): void {
    if (this.closed) return;
    if (this.recovery && !this.recovery.handover) return this.onMoved(mediaNode); // nothing flows to keep
    const publisher = this.publisher;
    const subs = [...this.subscriptions.values()];
    if (!publisher && subs.length === 0) return;
    const recovery: Recovery = {
      since: this.recovery?.since ?? Date.now(),
      mediaNodeId: mediaNode.nodeId,
      waiting: new Set(),
      handover: true,
    };
    this.recovery = recovery;
    for (const sub of subs) {
      // The connection that plays now is kept: the one already replaced, else the current one.
      const previous = sub.previous ?? (sub.pc && { pc: sub.pc });
      if (sub.previous) sub.pc?.close(); // a switch under way to the node that drains too: void
      if (sub.requestId !== undefined)
        this.fail(sub.requestId, new RtcHaMediaError('closed', 'the session moved to another media node'));
      if (previous) this.retire(previous.pc);
      this.subscriptions.set(sub.feed.feedId, {
        feed: sub.feed,
        added: sub.added,
        waiting: true,
        ...(previous && { previous: { pc: previous.pc } }),
        watch: newStallWatch(),
      });
      recovery.waiting.add(sub.feed.feedId);
    }
    if (publisher) {
      this.publisher = undefined;
      if (publisher.requestId !== undefined && publisher.feedId === undefined) {
        this.fail(
          publisher.requestId,
          new RtcHaMediaError('closed', 'the session moved to another media node'),
        );
        publisher.pc.close();
      } else {
        this.retire(publisher.pc);
        this.retiringPublisher = publisher.pc;
      }
      recovery.waiting.add('publisher');
      this.republish(publisher);
    }
  }

  /**
   * Keeps `pc` carrying media while its replacement comes up: its state no longer reports (the
   * old node will hang it up), and it closes with closeRetired, a loss, or the session.
   */
  private retire(pc: PeerConnectionLike): void {
    pc.onconnectionstatechange = null;
    this.retiring.add(pc);
  }

  private closeRetired(pc: PeerConnectionLike): void {
    if (this.retiring.delete(pc)) pc.close();
  }

  private closeRetiring(): void {
    for (const pc of this.retiring) pc.close();
    this.retiring.clear();
    this.retiringPublisher = undefined;
  }

  /**
   * The master found the media node healthy after this client reported `target` stalled: the
   * path is broken, so that connection is negotiated again on the same node. A subscription is
   * replaced make-before-break (the old one is unsubscribed once the new one plays); the
   * publisher publishes again (the media node replaces its feed).
   */
  private renegotiate(target: string): void {
    if (this.closed || this.recovery) return;
    if (target === 'publisher') {
      const old = this.publisher;
      if (!old || old.feedId === undefined) return;
      this.publisher = undefined;
      old.pc.close();
      this.republish(old);
      return;
    }
    const sub = [...this.subscriptions.values()].find((s) => s.subscriptionId === target);
    if (!sub?.pc || sub.previous) return;
    this.retire(sub.pc);
    const next: Subscription = {
      feed: sub.feed,
      added: sub.added,
      previous: { pc: sub.pc, sameNode: { subscriptionId: target } },
      watch: newStallWatch(),
    };
    this.subscriptions.set(sub.feed.feedId, next);
    this.startSubscription(next).catch((err: RtcHaMediaError) => {
      if (err.code !== 'closed') this.reportError(err, sub.feed.feedId);
    });
  }

  private republish(old: Publisher): void {
    let publisher: Publisher;
    try {
      publisher = this.newPublisher(old.tracks, old.stream, old.token);
    } catch (err) {
      this.reportError(err as RtcHaMediaError, undefined);
      this.connectionGone('publisher');
      return;
    }
    this.publisher = publisher;
    this.negotiatePublisher(publisher).catch((err: unknown) => {
      if (this.publisher !== publisher) return;
      this.reportError(
        err instanceof RtcHaMediaError ? err : new RtcHaMediaError('internal', String(err)),
        undefined,
      );
      this.publishFailed(publisher, err);
    });
  }

  /** A connection of the recovery is up again. */
  private connectionBack(key: string): void {
    if (!this.recovery?.waiting.delete(key)) return;
    this.maybeRestored();
  }

  /** A connection of the recovery will not come back (ended, unsubscribed, failed). */
  private connectionGone(key: string): void {
    if (!this.recovery?.waiting.delete(key)) return;
    this.maybeRestored();
  }

  private maybeRestored(): void {
    const recovery = this.recovery;
    if (!recovery || recovery.waiting.size > 0 || recovery.mediaNodeId === null) return;
    this.recovery = undefined;
    const tookMs = Date.now() - recovery.since;
    if (recovery.handover) this.host.emit('mediaMoved', { tookMs, mediaNodeId: recovery.mediaNodeId });
    else this.host.emit('mediaRestored', { gapMs: tookMs, mediaNodeId: recovery.mediaNodeId });
  }

  /**
   * An error frame; true if it names a media request (requestId) or subscription: the call it
   * refuses rejects, or mediaError reports it. One about something already gone is dropped.
   */
  onError(frame: Extract<ServerFrame, { type: 'error' }>): boolean {
    const error = new RtcHaMediaError(frame.code, `refused: ${frame.message}`);
    if (frame.requestId !== undefined) {
      this.fail(String(frame.requestId), error);
      return true;
    }
    if (frame.subscriptionId === undefined) return false;
    const key = answerKey(frame.subscriptionId);
    const answer = this.requests.get(key);
    // The media node refuses an answer twice over: if the first was taken, the connection comes up.
    if (answer && !answer.resent) this.fail(key, error);
    const sub = [...this.subscriptions.values()].find((s) => s.subscriptionId === frame.subscriptionId);
    if (!answer && sub) this.reportError(error, sub.feed.feedId);
    return true;
  }

  /** Joined or resumed: catch up on the feeds, then re-send what may have been lost. */
  onJoined(frame: JoinedFrame, resumed: boolean): void {
    this.platformIceServers = iceServersOf(frame.iceServers);
    // The mailbox replays the room events a resume missed; only when some expired is the list the truth.
    if (!resumed || (frame.missed ?? 0) > 0) {
      const listed = new Set(frame.feeds.map((feed) => feed.feedId));
      for (const feedId of [...this.known.keys()]) if (!listed.has(feedId)) this.onUnpublished(feedId);
      for (const feed of frame.feeds) this.onPublished(feed);
    }
    if (!resumed) return;
    // A publish sent again replaces the feed (its answer never arrived, so nothing used it); a
    // subscribe gets a new subscription; an answer is refused if the first was taken (onError).
    for (const [key, pending] of this.requests) {
      pending.resent = true;
      this.armTimeout(key, pending);
      this.host.send(pending.frame);
    }
    for (const frame of this.outbox.splice(0)) this.host.send(frame);
    this.publisher?.trickle.resend();
    for (const sub of this.subscriptions.values()) sub.trickle?.resend();
  }

  /** The session is over (closed, left, failed): every connection closes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.recovery = undefined;
    for (const requestId of [...this.requests.keys()]) {
      this.fail(requestId, new RtcHaMediaError('closed', 'the session is closed'));
    }
    this.publisher?.pc.close();
    this.publisher = undefined;
    for (const sub of [...this.subscriptions.values()]) this.dropSubscription(sub, false);
    this.closeRetiring();
    clearInterval(this.stallTimer);
    this.outbox.length = 0;
  }

  // ---- internals ------------------------------------------------------------------------------

  private onPublished(feed: PublishedFeed): void {
    if (this.known.has(feed.feedId)) {
      // Up again on the media node the session moved to: subscribe again. Else a replay of what a
      // joined/resumed list had.
      const sub = this.subscriptions.get(feed.feedId);
      if (sub?.waiting) {
        sub.waiting = false;
        this.startSubscription(sub).catch((err: RtcHaMediaError) => {
          if (err.code !== 'closed') this.reportError(err, feed.feedId);
        });
      }
      return;
    }
    this.known.set(feed.feedId, feed);
    this.host.emit('trackPublished', feed);
    const own = feed.participantId === this.host.info()?.participantId;
    if (!this.autoSubscribe || own || this.declined.has(feed.feedId) || !this.rtcOrUndefined()) return;
    this.subscribe(feed.feedId).catch((err: RtcHaMediaError) => {
      if (err.code !== 'closed') this.reportError(err, feed.feedId);
    });
  }

  private onUnpublished(feedId: string): void {
    const feed = this.known.get(feedId);
    if (!feed) return;
    this.known.delete(feedId);
    this.declined.delete(feedId);
    this.host.emit('trackUnpublished', { participantId: feed.participantId, feedId });
    if (this.publisher?.feedId === feedId) {
      // The media node ended the own feed (the app did not): its connection carries nothing now.
      this.publisher.pc.close();
      this.publisher = undefined;
    }
    // Janus keeps a subscriber handle whose feed went: unsubscribe frees it.
    const sub = this.subscriptions.get(feedId);
    if (sub) this.dropSubscription(sub, true);
  }

  private async runSubscription(sub: Subscription): Promise<RemoteFeed> {
    const { feedId, participantId } = sub.feed;
    const current = () => this.subscriptions.get(feedId) === sub;
    const requestId = this.newRequestId();
    sub.requestId = requestId;
    const offer = await this.request({ type: 'subscribe', requestId, feedId }, requestId);
    sub.requestId = undefined;
    if (offer.type !== 'subscribeOffer') throw new RtcHaMediaError('internal', `${offer.type} for subscribe`);
    if (!current()) {
      // Unsubscribed while the offer was on its way: the media node holds a subscription nobody wants.
      this.sendOrQueue({ type: 'unsubscribe', subscriptionId: offer.subscriptionId });
      throw new RtcHaMediaError('closed', `unsubscribed from ${feedId}`);
    }
    sub.subscriptionId = offer.subscriptionId;
    const pc = this.newPeerConnection();
    sub.pc = pc;
    sub.trickle = new Trickle(
      pc,
      () => sub.subscriptionId,
      (f) => this.host.send(f),
    );
    this.watchStalls();
    const tracks: MediaStreamTrack[] = [];
    pc.ontrack = ({ track, streams }) => {
      tracks.push(track);
      sub.stream ??= streams[0];
    };
    const { subscriptionId } = offer;
    // Up means the media node has the answer, whether or not its `subscribed` got through.
    this.watchConnection(pc, feedId, () => {
      goLive(sub.watch);
      this.settle(answerKey(subscriptionId), { type: 'subscribed', subscriptionId });
      if (current() && !sub.previous) this.connectionBack(feedId);
    });
    await negotiate(() => pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp }));
    const answer = await negotiate(() => pc.createAnswer());
    await negotiate(() => pc.setLocalDescription({ type: 'answer', sdp: answer.sdp ?? '' }));
    this.assertCurrent(current());
    const sdp = pc.localDescription?.sdp ?? answer.sdp ?? '';
    const subscribed = this.request(
      { type: 'subscribeAnswer', subscriptionId: offer.subscriptionId, sdp },
      answerKey(offer.subscriptionId),
    );
    sub.trickle.start();
    await subscribed;
    this.assertCurrent(current());
    const stream = sub.stream ?? this.buildStream(tracks);
    sub.stream = stream;
    if (sub.previous) {
      // Make-before-break: the old connection plays until this one's media decodes.
      const release = preroll(stream);
      await decoding(pc, DEFAULT_TIMINGS.mediaHandoverMs).finally(() => setTimeout(release, PREROLL_HOLD_MS));
      this.assertCurrent(current());
    }
    sub.added = true;
    this.host.emit('trackAdded', { participantId, feedId, stream });
    if (sub.previous) this.switched(sub);
    return { participantId, feedId, stream };
  }

  /** The new connection plays: the old one closes (and, on the same node, is unsubscribed). */
  private switched(sub: Subscription): void {
    const previous = sub.previous;
    if (!previous) return;
    sub.previous = undefined;
    this.closeRetired(previous.pc);
    if (previous.sameNode)
      this.sendOrQueue({ type: 'unsubscribe', subscriptionId: previous.sameNode.subscriptionId });
    this.connectionBack(sub.feed.feedId);
  }

  private dropSubscription(sub: Subscription, tellMaster: boolean): void {
    const { feedId, participantId } = sub.feed;
    this.subscriptions.delete(feedId);
    sub.pc?.close();
    if (sub.previous) this.closeRetired(sub.previous.pc);
    this.connectionGone(feedId);
    if (tellMaster && sub.subscriptionId !== undefined) {
      this.sendOrQueue({ type: 'unsubscribe', subscriptionId: sub.subscriptionId });
    }
    if (sub.added) this.host.emit('trackRemoved', { participantId, feedId });
  }

  private newRequestId(): string {
    return `m${this.requestPrefix}-${this.nextRequest++}`;
  }

  /**
   * Sends `frame` and waits for the reply that settles `key`: the requestId of a publish or
   * subscribe, answerKey(subscriptionId) of an answer (settled by `subscribed`).
   */
  private request(frame: MediaClientFrame, key: string): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const pending: PendingRequest = { frame, resolve, reject };
      this.requests.set(key, pending);
      this.armTimeout(key, pending);
      this.host.send(frame); // if the socket is down, the resume sends it
    });
  }

  private armTimeout(key: string, pending: PendingRequest): void {
    clearTimeout(pending.timer);
    pending.timer = setTimeout(
      () =>
        this.fail(
          key,
          new RtcHaMediaError('timeout', `no reply to ${pending.frame.type} within ${this.timeoutMs} ms`),
        ),
      this.timeoutMs,
    );
  }

  private settle(key: string, reply: Reply): void {
    const pending = this.requests.get(key);
    if (!pending) return; // a duplicate reply to a re-sent request
    this.requests.delete(key);
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }

  private fail(key: string, error: RtcHaMediaError): void {
    const pending = this.requests.get(key);
    if (!pending) return;
    this.requests.delete(key);
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  private sendOrQueue(frame: MediaClientFrame): void {
    if (!this.closed && !this.host.send(frame)) this.outbox.push(frame);
  }

  private watchConnection(
    pc: PeerConnectionLike,
    feedId: string | undefined,
    onConnected?: () => void,
  ): void {
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') onConnected?.();
      if (pc.connectionState !== 'failed') return;
      const what = feedId === undefined ? 'the publisher connection' : `the connection of feed ${feedId}`;
      this.reportError(new RtcHaMediaError('connection_failed', `${what} failed (ICE or DTLS)`), feedId);
    };
  }

  /** The safety net: one timer looks at every connection (started with the first one). */
  private watchStalls(): void {
    if (this.stallTimer !== undefined) return;
    this.stallTimer = setInterval(() => void this.checkStalls(), STALL_CHECK_MS);
    (this.stallTimer as { unref?: () => void }).unref?.();
  }

  /**
   * A live connection that turned `disconnected` or `failed`, or a subscription that received no
   * byte for DEFAULT_TIMINGS.mediaStallMs, is reported to the master (mediaStalled), which checks
   * the media node: it moves the session or answers `renegotiate`. Not while a move is under way.
   */
  private async checkStalls(): Promise<void> {
    if (this.closed || this.recovery) return;
    const watched: { watch: StallWatch; pc: PeerConnectionLike; target: string; media: boolean }[] = [];
    const publisher = this.publisher;
    if (publisher?.feedId !== undefined)
      watched.push({ watch: publisher.watch, pc: publisher.pc, target: 'publisher', media: false });
    for (const sub of this.subscriptions.values()) {
      if (sub.pc && sub.subscriptionId !== undefined && !sub.previous)
        watched.push({ watch: sub.watch, pc: sub.pc, target: sub.subscriptionId, media: true });
    }
    await Promise.all(
      watched.map(async ({ watch, pc, target, media }) => {
        if (!watch.live) return;
        const bytes = media ? await receivedBytes(pc) : undefined;
        const reason = stallOf(watch, bytes, pc.connectionState, Date.now());
        if (reason && !this.closed && !this.recovery)
          this.host.send({ type: 'mediaStalled', target, reason });
      }),
    );
  }

  private reportError(error: RtcHaMediaError, feedId: string | undefined): void {
    this.host.emit('mediaError', {
      code: error.code,
      message: error.message,
      ...(feedId === undefined ? {} : { feedId }),
    });
  }

  private newPeerConnection(): PeerConnectionLike {
    this.assertJoined();
    const configuration: RTCConfiguration = {
      iceServers: [...(this.options.iceServers ?? []), ...this.platformIceServers],
    };
    if (this.options.iceTransportPolicy) configuration.iceTransportPolicy = this.options.iceTransportPolicy;
    return new (this.rtc().RTCPeerConnection)(configuration);
  }

  private buildStream(tracks: MediaStreamTrack[]): MediaStream {
    const Stream = this.rtc().MediaStream;
    if (!Stream) {
      throw new RtcHaMediaError(
        'no_webrtc',
        'the track events carry no stream and options.rtc has no MediaStream',
      );
    }
    return new Stream(tracks);
  }

  private rtc(): RtcImplementation {
    const rtc = this.rtcOrUndefined();
    if (!rtc) {
      throw new RtcHaMediaError(
        'no_webrtc',
        'no RTCPeerConnection here: pass options.rtc = { RTCPeerConnection } (in Node, from a WebRTC implementation)',
      );
    }
    return rtc;
  }

  /** Looked up at each use, so that a page's wrapper of the global (a test's recorder) applies. */
  private rtcOrUndefined(): RtcImplementation | undefined {
    if (this.options.rtc) return this.options.rtc;
    const g = globalThis as {
      RTCPeerConnection?: PeerConnectionConstructor;
      MediaStream?: RtcImplementation['MediaStream'];
    };
    return g.RTCPeerConnection
      ? { RTCPeerConnection: g.RTCPeerConnection, MediaStream: g.MediaStream }
      : undefined;
  }

  private assertJoined(): void {
    if (this.closed) throw new RtcHaMediaError('closed', 'the session is closed');
    if (!this.host.info())
      throw new RtcHaMediaError('not_joined', 'media needs a joined session: await connect()');
  }

  /** After an await: the call was overtaken (unpublished, unsubscribed, closed) meanwhile. */
  private assertCurrent(current: boolean): void {
    if (this.closed || !current)
      throw new RtcHaMediaError('closed', 'cancelled: unpublished, unsubscribed or closed');
  }
}

function answerKey(subscriptionId: string): string {
  return `answer:${subscriptionId}`;
}

function isTrackList(
  source: MediaStream | readonly MediaStreamTrack[],
): source is readonly MediaStreamTrack[] {
  return Array.isArray(source);
}

/** Runs a step of the local WebRTC stack; its failure becomes a `negotiation_failed`. */
async function negotiate<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw new RtcHaMediaError('negotiation_failed', err instanceof Error ? err.message : String(err));
  }
}

/**
 * Resolves once `pc` has decoded a video frame (or, audio only, received a packet), polling its
 * stats; at `withinMs` at the latest (the stall watch takes over), and at once without getStats.
 */
async function decoding(pc: PeerConnectionLike, withinMs: number): Promise<void> {
  if (!pc.getStats) return;
  const until = Date.now() + withinMs;
  while (Date.now() < until && pc.connectionState !== 'closed') {
    const flowing = await pc.getStats().then(
      (report) => {
        let video = false;
        let audio = false;
        let hasVideo = false;
        report.forEach((stat) => {
          if (stat.type !== 'inbound-rtp') return;
          if (stat.kind === 'video') {
            hasVideo = true;
            video ||= (stat.framesDecoded ?? 0) > 0;
          } else audio ||= (stat.packetsReceived ?? 0) > 0;
        });
        return hasVideo ? video : audio;
      },
      () => true,
    );
    if (flowing) return;
    await new Promise((resolve) => setTimeout(resolve, DECODING_POLL_MS));
  }
}

/** How often a switch looks at the new connection's stats. */
const DECODING_POLL_MS = 40;

/** How long the SDK's own sink keeps decoding after trackAdded: the app's sink takes over meanwhile. */
const PREROLL_HOLD_MS = 1_000;

/**
 * Browsers decode a video only while a sink consumes it: before a switch, a detached muted video
 * element plays the new stream, so that it decodes before the app swaps its element to it (no
 * frame gap). Returns its release; nothing to do without a DOM (Node).
 */
function preroll(stream: MediaStream): () => void {
  const doc = (globalThis as { document?: Document }).document;
  if (!doc) return () => undefined;
  const video = doc.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  video.play().catch(() => undefined);
  return () => {
    video.pause();
    video.srcObject = null;
  };
}

/** How often the safety net looks at the connections. */
const STALL_CHECK_MS = 500;
/** Longest pause between two reports of a connection that stays stalled. */
const STALL_REPORT_MAX_BACKOFF_MS = 30_000;

/**
 * The safety net's decision for one connection (pure): a report reason, or none. `bytes`: what it
 * received so far (undefined: not measured); a change resets its stall and its back-off; a
 * report moves its next allowed report out, doubling.
 */
export function stallOf(
  watch: StallWatch,
  bytes: number | undefined,
  state: string | undefined,
  now: number,
): 'no_media' | 'disconnected' | undefined {
  if (bytes !== undefined && bytes !== watch.bytes) {
    watch.bytes = bytes;
    watch.changedAt = now;
    watch.backoffMs = DEFAULT_TIMINGS.mediaStallMs;
    watch.reportAfter = 0;
  }
  const reason =
    state === 'disconnected' || state === 'failed'
      ? 'disconnected'
      : bytes !== undefined && now - watch.changedAt >= DEFAULT_TIMINGS.mediaStallMs
        ? 'no_media'
        : undefined;
  if (!reason || now < watch.reportAfter) return undefined;
  watch.reportAfter = now + watch.backoffMs;
  watch.backoffMs = Math.min(2 * watch.backoffMs, STALL_REPORT_MAX_BACKOFF_MS);
  return reason;
}

/** Bytes `pc` received on all its inbound RTP streams; undefined without stats. */
async function receivedBytes(pc: PeerConnectionLike): Promise<number | undefined> {
  if (!pc.getStats) return undefined;
  const report = await pc.getStats().catch(() => undefined);
  if (!report) return undefined;
  let bytes: number | undefined;
  report.forEach((stat) => {
    if (stat.type === 'inbound-rtp' && typeof stat.bytesReceived === 'number')
      bytes = (bytes ?? 0) + stat.bytesReceived;
  });
  return bytes;
}

/** The platform's TURN entries as RTCIceServer (copies: the frame's arrays stay the frame's). */
function iceServersOf(servers: readonly IceServer[] | undefined): RTCIceServer[] {
  return (servers ?? []).map(({ urls, username, credential }) => ({ urls: [...urls], username, credential }));
}
