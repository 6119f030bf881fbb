/**
 * Constants of the wire protocol that the browser SDK needs as values. Free of zod and of Node
 * modules, so that importing them keeps the browser bundle small; the schemas live in messages.ts.
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
