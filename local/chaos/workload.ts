/**
 * The chaos suite's clients: participants that join sessions through the load balancer with the
 * SDK and exchange numbered messages throughout, and the accounting that proves what happened:
 * every message any participant sent reached every other participant of its session exactly once
 * (the delivery semantics of docs/contract.md), no session was lost, and how long clients went
 * without hearing from the cluster.
 */
import { RtcHaAdmin, type RtcImplementation } from '../../runtime/client';
import { RtcHaNodeSession } from '../../runtime/client/node';
import type { RtcHaSessionOptions } from '../../runtime/client/session';

/** Media for the participants (media scenarios): each subscribes to every feed of its session. */
export interface WorkloadMedia {
  /** The WebRTC implementation of one participant (a light subscriber that counts frames). */
  rtc(sessionId: string, participantId: string): RtcImplementation;
  /** Its session, before it connects: to watch its media events. */
  watch?(sessionId: string, participantId: string, sdk: RtcHaNodeSession): void;
}

export interface WorkloadOptions {
  /** http://host:port of the load balancer. */
  readonly baseUrl: string;
  readonly apiSecret: string;
  /** Prefix of the session ids. */
  readonly runId: string;
  readonly participantsPerSession: number;
  /** Each participant sends one message to the rest of its session this often. */
  readonly messageIntervalMs: number;
  /** A client that hears nothing (message, accepted) for longer than this, with its socket up, is interrupted. */
  readonly gapThresholdMs: number;
  /** SDK settings (ping, dead-socket timeout). */
  readonly client?: Partial<
    Pick<RtcHaSessionOptions, 'pingIntervalMs' | 'deadSocketTimeoutMs' | 'reconnect'>
  >;
  /** @default none: signaling only, no WebRTC */
  readonly media?: WorkloadMedia;
}

interface MessageData {
  readonly n: number;
}

class Participant {
  /** Messages it sent: 1..sent. */
  sent = 0;
  /** Sender -> message numbers received. */
  readonly received = new Map<string, Set<number>>();
  duplicates = 0;
  lastHeardAt = Date.now();
  /** The connection was lost since the client last heard from the cluster. */
  private lost = false;
  readonly gaps: number[] = [];
  reconnects = 0;
  failure: string | undefined;

  constructor(
    readonly sessionId: string,
    readonly participantId: string,
    readonly sdk: RtcHaNodeSession,
    private readonly gapThresholdMs: number,
  ) {
    sdk.on('message', (m) => {
      this.heard();
      const n = (m.data as Partial<MessageData> | null)?.n;
      if (typeof n !== 'number') return;
      const seen = this.received.get(m.from) ?? new Set<number>();
      this.received.set(m.from, seen);
      if (seen.has(n)) this.duplicates += 1;
      seen.add(n);
    });
    sdk.on('accepted', () => this.heard());
    sdk.on('reconnecting', () => (this.lost = true));
    sdk.on('resumed', () => {
      this.reconnects += 1;
      this.heard();
    });
    sdk.on('failed', (f) => (this.failure = f.reason));
  }

  /**
   * Records the silence that just ended when it was an interruption: the connection was lost
   * meanwhile (from the last frame heard before the loss to the resume), or it lasted longer
   * than the threshold with the socket up (a cluster that cannot deliver).
   */
  heard(now = Date.now()): void {
    const gap = now - this.lastHeardAt;
    if (this.lost || gap > this.gapThresholdMs) this.gaps.push(gap);
    this.lost = false;
    this.lastHeardAt = now;
  }

  send(): void {
    if (this.failure) return;
    this.sent += 1;
    this.sdk.sendMessage({ n: this.sent } satisfies MessageData);
  }
}

interface SessionGroup {
  readonly sessionId: string;
  readonly participants: readonly Participant[];
}

