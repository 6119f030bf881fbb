/**
 * Replay-then-live delivery to one socket, as a pure state machine (no socket, no Redis): the
 * connection feeds it what happened (a live frame, a mailbox read, a resync) and carries out the
 * step it returns: write these frames, then read the mailbox after this seq.
 *
 * The rule it keeps: the socket gets every seq after the one the client resumed from, once and in
 * order. A live frame that is the next seq goes out at once; one that arrives while the mailbox is
 * being read, or after a gap (pub/sub lost a frame, or the subscriber reconnected), waits in a
 * buffer and goes out after the mailbox read that fills the gap.
 */
import { LIMITS } from '../contract/timings';

/** A numbered frame for this participant: its seq and its JSON text as the registry stored it. */
export interface NumberedFrame {
  readonly seq: number;
  readonly raw: string;
}

/** What the registry's mailbox held after a seq (SessionStore.replay), or undefined: participant gone. */
export interface MailboxRead {
  readonly frames: readonly NumberedFrame[];
  /** Highest seq assigned at the read: everything up to it is in `frames` or gone for good. */
  readonly seq: number;
}

export interface CursorStep {
  /** Write these to the socket now, in this order. */
  readonly send: readonly NumberedFrame[];
  /** Then read the mailbox after `afterSeq`, `delayMs` from now, and report it (replayed / replayFailed). */
  readonly read?: { readonly afterSeq: number; readonly delayMs: number };
}

/** How long to wait before reading the mailbox again after a failed read (Redis away). */
export const REPLAY_RETRY_MS = 500;

const NOTHING: CursorStep = { send: [] };

export class DeliveryCursor {
  private lastSent = 0;
  /** A mailbox read is under way (the claim's own read, until joined()); live frames wait. */
  private reading = true;
  /** Read again once the current read is done: frames may have been missed during it. */
  private readAgain = false;
  private buffered: NumberedFrame[] = [];

  constructor(private readonly maxBuffered: number = LIMITS.mailboxMaxMessages) {}

  /** Highest seq written to the socket. */
  get lastSentSeq(): number {
    return this.lastSent;
  }

  /**
   * The claim succeeded: `read` is the mailbox after `afterSeq` (what the client resumed from; 0 on
   * a join), read after the channel subscription, so live frames from then on are buffered here.
   */
  joined(afterSeq: number, read: MailboxRead): CursorStep {
    this.lastSent = Math.min(afterSeq, read.seq); // a client cannot skip what it never got
    const send = this.takeRead(read);
    this.reading = false;
    return this.then(send, this.flush());
  }

  /** A frame for this participant came in on the session channel. */
  live(frame: NumberedFrame): CursorStep {
    if (!this.reading && frame.seq === this.lastSent + 1) {
      this.lastSent = frame.seq;
      return { send: [frame] };
    }
    if (frame.seq <= this.lastSent) return NOTHING;
    if (this.buffered.length < this.maxBuffered) this.buffered.push(frame);
    else this.readAgain = true; // the mailbox has it too
    return this.reading ? NOTHING : this.startRead(0);
  }

  /** The channel may have lost frames (its subscriber reconnected): read the mailbox again. */
  resync(): CursorStep {
    if (!this.reading) return this.startRead(0);
    this.readAgain = true; // the read under way may predate the gap
    return NOTHING;
  }

  /** The read a step asked for returned; undefined: the participant is gone (its removal closes the socket). */
  replayed(read: MailboxRead | undefined): CursorStep {
    let send: NumberedFrame[] = [];
    if (read) send = this.takeRead(read);
    else this.buffered = [];
    if (this.readAgain) return this.then(send, this.startRead(0));
    this.reading = false;
    return this.then(send, this.flush());
  }

  /** The read a step asked for failed (Redis away): try again a little later. */
  replayFailed(): CursorStep {
    return this.startRead(REPLAY_RETRY_MS);
  }

  private startRead(delayMs: number): CursorStep {
    this.reading = true;
    this.readAgain = false;
    return { send: [], read: { afterSeq: this.lastSent, delayMs } };
  }

  /** Frames of a mailbox read not sent yet; everything up to the read's seq is then sent or gone. */
  private takeRead(read: MailboxRead): NumberedFrame[] {
    const send = read.frames.filter((f) => f.seq > this.lastSent);
    this.lastSent = Math.max(this.lastSent, read.seq);
    return send;
  }

  /** Sends buffered live frames that follow on; a gap left means another mailbox read. */
  private flush(): CursorStep {
    const waiting = this.buffered.sort((a, b) => a.seq - b.seq);
    this.buffered = [];
    const send: NumberedFrame[] = [];
    for (const [i, frame] of waiting.entries()) {
      if (frame.seq <= this.lastSent) continue;
      if (frame.seq !== this.lastSent + 1) {
        this.buffered = waiting.slice(i);
        return this.then(send, this.startRead(0));
      }
      send.push(frame);
      this.lastSent = frame.seq;
    }
    // Live frames were dropped while the buffer was full, or a resync came during the claim.
    return this.readAgain ? this.then(send, this.startRead(0)) : { send };
  }

  private then(first: readonly NumberedFrame[], step: CursorStep): CursorStep {
    return { ...step, send: [...first, ...step.send] };
  }
}
