/**
 * The standby pair's clients and observer, run inside the pair's client namespace (StandbyPair.
 * startDriver): participants join through the service address with the SDK and exchange numbered
 * messages throughout (the chaos suite's Workload), while a sampler records which node holds the
 * address and which runtime is ready, every SAMPLE_MS. With `media` (a program that has MediaTools
 * calls runDriver with them: test/standby/support/media-driver.ts), a camera publishes into each
 * session and every participant subscribes to it, counting the video frames it receives.
 *
 * stdin, one JSON per line: {"cmd":"stop"} ends the run; {"cmd":"frames-after","since":t,
 * "timeoutMs":n} asks when every subscriber received video again after t. stdout, one JSON per
 * line: {"event":"ready"} once every session joined (with media: once video flows), {"event":
 * "serving",...} at each change of who serves, {"event":"frames-after",...} answering the command,
 * and last {"event":"report",...}: the workload's report, the timeline, the samples in which both
 * nodes served (held the address and were ready throughout the sample), and with media its figures.
 */
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { RtcHaAdmin } from '../../runtime/client';
import { probe } from '../../runtime/standby/probe';
import { FrameLog, type Camera, type MediaTools } from '../chaos/media';
import { Workload, type WorkloadMedia } from '../chaos/workload';
import { waitFor } from '../ports';

const run = promisify(execFile);
const SAMPLE_MS = 100;
const PROBE_TIMEOUT_MS = 300;

export interface DriverNode {
  readonly name: string;
  readonly namespace: string;
  /** The node's runtime /ready on its client-side address. */
  readonly readyUrl: string;
}

export interface DriverConfig {
  readonly serviceUrl: string;
  readonly serviceAddress: string;
  readonly apiSecret: string;
  readonly runId: string;
  readonly sessions: number;
  readonly messageIntervalMs: number;
  readonly nodes: readonly DriverNode[];
  /** @default none: signaling only */
  readonly media?: DriverMediaConfig;
}

export interface DriverMediaConfig {
  /** The client namespace's address: where the clients' WebRTC gathers ICE. */
  readonly iceAddress: string;
  /** Longest wait for video to flow to every subscriber after the cameras published. */
  readonly flowingTimeoutMs: number;
}

/** MediaTools for the driver's clients, with a `close` for the end of the run. */
export type MediaToolsFactory = (iceAddress: string) => Promise<MediaTools & { close(): Promise<void> }>;

/**
 * When video came (back) to every subscriber after `since`, in ms after it (null: not within the
 * wait): from its first frame that ended a silence of SILENCE_MS or more (its first frame ever
 * counts too), so that frames still in flight from a node killed at `since` do not.
 */
export interface FramesAfter {
  readonly since: number;
  /** Per subscriber: that first frame. */
  readonly firstFrameMs: ReadonlyArray<number | null>;
  /** Per subscriber: the FLOWING.frames-th frame from that one on: video steadily flowing. */
  readonly flowingMs: ReadonlyArray<number | null>;
  readonly error?: string;
}

/** The media of a run, at its end. */
export interface DriverMediaReport {
  readonly cameras: number;
  readonly subscribers: number;
  /** Video frames each subscriber received over the run. */
  readonly framesReceived: readonly number[];
  /** Each SDK `mediaRestored`: the subscriber's media up again after a loss, and on which node. */
  readonly restored: ReadonlyArray<{ readonly gapMs: number; readonly mediaNodeId: string | null }>;
  readonly mediaErrors: readonly string[];
}

/** One sample: which nodes held the address and which were ready (before and after reading the address). */
export interface Sample {
  readonly t: number;
  readonly holders: string[];
  readonly ready: string[];
  /** Held the address and answered ready at both reads. */
  readonly serving: string[];
}

