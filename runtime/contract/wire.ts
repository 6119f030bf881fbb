/**
 * The wire protocol's shapes (docs/contract.md): the frames and REST bodies as types, and the
 * constants the client SDK needs as values. Free of zod and of Node modules, so that the browser
 * SDK's bundle and its type declarations stay small; messages.ts holds the zod schemas that
 * validate these shapes at the master's boundaries, each checked against its type here.
 */

/** HTTP Basic user of the REST API; the password is the API secret. */
export const API_USER = 'rtc-ha';

/** WebSocket close codes the master uses; the SDK resumes on all but the terminal ones. */
export const CLOSE_CODES = {
  /** Bad or expired token, deleted participant: do not retry with the same credentials. */
  unauthorized: 4001,
  /** Another connection took this participant over (newer epoch). */
  superseded: 4009,
  /** The participant left or was removed. */
  left: 4010,
  /**
   * The registry no longer has the participant and nobody removed it: its data was lost (Redis
   * restarted empty). Not a takeover: what the client had not seen accepted was never stored.
   */
  sessionLost: 4011,
  /** Too many joins or resumes (from this address, or of this participant): reconnect after a backoff. */
  rateLimited: 4029,
  /** The master drains: resume elsewhere. */
  draining: 4503,
  /** No join/resume in time, or not ready. */
  tryAgain: 4000,
} as const;

/** Free-form app data attached to sessions and participants; small, JSON only. */
export type Metadata = Record<string, unknown>;

// ---- media (docs/contract.md, "Media"); the master forwards these to the session's media agent ---

/** Echoed in the answer (or the error) to a media request: the client's own correlation id. */
export type RequestId = string | number;
/** RTCIceCandidateInit, as a browser's `icecandidate` event gives it. */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}
export const MEDIA_KINDS = ['audio', 'video'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];
/** Why a client reports a connection (mediaStalled). */
export const MEDIA_STALL_REASONS = ['no_media', 'disconnected'] as const;
/** A feed published in a session: one per publishing participant, its id the participant's. */
export interface PublishedFeed {
  participantId: string;
  feedId: string;
  kinds: MediaKind[];
}
/** An entry of RTCConfiguration's `iceServers`: the TURN server of one media node, with credentials. */
export interface IceServer {
  readonly urls: string[];
  readonly username: string;
  readonly credential: string;
}

// ---- signaling between participants (docs/contract.md, "Signaling between participants") ------

/**
 * Kinds of `signal` frames. `renegotiate` asks the peer that offers (see `isOfferer` in the SDK)
 * for a new offer; masters before it refuse it as a bad frame.
 */
export const SIGNAL_KINDS = ['offer', 'answer', 'candidate', 'renegotiate'] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];
/** An SDP offer or answer, as RTCSessionDescriptionInit. */
export interface SessionDescriptionInit<T extends 'offer' | 'answer' = 'offer' | 'answer'> {
  type: T;
  sdp: string;
}
/**
 * The `data` of a `signal` frame of each kind. Masters relay it untouched (older clients sent other
 * shapes); the SDK sends these and checks what it receives.
 */
export interface SignalPayloads {
  /** A new negotiation, a renegotiation, or an ICE restart (`createOffer({ iceRestart: true })`). */
  offer: SessionDescriptionInit<'offer'>;
  answer: SessionDescriptionInit<'answer'>;
  /** One trickled ICE candidate; null: end of candidates. */
  candidate: IceCandidateInit | null;
  /** Please offer again; `iceRestart`: with new ICE credentials (the network changed, ICE failed). */
  renegotiate: { iceRestart: boolean };
}

// ---- client -> master -------------------------------------------------------------------------

/** Whose PeerConnection a candidate belongs to: 'publisher', or the id of one of its subscriptions. */
export type TrickleTarget = string;