/** What a workload measured. */
export interface WorkloadReport {
  readonly sessions: number;
  readonly participants: number;
  readonly messagesSent: number;
  /** Deliveries owed: each message times the other participants of its session. */
  readonly deliveriesExpected: number;
  readonly messagesLost: number;
  /** Where the first losses were: `session sender->receiver: #from-#to, ...`. */
  readonly lostSample: readonly string[];
  readonly messagesDuplicated: number;
  /** Sessions that are gone, lost a participant, or have a participant whose client gave up. */
  readonly sessionsLost: number;
  /** The media node of each session at the end (null: none). */
  readonly mediaNodes: ReadonlyArray<string | null>;
  /** Each interruption of each client (ms): see Participant.heard. */
  readonly interruptionsMs: number[];
  /** Resumes the SDK reported. */
  readonly reconnects: number;
  readonly clientsFailed: number;
  readonly joinsFailed: number;
  /** Join (create session, create connection, connect) durations, ms. */
  readonly joinMs: number[];
  /** Sends still waiting for `accepted` when the report was taken. */
  readonly unaccepted: number;
}

export class Workload {
  private readonly admin: RtcHaAdmin;
  private readonly groups: SessionGroup[] = [];
  private readonly joinMs: number[] = [];
  private joinsFailed = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private sessionCount = 0;

  constructor(private readonly options: WorkloadOptions) {
    this.admin = new RtcHaAdmin({
      baseUrl: options.baseUrl,
      secret: options.apiSecret,
      // A whole failover may pass during one call.
      retry: { maxAttempts: 30, maxDelayMs: 1_000, maxTotalMs: 30_000 },
    });
  }

  private get participants(): Participant[] {
    return this.groups.flatMap((g) => g.participants);
  }

  /** The sessions whose participants all joined. */
  sessionIds(): string[] {
    return this.groups.map((g) => g.sessionId);
  }

  /** Every participant that joined. */
  members(): Array<{ readonly sessionId: string; readonly participantId: string }> {
    return this.participants.map(({ sessionId, participantId }) => ({ sessionId, participantId }));
  }

  /**
   * Creates `count` sessions and joins their participants, in parallel; a session starts sending
   * once all of its participants joined. Resolves when every join finished (or failed).
   */
  async addSessions(count: number): Promise<void> {
    const ids = Array.from({ length: count }, () => `${this.options.runId}-s${++this.sessionCount}`);
    await Promise.all(ids.map((id) => this.addSession(id)));
  }

  private async addSession(sessionId: string): Promise<void> {
    const started = Date.now();
    try {
      await this.admin.createSession(sessionId);
      const participants = await Promise.all(
        Array.from({ length: this.options.participantsPerSession }, (_, i) =>
          this.join(sessionId, `p${i + 1}`),
        ),
      );
      this.groups.push({ sessionId, participants });
      const now = Date.now();
      for (const p of participants) p.lastHeardAt = now;
      this.joinMs.push(now - started);
    } catch {
      this.joinsFailed += 1;
    }
  }

  private async join(sessionId: string, participantId: string): Promise<Participant> {
    const { token } = await this.admin.createConnection(sessionId, participantId);
    const sdk = new RtcHaNodeSession({
      url: `${this.options.baseUrl.replace(/^http/, 'ws')}/ws`,
      token,
      ...this.options.client,
      ...(this.options.media && { rtc: this.options.media.rtc(sessionId, participantId) }),
    });
    const participant = new Participant(sessionId, participantId, sdk, this.options.gapThresholdMs);
    this.options.media?.watch?.(sessionId, participantId, sdk);
    try {
      await sdk.connect();
    } catch (err) {
      sdk.close();
      throw err;
    }
    return participant;
  }

  /** Starts (or keeps) every joined participant sending one message per interval. */
  startSending(): void {
    this.timer ??= setInterval(() => {
      for (const p of this.participants) p.send();
    }, this.options.messageIntervalMs);
  }

