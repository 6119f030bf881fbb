/**
 * Redis key and channel names. Keys of one session share the hash tag `{s:<id>}` and the node
 * registry shares `{nodes}`, so every Lua script touches a single slot and Redis cluster mode
 * stays possible. Ids are restricted by ID_PATTERN, so they can never break out of a key.
 */
import { DEFAULT_KEY_PREFIX } from './timings';
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** What a key prefix (RTC_KEY_PREFIX) may be: it starts every key, and never holds a hash tag. */
export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:_-]{0,31}$/;

export class Keys {
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {}

  /** Live node record (hash), expires `heartbeatTtlMs` after the last heartbeat. */
  node(nodeId: string): string {
    return `${this.prefix}:{nodes}:node:${nodeId}`;
  }
  /** Sorted set nodeId -> time of last heartbeat (Redis clock, ms). Outlives the node record. */
  heartbeats(): string {
    return `${this.prefix}:{nodes}:heartbeats`;
  }
  /** Hash nodeId -> identity JSON (role, instance id, address): who a stale node was. */
  identities(): string {
    return `${this.prefix}:{nodes}:identity`;
  }
  /**
   * Set of session ids placed on a media node: its reservations (at most its capacity, taken
   * atomically at placement, released when the session ends or moves).
   */
  mediaSessions(mediaNodeId: string): string {
    return `${this.prefix}:{nodes}:media-sessions:${mediaNodeId}`;
  }
  /** Lock held by the running watchdog (its token, expiring after the run), so runs never overlap. */
  watchdogLock(): string {
    return `${this.prefix}:{nodes}:watchdog-lock`;
  }
  /**
   * Sorted set sessionId -> when the sweeper looks at it next (Redis clock, ms). Written before the
   * session record, so every session (and a create that died halfway) has an owner that ends it.
   */
  sessionIndex(): string {
    return `${this.prefix}:{nodes}:sessions`;
  }
  /** Lock held by the master sweeping sessions (its node id, expiring), so sweeps never overlap. */
  sweeperLock(): string {
    return `${this.prefix}:{nodes}:sweeper-lock`;
  }
  /** Short lock so that one master at a time moves a dead media node's sessions. */
  mediaReplacementLock(mediaNodeId: string): string {
    return `${this.prefix}:{nodes}:media-replace-lock:${mediaNodeId}`;
  }

  /** Session record (hash). */
  session(sessionId: string): string {
    return `${this.prefix}:{s:${sessionId}}:session`;
  }
  /** Set of the session's participant ids. */
  participants(sessionId: string): string {
    return `${this.prefix}:{s:${sessionId}}:participants`;
  }
  /** Participant record (hash): epoch, owner, state, resume token hash, mailbox sequence. */
  participant(sessionId: string, participantId: string): string {
    return `${this.prefix}:{s:${sessionId}}:p:${participantId}`;
  }
  /** Participant mailbox: sorted set seq -> delivered frame, trimmed on ack. */
  mailbox(sessionId: string, participantId: string): string {
    return `${this.prefix}:{s:${sessionId}}:mailbox:${participantId}`;
  }
  /** Pub/sub channel of one session: deliveries and takeover notices for masters holding its sockets. */
  sessionChannel(sessionId: string): string {
    return `${this.prefix}:{s:${sessionId}}:events`;
  }
}