export type ClientFrame =
  /** First frame on a new socket: join with the connection token from the app back end. */
  | { type: 'join'; token: string }
  /** First frame after a reconnect: resume with the last resume token and the last seq seen. */
  | { type: 'resume'; resumeToken: string; lastSeq: number }
  /**
   * WebRTC signaling to one participant. `cseq` numbers what this participant sends (1, 2, ...
   * across resumes): the master answers `accepted`, the registry drops a resent duplicate.
   */
  | { type: 'signal'; cseq: number; to: string; kind: SignalKind; data?: unknown }
  /** App message to some participants, or to every other participant when `to` is absent. */
  | { type: 'message'; cseq: number; to?: string[]; data?: unknown }
  /** Everything up to `seq` arrived: the master may drop it from the mailbox. */
  | { type: 'ack'; seq: number }
  | { type: 'ping'; id?: number }
  /** Leave for good (no resume). */
  | { type: 'leave' }
  /** Publish this participant's tracks: an SDP offer, answered by `publishAnswer`. */
  | { type: 'publish'; requestId: RequestId; sdp: string }
  /** Stop publishing: the room gets `trackUnpublished`. */
  | { type: 'unpublish' }
  /** Receive a feed: answered by `subscribeOffer` (the media node's offer). */
  | { type: 'subscribe'; requestId: RequestId; feedId: string }
  /** The answer to a `subscribeOffer`: media flows once `subscribed`. */
  | { type: 'subscribeAnswer'; subscriptionId: string; sdp: string }
  | { type: 'unsubscribe'; subscriptionId: string }
  /** One ICE candidate of the client's PeerConnection `target`; null: it has no more. */
  | { type: 'trickle'; target: TrickleTarget; candidate: IceCandidateInit | null }
  /**
   * The client's PeerConnection `target` received nothing for DEFAULT_TIMINGS.mediaStallMs, or
   * turned `disconnected`: the master checks the media node and moves the session
   * (mediaNodeChanged) or answers `renegotiate`.
   */
  | { type: 'mediaStalled'; target: TrickleTarget; reason: (typeof MEDIA_STALL_REASONS)[number] };

// ---- master -> client -------------------------------------------------------------------------

export interface ParticipantSummary {
  participantId: string;
  state: ParticipantState;
  metadata?: Metadata;
}
export const PARTICIPANT_STATES = ['pending', 'connected', 'disconnected'] as const;
export type ParticipantState = (typeof PARTICIPANT_STATES)[number];

export interface MediaNodeSummary {
  nodeId: string;
  /** Where clients send media (public address on AWS). */
  address: string;
}

/** Frames carried in a participant's mailbox: numbered, replayed on resume, delivered exactly once. */
export type DeliveredFrame =
  /** `data` as its sender sent it: SignalPayloads from this SDK, anything from older clients. */
  | { type: 'signal'; seq: number; from: string; kind: SignalKind; data: unknown }
  | { type: 'message'; seq: number; from: string; data: unknown }
  | { type: 'participantJoined'; seq: number; participant: ParticipantSummary }
  | { type: 'participantLeft'; seq: number; participantId: string }
  | { type: 'participantReconnected'; seq: number; participantId: string }
  /**
   * The session's media moved to `mediaNode` (null: no media node has room yet). `handover`: the
   * old node drains and still carries the media, so open the new connections, switch to each once
   * it flows, then close the old one (make-before-break); without it the old node is gone.
   */
  | {
      type: 'mediaNodeChanged';
      seq: number;
      mediaNode: MediaNodeSummary | null;
      handover?: boolean;
      /** TURN on the new node, with fresh credentials (absent without TURN). */
      iceServers?: IceServer[];
    }
  /** `participantId` publishes feed `feedId`: its media flows into the media node (subscribe to it). */
  | { type: 'trackPublished'; seq: number; participantId: string; feedId: string; kinds: MediaKind[] }
  | { type: 'trackUnpublished'; seq: number; participantId: string; feedId: string };

/** A delivered frame before the registry numbers it. */
export type Delivery = DistributiveOmit<DeliveredFrame, 'seq'>;
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export interface JoinedFrame {
  type: 'joined' | 'resumed';
  sessionId: string;
  participantId: string;
  /** Ownership epoch of this connection (fencing token). */
  epoch: number;
  /** Use it (once) to resume after a disconnect. */
  resumeToken: string;
  participants: ParticipantSummary[];
  mediaNode: MediaNodeSummary | null;
  /** Feeds published in the session now (empty when its media node does not answer in time). */
  feeds: PublishedFeed[];
  /** TURN on the session's media node, with fresh credentials (absent without TURN or a media node). */
  iceServers?: IceServer[];
  /** Highest `cseq` of this participant's own frames the registry accepted: resend anything after it. */
  acceptedCseq: number;
  /** Resumed only: frames replayed from the mailbox, and frames lost because they had expired. */
  replayed?: number;
  missed?: number;
}