async function sample(config: DriverConfig): Promise<Sample> {
  const readyNow = () =>
    Promise.all(
      config.nodes.map(async (n) => {
        const r = await probe(n.readyUrl, PROBE_TIMEOUT_MS);
        return typeof r === 'object' && r.status === 200;
      }),
    );
  const t = Date.now();
  const before = await readyNow();
  const held = await Promise.all(
    config.nodes.map(async (n) => {
      const { stdout } = await run('ip', ['-n', n.namespace, '-o', '-4', 'addr', 'show', 'dev', 'pub0']);
      return stdout.includes(` ${config.serviceAddress}/`);
    }),
  );
  const after = await readyNow();
  const names = (flags: boolean[]) => config.nodes.filter((_, i) => flags[i]).map((n) => n.name);
  return {
    t,
    holders: names(held),
    ready: names(after),
    serving: names(config.nodes.map((_, i) => held[i] && before[i] && after[i])),
  };
}

/** A subscriber receives video: this many frames since its video came (back), the last this recent. */
const FLOWING = { frames: 15, withinMs: 500 };
/** Video came back with a frame after at least this long without one (a steady 30 fps has ~33 ms). */
const SILENCE_MS = 500;

/** The frames of `log` from its first after `since` that ended a silence of SILENCE_MS (or was its first). */
function framesBack(log: FrameLog, since: number): number[] {
  const from = log.at.findIndex((at, i) => at > since && (i === 0 || at - log.at[i - 1] >= SILENCE_MS));
  return from < 0 ? [] : log.at.slice(from);
}

/** The cameras and the subscribers' frames (the chaos suite's FrameLog), through MediaTools. */
class DriverMedia {
  private readonly frames = new Map<string, FrameLog>();
  private readonly cameras: Camera[] = [];
  private readonly restored: Array<{ gapMs: number; mediaNodeId: string | null }> = [];
  private readonly errors: string[] = [];

  constructor(private readonly tools: MediaTools) {}

  /** Each participant subscribes with a frame-counting WebRTC of its own. */
  workloadMedia(): WorkloadMedia {
    return {
      rtc: (sessionId, participantId) => {
        const log = new FrameLog();
        this.frames.set(`${sessionId}/${participantId}`, log);
        return this.tools.subscriberRtc((at) => log.add(at));
      },
      watch: (sessionId, participantId, sdk) => {
        sdk.on('mediaRestored', ({ gapMs, mediaNodeId }) => this.restored.push({ gapMs, mediaNodeId }));
        sdk.on('mediaError', ({ code, message }) =>
          this.errors.push(`${sessionId}/${participantId}: ${code} ${message}`),
        );
      },
    };
  }

  /** A camera publishes into each session, as participant `camera`. */
  async publish(admin: RtcHaAdmin, wsUrl: string, sessionIds: readonly string[]): Promise<void> {
    for (const sessionId of sessionIds) {
      const { token } = await admin.createConnection(sessionId, 'camera');
      this.cameras.push(await this.tools.publish(wsUrl, token));
    }
  }

  /** Waits (at most `timeoutMs`) until every subscriber receives video after `since`; says when. */
  async framesAfter(since: number, timeoutMs: number): Promise<FramesAfter> {
    const logs = [...this.frames.values()];
    const error = await waitFor(
      'every subscriber receiving video',
      () => {
        const now = Date.now();
        return logs.every(
          (log) =>
            framesBack(log, since).length >= FLOWING.frames && now - (log.last() ?? 0) < FLOWING.withinMs,
        );
      },
      timeoutMs,
      50,
    ).then(
      () => undefined,
      (err: Error) => err.message,
    );
    const nth = (log: FrameLog, n: number) => {
      const at = framesBack(log, since)[n - 1];
      return at === undefined ? null : at - since;
    };
    return {
      since,
      firstFrameMs: logs.map((log) => nth(log, 1)),
      flowingMs: logs.map((log) => nth(log, FLOWING.frames)),
      ...(error && { error }),
    };
  }

  report(): DriverMediaReport {
    return {
      cameras: this.cameras.length,
      subscribers: this.frames.size,
      framesReceived: [...this.frames.values()].map((log) => log.at.length),
      restored: [...this.restored],
      mediaErrors: [...this.errors],
    };
  }

