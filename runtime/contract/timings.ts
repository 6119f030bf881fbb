/**
 * Default timings and limits of the HA contract (ARCHITECTURE.md, "Default timings").
 * Every runtime piece and the CDK constructs read them from here; nothing redefines them.
 */
export const DEFAULT_TIMINGS = {
  /** A node writes its heartbeat this often. */
  heartbeatIntervalMs: 1_000,
  /** A node record expires this long after its last heartbeat: detection within seconds. */
  heartbeatTtlMs: 3_000,
  /** Clients ping this often... */
  clientPingIntervalMs: 2_000,
  /** ...and treat the socket as dead after this long without any frame (a hung master sends no RST). */
  clientDeadSocketTimeoutMs: 5_000,
  /** A node told to drain exits when empty or after this long, whichever is first. */
  drainDeadlineMs: 30_000,
  /** A participant whose socket closed keeps its place (and its mailbox) this long, waiting to resume. */
  reconnectWindowMs: 30_000,
  /** Undelivered messages for a participant are kept this long after the last one was added. */
  mailboxTtlMs: 60_000,
  /** Connection tokens handed to clients by the app back end are valid this long. */
  connectionTokenTtlMs: 5 * 60_000,
  /** A new socket must send join/resume within this long. */
  joinTimeoutMs: 5_000,
  /** Redis commands that take longer count as failures (a hung Redis sends no RST either). */
  redisCommandTimeoutMs: 1_000,
  /** Local HAProxy check on /ready. */
  localCheck: { path: '/ready', interMs: 1_000, fall: 2, rise: 2 },
  /** ALB target group check on /ready (ALB minimums). */
  albCheck: {
    path: '/ready',
    intervalSeconds: 5,
    timeoutSeconds: 2,
    unhealthyThreshold: 2,
    healthyThreshold: 2,
  },
  /** ALB idle timeout: long-lived WebSockets (clients still ping). */
  albIdleTimeoutSeconds: 3_600,
  /** Watchdog cycle on one machine. */
  watchdogLocalCycleMs: 2_000,
  /** On AWS: an EventBridge schedule every minute whose run loops this often. */
  watchdogAwsCycleMs: 5_000,
  watchdogScheduleMinutes: 1,
  /** A booting node has no heartbeat yet. */
  asgHealthCheckGraceSeconds: 120,
} as const;

export type Timings = typeof DEFAULT_TIMINGS;

export const LIMITS = {
  /** Largest WebSocket frame a master accepts; larger ones get an error frame. */
  maxFrameBytes: 64 * 1024,
  /** Largest REST request body. */
  maxRestBodyBytes: 16 * 1024,
  /** Most messages kept in one participant's mailbox; older ones are reported as missed on resume. */
  mailboxMaxMessages: 512,
  /** Most participants in one session. */
  maxParticipantsPerSession: 500,
} as const;

/** Ports the nodes listen on by default. */
export const DEFAULT_PORTS = { master: 8080, media: 9090 } as const;
