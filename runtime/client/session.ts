import type {
  ClientFrame,
  DeliveredFrame,
  ErrorCode,
  JoinedFrame,
  PublishedFeed,
  ServerFrame,
  SessionDescriptionInit,
  SignalKind,
  SignalPayloads,
} from '../contract/wire';
import { CLOSE_CODES } from '../contract/wire';
import { DEFAULT_TIMINGS } from '../contract/timings';
import { fullJitterDelay } from './backoff';
import { TypedEmitter } from './emitter';
import type { EventHandler } from './event-handler';
import { SessionMedia } from './media';
import type { MediaEvents, MediaOptions, Publication, RemoteFeed } from './media';
import { withDefaults } from './options';
import { readSignalData, type SignalFrame } from './signaling';

/** What the session client needs of a WebSocket: the browser's, or `ws` in Node (see ./node). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` has it: drops the socket without a closing handshake (a dead peer never answers one). */
  terminate?(): void;
  onopen: EventHandler<unknown> | null;
  onmessage: EventHandler<{ data: unknown }> | null;
  onclose: EventHandler<{ code: number; reason: string }> | null;
  onerror: EventHandler<unknown> | null;
}
/** The browser's `WebSocket` is one, and so is `ws` (./node passes it). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

type Delivered<T extends DeliveredFrame['type']> = Extract<DeliveredFrame, { type: T }>;

/** Events of RtcHaSession; each listener gets the payload named here. */
export interface RtcHaSessionEvents extends MediaEvents {
  /** Joined the session (first connection); later connections resume instead. */
  joined: JoinedFrame;
  /** The connection was lost; attempt `attempt` starts in `delayMs` at `url`. */
  reconnecting: { attempt: number; reason: string; delayMs: number; url: string };
  /**
   * Resumed after a loss: `replayed` frames came from the mailbox, `missed` had expired.
   * `downtimeMs` counts from the last frame heard from the lost master, not from when the SDK
   * noticed the loss (a hung master is silent for deadSocketTimeoutMs first).
   */
  resumed: { replayed: number; missed: number; downtimeMs: number; frame: JoinedFrame };
  /**
   * For good: a terminal close (4001 / 4009 / 4010 / 4011) or no resume within `maxReconnectMs`.
   * After `sessionLost` (close 4011) as well.
   */
  failed: { reason: string; closeCode?: number; error?: { code: ErrorCode; message: string } };
  /**
   * The registry lost this participant (Redis restarted empty, for example), or own frames it had
   * accepted (a resume reporting fewer): data loss, not a takeover. `unsent` are the own frames it never confirmed, oldest first, which no recipient got;
   * the app may get a new connection token and send them again. `failed` follows.
   */
  sessionLost: { reason: string; unsent: UnsentFrame[] };
  message: Delivered<'message'>;
  /** Signaling from another participant, `data` checked against its kind's shape (SignalPayloads). */
  signal: SignalFrame;
  participantJoined: Delivered<'participantJoined'>;
  participantLeft: Delivered<'participantLeft'>;
  participantReconnected: Delivered<'participantReconnected'>;
  mediaNodeChanged: Delivered<'mediaNodeChanged'>;
  /** The master stored every own frame up to `cseq`: it will reach its recipients. */
  accepted: { cseq: number };
  /**
   * An error frame from the master (a bad frame, for example), or `bad_frame` for a received
   * `signal` whose data does not fit its kind (it is not emitted); the connection stays up.
   */
  error: { code: ErrorCode; message: string };
}

export interface ReconnectOptions {
  /**
   * Upper bound of the first retry's delay (full jitter): the first retry is quick.
   * @default 100
   */
  readonly firstDelayMs?: number;
  /**
   * Upper bound of the second retry's delay, doubling per retry after it.
   * @default 250
   */
  readonly baseDelayMs?: number;
  /**
   * Upper bound of any retry delay.
   * @default 5000
   */
  readonly maxDelayMs?: number;
  /**
   * Give up (`failed`) when no resume succeeded this long after the loss.
   * @default DEFAULT_TIMINGS.reconnectWindowMs (30 s: the registry keeps the participant that long)
   */
  readonly maxReconnectMs?: number;
  /**
   * Upper bound of the delay before resuming when the master drains (`reconnect` frame, close 4503).
   * @default 250
   */
  readonly drainJitterMs?: number;
}

