/**
 * The rtc-ha client SDK (browsers and Node): RtcHaAdmin for app back ends, RtcHaSession for
 * participants. Nothing here imports Node modules; in Node use ./node, which adds `ws`.
 */
export { RtcHaAdmin } from './admin';
export type { RtcHaAdminOptions, RetryOptions } from './admin';
export { fullJitterDelay } from './backoff';
export type { BackoffOptions } from './backoff';
export { TypedEmitter } from './emitter';
export { RtcHaApiError, RtcHaRetryError } from './errors';
export { RtcHaMediaError } from './media';
export type {
  IceCandidateLike,
  MediaErrorCode,
  MediaEvents,
  MediaOptions,
  PeerConnectionConstructor,
  PeerConnectionLike,
  Publication,
  RemoteFeed,
  RtcImplementation,
} from './media';
export { RtcHaSession, RtcHaSessionError } from './session';
export type {
  RtcHaSessionEvents,
  RtcHaSessionOptions,
  RtcHaSessionState,
  ReconnectOptions,
  UnsentFrame,
  WebSocketConstructor,
  WebSocketLike,
} from './session';
export { isOfferer } from './signaling';
export type { SignalFrame } from './signaling';
export type { EventHandler } from './event-handler';
export type {
  ConnectionResource,
  ErrorCode,
  IceCandidateInit,
  IceServer,
  JoinedFrame,
  MediaNodeSummary,
  Metadata,
  ParticipantResource,
  ParticipantSummary,
  PublishedFeed,
  SessionDescriptionInit,
  SessionResource,
  SignalKind,
  SignalPayloads,
} from '../contract/wire';
