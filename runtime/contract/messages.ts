import { z } from 'zod';
import { ID_PATTERN } from './keys';
import {
  MEDIA_STALL_REASONS,
  SIGNAL_KINDS,
  type ClientFrame,
  type IceCandidateInit,
  type Metadata,
  type RequestId,
} from './wire';

/**
 * Message schemas of the HA contract, validated at runtime on every boundary:
 * client -> master WebSocket frames, master -> client frames, REST bodies and replies, and the
 * envelopes masters publish to each other on a session's channel. The shapes themselves are in
 * wire.ts (zod-free, for the browser SDK); each schema here must accept exactly its shape.
 */
export * from './wire';

/** `schema`, if what it accepts is exactly `Shape`; otherwise the call does not compile. */
function shaped<Shape>() {
  return <S extends z.ZodTypeAny>(schema: S, ..._exact: Exactly<z.infer<S>, Shape>): S => schema;
}
/** No further argument when A and B are assignable both ways; an impossible one otherwise. */
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? [] : [never]) : [never];

export const IdSchema = z.string().regex(ID_PATTERN, 'ids are 1-128 characters of A-Z a-z 0-9 _ . -');
export const MetadataSchema = shaped<Metadata>()(z.record(z.string(), z.unknown()));

const CseqSchema = z.number().int().positive();

// ---- media (docs/contract.md, "Media"); the master forwards these to the session's media agent ---

export const RequestIdSchema = shaped<RequestId>()(
  z.union([z.string().min(1).max(64), z.number().int().nonnegative()]),
);
/** An SDP offer or answer's text (a browser's is a few KiB). */
export const SdpSchema = z
  .string()
  .min(1)
  .max(48 * 1024);
export const CandidateSchema = shaped<IceCandidateInit>()(
  z.object({
    candidate: z.string().max(1024),
    sdpMid: z.string().max(64).nullish(),
    sdpMLineIndex: z.number().int().min(0).max(255).nullish(),
    usernameFragment: z.string().max(256).nullish(),
  }),
);
export const TrickleTargetSchema = z.union([z.literal('publisher'), IdSchema]);

// ---- client -> master (the frames are documented in wire.ts) ----------------------------------

export const ClientFrameSchema = shaped<ClientFrame>()(
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('join'), token: z.string().max(1024) }),
    z.object({
      type: z.literal('resume'),
      resumeToken: z.string().max(1024),
      lastSeq: z.number().int().nonnegative(),
    }),
    // `data` stays unchecked: it is end to end, and older clients sent other shapes than SignalPayloads.
    z.object({
      type: z.literal('signal'),
      cseq: CseqSchema,
      to: IdSchema,
      kind: z.enum(SIGNAL_KINDS),
      data: z.unknown(),
    }),
    z.object({
      type: z.literal('message'),
      cseq: CseqSchema,
      to: z.array(IdSchema).max(500).optional(),
      data: z.unknown(),
    }),
    z.object({ type: z.literal('ack'), seq: z.number().int().nonnegative() }),
    z.object({ type: z.literal('ping'), id: z.number().int().optional() }),
    z.object({ type: z.literal('leave') }),
    z.object({ type: z.literal('publish'), requestId: RequestIdSchema, sdp: SdpSchema }),
    z.object({ type: z.literal('unpublish') }),
    z.object({ type: z.literal('subscribe'), requestId: RequestIdSchema, feedId: IdSchema }),
    z.object({ type: z.literal('subscribeAnswer'), subscriptionId: IdSchema, sdp: SdpSchema }),
    z.object({ type: z.literal('unsubscribe'), subscriptionId: IdSchema }),
    z.object({
      type: z.literal('trickle'),
      target: TrickleTargetSchema,
      candidate: CandidateSchema.nullable(),
    }),
    z.object({
      type: z.literal('mediaStalled'),
      target: TrickleTargetSchema,
      reason: z.enum(MEDIA_STALL_REASONS),
    }),
  ]),
);

// ---- REST ---------------------------------------------------------------------------------------

export const CreateSessionBodySchema = z
  .object({ sessionId: IdSchema, metadata: MetadataSchema.optional() })
  .strict();
export const CreateConnectionBodySchema = z
  .object({ participantId: IdSchema, metadata: MetadataSchema.optional() })
  .strict();

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