export interface RtcHaSessionOptions extends MediaOptions {
  /**
   * WebSocket URL of the masters (`ws://host:port/ws`): the load balancer, or several servers
   * (primary first). Each reconnect attempt moves to the next one.
   */
  readonly url: string | readonly string[];
  /** Connection token from the app back end (RtcHaAdmin.createConnection). */
  readonly token: string;
  /** @default globalThis.WebSocket (in Node 20 use ./node, which passes `ws`) */
  readonly WebSocket?: WebSocketConstructor;
  /** @default DEFAULT_TIMINGS.clientPingIntervalMs (2 s) */
  readonly pingIntervalMs?: number;
  /**
   * A socket without any frame this long (handshake included) is dead: a hung master sends no RST.
   * @default DEFAULT_TIMINGS.clientDeadSocketTimeoutMs (5 s)
   */
  readonly deadSocketTimeoutMs?: number;
  /** @default - first retry within 100 ms, then 250 ms doubling to 5 s, for 30 s */
  readonly reconnect?: ReconnectOptions;
  /**
   * Received frames are acked at the latest this long after the first unacked one...
   * @default 1000
   */
  readonly ackIntervalMs?: number;
  /**
   * ...or as soon as this many are unacked.
   * @default 32
   */
  readonly ackEvery?: number;
  /**
   * A sent frame with no `accepted` this long after it went out is sent again.
   * @default 2000
   */
  readonly resendAfterMs?: number;
  /**
   * Most own frames kept until accepted (sent or queued while reconnecting); more throw.
   * @default 1000
   */
  readonly maxPendingFrames?: number;
  /** Source of jitter in [0, 1). @default Math.random */
  readonly random?: () => number;
}

export type RtcHaSessionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'failed' | 'closed';

/** Thrown by the send methods when a frame cannot be queued. */
export class RtcHaSessionError extends Error {
  override readonly name = 'RtcHaSessionError';
  constructor(
    readonly code: 'not_joined' | 'queue_full' | 'closed' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

const WS_OPEN = 1;
const TERMINAL_CLOSES: ReadonlyMap<number, string> = new Map([
  [CLOSE_CODES.unauthorized, 'unauthorized'],
  [CLOSE_CODES.superseded, 'superseded'],
  [CLOSE_CODES.left, 'removed'],
  [CLOSE_CODES.sessionLost, 'session lost'],
]);
/** Refusals of own frames that ask for a resend after a backoff. */
const BACK_OFF_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'queue_full',
  'registry_unavailable',
  'registry_full',
  'rate_limited',
  'out_of_order',
]);
/** Emitted as they come; `signal` is checked first (onSignal). */
const DELIVERED_TYPES: ReadonlySet<string> = new Set<DeliveredFrame['type']>([
  'message',
  'participantJoined',
  'participantLeft',
  'participantReconnected',
  'mediaNodeChanged',
]);

type OwnFrame = Extract<ClientFrame, { cseq: number }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An own `message` or `signal` frame as sent (with its `cseq`), never confirmed by the master. */
export type UnsentFrame = OwnFrame;

/**
 * A participant's connection to a session. It joins with a connection token, pings, detects a
 * dead socket, and after any loss reconnects with backoff and full jitter and resumes with its
 * resume token and the last `seq` it saw: the app sees `reconnecting` / `resumed`, not a dead
 * session. Received frames are deduplicated by `seq` and acked; own frames are numbered
 * (`cseq`), kept until `accepted` and resent after a resume, so nothing is lost or doubled.
 */
export class RtcHaSession extends TypedEmitter<RtcHaSessionEvents> {
  private readonly urls: readonly string[];
  private readonly WebSocketCtor: WebSocketConstructor;
  private readonly timing: {
    readonly ping: number;
    readonly dead: number;
    readonly ack: number;
    readonly ackEvery: number;
    readonly resend: number;
    readonly maxPending: number;
  };
  private readonly reconnectOptions: Required<ReconnectOptions>;
  private readonly random: () => number;

