/**
 * Default timings and limits of the HA contract (docs/architecture.md, "Default timings").
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
  /**
   * Connection tokens handed to clients by the app back end are valid this long. A client joins
   * within seconds of getting one; the SDK needs it again only to join anew when a claim's reply
   * was lost. Shorter means a leaked token is worth less (it was 5 min).
   */
  connectionTokenTtlMs: 2 * 60_000,
  /**
   * A participant that never connected is removed this long after its last connection token was
   * issued (longer than the token lifetime: after it, no token of it can join any more).
   */
  pendingParticipantTimeoutMs: 5 * 60_000,
  /** A session with no participant connected (or within its reconnect window) is deleted after this long. */
  emptySessionTimeoutMs: 5 * 60_000,
  /** Each master tries to take the sweeper lock this often; the holder sweeps one batch of sessions. */
  sweepIntervalMs: 1_000,
  /** A swept session is due for its next sweep this long after. */
  sessionSweepEveryMs: 5_000,
  /**
   * The sweeper takes a master for dead only after this long without a heartbeat: far longer than the
   * TTL, because a live master that misses a few beats under load must not lose its participants.
   */
  sweeperOwnerSilenceMs: 15_000,
  /** A new socket must send join/resume within this long; then it is dropped, even if it keeps sending. */
  joinTimeoutMs: 5_000,
  /**
   * A socket the master closes is dropped this long after its close frame if the client has not
   * answered (ws alone waits 30 s, so a client that keeps sending could hold the socket that long).
   */
  closeGraceMs: 1_000,
  /**
   * A participant whose record vanished without a removal notice is reported as `session_lost`
   * after this long: a removal's notice may still be on its way on the subscriber connection.
   */
  sessionLostConfirmMs: 250,
  /** Takeovers (joins and resumes) of one participant on one master: LIMITS.maxTakeovers per this window. */
  takeoverWindowMs: 10_000,
  /** Node's HTTP server: all request headers within this long... */
  httpHeadersTimeoutMs: 10_000,
  /** ...the whole request (a REST body is at most 16 KiB) within this long... */
  httpRequestTimeoutMs: 30_000,
  /**
   * ...and an idle keep-alive connection is kept this long: longer than the ALB's idle timeout
   * (albIdleTimeoutSeconds + 5 s), so the ALB closes it first and never sends into a closing one (a 502).
   */
  httpKeepAliveTimeoutMs: 3_605_000,
  /** How often Node checks the two timeouts above (its default, 30 s, lets a slow client linger). */
  httpTimeoutCheckIntervalMs: 1_000,
  /** Redis commands that take longer count as failures (a hung Redis sends no RST either). */
  redisCommandTimeoutMs: 1_000,
  /** A master's media request (publish, subscribe, ...) fails with media_unavailable after this long. */
  mediaRequestTimeoutMs: 10_000,
  /** The feeds listed in a joined frame: a slow media node must not hold a join up. */
  mediaFeedsTimeoutMs: 1_000,
  /** A control channel's peer must prove the shared secret within this long, or it is closed. */
  mediaControlHandshakeMs: 5_000,
  /** A master reconnects a lost control channel after this, doubling up to mediaControlBackoffMaxMs. */
  mediaControlBackoffMs: 250,
  mediaControlBackoffMaxMs: 5_000,
  /** A media agent drops the Janus state of participants the registry no longer has this often. */
  mediaReconcileIntervalMs: 5_000,
  /** A master pings each media agent on its open control channel this often (WebSocket ping)... */
  mediaControlPingIntervalMs: 500,
  /** ...and counts an agent silent this long (no pong, no frame) as dead: its rooms move at once. */
  mediaControlDeadAfterMs: 1_500,
  /**
   * A drain's handover (make-before-break): a participant keeps publishing into the draining node
   * this long after its new publisher connection is up, so that every subscriber switches first.
   */
  mediaHandoverMs: 5_000,
  /** A draining node drops a room moved away this long after the move, whoever did not switch. */
  mediaHandoverGraceMs: 15_000,
  /** A client connection that receives nothing this long asks its master to check (mediaStalled). */
  mediaStallMs: 2_000,
  /** A master's `check` of a media agent after mediaStalled; Janus must answer its ping within half. */
  mediaCheckTimeoutMs: 1_000,
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
  /**
   * An in-service node that never registered is overdue this long after launch (the watchdog's
   * `boot-overdue` signal): twice the 15 minutes CloudFormation waits for a new node's readiness
   * signal (constructs/node-fleet), the longest boot the platform grants. A baked node image is
   * ready within a second of its runtime starting (bench/results/boot.md).
   */
  bootDeadlineSeconds: 1_800,
} as const;