  /** Stops sending; silences still open count up to now. */
  stopSending(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const p of this.participants) p.heard();
  }

  /**
   * Waits until every sent message is accepted and delivered, or until everything is accepted
   * and nothing arrived for `quietMs` (what is missing then is lost), at most `timeoutMs`; then
   * reports. Call after stopSending.
   */
  async settle(timeoutMs: number, quietMs = 3_000): Promise<WorkloadReport> {
    const deadline = Date.now() + timeoutMs;
    let last = this.tally();
    let changedAt = Date.now();
    while (Date.now() < deadline) {
      if (last.unaccepted === 0 && (last.messagesLost === 0 || Date.now() - changedAt > quietMs)) break;
      await new Promise((r) => setTimeout(r, 100));
      const now = this.tally();
      if (now.messagesLost !== last.messagesLost || now.unaccepted !== last.unaccepted)
        changedAt = Date.now();
      last = now;
    }
    return { ...this.tally(), ...(await this.checkSessions()) };
  }

  /** Leaves nothing open: closes every client (the participants stay resumable; the cluster goes away). */
  close(): void {
    this.stopSending();
    for (const p of this.participants) p.sdk.close();
  }

  private tally(): Omit<WorkloadReport, 'sessionsLost' | 'mediaNodes'> {
    let sent = 0;
    let expected = 0;
    let lost = 0;
    let duplicated = 0;
    let unaccepted = 0;
    const lostSample: string[] = [];
    for (const group of this.groups) {
      for (const sender of group.participants) {
        sent += sender.sent;
        unaccepted += sender.sdk.pendingCount;
        for (const receiver of group.participants) {
          if (receiver === sender) continue;
          expected += sender.sent;
          const got = receiver.received.get(sender.participantId);
          const missing = missingRanges(got, sender.sent);
          lost += missing.count;
          if (missing.count > 0 && lostSample.length < 5) {
            lostSample.push(
              `${group.sessionId} ${sender.participantId}->${receiver.participantId}: ${missing.text}`,
            );
          }
        }
      }
      for (const p of group.participants) duplicated += p.duplicates;
    }
    const all = this.participants;
    return {
      sessions: this.groups.length,
      participants: all.length,
      messagesSent: sent,
      deliveriesExpected: expected,
      messagesLost: lost,
      lostSample,
      messagesDuplicated: duplicated,
      interruptionsMs: all.flatMap((p) => p.gaps),
      reconnects: all.reduce((sum, p) => sum + p.reconnects, 0),
      clientsFailed: all.filter((p) => p.failure).length,
      joinsFailed: this.joinsFailed,
      joinMs: [...this.joinMs],
      unaccepted,
    };
  }

  /**
   * Asks the cluster (REST, through the load balancer) whether each session still has all its
   * participants, and which media node each one is on now.
   */
  private async checkSessions(): Promise<Pick<WorkloadReport, 'sessionsLost' | 'mediaNodes'>> {
    const checks = await Promise.all(
      this.groups.map(async (group): Promise<{ lost: boolean; mediaNode: string | null }> => {
        try {
          const session = await this.admin.getSession(group.sessionId);
          const present = new Set(session.participants.map((p) => p.participantId));
          const lost = group.participants.some((p) => p.failure || !present.has(p.participantId));
          return { lost, mediaNode: session.mediaNode?.nodeId ?? null };
        } catch {
          return { lost: true, mediaNode: null };
        }
      }),
    );
    return {
      sessionsLost: checks.filter((c) => c.lost).length,
      mediaNodes: checks.map((c) => c.mediaNode),
    };
  }
}

/** The numbers 1..`sent` missing from `got`, counted and written as ranges (`#4-#9, #12`). */
function missingRanges(got: ReadonlySet<number> | undefined, sent: number): { count: number; text: string } {
  const ranges: string[] = [];
  let count = 0;
  for (let n = 1; n <= sent; n += 1) {
    if (got?.has(n)) continue;
    let end = n;
    while (end < sent && !got?.has(end + 1)) end += 1;
    count += end - n + 1;
    ranges.push(end === n ? `#${n}` : `#${n}-#${end}`);
    n = end;
  }
  return { count, text: ranges.join(', ') };
}
