import { RawData, WebSocket } from 'ws';
import {
  CLOSE_CODES,
  ClientFrame,
  DEFAULT_TIMINGS,
  DeliverResult,
  Delivery,
  ErrorCode,
  LIMITS,
  ParticipantRecord,
  Replay,
  ServerFrame,
  SessionStore,
  TokenKeys,
  isRedisOutOfMemory,
  isRedisUnavailable,
  newResumeToken,
  parseResumeToken,
  verifyConnectionToken,
} from '../contract';
import type { Logger } from '../node/log';
import { CursorStep, DeliveryCursor, MailboxRead } from './delivery-cursor';
import type { Departures } from './departures';
import type { Presence } from './presence';
import { decodeClientFrame } from './frames';
import { MediaFrame, isMediaFrame, type MediaBroker } from './media-broker';
import type { ChannelMember, SessionChannels } from './session-channels';

export interface ConnectionContext {
  readonly nodeId: string;
  readonly store: SessionStore;
  readonly channels: SessionChannels;
  readonly departures: Departures;
  readonly presence: Presence;
  readonly media: MediaBroker;
  readonly tokenKey: TokenKeys;
  readonly joinTimeoutMs: number;
  readonly log: Logger;
}

/** Where a socket comes from, and the join limits of the master it is on (docs/contract.md, "Limits"). */
export interface Admission {
  /** The client's address as rate-limited (rate-limit.ts: clientAddress, addressKey). */
  readonly address: string;
  /** One more join or resume from `address` may go on. */
  readonly fromAddress: (address: string) => boolean;
  /** One more takeover of this participant may go on. */
  readonly ofParticipant: (sessionId: string, participantId: string) => boolean;
}

type JoinFrame = Extract<ClientFrame, { type: 'join' | 'resume' }>;
type OwnFrame = Extract<ClientFrame, { cseq: number }>;

/**
 * Why this master ended the connection itself. Such a close never marks the participant
 * disconnected: it left, was taken over or removed, or is told to resume elsewhere (drain).
 */
type Ending = 'left' | 'superseded' | 'removed' | 'session_lost' | 'drained' | 'refused';

/** What refusing a resume says, whatever the reason: it tells a forger nothing about what exists. */
const RESUME_REFUSED = { code: 'invalid_resume_token', message: 'resume token refused' } as const;

/** Frames waiting for Redis on one socket; beyond this the client is told to resend later. */
const MAX_QUEUED_FRAMES = 1024;
/** A client that reads this much slower than we write is dropped; it resumes from its mailbox. */
const MAX_SEND_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * One client socket (docs/contract.md, "The WebSocket protocol"): awaiting join -> joining ->
 * joined -> closed. Frames of one socket are taken in order; a participant's own frames go to the
 * registry pipelined, in `cseq` order, without waiting for each reply (the registry refuses one
 * that skips a cseq, so a refused frame can never be overtaken). Pings are answered at once even
 * while Redis is slow, so the client does not mistake a slow registry for a dead master.
 *
 * Until it joins, a socket costs little and lives briefly: frames of at most
 * LIMITS.maxFrameBytesBeforeJoin, LIMITS.maxFramesBeforeJoin of them, the join timeout.
 *
 * Delivery to the client (replay, then live, never a seq twice or out of order) is decided by a
 * DeliveryCursor; this class only carries out its steps: write frames, read the mailbox.
 */
export class ParticipantConnection implements ChannelMember {
  sessionId?: string;
  participantId?: string;
  /** Ownership epoch once claimed (fencing token for every write). */
  epoch = 0;
  /** When the last frame of any kind arrived (silent sockets are dead). */
  lastFrameAt = Date.now();
  /** Highest cseq of this participant the registry holds (from the claim, then each accepted). */
  private acceptedCseq = 0;
  /** Highest cseq handed to the registry (accepted, or its reply still to come). */
  private handedCseq = 0;
  /** Own frames awaiting the registry's reply: cseq -> number of its latest hand-over. */
  private readonly handing = new Map<number, number>();
  private handOvers = 0;