  private currentState: RtcHaSessionState = 'idle';
  private ws: WebSocketLike | undefined;
  /** Waiting for joined/resumed on the current socket. */
  private handshaking = false;
  private joinedFrame: JoinedFrame | undefined;
  private seen = 0;
  private acked = 0;
  private nextCseq = 1;
  /** Highest own `cseq` the registry said it accepted: it may never say less after a resume. */
  private acceptedHigh = 0;
  private readonly pending = new Map<number, { frame: OwnFrame; sentAt: number }>();
  /**
   * A resend of every pending frame, oldest first, that refusals asked for: due (timers.retry), or
   * sent and waiting for the reply to its `first` frame. Refusals meanwhile are of frames sent
   * before it and change nothing, so a burst of them costs one resend.
   */
  private retry: { first?: number } | undefined;
  /** queue_full / registry_unavailable refusals since the last `accepted`: each backs off further. */
  private refusals = 0;
  /** The last error frame on the current socket. */
  private lastError: { code: ErrorCode; message: string } | undefined;
  /** The next handshake joins with the connection token: the resume token was refused. */
  private rejoin = false;
  private urlIndex = 0;
  private attempt = 0;
  /** The loss being recovered from: when the SDK noticed it, and the last frame heard before it. */
  private loss: { noticedAt: number; lastHeardAt: number } | undefined;
  private lastFrameAt = 0;
  private readonly timers: {
    ping?: ReturnType<typeof setInterval>;
    dead?: ReturnType<typeof setTimeout>;
    ack?: ReturnType<typeof setTimeout>;
    resend?: ReturnType<typeof setTimeout>;
    retry?: ReturnType<typeof setTimeout>;
    reconnect?: ReturnType<typeof setTimeout>;
  } = {};
  private readonly connecting: {
    promise: Promise<JoinedFrame>;
    resolve(f: JoinedFrame): void;
    reject(e: Error): void;
  };
  private leaving: (() => void) | undefined;
  private readonly media: SessionMedia;

