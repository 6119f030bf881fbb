import { RawData, WebSocket } from 'ws';
import {
  CLOSE_CODES,
  ClientFrame,
  Delivery,
  ErrorCode,
  ParticipantRecord,
  ParticipantState,
  Replay,
  ServerFrame,
  SessionStore,
  TokenKeys,
  isRedisUnavailable,
  newResumeToken,
  parseResumeToken,
  verifyConnectionToken,
} from '../contract';
import type { Logger } from '../node/log';
import { CursorStep, DeliveryCursor, MailboxRead } from './delivery-cursor';
import type { Departures } from './departures';
import { decodeClientFrame } from './frames';
import type { ChannelMember, SessionChannels } from './session-channels';

export interface ConnectionContext {
  readonly nodeId: string;
  readonly store: SessionStore;
  readonly channels: SessionChannels;
  readonly departures: Departures;
  readonly tokenKey: TokenKeys;
  readonly joinTimeoutMs: number;
  readonly log: Logger;
}

type JoinFrame = Extract<ClientFrame, { type: 'join' | 'resume' }>;
type JoinedClientFrame = Exclude<ClientFrame, JoinFrame | { type: 'ping' }>;

/**
 * Why this master ended the connection itself. Such a close never marks the participant
 * disconnected: it left, was taken over or removed, or is told to resume elsewhere (drain).
 */
type Ending = 'left' | 'superseded' | 'removed' | 'drained' | 'refused';

