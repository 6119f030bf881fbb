import { z } from 'zod';
import { ID_PATTERN } from './keys';

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
  | { type: 'mediaNodeChanged'; seq: number; mediaNode: MediaNodeSummary | null };

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
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export type ServerFrame =
  | JoinedFrame
  | DeliveredFrame
  | { type: 'pong'; id?: number }
  /** The sender's frame `cseq` is stored for its recipients (or was already): safe to forget. */
  | { type: 'accepted'; cseq: number }
  /** With `cseq`: the sender's frame `cseq` was refused and is not stored. */
  | { type: 'error'; code: ErrorCode; message: string; cseq?: number }
  /** The master is draining or going away: reconnect (through the load balancer) and resume. */
  | { type: 'reconnect'; reason: string };

/** WebSocket close codes the master uses; the SDK resumes on all but the terminal ones. */
export const CLOSE_CODES = {
  /** Bad or expired token, deleted participant: do not retry with the same credentials. */
  unauthorized: 4001,
  /** Another connection took this participant over (newer epoch). */
  superseded: 4009,
  /** The participant left or was removed. */
  left: 4010,
  /** The master drains: resume elsewhere. */
  draining: 4503,
  /** No join/resume in time, or not ready. */
  tryAgain: 4000,
} as const;

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
  'internal',
] as const;
export type RestErrorCode = (typeof REST_ERROR_CODES)[number];

export interface RestError {
  error: { code: RestErrorCode; message: string; details?: string[] };
}

// ---- master <-> master (a session's pub/sub channel) ------------------------------------------

export const ChannelEnvelopeSchema = z.discriminatedUnion('kind', [
  /** Frames for participants of the session: each recipient's numbered frame. */
  z.object({ kind: z.literal('deliver'), frames: z.record(IdSchema, z.string()) }),
  /** A participant's connection moved to `epoch`; holders of an older epoch close it. */
  z.object({ kind: z.literal('takeover'), participantId: IdSchema, epoch: z.number().int() }),
  /** A participant was removed (REST delete, leave, session deleted): close its socket. */
  z.object({ kind: z.literal('removed'), participantId: IdSchema }),
]);
export type ChannelEnvelope = z.infer<typeof ChannelEnvelopeSchema>;
