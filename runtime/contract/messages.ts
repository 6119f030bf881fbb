import { z } from 'zod';
import { ID_PATTERN } from './keys';
import type { TurnIceServer } from './turn';

/**
 * Message schemas of the HA contract, validated at runtime on every boundary:
 * client -> master WebSocket frames, master -> client frames, REST bodies and replies, and the
 * envelopes masters publish to each other on a session's channel.
 */
export const IdSchema = z.string().regex(ID_PATTERN, 'ids are 1-128 characters of A-Z a-z 0-9 _ . -');
/** Free-form app data attached to sessions and participants; small, JSON only. */
export const MetadataSchema = z.record(z.string(), z.unknown());
export type Metadata = z.infer<typeof MetadataSchema>;

const CseqSchema = z.number().int().positive();

// ---- media (docs/contract.md, "Media"); the master forwards these to the session's media agent ---

/** Echoed in the answer (or the error) to a media request: the client's own correlation id. */
export const RequestIdSchema = z.union([z.string().min(1).max(64), z.number().int().nonnegative()]);
export type RequestId = z.infer<typeof RequestIdSchema>;
/** An SDP offer or answer's text (a browser's is a few KiB). */
export const SdpSchema = z
  .string()
  .min(1)
  .max(48 * 1024);
/** RTCIceCandidateInit, as a browser's `icecandidate` event gives it. */
export const CandidateSchema = z.object({
  candidate: z.string().max(1024),
  sdpMid: z.string().max(64).nullish(),
  sdpMLineIndex: z.number().int().min(0).max(255).nullish(),
  usernameFragment: z.string().max(256).nullish(),
});
export type Candidate = z.infer<typeof CandidateSchema>;
/** Whose PeerConnection a candidate belongs to: the participant's publisher, or one of its subscriptions. */
export const TrickleTargetSchema = z.union([z.literal('publisher'), IdSchema]);
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

// ---- client -> master -------------------------------------------------------------------------

export const SIGNAL_KINDS = ['offer', 'answer', 'candidate'] as const;

export const ClientFrameSchema = z.discriminatedUnion('type', [
  /** First frame on a new socket: join with the connection token from the app back end. */
  z.object({ type: z.literal('join'), token: z.string().max(1024) }),
  /** First frame after a reconnect: resume with the last resume token and the last seq seen. */
  z.object({
    type: z.literal('resume'),
    resumeToken: z.string().max(1024),
    lastSeq: z.number().int().nonnegative(),
  }),
  /**
   * WebRTC signaling to one participant. `cseq` numbers what this participant sends (1, 2, ...
   * across resumes): the master answers `accepted`, the registry drops a resent duplicate.
   */
  z.object({
    type: z.literal('signal'),
    cseq: CseqSchema,
    to: IdSchema,
    kind: z.enum(SIGNAL_KINDS),
    data: z.unknown(),
  }),
  /** App message to some participants, or to every other participant when `to` is absent. */
  z.object({
    type: z.literal('message'),
    cseq: CseqSchema,
    to: z.array(IdSchema).max(500).optional(),
    data: z.unknown(),
  }),
  /** Everything up to `seq` arrived: the master may drop it from the mailbox. */
  z.object({ type: z.literal('ack'), seq: z.number().int().nonnegative() }),
  z.object({ type: z.literal('ping'), id: z.number().int().optional() }),
  /** Leave for good (no resume). */
  z.object({ type: z.literal('leave') }),
  /** Publish this participant's tracks: an SDP offer, answered by `publishAnswer`. */
  z.object({ type: z.literal('publish'), requestId: RequestIdSchema, sdp: SdpSchema }),
  /** Stop publishing: the room gets `trackUnpublished`. */
  z.object({ type: z.literal('unpublish') }),
  /** Receive a feed: answered by `subscribeOffer` (the media node's offer). */
  z.object({ type: z.literal('subscribe'), requestId: RequestIdSchema, feedId: IdSchema }),
  /** The answer to a `subscribeOffer`: media flows once `subscribed`. */
  z.object({ type: z.literal('subscribeAnswer'), subscriptionId: IdSchema, sdp: SdpSchema }),
  z.object({ type: z.literal('unsubscribe'), subscriptionId: IdSchema }),
  /** One ICE candidate of the client's PeerConnection `target`; null: it has no more. */
  z.object({
    type: z.literal('trickle'),
    target: TrickleTargetSchema,
    candidate: CandidateSchema.nullable(),
  }),
  /**
   * The client's PeerConnection `target` received nothing for DEFAULT_TIMINGS.mediaStallMs, or
   * turned `disconnected`: the master checks the media node and moves the session
   * (mediaNodeChanged) or answers `renegotiate`.
   */
  z.object({
    type: z.literal('mediaStalled'),
    target: TrickleTargetSchema,
    reason: z.enum(MEDIA_STALL_REASONS),
  }),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

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
  | { type: 'signal'; seq: number; from: string; kind: (typeof SIGNAL_KINDS)[number]; data: unknown }
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
      iceServers?: TurnIceServer[];
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
  iceServers?: TurnIceServer[];
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

export { CLOSE_CODES } from './wire';

// ---- REST ---------------------------------------------------------------------------------------

export const CreateSessionBodySchema = z
  .object({ sessionId: IdSchema, metadata: MetadataSchema.optional() })
  .strict();
export const CreateConnectionBodySchema = z
  .object({ participantId: IdSchema, metadata: MetadataSchema.optional() })
  .strict();

export interface SessionResource {
  sessionId: string;
  createdAt: number;
  metadata?: Metadata;
  mediaNode: MediaNodeSummary | null;
  participants: ParticipantSummary[];
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

// ---- master <-> master (a session's pub/sub channel) ------------------------------------------

export const ChannelEnvelopeSchema = z.discriminatedUnion('kind', [
  /**
   * Numbered frames for participants of the session, as [recipient, frame] pairs in seq order per
   * recipient (a list, not an object keyed by id: no id is special).
   */
  z.object({ kind: z.literal('deliver'), frames: z.array(z.tuple([IdSchema, z.string()])) }),
  /** A participant's connection moved to `epoch`; holders of an older epoch close it. */
  z.object({ kind: z.literal('takeover'), participantId: IdSchema, epoch: z.number().int() }),
  /** A participant was removed (REST delete, leave, session deleted): close its socket. */
  z.object({ kind: z.literal('removed'), participantId: IdSchema }),
]);
export type ChannelEnvelope = z.infer<typeof ChannelEnvelopeSchema>;
