/**
 * The media side of a chaos run: one camera publishing into each session (real encoded video
 * through Janus), every workload participant subscribed to it and counting the video frames it
 * receives, and the accounting after the fault: the longest time each subscriber went without a
 * frame, the subscribers that never got frames again, feeds published twice, and what the failed
 * or drained media node's Janus still holds. The publisher and the subscribers' WebRTC come from
 * the caller (MediaTools: a browser, werift), so this code depends on neither.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RtcHaAdmin, type RtcImplementation } from '../../runtime/client';
import type { Cluster } from '../cluster';
import type { FleetMember } from '../fleet';
import { waitFor } from '../ports';
import { type JanusContents, type JanusProcess, janusContents, janusOfAgent, running } from './janus';
import type { WorkloadMedia } from './workload';

/** A camera publishing into one session; `close` leaves the session. */
export interface Camera {
  close(): Promise<void>;
}

/** What a media scenario runs its media with. */
export interface MediaTools {
  /** A non-loopback IPv4 (the test namespace's veth address): where Janus gathers ICE. */
  readonly iceAddress: string;
  /** Joins a session at `url` (the load balancer's WebSocket URL) with `token` and publishes a camera. */
  publish(url: string, token: string): Promise<Camera>;
  /** One subscriber's WebRTC implementation: every connection it makes calls `onFrame` per video frame. */
  subscriberRtc(onFrame: (at: number) => void): RtcImplementation;
}

/** What the failed or drained node's Janus holds at the end. */
export interface LeftBehind {
  readonly nodeId: string;
  /** Rooms left; null: its Janus runs but did not answer (a stopped one). */
  readonly rooms: number | null;
  /** Publisher and subscriber handles left; null as above. */
  readonly handles: number | null;
  /** A Janus of that node still runs at the end (after a crash: the agent's restarted one, or an orphan). */
  readonly janusRunning: boolean;
  /** A drain's end, from the agent's log: `empty` (nothing placed there any more) or `deadline`. */
  readonly drainOutcome?: string;
  /**
   * A drain: from the SIGTERM until its Janus held no room (seen by the admin API, or torn down by
   * the agent as its log says, when that came between the last reading and Janus's stop); null: never.
   */
  readonly emptyAfterMs?: number | null;
}

export interface MediaFigures {
  readonly publishers: number;
  readonly subscribers: number;
  /** Video frames every subscriber received, over the whole run. */
  readonly framesReceived: number;
  /** Per subscriber: the longest time without a video frame in the steady state before the fault. */
  readonly baselineGapsMs: readonly number[];
  /** Per subscriber: the longest time without a video frame, from 1 s before the fault to the end of the traffic. */
  readonly frameGapsMs: readonly number[];
  /** Subscribers with no frame since the failed node's media was gone, or none in the last second. */
  readonly notRecovered: number;
  /** Publisher handles beyond one per feed, over every running Janus at the end. */
  readonly duplicatePublishers: number;
  /** Feeds published on a running Janus at the end (one per session expected). */
  readonly feedsLive: number;
  readonly leftBehind: LeftBehind | null;
  /** The SDK's gapMs of each mediaRestored (mediaReconnecting to every connection up again). */
  readonly mediaRestoredMs: readonly number[];
  readonly mediaErrors: number;
  /** Media never flowed to every subscriber before the fault: the run measured nothing. */
  readonly setupError?: string;
}

/** A subscriber steadily receives: this many frames, the last this recent. */
const FLOWING = { frames: 15, withinMs: 500 };
/** Frames kept per subscriber (about 45 min at 30 frames a second, two connections at once). */
const MAX_FRAMES = 150_000;
/** The gap window opens this long before the fault: the steady state just before it. */
const WINDOW_BEFORE_MS = 1_000;
/** A recovered subscriber received a frame in this last stretch of the traffic. */
const RECENT_MS = 1_000;
const POLL_MS = 250;
/** The agent's log events of a room it removed from its Janus (runtime/media/rooms.ts). */
const ROOM_TORN_DOWN = ['media_room_moved_away', 'media_room_destroyed'];

interface Member {
  readonly sessionId: string;
  readonly participantId: string;
}

