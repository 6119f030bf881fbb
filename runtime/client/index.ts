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
  SignalKind,
  UnsentFrame,
  WebSocketConstructor,
  WebSocketLike,
} from './session';