  private phase: 'awaiting' | 'joining' | 'joined' | 'closed' = 'awaiting';
  private ending?: Ending;
  private attached = false;
  private drainWhenJoined = false;
  private readonly cursor = new DeliveryCursor();
  private queue: Promise<void> = Promise.resolve();
  /** Frames waiting in `queue` or for the registry's reply. */
  private queued = 0;
  private framesBeforeJoin = 0;
  private readonly joinTimer: NodeJS.Timeout;
  private dropTimer?: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: ConnectionContext,
    private readonly admission: Admission,
    private readonly onGone: (conn: ParticipantConnection) => void,
  ) {
    setMaxPayload(ws, LIMITS.maxFrameBytesBeforeJoin);
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code) => this.onClose(code));
    // Oversized or malformed frames and resets: the client's doing, not the master's.
    ws.on('error', (err) => ctx.log.info('socket_error', { ...this.ids(), error: err }));
    this.joinTimer = setTimeout(() => {
      if (this.phase !== 'awaiting') return;
      this.end('refused', CLOSE_CODES.tryAgain, 'join timeout', {
        code: 'not_joined',
        message: `no join or resume within ${ctx.joinTimeoutMs} ms`,
      });
    }, ctx.joinTimeoutMs);
  }

  get joined(): boolean {
    return this.phase === 'joined';
  }

  /**
   * The master drains: tell the client to resume elsewhere, keep the participant as it is. A socket
   * whose claim is in flight is drained once its joined/resumed frame is out: the claim rotates
   * the resume token, and the client must have the new one to resume elsewhere.
   */
  drain(): void {
    if (this.phase === 'joining') {
      this.drainWhenJoined = true;
      return;
    }
    this.send({ type: 'reconnect', reason: 'draining' });
    this.end('drained', CLOSE_CODES.draining, 'draining');
  }

  /** Drops the socket without a close handshake (silent client, or the master stopping). */
  terminate(): void {
    this.ws.terminate();
  }

  // ---- session channel events (ChannelMember) ---------------------------------------------------

  deliverLive(raw: string, seq: number): void {
    if (!this.stopped) this.follow(this.cursor.live({ seq, raw }));
  }

  onTakeover(epoch: number): void {
    if (this.phase === 'joined' && epoch > this.epoch) this.supersede();
  }

  onRemoved(): void {
    if (this.phase === 'joined') this.end('removed', CLOSE_CODES.left, 'removed');
  }

  resync(): void {
    if (!this.stopped) this.follow(this.cursor.resync());
  }

  // ---- inbound frames ----------------------------------------------------------------------------

  private onMessage(data: RawData, isBinary: boolean): void {
    this.lastFrameAt = Date.now();
    if (this.stopped) return;
    if (this.phase === 'awaiting' && ++this.framesBeforeJoin > LIMITS.maxFramesBeforeJoin) {
      this.end('refused', CLOSE_CODES.tryAgain, 'too many frames before join', {
        code: 'not_joined',
        message: `more than ${LIMITS.maxFramesBeforeJoin} frames before join or resume`,
      });
      return;
    }
    const decoded = decodeClientFrame(data, isBinary);
    if (!decoded.ok) {
      this.sendError(decoded.code, decoded.message);
      return;
    }
    const frame = decoded.frame;
    if (frame.type === 'ping') {
      this.send({ type: 'pong', id: frame.id });
    } else if (frame.type === 'join' || frame.type === 'resume') {
      if (this.phase !== 'awaiting') {
        this.sendError('already_joined', 'this socket already sent join or resume');
        return;
      }
      if (!this.admission.fromAddress(this.admission.address)) {
        this.rateLimited(`too many joins and resumes from ${this.admission.address}`);
        return;
      }
      clearTimeout(this.joinTimer);
      this.phase = 'joining';
      this.enqueue(() => this.join(frame));
    } else if (this.phase === 'awaiting') {
      this.sendError('not_joined', 'send join or resume first');
    } else if (frame.type === 'signal' || frame.type === 'message') {
      this.enqueue(async () => this.handOver(frame), frame.cseq);
    } else if (isMediaFrame(frame)) {
      // Queued only behind the join; the broker answers when the media node does.
      this.enqueue(async () => this.media(frame));
    } else {
      this.enqueue(() => this.handle(frame));
    }
  }

  /** Runs `run` after every earlier frame of this socket; `cseq`: the own frame it handles. */
  private enqueue(run: () => Promise<void>, cseq?: number): void {
    if (this.queued >= MAX_QUEUED_FRAMES) {
      this.sendError('queue_full', 'too many frames waiting for the registry: resend later', cseq);
      return;
    }
    this.queued++;
    this.queue = this.queue
      .then(run)
      .catch((err: unknown) => this.failed(err, cseq))
      .finally(() => this.queued--);
  }

  private failed(err: unknown, cseq: number | undefined): void {
    const { code, message } = this.failure(err);
    this.sendError(code, message, cseq);
  }

  /** The error frame a failed registry call earns; anything but Redis being away is a bug, logged. */
  private failure(err: unknown): { code: ErrorCode; message: string } {
    if (isRedisUnavailable(err))
      return { code: 'registry_unavailable', message: 'registry unavailable: resend later' };
    if (isRedisOutOfMemory(err))
      return { code: 'registry_full', message: 'registry out of memory: resend later' };
    this.ctx.log.error('frame_failed', { ...this.ids(), error: err, stack: (err as Error)?.stack });
    return { code: 'internal', message: 'internal error' };
  }

  private async join(frame: JoinFrame): Promise<void> {
    try {
      await this.claim(frame);
    } catch (err) {
      if (this.epoch > 0) throw err; // claimed: the client has its new token, the socket stays
      if (!isRedisUnavailable(err)) this.ctx.log.error('join_failed', { ...this.ids(), error: err });
      this.end('refused', CLOSE_CODES.tryAgain, 'not ready', {
        code: 'registry_unavailable',
        message: 'registry unavailable: try again',
      });
    } finally {
      if (this.phase !== 'joined') this.release();
    }
  }

  /**
   * Subscribe first, then read (session, participants, mailbox), then claim: every frame stored
   * after the mailbox read is published after the subscription, so nothing falls between replay
   * and live. Nothing can fail after the claim but sends, because the claim rotated the resume
   * token and the client must get the new one. A resume after a `lastSeq` the registry never
   * numbered (it lost frames the client received) is refused as `session_lost` before the claim.
   */
  private async claim(frame: JoinFrame): Promise<void> {
    const { store, channels, departures, nodeId, log } = this.ctx;
    const who = this.identify(frame);
    if (!who.ok) {
      this.end('refused', CLOSE_CODES.unauthorized, who.code, { code: who.code, message: who.message });
      return;
    }
    const { sessionId, participantId } = who;
    // A resume token first, with one read: a forged one costs O(1) and learns nothing.
    if (
      who.presentedHash !== undefined &&
      !(await store.resumeHashMatches(sessionId, participantId, who.presentedHash))
    ) {
      this.end('refused', CLOSE_CODES.unauthorized, RESUME_REFUSED.code, RESUME_REFUSED);
      return;
    }
    // Counted once authenticated, so nobody can spend another participant's takeovers.
    if (!this.admission.ofParticipant(sessionId, participantId)) {
      this.rateLimited(
        `more than ${LIMITS.maxTakeovers} joins and resumes of this participant within ${DEFAULT_TIMINGS.takeoverWindowMs} ms`,
      );
      return;
    }
    this.sessionId = sessionId;
    this.participantId = participantId;
    await channels.attach(sessionId, this);
    this.attached = true;
    const resuming = frame.type === 'resume';
    const afterSeq = resuming ? frame.lastSeq : 0;
    const [session, replay] = await Promise.all([
      store.getSession(sessionId),
      store.replay(sessionId, participantId, afterSeq),
    ]);
    if (this.stopped) return;
    if (resuming && replay && frame.lastSeq > replay.seq) {
      // The client saw frames the registry no longer has (a pair's store that took over before the
      // old active's newest writes reached it): resuming would hide that loss. Nothing is claimed.
      log.warn('resume_beyond_registry', {
        sessionId,
        participantId,
        lastSeq: frame.lastSeq,
        registrySeq: replay.seq,
      });
      this.end('session_lost', CLOSE_CODES.sessionLost, 'session lost', {
        code: 'session_lost',
        message: `the registry lost frames this participant had received (seq ${replay.seq + 1} to ${frame.lastSeq}): join again`,
      });
      return;
    }
    const resumeToken = newResumeToken(sessionId, participantId);
    const claim = await store.claim(
      sessionId,
      participantId,
      nodeId,
      resumeToken.hash,
      who.presentedHash,
      who.incarnation,
    );
    if (!claim.ok) {
      const error = resuming
        ? RESUME_REFUSED
        : { code: claim.reason, message: 'no such participant in this session' };
      this.end('refused', CLOSE_CODES.unauthorized, error.code, error);
      return;
    }
    this.epoch = claim.epoch;
    this.acceptedCseq = this.handedCseq = claim.acceptedCseq;
    // Announce at once: the room must hear of the claim even if this socket closes or is superseded.
    this.ctx.presence.claimed(sessionId, {
      participantId,
      epoch: claim.epoch,
      summary: { participantId, state: 'connected', metadata: claim.metadata },
    });
    // The roster is read after the claim: whoever claims later announces to this participant.
    const [participants, feeds] = await Promise.all([
      store.listParticipants(sessionId).catch(() => undefined),
      this.ctx.media.feeds(sessionId, session?.mediaNode),
    ]);
    if (!participants && !this.stopped) {
      this.end('refused', CLOSE_CODES.tryAgain, 'not ready', {
        code: 'registry_unavailable',
        message: 'registry unavailable: resume or join again',
      });
      departures.socketLost(sessionId, participantId, claim.epoch);
      return;
    }
    if (this.stopped || !participants) {
      if (!this.ending) departures.socketLost(sessionId, participantId, claim.epoch);
      return;
    }
    if (!session) {
      this.end('removed', CLOSE_CODES.left, 'session deleted');
      return;
    }
    if (channels.latestTakeover(sessionId, participantId) > claim.epoch) {
      this.supersede();
      return;
    }

    this.phase = 'joined';
    setMaxPayload(this.ws, LIMITS.maxWsMessageBytes);
    const read = mailboxRead(replay);
    this.send({
      type: resuming ? 'resumed' : 'joined',
      sessionId,
      participantId,
      epoch: claim.epoch,
      resumeToken: resumeToken.token,
      participants: participants.map((p) => summary(p, p.participantId === participantId)),
      mediaNode: session.mediaNode,
      feeds,
      ...this.ctx.media.iceServers(session.mediaNode, participantId),
      acceptedCseq: claim.acceptedCseq,
      ...(resuming ? { replayed: read.frames.length, missed: replay?.missed ?? 0 } : {}),
    });
    this.follow(this.cursor.joined(afterSeq, read));
    log.info(resuming ? 'participant_resumed' : 'participant_joined', {
      sessionId,
      participantId,
      epoch: claim.epoch,
      previousOwner: claim.previousOwner,
      previousState: claim.previousState,
      replayed: read.frames.length,
      missed: replay?.missed ?? 0,
    });

    if (this.drainWhenJoined) this.drain();
  }

  private identify(
    frame: JoinFrame,
  ):
    | { ok: true; sessionId: string; participantId: string; presentedHash?: string; incarnation?: string }
    | { ok: false; code: 'unauthorized' | 'token_expired' | 'invalid_resume_token'; message: string } {
    if (frame.type === 'resume') {
      const parsed = parseResumeToken(frame.resumeToken);
      if (!parsed) return { ok: false, ...RESUME_REFUSED };
      return { ok: true, ...parsed, presentedHash: parsed.hash };
    }
    const check = verifyConnectionToken(this.ctx.tokenKey, frame.token);
    if (check.ok) return { ok: true, ...check.claims };
    return check.reason === 'expired'
      ? { ok: false, code: 'token_expired', message: 'connection token expired: get a new one' }
      : { ok: false, code: 'unauthorized', message: `connection token rejected (${check.reason})` };
  }

  private async handle(frame: Extract<ClientFrame, { type: 'ack' | 'leave' }>): Promise<void> {
    if (this.phase !== 'joined' || this.ending) return;
    const { store, departures } = this.ctx;
    const sessionId = this.sessionId!;
    const participantId = this.participantId!;
    switch (frame.type) {
      case 'ack':
        // Not awaited: own frames behind it need not wait for its reply.
        this.inFlight(
          store.ack(sessionId, participantId, this.epoch, frame.seq).then(
            (acked) => {
              if (!acked.ok) this.fenceLost();
            },
            (err: unknown) => this.failed(err, undefined),
          ),
        );
        return;
      case 'leave': {
        const removed = await store.removeParticipant(sessionId, participantId, { epoch: this.epoch });
        if (!removed.ok && removed.reason === 'stale_epoch') return this.supersede();
        this.end('left', CLOSE_CODES.left, 'left');
        if (removed.ok) this.ctx.media.left(sessionId, participantId);
        if (removed.ok) await departures.announceLeft(sessionId, participantId);
        return;
      }
    }
  }

  private media(frame: MediaFrame): void {
    if (this.phase !== 'joined' || this.ending) return;
    const { sessionId, participantId } = this.ids();
    this.ctx.media.handle(
      { sessionId: sessionId!, participantId: participantId!, send: (f) => this.send(f) },
      frame,
    );
  }

  /**
   * Hands own frame `cseq` to the registry without waiting for the replies of those before it: a
   * backlog costs one round trip, not one each. The registry keeps only the highest cseq it took,
   * so it takes a participant's frames strictly in cseq order (it refuses one that skips a cseq):
   * if 2 is refused (Redis stalled, rate limited), 3 behind it is refused too, and nothing is
   * lost. Only the refusal of the first missing frame is reported: the SDK resends every
   * unaccepted frame on it, so a stall costs one error frame, not one per frame.
   */
  private handOver(frame: OwnFrame): void {
    if (this.phase !== 'joined' || this.ending) return;
    const { cseq } = frame;
    if (cseq <= this.acceptedCseq) return this.send({ type: 'accepted', cseq });
    if (cseq > this.handedCseq + 1) {
      return this.sendError(
        'out_of_order',
        `cseq ${cseq} waits for cseq ${this.handedCseq + 1}: resend unaccepted frames in order`,
        cseq,
      );
    }
    this.handedCseq = Math.max(this.handedCseq, cseq);
    const { store } = this.ctx;
    const sessionId = this.sessionId!;
    const from = this.participantId!;
    const sender = { participantId: from, epoch: this.epoch, cseq };
    const delivery: Delivery =
      frame.type === 'signal'
        ? { type: 'signal', from, kind: frame.kind, data: frame.data }
        : { type: 'message', from, data: frame.data };
    const to = frame.type === 'signal' ? [frame.to] : frame.to && [...new Set(frame.to)];
    const stored = to
      ? store.deliver(sessionId, to, delivery, sender)
      : store.deliverToOthers(sessionId, sender, delivery);
    const handOver = ++this.handOvers;
    this.handing.set(cseq, handOver);
    this.inFlight(
      stored.then(
        (result) => this.settled(cseq, handOver, result),
        (err: unknown) => this.notStored(cseq, handOver, this.failure(err)),
      ),
    );
  }

  private settled(cseq: number, handOver: number, result: DeliverResult): void {
    if (result.ok) {
      if (this.handing.get(cseq) === handOver) this.handing.delete(cseq);
      this.acceptedCseq = Math.max(this.acceptedCseq, cseq);
      this.handedCseq = Math.max(this.handedCseq, this.acceptedCseq);
      this.send({ type: 'accepted', cseq });
    } else if (result.reason === 'rate_limited') {
      this.notStored(cseq, handOver, { code: 'rate_limited', message: 'sending too fast: resend later' });
    } else if (result.reason === 'out_of_order') {
      this.notStored(cseq, handOver, {
        code: 'out_of_order',
        message: 'an earlier frame is missing: resend in order',
      });
    } else {
      this.fenceLost();
    }
  }

  /**
   * Own frame `cseq` was not stored: the master takes it (and what follows) again when resent.
   * A refusal of a copy handed over before the latest one changes nothing: the latest one's
   * reply is what counts (otherwise a stale timeout would refuse frames resent since).
   */
  private notStored(cseq: number, handOver: number, error: { code: ErrorCode; message: string }): void {
    if (this.handing.get(cseq) !== handOver) return;
    this.handing.delete(cseq);
    this.handedCseq = Math.max(Math.min(this.handedCseq, cseq - 1), this.acceptedCseq);
    if (cseq === this.acceptedCseq + 1) this.sendError(error.code, error.message, cseq);
  }

  /** Counts `work` among the frames waiting for the registry until it settles. */
  private inFlight(work: Promise<void>): void {
    this.queued++;
    void work.finally(() => this.queued--);
  }

  /**
   * A fenced write was refused: a newer epoch owns the participant, or the registry has no such
   * participant any more. The latter without a removal notice is data loss, never a takeover.
   */
  private fenceLost(): void {
    this.ctx.store.getParticipant(this.sessionId!, this.participantId!).then(
      (me) => (me ? this.supersede() : this.lost()),
      () => this.supersede(),
    );
  }

  /** The registry lost the participant (Redis restarted empty): 4011, unless its removal notice comes meanwhile. */
  private lost(): void {
    setTimeout(() => {
      if (this.stopped) return;
      this.ctx.log.warn('session_lost', this.ids());
      this.end('session_lost', CLOSE_CODES.sessionLost, 'session lost', {
        code: 'session_lost',
        message: 'the registry lost this participant: frames not accepted were not stored',
      });
    }, DEFAULT_TIMINGS.sessionLostConfirmMs);
  }

  private rateLimited(message: string): void {
    this.end('refused', CLOSE_CODES.rateLimited, 'rate limited', { code: 'rate_limited', message });
  }

  // ---- outbound ----------------------------------------------------------------------------------

  /** Carries out a delivery step: writes its frames, then reads the mailbox if it asks to. */
  private follow(step: CursorStep): void {
    for (const frame of step.send) this.sendText(this.ctx.media.forRecipient(frame.raw, this.participantId!));
    if (step.read) void this.readMailbox(step.read.afterSeq, step.read.delayMs);
  }

  private async readMailbox(afterSeq: number, delayMs: number): Promise<void> {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (this.stopped) return;
    let step: CursorStep;
    try {
      const replay = await this.ctx.store.replay(this.sessionId!, this.participantId!, afterSeq);
      if (!replay) this.lost(); // unless a removal notice closes the socket first
      step = this.cursor.replayed(replay && mailboxRead(replay));
    } catch (err) {
      this.ctx.log.warn('replay_failed', { ...this.ids(), error: err });
      step = this.cursor.replayFailed();
    }
    if (!this.stopped) this.follow(step);
  }

  private send(frame: ServerFrame): void {
    this.sendText(JSON.stringify(frame));
  }

  private sendError(code: ErrorCode, message: string, cseq?: number): void {
    this.send({ type: 'error', code, message, ...(cseq === undefined ? {} : { cseq }) });
  }

  private sendText(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > MAX_SEND_BUFFER_BYTES) {
      this.ctx.log.warn('slow_consumer_dropped', { ...this.ids(), buffered: this.ws.bufferedAmount });
      this.ws.terminate();
      return;
    }
    this.ws.send(text);
  }

  // ---- endings -----------------------------------------------------------------------------------

  private get stopped(): boolean {
    return this.phase === 'closed' || this.ending !== undefined;
  }

  private supersede(): void {
    if (this.stopped) return;
    this.ctx.log.info('participant_superseded', this.ids());
    this.end('superseded', CLOSE_CODES.superseded, 'superseded', {
      code: 'superseded',
      message: 'another connection took this participant over',
    });
  }

  private end(ending: Ending, code: number, reason: string, error?: { code: ErrorCode; message: string }) {
    if (this.stopped) return;
    this.ending = ending;
    if (error) this.sendError(error.code, error.message);
    this.ws.close(code, reason);
    // A client that never answers the close (and perhaps keeps sending) is dropped soon after.
    this.dropTimer = setTimeout(() => this.ws.terminate(), DEFAULT_TIMINGS.closeGraceMs);
  }

  private onClose(code: number): void {
    const was = this.phase;
    this.phase = 'closed';
    clearTimeout(this.joinTimer);
    clearTimeout(this.dropTimer);
    this.ctx.log.info('socket_closed', { ...this.ids(), code, ending: this.ending ?? 'lost', phase: was });
    this.onGone(this);
    if (was === 'joining') return; // join() finishes the bookkeeping when its step returns
    if (was === 'joined' && !this.ending) {
      this.ctx.departures.socketLost(this.sessionId!, this.participantId!, this.epoch);
    }
    this.release();
  }

  private release(): void {
    if (!this.attached) return;
    this.attached = false;
    this.ctx.channels.detach(this.sessionId!, this);
  }

  private ids() {
    return { sessionId: this.sessionId, participantId: this.participantId, epoch: this.epoch || undefined };
  }
}

/**
 * The largest frame `ws` takes before it closes the socket (1009), checked at each frame's header,
 * before any payload is buffered. ws has one limit per server; its receiver reads this field per
 * frame (test/runtime/master/edge-abuse.test.ts fails if a ws upgrade moves it).
 */
function setMaxPayload(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload: number } })._receiver;
  if (receiver) receiver._maxPayload = bytes;
}

function mailboxRead(replay: Replay | undefined): MailboxRead {
  if (!replay) return { frames: [], seq: 0 };
  return { frames: replay.frames.map((f) => ({ seq: f.seq, raw: JSON.stringify(f) })), seq: replay.seq };
}

function summary(p: ParticipantRecord, self: boolean) {
  return { participantId: p.participantId, state: self ? 'connected' : p.state, metadata: p.metadata };
}