/** Arrival times (ms) of one subscriber's video frames, over all its connections. */
export class FrameLog {
  readonly at: number[] = [];

  add(at: number): void {
    if (this.at.length < MAX_FRAMES) this.at.push(at);
  }

  /** Frames that arrived after `since`. */
  since(since: number): number {
    let n = 0;
    for (let i = this.at.length - 1; i >= 0 && this.at[i] > since; i -= 1) n += 1;
    return n;
  }

  last(): number | undefined {
    return this.at[this.at.length - 1];
  }

  /** The longest stretch of [from, to] without a frame (an open one counts up to `to`). */
  longestGap(from: number, to: number): number {
    let previous = from;
    let longest = 0;
    for (const at of this.at) {
      if (at <= from) continue;
      if (at > to) break;
      longest = Math.max(longest, at - previous);
      previous = at;
    }
    return Math.max(longest, to - previous);
  }
}

interface FailedNode {
  readonly member: FleetMember;
  readonly mode: 'crash' | 'drain';
  readonly at: number;
  /** Its Janus when the fault came. */
  readonly janus: JanusProcess | undefined;
  /** A drain: the last answer of its Janus before it went away, when that read started, and when it was first empty. */
  lastSeen?: JanusContents;
  lastReadFrom?: number;
  emptyAt?: number;
  /** When its Janus was first seen gone. */
  goneAt?: number;
}

export class MediaRun {
  private readonly frames = new Map<string, FrameLog>();
  private readonly cameras: Camera[] = [];
  private readonly admin: RtcHaAdmin;
  private readonly restoredMs: number[] = [];
  private mediaErrors = 0;
  private failure: FailedNode | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private steadyAt: number | undefined;
  private setupError: string | undefined;

  constructor(
    private readonly tools: MediaTools,
    private readonly cluster: Cluster,
    private readonly log: (message: string) => void,
  ) {
    this.admin = new RtcHaAdmin({
      baseUrl: cluster.haproxy.url,
      secret: cluster.apiSecret,
      retry: { maxAttempts: 30, maxDelayMs: 1_000, maxTotalMs: 30_000 },
    });
  }

  /** The workload's participants subscribe with a frame-counting WebRTC of their own each. */
  workloadMedia(): WorkloadMedia {
    return {
      rtc: (sessionId, participantId) => {
        const log = new FrameLog();
        this.frames.set(key({ sessionId, participantId }), log);
        return this.tools.subscriberRtc((at) => log.add(at));
      },
      watch: (sessionId, participantId, sdk) => {
        sdk.on('mediaRestored', ({ gapMs }) => this.restoredMs.push(gapMs));
        sdk.on('mediaError', ({ code, message }) => {
          this.mediaErrors += 1;
          if (this.mediaErrors <= 5)
            this.log(`mediaError at ${sessionId}/${participantId}: ${code} ${message}`);
        });
      },
    };
  }

  /** A camera publishes into each session, as participant `camera`. */
  async publish(sessionIds: readonly string[]): Promise<void> {
    for (const sessionId of sessionIds) {
      const { token } = await this.admin.createConnection(sessionId, 'camera');
      this.cameras.push(await this.tools.publish(this.cluster.urls.signaling, token));
    }
  }

  /**
   * Waits (at most `timeoutMs`) until every subscriber receives frames steadily; then the steady
   * state (the baseline) starts. A failure is kept for the figures and thrown.
   */
  async untilFlowing(members: readonly Member[], timeoutMs: number): Promise<void> {
    const started = Date.now();
    try {
      await this.untilEvery(members, 'receives video', started, timeoutMs);
      this.steadyAt = Date.now();
    } catch (err) {
      this.setupError = (err as Error).message;
      throw err;
    }
  }

  /**
   * Waits (at most `timeoutMs`) until every subscriber receives frames again after `since` (the
   * moment the failed node's media was surely gone); resolves either way, logging a timeout.
   */
  untilFramesAfter(members: readonly Member[], since: number, timeoutMs: number): Promise<void> {
    return this.untilEvery(members, 'receives video again', since, timeoutMs).catch((err: Error) =>
      this.log(err.message),
    );
  }

