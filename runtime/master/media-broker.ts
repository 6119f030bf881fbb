/**
 * Masters broker, agents execute (docs/contract.md, "Media"): a client's media frames become
 * requests to its session's media agent over the control channel (media-control.ts), the agent's
 * replies become frames for that client, and its events (a feed up, a feed gone) are delivered to
 * the room through the registry like any other numbered frame. The master holds no media state:
 * the agent keys everything by session and participant, so another master carries on after a crash.
 */
import {
  ClientFrame,
  DEFAULT_TIMINGS,
  ErrorCode,
  LIMITS,
  MediaEvent,
  MediaNodeSummary,
  MediaRequest,
  MediaRequestError,
  MediaResults,
  PublishedFeed,
  RegistryReader,
  ServerFrame,
  SessionStore,
  TurnIceServer,
} from '../contract';
import { Lanes } from '../node/lanes';
import type { Logger } from '../node/log';
import { MediaControlChannel } from './media-control';
import { MasterTurn, mediaNodeSummaryOf, moveMediaSessions, withIceServers } from './media-placement';
import { RateLimiter } from './rate-limit';

export const MEDIA_FRAME_TYPES = [
  'publish',
  'unpublish',
  'subscribe',
  'subscribeAnswer',
  'unsubscribe',
  'trickle',
  'mediaStalled',
] as const;
export type MediaFrame = Extract<ClientFrame, { type: (typeof MEDIA_FRAME_TYPES)[number] }>;

export function isMediaFrame(frame: ClientFrame): frame is MediaFrame {
  return (MEDIA_FRAME_TYPES as readonly string[]).includes(frame.type);
}

/** The participant a media frame came from, and how to answer it. */
export interface MediaClient {
  readonly sessionId: string;
  readonly participantId: string;
  send(frame: ServerFrame): void;
}

export interface MediaBrokerOptions {
  readonly nodeId: string;
  /** RTC_MEDIA_CONTROL_SECRET; without it every media frame gets media_unavailable. */
  readonly secret?: string;
  readonly store: SessionStore;
  readonly registry: RegistryReader;
  readonly log: Logger;
  /** TURN on the media nodes: credentials go with media moves. */
  readonly turn?: MasterTurn;
}

/** The agent request a client's media frame asks for. */
export function toMediaRequest(sessionId: string, participantId: string, frame: MediaFrame): MediaRequest {
  const who = { sessionId, participantId };
  switch (frame.type) {
    case 'publish':
      return { op: 'publish', ...who, sdp: frame.sdp };
    case 'unpublish':
      return { op: 'unpublish', ...who };
    case 'subscribe':
      return { op: 'subscribe', ...who, feedId: frame.feedId };
    case 'subscribeAnswer':
      return { op: 'answer', ...who, subscriptionId: frame.subscriptionId, sdp: frame.sdp };
    case 'unsubscribe':
      return { op: 'unsubscribe', ...who, subscriptionId: frame.subscriptionId };
    case 'trickle':
      return { op: 'trickle', ...who, target: frame.target, candidate: frame.candidate };
    case 'mediaStalled':
      return { op: 'check', ...who, target: frame.target };
  }
}

/** What the client hears when its request succeeded (nothing for trickle, unpublish, unsubscribe). */
export function answerFrame(frame: MediaFrame, result: unknown): ServerFrame | undefined {
  switch (frame.type) {
    case 'publish': {
      const { feedId, sdp } = result as MediaResults['publish'];
      return { type: 'publishAnswer', requestId: frame.requestId, feedId, sdp };
    }
    case 'subscribe': {
      const { subscriptionId, sdp } = result as MediaResults['subscribe'];
      return { type: 'subscribeOffer', requestId: frame.requestId, subscriptionId, sdp };
    }
    case 'subscribeAnswer':
      return { type: 'subscribed', subscriptionId: frame.subscriptionId };
    default:
      return undefined;
  }
}

/** The error frame for a failed request, naming the request it answers. */
export function failureFrame(frame: MediaFrame, err: unknown): ServerFrame {
  const known = err instanceof MediaRequestError;
  const code: ErrorCode = known ? err.code : 'internal';
  const message = known ? err.message : 'internal error';
  const names =
    'requestId' in frame
      ? { requestId: frame.requestId }
      : 'subscriptionId' in frame
        ? { subscriptionId: frame.subscriptionId }
        : frame.type === 'trickle' && frame.target !== 'publisher'
          ? { subscriptionId: frame.target }
          : {};
  return { type: 'error', code, message, ...names };
}

type RecoveryReason = 'closed' | 'silent' | 'janus-lost' | 'janus-restarted' | 'draining' | 'client-stalled';