  constructor(private readonly options: RtcHaSessionOptions) {
    super();
    this.urls = typeof options.url === 'string' ? [options.url] : options.url;
    if (this.urls.length === 0) throw new Error('RtcHaSession: url needs at least one URL');
    const ctor = options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructor | undefined);
    if (!ctor) {
      throw new Error(
        'RtcHaSession: no global WebSocket here; pass options.WebSocket (in Node: runtime/client/node)',
      );
    }
    this.WebSocketCtor = ctor;
    this.timing = {
      ping: options.pingIntervalMs ?? DEFAULT_TIMINGS.clientPingIntervalMs,
      dead: options.deadSocketTimeoutMs ?? DEFAULT_TIMINGS.clientDeadSocketTimeoutMs,
      ack: options.ackIntervalMs ?? 1_000,
      ackEvery: options.ackEvery ?? 32,
      resend: options.resendAfterMs ?? 2_000,
      maxPending: options.maxPendingFrames ?? 1_000,
    };
    this.reconnectOptions = withDefaults(
      {
        firstDelayMs: 100,
        baseDelayMs: 250,
        maxDelayMs: 5_000,
        maxReconnectMs: DEFAULT_TIMINGS.reconnectWindowMs,
        drainJitterMs: 250,
      },
      options.reconnect,
    );
    this.random = options.random ?? Math.random;
    this.media = new SessionMedia(
      {
        info: () => this.joinedFrame,
        send: (frame) => {
          if (this.currentState !== 'open') return false;
          this.send(frame);
          return true;
        },
        emit: (event, payload) => (this.emit as (e: keyof MediaEvents, p: unknown) => void)(event, payload),
      },
      options,
    );
    let resolve!: (f: JoinedFrame) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<JoinedFrame>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // connect() may never be awaited (an app that only listens to events): no unhandled rejection.
    promise.catch(() => undefined);
    this.connecting = { promise, resolve, reject };
  }

  get state(): RtcHaSessionState {
    return this.currentState;
  }
  /** The last joined/resumed frame: session, participant, participants, media node, epoch. */
  get info(): JoinedFrame | undefined {
    return this.joinedFrame;
  }
  /** URL of the current (or next) connection attempt. */
  get url(): string {
    return this.urls[this.urlIndex];
  }
  /** Highest `seq` received (what a resume sends). */
  get lastSeq(): number {
    return this.seen;
  }
  /** Own frames not yet accepted (sent or queued). */
  get pendingCount(): number {
    return this.pending.size;
  }
  /** Feeds published in the session now, the own one included. */
  get feeds(): PublishedFeed[] {
    return this.media.feeds;
  }

  /** Publishes a stream or tracks; resolves once the media node's answer is applied (media.ts). */
  publish(source: MediaStream | readonly MediaStreamTrack[]): Promise<Publication> {
    return this.media.publish(source);
  }
  unpublish(): void {
    this.media.unpublish();
  }
  /** Subscribes to a feed (autoSubscribe does it for every other participant's); resolves on trackAdded. */
  subscribe(feedId: string): Promise<RemoteFeed> {
    return this.media.subscribe(feedId);
  }
  unsubscribe(feedId: string): void {
    this.media.unsubscribe(feedId);
  }

  /** Opens the connection; resolves on `joined`, rejects if the session fails first. */
  connect(): Promise<JoinedFrame> {
    if (this.currentState === 'idle') {
      this.currentState = 'connecting';
      this.openSocket();
    }
    return this.connecting.promise;
  }

  /** Sends app data to `to`, or to every other participant; returns its `cseq`. */
  sendMessage(data: unknown, to?: readonly string[]): number {
    return this.enqueue(to ? { type: 'message', to: [...to], data } : { type: 'message', data });
  }

  /** Sends WebRTC signaling to one participant; returns its `cseq`. */
  sendSignal<K extends SignalKind>(to: string, kind: K, data: SignalPayloads[K]): number {
    return this.enqueue({ type: 'signal', to, kind, data });
  }

  /**
   * Sends an offer or an answer (`pc.localDescription` after setLocalDescription) to one
   * participant as a `signal` of its type; returns its `cseq`.
   */
  sendDescription(to: string, description: { readonly type: string; readonly sdp?: string }): number {
    const { type, sdp } = description;
    if ((type !== 'offer' && type !== 'answer') || typeof sdp !== 'string') {
      throw new TypeError(`sendDescription: an offer or an answer with its sdp, not ${type}`);
    }
    const init: SessionDescriptionInit = { type, sdp };
    return this.enqueue({ type: 'signal', to, kind: type, data: init });
  }

  /** Leaves the session for good and waits (at most the dead-socket timeout) for the master to close. */
  leave(): Promise<void> {
    const ws = this.ws;
    const open = this.currentState === 'open' && ws?.readyState === WS_OPEN;
    if (!open) {
      this.close();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.leaving?.(), this.timing.dead);
      this.leaving = () => {
        clearTimeout(timer);
        this.leaving = undefined;
        this.close();
        resolve();
      };
      this.send({ type: 'leave' });
    });
  }

  /** Drops the connection without leaving: the participant stays resumable for the reconnect window. */
  close(): void {
    if (this.currentState === 'closed' || this.currentState === 'failed') return;
    this.currentState = 'closed';
    this.dropSocket();
    this.media.close();
    clearTimeout(this.timers.reconnect);
    this.connecting.reject(new RtcHaSessionError('closed', 'the session was closed'));
  }

  // ---- sending --------------------------------------------------------------------------------

  private enqueue(frame: DistributiveOmit<OwnFrame, 'cseq'>): number {
    if (this.currentState === 'closed' || this.currentState === 'failed') {
      throw new RtcHaSessionError('closed', `cannot send: the session is ${this.currentState}`);
    }
    if (!this.joinedFrame)
      throw new RtcHaSessionError('not_joined', 'cannot send before joined: await connect()');
    if (this.pending.size >= this.timing.maxPending) {
      throw new RtcHaSessionError('queue_full', `${this.pending.size} frames wait for acceptance already`);
    }
    const cseq = this.nextCseq++;
    const entry = { frame: { ...frame, cseq } as OwnFrame, sentAt: 0 };
    this.pending.set(cseq, entry);
    // While a resend of every pending frame is due, that resend sends this one too, in order.
    if (this.currentState === 'open' && !this.timers.retry) this.transmit(entry);
    return cseq;
  }

  private transmit(entry: { frame: OwnFrame; sentAt: number }): void {
    entry.sentAt = Date.now();
    this.send(entry.frame);
    this.timers.resend ??= setTimeout(() => this.resendOverdue(), this.timing.resend);
  }

  /** Sends again every frame with no `accepted` within resendAfterMs (the master drops duplicates). */
  private resendOverdue(): void {
    this.timers.resend = undefined;
    if (this.currentState !== 'open' || this.timers.retry) return; // that resend sends them all
    const now = Date.now();
    let nextDue = Infinity;
    for (const entry of this.pending.values()) {
      if (now - entry.sentAt >= this.timing.resend) this.transmit(entry);
      else nextDue = Math.min(nextDue, entry.sentAt + this.timing.resend);
    }
    if (this.timers.resend === undefined && nextDue !== Infinity) {
      this.timers.resend = setTimeout(() => this.resendOverdue(), nextDue - now);
    }
  }

  /**
   * The master refused own frame `cseq` (queue full, registry unavailable or full, rate limited,
   * or out of order: an earlier frame is not stored there): send every pending frame again, oldest
   * first, after a backoff that grows until something is accepted. Never at once: after a Redis
   * stall the master still works through what was sent, and an instant resend of everything per
   * refusal would only add to that backlog. Anything else is left to resendOverdue.
   */
  private onRefused(code: ErrorCode, cseq: number): void {
    if (!BACK_OFF_REFUSALS.has(code)) return;
    if (this.retry?.first === cseq) this.retry = undefined; // that resend was refused too
    this.resendPending();
  }

  /** Schedules a resend of every pending frame after a backoff, unless one is under way. */
  private resendPending(): void {
    if (this.retry) return;
    const delayMs = fullJitterDelay(
      ++this.refusals,
      { baseMs: this.reconnectOptions.baseDelayMs, maxMs: this.timing.resend },
      this.random,
    );
    this.retry = {};
    this.timers.retry = setTimeout(() => {
      this.timers.retry = undefined;
      const first = this.pending.keys().next();
      this.retry = first.done ? undefined : { first: first.value };
      for (const entry of this.pending.values()) this.transmit(entry);
    }, delayMs);
  }

  private send(frame: ClientFrame): void {
    if (this.ws?.readyState !== WS_OPEN) return;
    try {
      this.ws.send(JSON.stringify(frame));
    } catch {
      // The socket is going away; its close (or the dead-socket timer) starts the resume.
    }
  }

  // ---- receiving ------------------------------------------------------------------------------

  private onFrame(data: unknown): void {
    this.lastFrameAt = Date.now();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data)) as ServerFrame;
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return;
    switch (frame.type) {
      case 'joined':
      case 'resumed':
        if (this.handshaking) this.onJoined(frame);
        return;
      case 'accepted':
        this.onAccepted(frame.cseq);
        return;
      case 'error':
        if (this.media.onError(frame)) return; // refused a media request: its call rejects
        this.lastError = { code: frame.code, message: frame.message };
        if (typeof frame.cseq === 'number' && this.pending.has(frame.cseq))
          this.onRefused(frame.code, frame.cseq);
        this.emit('error', this.lastError);
        return;
      case 'reconnect':
        this.lose(`master asked to reconnect: ${frame.reason}`, true);
        return;
      case 'pong':
        return;
      case 'publishAnswer':
      case 'subscribeOffer':
      case 'subscribed':
      case 'renegotiate':
        this.media.onFrame(frame); // replies are not numbered: no mailbox holds them
        return;
      default:
        this.onDelivered(frame);
    }
  }

  private onJoined(frame: JoinedFrame): void {
    const resumed = this.joinedFrame !== undefined;
    if (resumed && frame.acceptedCseq < this.acceptedHigh) {
      this.ownFramesLost(frame.acceptedCseq);
      return;
    }
    this.handshaking = false;
    this.currentState = 'open';
    this.joinedFrame = frame;
    this.rejoin = false;
    this.attempt = 0;
    this.timers.ping = setInterval(() => this.send({ type: 'ping' }), this.timing.ping);
    // A fresh client of a participant that sent before (an app restart) must not reuse its numbers.
    this.nextCseq = Math.max(this.nextCseq, frame.acceptedCseq + 1);
    this.acceptUpTo(frame.acceptedCseq);
    for (const entry of this.pending.values()) this.transmit(entry);
    if (this.seen > this.acked) this.flushAck();
    if (resumed) {
      const downtimeMs = Date.now() - (this.loss?.lastHeardAt ?? Date.now());
      this.loss = undefined;
      this.emit('resumed', { replayed: frame.replayed ?? 0, missed: frame.missed ?? 0, downtimeMs, frame });
    } else {
      this.loss = undefined;
      this.connecting.resolve(frame);
      this.emit('joined', frame);
    }
    this.media.onJoined(frame, resumed);
  }

  private onAccepted(cseq: unknown): void {
    if (typeof cseq !== 'number') return;
    this.acceptUpTo(cseq);
    this.refusals = 0;
    this.emit('accepted', { cseq });
  }

  /**
   * The registry resumed this participant with fewer own frames than it had accepted (a store that
   * took over before the newest writes reached it): the SDK forgot those frames once accepted, so it
   * cannot resend them, and the registry would refuse every later one as out of order. Data loss, as
   * close 4011: `sessionLost` with the frames never accepted, then `failed`; the app joins again.
   */
  private ownFramesLost(registryCseq: number): void {
    const message = `the registry lost own frames it had accepted (cseq ${registryCseq + 1} to ${this.acceptedHigh}): join again`;
    this.lastError = { code: 'session_lost', message };
    const unsent = [...this.pending.values()].map((entry) => entry.frame);
    this.pending.clear();
    this.emit('sessionLost', { reason: message, unsent });
    this.fail({
      reason: `session lost: ${message}`,
      closeCode: CLOSE_CODES.sessionLost,
      error: this.lastError,
    });
  }

  /** The registry took every own frame up to `cseq` (it drops a resent one it already took). */
  private acceptUpTo(cseq: number): void {
    this.acceptedHigh = Math.max(this.acceptedHigh, cseq);
    for (const key of this.pending.keys()) {
      if (key > cseq) break;
      this.pending.delete(key);
    }
    if (this.retry?.first !== undefined && this.retry.first <= cseq) this.retry = undefined;
  }

  private onDelivered(frame: DeliveredFrame): void {
    if (typeof frame.seq !== 'number' || frame.seq <= this.seen) return; // a duplicate
    this.seen = frame.seq;
    if (this.seen - this.acked >= this.timing.ackEvery) this.flushAck();
    else this.timers.ack ??= setTimeout(() => this.flushAck(), this.timing.ack);
    if (frame.type === 'signal') this.onSignal(frame);
    else if (DELIVERED_TYPES.has(frame.type))
      (this.emit as (e: string, p: DeliveredFrame) => void)(frame.type, frame);
    // Media also acts on mediaNodeChanged (publish and subscribe again) and participantLeft.
    this.media.onFrame(frame);
  }

  /** Emits a signal whose data fits its kind; reports one that does not instead (acked all the same). */
  private onSignal(frame: Delivered<'signal'>): void {
    const data = readSignalData(frame.kind, frame.data);
    if (data === undefined) {
      const message = `signal ${frame.seq} from ${frame.from}: its data is no ${frame.kind} (SignalPayloads)`;
      this.emit('error', { code: 'bad_frame', message });
      return;
    }
    this.emit('signal', { ...frame, data } as SignalFrame);
  }

  private flushAck(): void {
    clearTimeout(this.timers.ack);
    this.timers.ack = undefined;
    if (this.currentState !== 'open' || this.seen <= this.acked) return;
    this.send({ type: 'ack', seq: this.seen });
    this.acked = this.seen;
  }

  // ---- connection lifecycle -------------------------------------------------------------------

  private openSocket(): void {
    const url = this.urls[this.urlIndex];
    let ws: WebSocketLike;
    try {
      ws = new this.WebSocketCtor(url);
    } catch (err) {
      this.lose(`cannot open ${url}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.ws = ws;
    this.handshaking = true;
    this.lastError = undefined;
    this.lastFrameAt = Date.now();
    this.armDeadTimer();
    ws.onopen = () => {
      this.send(
        this.joinedFrame && !this.rejoin
          ? { type: 'resume', resumeToken: this.joinedFrame.resumeToken, lastSeq: this.seen }
          : { type: 'join', token: this.options.token },
      );
    };
    ws.onmessage = (event) => this.onFrame(event.data);
    ws.onclose = (event) => this.onClose(event.code, event.reason);
    ws.onerror = () => undefined; // a close event follows
  }

  /** Treats the socket as dead once no frame came for deadSocketTimeoutMs (one timer, re-armed lazily). */
  private armDeadTimer(): void {
    clearTimeout(this.timers.dead);
    this.timers.dead = setTimeout(
      () => {
        const silentMs = Date.now() - this.lastFrameAt;
        if (silentMs >= this.timing.dead) this.lose(`no frame for ${silentMs} ms: dead socket`);
        else this.armDeadTimer();
      },
      Math.max(0, this.lastFrameAt + this.timing.dead - Date.now()),
    );
  }

  private onClose(code: number, reason: string): void {
    this.ws = undefined;
    if (this.leaving) {
      this.leaving();
      return;
    }
    if (
      code === CLOSE_CODES.unauthorized &&
      this.lastError?.code === 'invalid_resume_token' &&
      !this.rejoin
    ) {
      // A claim rotated the token but its reply never came (that master died in between): join
      // again with the connection token. The full replay that follows is deduplicated by seq.
      this.rejoin = true;
      this.lose('resume token refused: joining again with the connection token');
      return;
    }
    if (code === CLOSE_CODES.sessionLost) {
      const unsent = [...this.pending.values()].map((entry) => entry.frame);
      this.pending.clear();
      this.emit('sessionLost', { reason: this.lastError?.message ?? reason, unsent });
    }
    const terminal = TERMINAL_CLOSES.get(code);
    if (terminal) {
      this.fail({
        reason: `${terminal}${reason ? `: ${reason}` : ''}`,
        closeCode: code,
        error: this.lastError,
      });
      return;
    }
    this.lose(`closed ${code}${reason ? ` ${reason}` : ''}`, code === CLOSE_CODES.draining);
  }

  /** The socket is gone (or must go): reconnect and resume, unless the session is over. */
  private lose(reason: string, draining = false): void {
    this.dropSocket();
    if (this.currentState === 'closed' || this.currentState === 'failed') return;
    const now = Date.now();
    // lastFrameAt is still the lost socket's: it is reset only when the next one opens.
    this.loss ??= { noticedAt: now, lastHeardAt: this.lastFrameAt };
    this.attempt++;
    const r = this.reconnectOptions;
    const delayMs = Math.floor(
      draining
        ? this.random() * r.drainJitterMs
        : this.attempt === 1
          ? this.random() * r.firstDelayMs
          : fullJitterDelay(this.attempt - 1, { baseMs: r.baseDelayMs, maxMs: r.maxDelayMs }, this.random),
    );
    if (now + delayMs - this.loss.noticedAt > r.maxReconnectMs) {
      this.fail({ reason: `no resume within ${r.maxReconnectMs} ms (last: ${reason})` });
      return;
    }
    this.currentState = this.joinedFrame ? 'reconnecting' : 'connecting';
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    const url = this.urls[this.urlIndex];
    this.emit('reconnecting', { attempt: this.attempt, reason, delayMs, url });
    this.timers.reconnect = setTimeout(() => this.openSocket(), delayMs);
  }

  private fail(event: RtcHaSessionEvents['failed']): void {
    this.dropSocket();
    this.currentState = 'failed';
    this.media.close();
    this.connecting.reject(new RtcHaSessionError('failed', `session failed: ${event.reason}`));
    this.emit('failed', event);
  }

  /** Stops the socket's timers and closes it without waiting for (or hearing) its close event. */
  private dropSocket(): void {
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.dead);
    clearTimeout(this.timers.ack);
    clearTimeout(this.timers.resend);
    clearTimeout(this.timers.retry);
    this.timers.ping =
      this.timers.dead =
      this.timers.ack =
      this.timers.resend =
      this.timers.retry =
        undefined;
    this.retry = undefined;
    this.handshaking = false;
    const ws = this.ws;
    this.ws = undefined;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      if (ws.terminate) ws.terminate();
      else ws.close(1000);
    } catch {
      // Already closed.
    }
  }
}