  private untilEvery(members: readonly Member[], what: string, since: number, timeoutMs: number) {
    return waitFor(
      `every subscriber ${what}`,
      () => {
        const now = Date.now();
        return members.every((m) => {
          const log = this.frames.get(key(m));
          return (
            log !== undefined &&
            log.since(since) >= FLOWING.frames &&
            now - (log.last() ?? 0) < FLOWING.withinMs
          );
        });
      },
      timeoutMs,
      50,
    ).catch((err: Error) => {
      const behind = members.filter((m) => (this.frames.get(key(m))?.since(since) ?? 0) < FLOWING.frames);
      throw new Error(`${err.message}; short of frames: ${behind.map(key).join(', ') || 'none (late ones)'}`);
    });
  }

  /** The media agent hosting most of `sessionIds`' rooms (the REST API's mediaNode). */
  async hostingAgent(sessionIds: readonly string[]): Promise<FleetMember> {
    const hosts = await Promise.all(
      sessionIds.map(async (id) => (await this.admin.getSession(id)).mediaNode?.nodeId),
    );
    const count = (m: FleetMember) => hosts.filter((h) => h === m.nodeId).length;
    const [busiest] = this.cluster.fleet.members('media').sort((a, b) => count(b) - count(a));
    if (!busiest || count(busiest) === 0)
      throw new Error(`no media agent hosts the rooms (${hosts.join(', ')})`);
    return busiest;
  }

  /**
   * Records that `member`'s media fails now (`crash`: it, or its Janus, dies or stops) or that it
   * drains; a drained node's Janus is watched until it goes, for what it held last.
   */
  failed(member: FleetMember, mode: FailedNode['mode']): JanusProcess | undefined {
    const janus = janusOfAgent(member.pid);
    this.failure = { member, mode, at: Date.now(), janus };
    if (mode === 'drain' && janus) this.polling = this.watchDrain(this.failure, janus);
    return janus;
  }

  /** When the failed node's media was surely gone: the fault, or (drain) when its Janus went. */
  get mediaGoneAt(): number | undefined {
    return this.failure?.goneAt ?? this.failure?.at;
  }

  private async watchDrain(failure: FailedNode, janus: JanusProcess): Promise<void> {
    while (!this.closed && running(janus.pid)) {
      const from = Date.now();
      const seen = await janusContents(janus, 1_000).catch(() => undefined);
      if (seen) {
        failure.lastSeen = seen;
        failure.lastReadFrom = from;
        if (seen.rooms.length === 0 && seen.handles.length === 0) failure.emptyAt ??= from;
      }
      await sleep(POLL_MS);
    }
    if (!running(janus.pid)) failure.goneAt = Date.now();
  }

  /** The figures, once the traffic stopped at `end`. */
  async figures(members: readonly Member[], end: number): Promise<MediaFigures> {
    this.closed = true;
    await this.polling;
    const logs = members.map((m) => this.frames.get(key(m)) ?? new FrameLog());
    const failure = this.failure;
    const faultAt = failure?.at ?? end;
    const goneAt = this.mediaGoneAt ?? faultAt;
    const steadyAt = this.steadyAt ?? faultAt;
    const live = await this.liveJanus();
    const counts = new Map<string, number>();
    for (const contents of live)
      for (const p of contents.publishers)
        counts.set(`${p.room}/${p.feed}`, (counts.get(`${p.room}/${p.feed}`) ?? 0) + 1);
    return {
      publishers: this.cameras.length,
      subscribers: members.length,
      framesReceived: logs.reduce((n, log) => n + log.at.length, 0),
      baselineGapsMs: this.steadyAt === undefined ? [] : logs.map((log) => log.longestGap(steadyAt, faultAt)),
      frameGapsMs: logs.map((log) => log.longestGap(faultAt - WINDOW_BEFORE_MS, end)),
      notRecovered: logs.filter((log) => log.since(goneAt) === 0 || end - (log.last() ?? 0) > RECENT_MS)
        .length,
      duplicatePublishers: [...counts.values()].reduce((n, c) => n + c - 1, 0),
      feedsLive: counts.size,
      leftBehind: failure ? await this.leftBehind(failure) : null,
      mediaRestoredMs: [...this.restoredMs],
      mediaErrors: this.mediaErrors,
      ...(this.setupError && { setupError: this.setupError }),
    };
  }