export type Timings = typeof DEFAULT_TIMINGS;

export const LIMITS = {
  /** Largest WebSocket frame a master accepts from a joined socket; larger ones get an error frame. */
  maxFrameBytes: 64 * 1024,
  /**
   * Largest frame a socket may send before it joined (a join or resume frame is under 2.1 KiB);
   * a larger one closes it (1009) as soon as its header arrives, so an unauthenticated socket
   * never makes the master buffer more than this.
   */
  maxFrameBytesBeforeJoin: 4 * 1024,
  /** Frames a socket may send before it joined (join, a few pings); one more closes it. */
  maxFramesBeforeJoin: 16,
  /**
   * A joined socket's frame beyond this closes it (1009) at its header; between maxFrameBytes and
   * this it gets a clear `frame_too_large` and stays open.
   */
  maxWsMessageBytes: 128 * 1024,
  /** WebSocket sockets (joined or not) one master holds; beyond, upgrades get 503 `too_many_connections`. */
  maxSocketsPerMaster: 20_000,
  /** TCP connections the HTTP server takes beyond its sockets (REST, health checks, upgrades under way). */
  extraHttpConnections: 1_024,
  /** Takeovers of one participant per takeoverWindowMs on one master; more get `rate_limited` (close 4029). */
  maxTakeovers: 10,
  /**
   * Joins and resumes per client address on one master: a burst of this many (a room behind one
   * NAT), then joinRatePerAddressPerSecond; more get `rate_limited` (close 4029).
   */
  joinBurstPerAddress: 200,
  joinRatePerAddressPerSecond: 50,
  /**
   * mediaStalled reports one participant may make on one master: a burst (each of its connections
   * at once), then this many per second; more are ignored (each costs the media node a check).
   */
  mediaStallReportBurst: 8,
  mediaStallReportsPerSecond: 1,
  /** Addresses (or participants) a master tracks for those limits; the longest idle are forgotten first. */
  maxTrackedRateKeys: 10_000,
  /** Largest REST request body. */
  maxRestBodyBytes: 16 * 1024,
  /** Most messages kept in one participant's mailbox; older ones are reported as missed on resume. */
  mailboxMaxMessages: 512,
  /**
   * Most bytes kept in one participant's mailbox; beyond it (as beyond mailboxMaxMessages) the
   * oldest frames are trimmed and reported as missed on resume. Bounds a session's mailboxes to
   * maxParticipantsPerSession x this.
   */
  mailboxMaxBytes: 256 * 1024,
  /** Most participants in one session. */
  maxParticipantsPerSession: 500,
  /**
   * What one participant may send (token bucket, in the registry so a resume elsewhere keeps it):
   * each own frame costs its size, at least minFrameCost bytes; beyond it `error rate_limited`.
   */
  senderRate: { bytesPerSecond: 256 * 1024, burstBytes: 1024 * 1024, minFrameCost: 1024 },
  /** Most join/reconnect notices one registry call carries (a herd of joins is announced in batches). */
  presenceBatchMax: 50,
  /** Most sessions one sweeper run looks at (bounded work per run). */
  sweepMaxSessions: 100,
} as const;

/** Ports the nodes listen on by default. */
export const DEFAULT_PORTS = { master: 8080, media: 9090 } as const;

/** Prefix of every registry key (RTC_KEY_PREFIX) unless one is configured. */
export const DEFAULT_KEY_PREFIX = 'rtc';

/** Ports media nodes take WebRTC media on (RTC_MEDIA_PORT_MIN to RTC_MEDIA_PORT_MAX) unless configured. */
export const DEFAULT_MEDIA_PORT_RANGE = { min: 40_000, max: 49_999 } as const;