  /** Every camera leaves its session. */
  async close(): Promise<void> {
    await Promise.all(this.cameras.splice(0).map((c) => c.close().catch(() => undefined)));
  }
}

/**
 * Runs the driver as STANDBY_DRIVER configures it; a media run (DriverConfig.media) needs
 * `mediaTools`, which this program does not load itself (a browser, werift).
 */
export async function runDriver(mediaTools?: MediaToolsFactory): Promise<void> {
  const config = JSON.parse(process.env.STANDBY_DRIVER ?? '') as DriverConfig;
  if (config.media && !mediaTools) {
    throw new Error('a media run needs MediaTools: run test/standby/support/media-driver.ts instead');
  }
  const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  let stopping = false;
  const tools = config.media && (await mediaTools!(config.media.iceAddress));
  const media = tools && new DriverMedia(tools);
  const stopped = new Promise<void>((resolve) =>
    createInterface({ input: process.stdin }).on('line', (line) => {
      const command = JSON.parse(line) as { cmd?: string; since?: number; timeoutMs?: number };
      if (command.cmd === 'stop') resolve();
      if (command.cmd === 'frames-after') {
        if (!media) emit({ event: 'frames-after', error: 'this run carries no media' });
        else
          void media
            .framesAfter(command.since ?? Date.now(), command.timeoutMs ?? 0)
            .then((found) => emit({ event: 'frames-after', ...found }));
      }
    }),
  );

  const timeline: Sample[] = [];
  const overlaps: Sample[] = [];
  const sampler = (async () => {
    let last = '';
    while (!stopping) {
      const s = await sample(config);
      if (s.serving.length > 1) overlaps.push(s);
      const key = JSON.stringify([s.serving, s.holders, s.ready]);
      if (key !== last) {
        last = key;
        timeline.push(s);
        emit({ event: 'serving', ...s });
      }
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();

  const admin = new RtcHaAdmin({ baseUrl: config.serviceUrl, secret: config.apiSecret });
  const workload = new Workload({
    baseUrl: config.serviceUrl,
    apiSecret: config.apiSecret,
    runId: config.runId,
    participantsPerSession: 2,
    messageIntervalMs: config.messageIntervalMs,
    gapThresholdMs: 1_000,
    ...(media && { media: media.workloadMedia() }),
  });
  await workload.addSessions(config.sessions);
  const joined = workload.sessionIds().length;
  if (joined < config.sessions) {
    // The workload keeps no error of a failed join: say what the service answered then.
    const ready = await probe(`${config.serviceUrl}/ready`, PROBE_TIMEOUT_MS);
    process.stderr.write(
      `${config.sessions - joined} sessions failed to join; the service's /ready: ${JSON.stringify(ready)}\n`,
    );
  }
  let flowing: FramesAfter | undefined;
  if (media && config.media) {
    const published = Date.now();
    await media.publish(admin, `${config.serviceUrl.replace(/^http/, 'ws')}/ws`, workload.sessionIds());
    flowing = await media.framesAfter(published, config.media.flowingTimeoutMs);
  }
  workload.startSending();
  emit({ event: 'ready', sessions: workload.sessionIds().length, ...(flowing && { flowing }) });

  await stopped;
  workload.stopSending();
  const report = await workload.settle(20_000);
  stopping = true;
  await sampler;
  const mediaReport = media?.report();
  await media?.close();
  await tools?.close();
  workload.close();
  // Each session holds a place on a media node until deleted: runs after this one need theirs.
  await Promise.all(workload.sessionIds().map((id) => admin.deleteSession(id).catch(() => undefined)));
  emit({
    event: 'report',
    report,
    timeline,
    overlaps: overlaps.length,
    overlapSamples: overlaps.slice(0, 5),
    ...(mediaReport && { media: mediaReport }),
  });
  process.exit(0);
}

/** Runs the driver as the program it is (the media one runs it through its own program). */
export function driverMain(mediaTools?: MediaToolsFactory): void {
  runDriver(mediaTools).catch((err: unknown) => {
    process.stderr.write(`standby driver failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

if (require.main === module) driverMain();