  /** Leaves every session's camera; stops watching. */
  async close(): Promise<void> {
    this.closed = true;
    await this.polling;
    await Promise.all(this.cameras.splice(0).map((c) => c.close().catch(() => undefined)));
  }

  /** What each answering Janus of the fleet's running media agents holds. */
  private async liveJanus(): Promise<JanusContents[]> {
    const found: JanusContents[] = [];
    for (const member of this.cluster.fleet.members('media')) {
      const janus = janusOfAgent(member.pid);
      const contents = janus && (await janusContents(janus).catch(() => undefined));
      if (contents) found.push(contents);
    }
    return found;
  }

  private async leftBehind(failure: FailedNode): Promise<LeftBehind> {
    const { member } = failure;
    // The Janus it had (an orphan if it outlived its agent), and the one its agent runs now (restarted).
    const candidates = [failure.janus, janusOfAgent(member.pid)].filter(
      (j, i, all): j is JanusProcess =>
        j !== undefined && running(j.pid) && all.findIndex((o) => o?.pid === j.pid) === i,
    );
    const drainOutcome = failure.mode === 'drain' ? this.drainOutcome(member) : undefined;
    const outcome = drainOutcome === undefined ? {} : { drainOutcome };
    if (candidates.length === 0) {
      // A crashed Janus took its rooms with it.
      if (failure.mode === 'crash')
        return { nodeId: member.nodeId, rooms: 0, handles: 0, janusRunning: false };
      // A drained one stopped with what it last held, less the rooms its agent tore down since.
      const tornDown = this.tornDown(member, failure.lastReadFrom ?? failure.at);
      const left = (room: string) => !tornDown.has(room);
      const rooms = failure.lastSeen?.rooms.filter(left) ?? [];
      const handles = failure.lastSeen?.handles.filter(left) ?? [];
      const lastTornDown = Math.max(...[...tornDown.values()]);
      const emptyAt =
        failure.emptyAt ?? (rooms.length === 0 && handles.length === 0 ? lastTornDown : undefined);
      return {
        nodeId: member.nodeId,
        rooms: rooms.length,
        handles: handles.length,
        janusRunning: false,
        ...outcome,
        emptyAfterMs: emptyAt === undefined || !Number.isFinite(emptyAt) ? null : emptyAt - failure.at,
      };
    }
    let rooms: number | null = 0;
    let handles: number | null = 0;
    for (const janus of candidates) {
      const contents = await janusContents(janus).catch(() => undefined);
      if (!contents) {
        rooms = null;
        handles = null;
        break;
      }
      const h = held(contents);
      rooms = (rooms ?? 0) + h.rooms;
      handles = (handles ?? 0) + h.handles;
    }
    return { nodeId: member.nodeId, rooms, handles, janusRunning: true, ...outcome };
  }

  /** `drain_done`'s outcome in the agent's log, if it got that far. */
  private drainOutcome(member: FleetMember): string {
    const done = this.agentLog(member).find((e) => e.event === 'drain_done');
    return done === undefined ? 'not done' : String(done.outcome);
  }

  /** Rooms (session ids) the agent says it destroyed or dropped at `since` or later, and when. */
  private tornDown(member: FleetMember, since: number): Map<string, number> {
    const found = new Map<string, number>();
    for (const e of this.agentLog(member)) {
      const at = Date.parse(String(e.time));
      if (!ROOM_TORN_DOWN.includes(String(e.event)) || !(at >= since)) continue;
      found.set(String(e.sessionId), at);
    }
    return found;
  }

  private agentLog(member: FleetMember): Array<Record<string, unknown>> {
    let text: string;
    try {
      text = readFileSync(join(this.cluster.logDir, `${member.nodeId}.log`), 'utf8');
    } catch {
      return []; // no log
    }
    return text.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }
}

function held(contents: JanusContents): { rooms: number; handles: number } {
  return { rooms: contents.rooms.length, handles: contents.handles.length };
}

function key(m: Member): string {
  return `${m.sessionId}/${m.participantId}`;
}