/** Codes of WebSocket `error` frames (docs/contract.md, "Error codes"). */
export const ERROR_CODES = [
  'bad_json',
  'bad_frame',
  'frame_too_large',
  'unauthorized',
  'token_expired',
  'invalid_resume_token',
  'not_joined',
  'already_joined',
  'unknown_participant',
  'session_full',
  'superseded',
  /** Too many of this socket's frames wait for the registry: back off, then resend. */
  'queue_full',
  /** Redis is unreachable or too slow: back off, then resend (or, refusing a join, reconnect). */
  'registry_unavailable',
  /** An earlier own frame is not accepted yet: resend every unaccepted frame, oldest first. */
  'out_of_order',
  /**
   * With `cseq`: this participant sends faster than LIMITS.senderRate allows; the frame is not
   * stored, resend later. Refusing a join or resume (close 4029): too many from this address or of
   * this participant (LIMITS.joinBurstPerAddress, maxTakeovers); reconnect after a backoff.
   */
  'rate_limited',
  /** The registry lost this participant (Redis restarted empty, for example): close 4011. */
  'session_lost',
  /** Redis is out of memory (OOM, maxmemory with noeviction): nothing stored; resend later. */
  'registry_full',
  /** Media: the session's media node cannot be reached or carries no media now; retry later. */
  'media_unavailable',
  /** Media: no feed of that id is up in the session (not published, not yet up, or gone). */
  'no_such_feed',
  /** Media: this participant has no subscription of that id. */
  'no_such_subscription',
  /** Media: the media server refused the request (an SDP it cannot take, for one). */
  'media_failed',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type ServerFrame =
  | JoinedFrame
  | DeliveredFrame
  | { type: 'pong'; id?: number }
  /** The sender's frame `cseq` is stored for its recipients (or was already): safe to forget. */
  | { type: 'accepted'; cseq: number }
  /** The media node's answer to `publish`: the feed is announced once its media is up. */
  | { type: 'publishAnswer'; requestId: RequestId; feedId: string; sdp: string }
  /** The media node's offer for `subscribe`: answer it with `subscribeAnswer`. */
  | { type: 'subscribeOffer'; requestId: RequestId; subscriptionId: string; sdp: string }
  | { type: 'subscribed'; subscriptionId: string }
  /**
   * The answer to `mediaStalled` when the media node is healthy: the connection `target`
   * ('publisher' or a subscription id) is broken on the way, so negotiate it again (a new
   * PeerConnection on the same node).
   */
  | { type: 'renegotiate'; target: string }
  /**
   * With `cseq`: the sender's frame `cseq` was refused and is not stored. With `requestId` or
   * `subscriptionId`: the media request it names failed.
   */
  | {
      type: 'error';
      code: ErrorCode;
      message: string;
      cseq?: number;
      requestId?: RequestId;
      subscriptionId?: string;
    }
  /** The master is draining or going away: reconnect (through the load balancer) and resume. */
  | { type: 'reconnect'; reason: string };

// ---- REST ---------------------------------------------------------------------------------------

/** A participant as the REST API shows it: its summary and where its connection is. */
export interface ParticipantResource extends ParticipantSummary {
  /** The master holding its connection (node id); null while it is pending or disconnected. */
  master: string | null;
}
export interface SessionResource {
  sessionId: string;
  createdAt: number;
  metadata?: Metadata;
  mediaNode: MediaNodeSummary | null;
  participants: ParticipantResource[];
}
export interface ConnectionResource {
  sessionId: string;
  participantId: string;
  token: string;
  expiresAt: number;
}
/** Codes of REST error replies (docs/contract.md, "The REST API"). */
export const REST_ERROR_CODES = [
  'bad_json',
  'invalid_body',
  'invalid_path',
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'session_full',
  'payload_too_large',
  /** This master cannot take work (readiness failing): retry, the load balancer picks another. */
  'not_ready',
  /** Redis failed this call (unreachable or too slow): retry. */
  'registry_unavailable',
  'draining',
  'no_media_node',
  /** Redis is out of memory (OOM): nothing was written; retry later. */
  'registry_full',
  /** A WebSocket upgrade beyond LIMITS.maxSocketsPerMaster (503): another master takes it. */
  'too_many_connections',
  'internal',
] as const;
export type RestErrorCode = (typeof REST_ERROR_CODES)[number];

export interface RestError {
  error: { code: RestErrorCode; message: string; details?: string[] };
}
