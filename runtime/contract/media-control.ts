/**
 * The control channel from masters to media agents (docs/contract.md, "Media"): one WebSocket per
 * master and agent on the agent's control port, path MEDIA_CONTROL_PATH. Both ends prove they know
 * the shared secret (RTC_MEDIA_CONTROL_SECRET) before anything else crosses it; then the master
 * sends requests matched by id, and the agent answers them and pushes media events.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  CandidateSchema,
  IdSchema,
  MEDIA_KINDS,
  PublishedFeed,
  SdpSchema,
  TrickleTargetSchema,
} from './messages';

export const MEDIA_CONTROL_PATH = '/control';

/** Close code for a failed handshake (either side); nothing else is said to an unproven peer. */
export const CONTROL_UNAUTHORIZED = 4001;

// ---- handshake: HMAC challenge-response, both ways ------------------------------------------------
//
// agent -> master  {type:'challenge', nodeId: agent, nonce: A}
// master -> agent  {type:'auth', nodeId: master, nonce: M, proof: proof('master', A, M, master)}
// agent -> master  {type:'welcome', proof: proof('agent', M, A, agent)}
//
// Each side's proof covers the nonce the other side chose, so a recorded exchange is worth nothing,
// and names its role, so one side's proof can never be reflected back as the other's.

/** 32 random bytes: the challenge each side makes the other sign. */
export function newControlNonce(): string {
  return randomBytes(32).toString('base64url');
}

export type ControlRole = 'master' | 'agent';

/** What `role` sends to prove it knows `secret`: an HMAC over both nonces, the other's first. */
export function controlProof(
  secret: string,
  role: ControlRole,
  theirNonce: string,
  ownNonce: string,
  ownNodeId: string,
): string {
  return createHmac('sha256', secret)
    .update(['rtc-ha media control 1', role, theirNonce, ownNonce, ownNodeId].join('\n'))
    .digest('base64url');
}

/** Compares a presented proof with the expected one in constant time. */
export function proofMatches(expected: string, presented: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

const NonceSchema = z.string().min(32).max(64);
const ProofSchema = z.string().min(1).max(128);

export const ChallengeSchema = z.object({
  type: z.literal('challenge'),
  nodeId: IdSchema,
  nonce: NonceSchema,
});
export const AuthSchema = z.object({
  type: z.literal('auth'),
  nodeId: IdSchema,
  nonce: NonceSchema,
  proof: ProofSchema,
});
export const WelcomeSchema = z.object({ type: z.literal('welcome'), proof: ProofSchema });

// ---- requests (master -> agent) ------------------------------------------------------------------

const Participant = { sessionId: IdSchema, participantId: IdSchema };

/** What a master asks a media agent to do for one participant (or, `feeds`, tell about a session). */
export const MediaRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('publish'), ...Participant, sdp: SdpSchema }),
  z.object({ op: z.literal('unpublish'), ...Participant }),
  z.object({ op: z.literal('subscribe'), ...Participant, feedId: IdSchema }),
  z.object({ op: z.literal('answer'), ...Participant, subscriptionId: IdSchema, sdp: SdpSchema }),
  z.object({
    op: z.literal('trickle'),
    ...Participant,
    target: TrickleTargetSchema,
    candidate: CandidateSchema.nullable(),
  }),
  z.object({ op: z.literal('unsubscribe'), ...Participant, subscriptionId: IdSchema }),
  /** The participant left: its publisher and subscriptions go. */
  z.object({ op: z.literal('leave'), ...Participant }),
  z.object({ op: z.literal('feeds'), sessionId: IdSchema }),
  /**
   * A client reported its connection `target` stalled: is Janus answering (a hung one is
   * restarted, and the request fails), and does the connection still exist there?
   */
  z.object({ op: z.literal('check'), ...Participant, target: TrickleTargetSchema }),
]);
export type MediaRequest = z.infer<typeof MediaRequestSchema>;
export type MediaOp = MediaRequest['op'];

/** What each request resolves with. */
export interface MediaResults {
  publish: { feedId: string; sdp: string };
  subscribe: { subscriptionId: string; sdp: string };
  feeds: { feeds: PublishedFeed[] };
  check: { exists: boolean };
  unpublish: Record<string, never>;
  answer: Record<string, never>;
  trickle: Record<string, never>;
  unsubscribe: Record<string, never>;
  leave: Record<string, never>;
}

export const ControlRequestSchema = z.object({
  type: z.literal('request'),
  id: z.number().int().nonnegative(),
  request: MediaRequestSchema,
});
export type ControlRequest = z.infer<typeof ControlRequestSchema>;

// ---- replies and events (agent -> master) --------------------------------------------------------

/** Codes a media request fails with; the master passes them on in the client's error frame. */
export const MEDIA_ERROR_CODES = [
  'media_unavailable',
  'no_such_feed',
  'no_such_subscription',
  'media_failed',
] as const;
export type MediaErrorCode = (typeof MEDIA_ERROR_CODES)[number];

const KindsSchema = z.array(z.enum(MEDIA_KINDS)).max(MEDIA_KINDS.length);

/** What a media agent tells the masters by itself; any master can tell the room. */
export const MediaEventSchema = z.discriminatedUnion('type', [
  /** The publisher's PeerConnection is up (Janus's webrtcup): its feed can be subscribed to. */
  z.object({ type: z.literal('trackPublished'), ...Participant, feedId: IdSchema, kinds: KindsSchema }),
  /** The feed is gone: unpublished, its PeerConnection hung up, its participant left, or Janus died. */
  z.object({ type: z.literal('trackUnpublished'), ...Participant, feedId: IdSchema }),
]);
export type MediaEvent = z.infer<typeof MediaEventSchema>;

export const AgentFrameSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('reply'),
    id: z.number().int().nonnegative(),
    result: z.record(z.string(), z.unknown()).optional(),
    error: z.object({ code: z.enum(MEDIA_ERROR_CODES), message: z.string().max(1024) }).optional(),
  }),
  z.object({ type: z.literal('event'), event: MediaEventSchema }),
  /**
   * To every master: this node's Janus died (`lost`: every room on it is gone, move them now) or
   * came back after a restart (`restarted`: rooms still placed here may be rebuilt in place).
   */
  z.object({
    type: z.literal('janus'),
    state: z.enum(['lost', 'restarted']),
    reason: z.string().max(200).optional(),
  }),
  /** To every master: this node drains; move its sessions make-before-break (mediaNodeChanged handover). */
  z.object({ type: z.literal('draining') }),
]);
export type AgentFrame = z.infer<typeof AgentFrameSchema>;

/** A media request that failed with one of MEDIA_ERROR_CODES. */
export class MediaRequestError extends Error {
  constructor(
    readonly code: MediaErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MediaRequestError';
  }
}