/** Frames waiting for Redis on one socket; beyond this the client is told to resend later. */
const MAX_QUEUED_FRAMES = 1024;
/** A client that reads this much slower than we write is dropped; it resumes from its mailbox. */
const MAX_SEND_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * One client socket (docs/contract.md, "The WebSocket protocol"): awaiting join -> joining ->
 * joined -> closed. Frames of one socket are handled one at a time, in order, so a participant's
 * `cseq`s reach the registry in the order it sent them; pings are answered at once even while
 * Redis is slow, so the client does not mistake a slow registry for a dead master.
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

  private phase: 'awaiting' | 'joining' | 'joined' | 'closed' = 'awaiting';
  private ending?: Ending;
  private attached = false;
  private drainWhenJoined = false;
  private readonly cursor = new DeliveryCursor();
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private readonly joinTimer: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: ConnectionContext,
    private readonly onGone: (conn: ParticipantConnection) => void,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code) => this.onClose(code));
    ws.on('error', (err) => ctx.log.warn('socket_error', { ...this.ids(), error: err }));
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
      clearTimeout(this.joinTimer);
      this.phase = 'joining';
      this.enqueue(() => this.join(frame));
    } else if (this.phase === 'awaiting') {
      this.sendError('not_joined', 'send join or resume first');
    } else {
      const own = frame as JoinedClientFrame;
      this.enqueue(() => this.handle(own), 'cseq' in own ? own.cseq : undefined);
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
    if (isRedisUnavailable(err)) {
      this.sendError('registry_unavailable', 'registry unavailable: resend later', cseq);
      return;
    }
    this.ctx.log.error('frame_failed', { ...this.ids(), error: err, stack: (err as Error)?.stack });
    this.sendError('internal', 'internal error', cseq);
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
   * token and the client must get the new one.
   */
  private async claim(frame: JoinFrame): Promise<void> {
    const { store, channels, departures, nodeId, log } = this.ctx;
    const who = this.identify(frame);
    if (!who.ok) {
      this.end('refused', CLOSE_CODES.unauthorized, who.code, { code: who.code, message: who.message });
      return;
    }
    const { sessionId, participantId } = who;
    this.sessionId = sessionId;
    this.participantId = participantId;
    await channels.attach(sessionId, this);
    this.attached = true;
    const resuming = frame.type === 'resume';
    const afterSeq = resuming ? frame.lastSeq : 0;
    const [session, participants, replay] = await Promise.all([
      store.getSession(sessionId),
      store.listParticipants(sessionId),
      store.replay(sessionId, participantId, afterSeq),
    ]);
    if (this.stopped) return;
    const resumeToken = newResumeToken(sessionId, participantId);
    const claim = await store.claim(sessionId, participantId, nodeId, resumeToken.hash, who.presentedHash);
    if (!claim.ok) {
      const error =
        claim.reason === 'invalid_resume_token'
          ? { code: claim.reason, message: 'resume token already used or never issued' }
          : { code: claim.reason, message: 'no such participant in this session' };
      this.end('refused', CLOSE_CODES.unauthorized, error.code, error);
      return;
    }
    this.epoch = claim.epoch;
    this.acceptedCseq = claim.acceptedCseq;
    // Announce at once: the room must hear of the claim even if this socket closes or is superseded.
    this.announce(
      claim.previousState,
      participants.find((p) => p.participantId === participantId),
    );
    if (this.stopped) {
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
    const read = mailboxRead(replay);
    this.send({
      type: resuming ? 'resumed' : 'joined',
      sessionId,
      participantId,
      epoch: claim.epoch,
      resumeToken: resumeToken.token,
      participants: participants.map((p) => summary(p, p.participantId === participantId)),
      mediaNode: session.mediaNode,
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

  /** Tells the others a participant joined (first claim) or reconnected; best effort. */
  private announce(previousState: ParticipantState, me: ParticipantRecord | undefined): void {
    const sessionId = this.sessionId!;
    const participantId = this.participantId!;
    const notice: Delivery =
      previousState === 'pending' && me
        ? { type: 'participantJoined', participant: summary(me, true) }
        : { type: 'participantReconnected', participantId };
    this.ctx.store
      .deliverToOthers(sessionId, participantId, notice)
      .catch((err: unknown) =>
        this.ctx.log.warn('announce_failed', { sessionId, participantId, error: err }),
      );
  }

  private identify(
    frame: JoinFrame,
  ):
    | { ok: true; sessionId: string; participantId: string; presentedHash?: string }
    | { ok: false; code: 'unauthorized' | 'token_expired' | 'invalid_resume_token'; message: string } {
    if (frame.type === 'resume') {
      const parsed = parseResumeToken(frame.resumeToken);
      if (!parsed) return { ok: false, code: 'invalid_resume_token', message: 'malformed resume token' };
      return { ok: true, ...parsed, presentedHash: parsed.hash };
    }
    const check = verifyConnectionToken(this.ctx.tokenKey, frame.token);
    if (check.ok) return { ok: true, ...check.claims };
    return check.reason === 'expired'
      ? { ok: false, code: 'token_expired', message: 'connection token expired: get a new one' }
      : { ok: false, code: 'unauthorized', message: `connection token rejected (${check.reason})` };
  }

  private async handle(frame: JoinedClientFrame): Promise<void> {
    if (this.phase !== 'joined' || this.ending) return;
    const { store, departures } = this.ctx;
    const sessionId = this.sessionId!;
    const participantId = this.participantId!;
    if ((frame.type === 'signal' || frame.type === 'message') && !this.nextInOrder(frame.cseq)) return;
    switch (frame.type) {
      case 'signal':
        return this.deliverAs(frame.cseq, [frame.to], {
          type: 'signal',
          from: participantId,
          kind: frame.kind,
          data: frame.data,
        });
      case 'message':
        return this.deliverAs(frame.cseq, frame.to, {
          type: 'message',
          from: participantId,
          data: frame.data,
        });
      case 'ack': {
        const acked = await store.ack(sessionId, participantId, this.epoch, frame.seq);
        if (!acked.ok) this.supersede();
        return;
      }
      case 'leave': {
        const removed = await store.removeParticipant(sessionId, participantId, { epoch: this.epoch });
        if (!removed.ok && removed.reason === 'stale_epoch') return this.supersede();
        this.end('left', CLOSE_CODES.left, 'left');
        if (removed.ok) await departures.announceLeft(sessionId, participantId);
        return;
      }
    }
  }

  /**
   * The registry keeps only the highest cseq it took and drops anything at or below it, so a
   * participant's frames must reach it in cseq order: if frame 2 timed out (Redis stalled) and 3
   * went through, the resent 2 would be dropped for good. So a frame goes to the registry only
   * when every earlier one is known to be there; a later one is refused until the client resends
   * in order (the SDK resends unaccepted frames, oldest first). One already taken is accepted again.
   */
  private nextInOrder(cseq: number): boolean {
    if (cseq <= this.acceptedCseq) {
      this.send({ type: 'accepted', cseq });
      return false;
    }
    if (cseq === this.acceptedCseq + 1) return true;
    this.sendError(
      'out_of_order',
      `cseq ${cseq} waits for cseq ${this.acceptedCseq + 1}: resend unaccepted frames in order`,
      cseq,
    );
    return false;
  }

  /** Stores an own frame for `to`, or for everyone else without it (fenced, deduplicated by cseq). */
  private async deliverAs(
    cseq: number,
    to: readonly string[] | undefined,
    delivery: Delivery,
  ): Promise<void> {
    const { store } = this.ctx;
    const sender = { participantId: this.participantId!, epoch: this.epoch, cseq };
    const result = to
      ? await store.deliver(this.sessionId!, [...new Set(to)], delivery, sender)
      : await store.deliverToOthers(this.sessionId!, sender, delivery);
    if (!result.ok) return this.supersede();
    this.acceptedCseq = cseq;
    this.send({ type: 'accepted', cseq });
  }

  // ---- outbound ----------------------------------------------------------------------------------

  /** Carries out a delivery step: writes its frames, then reads the mailbox if it asks to. */
  private follow(step: CursorStep): void {
    for (const frame of step.send) this.sendText(frame.raw);
    if (step.read) void this.readMailbox(step.read.afterSeq, step.read.delayMs);
  }

  private async readMailbox(afterSeq: number, delayMs: number): Promise<void> {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (this.stopped) return;
    let step: CursorStep;
    try {
      const replay = await this.ctx.store.replay(this.sessionId!, this.participantId!, afterSeq);
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
  }

  private onClose(code: number): void {
    const was = this.phase;
    this.phase = 'closed';
    clearTimeout(this.joinTimer);
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

function mailboxRead(replay: Replay | undefined): MailboxRead {
  if (!replay) return { frames: [], seq: 0 };
  return { frames: replay.frames.map((f) => ({ seq: f.seq, raw: JSON.stringify(f) })), seq: replay.seq };
}

function summary(p: ParticipantRecord, self: boolean) {
  return { participantId: p.participantId, state: self ? 'connected' : p.state, metadata: p.metadata };
}