export class MediaBroker {
  private readonly channels = new Map<string, MediaControlChannel>();
  /** Media node id -> its control address (host:port); an agent's never changes. */
  private readonly addresses = new Map<string, string>();
  /** Per participant: the step that resolves its agent, so its requests leave in arrival order. */
  private readonly lanes = new Lanes();
  /** Agent id -> its recovery under way (one at a time per agent on this master). */
  private readonly recovering = new Map<string, Promise<void>>();
  private readonly stallReports = new RateLimiter({
    burst: LIMITS.mediaStallReportBurst,
    perSecond: LIMITS.mediaStallReportsPerSecond,
    maxKeys: LIMITS.maxTrackedRateKeys,
  });

  constructor(private readonly options: MediaBrokerOptions) {}

  /** Forwards a client's media frame; the answer (or the error) reaches the client when it comes. */
  handle(client: MediaClient, frame: MediaFrame): void {
    const { sessionId, participantId } = client;
    if (frame.type === 'mediaStalled') return void this.stalled(client, frame);
    this.forward(sessionId, participantId, toMediaRequest(sessionId, participantId, frame)).then(
      (result) => {
        const answer = answerFrame(frame, result);
        if (answer) client.send(answer);
      },
      (err: unknown) => {
        if (!(err instanceof MediaRequestError)) {
          this.options.log.error('media_request_failed', {
            sessionId,
            participantId,
            op: frame.type,
            error: err,
          });
        }
        client.send(failureFrame(frame, err));
      },
    );
  }

  /**
   * A client's connection received nothing for a while, or turned `disconnected` (mediaStalled):
   * the session's agent probes its Janus. A node that answers is healthy, so the path is broken:
   * the client negotiates that connection again (`renegotiate`). One that does not (down, silent,
   * its Janus hung and now restarting) loses its sessions to another node, as if its channel had
   * dropped: a failure the platform missed still heals.
   */
  private async stalled(
    client: MediaClient,
    frame: Extract<MediaFrame, { type: 'mediaStalled' }>,
  ): Promise<void> {
    const { sessionId, participantId } = client;
    const { log, store, secret } = this.options;
    if (!this.stallReports.take(`${sessionId}/${participantId}`)) return;
    log.info('media_stalled_report', {
      sessionId,
      participantId,
      target: frame.target,
      reason: frame.reason,
    });
    if (!secret) return;
    const session = await store.getSession(sessionId).catch(() => undefined);
    const agentId = session?.mediaNode?.nodeId;
    if (!agentId) return;
    try {
      const channel = await this.channel(agentId);
      const { exists } = await channel.request(
        { op: 'check', sessionId, participantId, target: frame.target },
        DEFAULT_TIMINGS.mediaCheckTimeoutMs,
      );
      log.info('media_renegotiate', { sessionId, participantId, target: frame.target, exists });
      client.send({ type: 'renegotiate', target: frame.target });
    } catch (err) {
      log.warn('media_check_failed', { sessionId, agent: agentId, error: err });
      await this.recover(agentId, 'client-stalled');
    }
  }

  /** Feeds published in the session, for a joined frame; empty when its media node does not answer soon. */
  async feeds(sessionId: string, mediaNode: MediaNodeSummary | null | undefined): Promise<PublishedFeed[]> {
    if (!mediaNode || !this.options.secret) return [];
    try {
      const channel = await this.channel(mediaNode.nodeId);
      return (await channel.request({ op: 'feeds', sessionId }, DEFAULT_TIMINGS.mediaFeedsTimeoutMs)).feeds;
    } catch (err) {
      this.options.log.info('media_feeds_unavailable', {
        sessionId,
        mediaNode: mediaNode.nodeId,
        error: err,
      });
      return [];
    }
  }

  /** `{ iceServers }` for a joined or resumed frame: TURN on the session's media node, fresh credentials. */
  iceServers(
    mediaNode: MediaNodeSummary | null | undefined,
    participantId: string,
  ): { iceServers?: TurnIceServer[] } {
    return withIceServers(this.options.turn, mediaNode, participantId);
  }

  /**
   * A numbered frame on its way to participant `participantId`: a mediaNodeChanged gets that
   * participant's own fresh TURN credentials for the node it names (the mailboxes hold none).
   */
  forRecipient(raw: string, participantId: string): string {
    if (!this.options.turn || !raw.includes('"mediaNodeChanged"')) return raw;
    const frame = JSON.parse(raw) as ServerFrame;
    if (frame.type !== 'mediaNodeChanged') return raw;
    return JSON.stringify({ ...frame, ...withIceServers(this.options.turn, frame.mediaNode, participantId) });
  }

  /** The participant left for good: its feed and subscriptions go (the agent also notices by itself). */
  left(sessionId: string, participantId: string): void {
    if (!this.options.secret) return;
    this.forward(sessionId, participantId, { op: 'leave', sessionId, participantId }).catch((err: unknown) =>
      this.options.log.info('media_leave_failed', { sessionId, participantId, error: err }),
    );
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }

  private forward<R extends MediaRequest>(
    sessionId: string,
    participantId: string,
    request: R,
  ): Promise<MediaResults[R['op']]> {
    const channel = this.lanes.run(`${sessionId}/${participantId}`, () => this.channelOf(sessionId));
    return channel.then((c) => c.request(request));
  }

  private async channelOf(sessionId: string): Promise<MediaControlChannel> {
    if (!this.options.secret) {
      throw new MediaRequestError(
        'media_unavailable',
        'media is not configured on this master (RTC_MEDIA_CONTROL_SECRET)',
      );
    }
    const session = await this.options.store.getSession(sessionId).catch(() => {
      throw new MediaRequestError('media_unavailable', 'registry unavailable: retry');
    });
    if (!session?.mediaNode)
      throw new MediaRequestError('media_unavailable', 'the session has no media node now');
    return this.channel(session.mediaNode.nodeId);
  }

  private async channel(agentId: string): Promise<MediaControlChannel> {
    const open = this.channels.get(agentId);
    if (open) return open;
    const address = await this.addressOf(agentId);
    // Another call may have opened it while the address was read.
    const raced = this.channels.get(agentId);
    if (raced) return raced;
    const channel = new MediaControlChannel({
      nodeId: this.options.nodeId,
      secret: this.options.secret as string,
      agentId,
      address,
      onEvent: (event) => void this.tellRoom(agentId, event),
      onLost: (reason) => void this.recover(agentId, reason),
      onRestarted: () => void this.recover(agentId, 'janus-restarted'),
      onDraining: () => void this.recover(agentId, 'draining'),
      log: this.options.log,
    });
    this.channels.set(agentId, channel);
    return channel;
  }

  private async addressOf(agentId: string): Promise<string> {
    if (!this.addresses.has(agentId)) {
      for (const node of await this.options.registry.nodes('media')) {
        this.addresses.set(node.identity.nodeId, node.identity.address);
      }
    }
    const address = this.addresses.get(agentId);
    if (!address)
      throw new MediaRequestError('media_unavailable', `media node ${agentId} is not in the registry`);
    return address;
  }

  /**
   * The media of `agentId` is gone (its channel closed, it went silent, its Janus died, a client's
   * check failed): every session placed on it moves at once to the ready media node with the most
   * room, and its participants hear mediaNodeChanged (the SDK publishes and subscribes again
   * there). Every master with a channel to the agent does this; the registry lets one move each
   * session. When its Janus came back (`janus-restarted`), sessions still on it (no other node had
   * room) are rebuilt there. A `draining` agent still carries its media: the move is a handover
   * (make-before-break), and sessions no node has room for stay until the heartbeat's backstop
   * (MediaPlacement.replaceExpired) finds room or the drain's deadline passes.
   */
  private recover(agentId: string, reason: RecoveryReason): Promise<void> {
    const running = this.recovering.get(agentId);
    if (running) return running;
    const started = Date.now();
    const { store, registry, log } = this.options;
    const run = (async () => {
      const sessions = await store.sessionsOnMediaNode(agentId);
      if (sessions.length === 0) return;
      let inPlace: MediaNodeSummary | undefined;
      if (reason === 'janus-restarted') {
        const node = (await registry.nodes('media')).find((n) => n.identity.nodeId === agentId);
        inPlace = node && mediaNodeSummaryOf(node);
      }
      const moved = await moveMediaSessions(store, registry, agentId, sessions, log, {
        inPlace,
        handover: reason === 'draining',
      });
      log.warn('media_rooms_moved', {
        agent: agentId,
        reason,
        sessions: sessions.length,
        moved,
        ms: Date.now() - started,
      });
    })()
      .catch((err: unknown) => log.error('media_recovery_failed', { agent: agentId, reason, error: err }))
      .finally(() => this.recovering.delete(agentId));
    this.recovering.set(agentId, run);
    return run;
  }

  /**
   * An agent's event, to every other participant of the session (numbered, through their
   * mailboxes); dropped when the session is no longer on that agent (it moved away: a feed
   * ending there must not tear down the subscriptions on its new node).
   */
  private async tellRoom(agentId: string, event: MediaEvent): Promise<void> {
    const { sessionId, participantId, feedId } = event;
    const session = await this.options.store.getSession(sessionId).catch(() => undefined);
    if (session && session.mediaNode?.nodeId !== agentId) {
      this.options.log.info('media_event_stale', { event: event.type, sessionId, agent: agentId });
      return;
    }
    const delivery =
      event.type === 'trackPublished'
        ? { type: 'trackPublished' as const, participantId, feedId, kinds: event.kinds }
        : { type: 'trackUnpublished' as const, participantId, feedId };
    try {
      await this.options.store.deliverToOthers(sessionId, participantId, delivery);
      this.options.log.info('media_event_delivered', { event: event.type, sessionId, participantId });
    } catch (err) {
      this.options.log.warn('media_event_failed', {
        event: event.type,
        sessionId,
        participantId,
        error: err,
      });
    }
  }
}
