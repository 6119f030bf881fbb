/**
 * Media benchmark: real Janus (Debian's `janus`, VideoRoom) on this machine, a real browser
 * publishing, real WebRTC subscribers.
 *
 * 1. Publish to first frame: from the SDK's `publish()` in a Chromium page (fake camera) to the
 *    first frame decoded by a subscriber page (the SDK subscribing by itself), through rtc-ha:
 *    redis-server, a master, a media agent running Janus. Both pages in one browser: one clock.
 * 2. Subscriber streams per media node: one Chromium publisher (VP8 capped at 0.8 Mbps through the
 *    sender's maxBitrate) and more and more light subscribers (werift, counting RTP without
 *    decoding: bench/support/light-subscriber.ts), joined through the master with the Node SDK,
 *    until Janus's own CPU passes 70 % of one core.
 * 3. The same for a bare Janus driven directly (runtime/media/janus, the agent's spec), same
 *    publisher, same subscribers: the ratio is rtc-ha's overhead on the media node.
 *
 * Media needs a non-loopback address: the benchmark re-runs itself inside a fresh network
 * namespace (scripts/netns-run.sh, as root) unless RTC_TEST_NETNS says it is in one.
 *
 * Run: npx tsx bench/media.ts [--quick]
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { RtcHaAdmin, type RtcImplementation } from '../runtime/client';
import { RtcHaNodeSession } from '../runtime/client/node';
import { DEFAULT_TIMINGS, LIMITS } from '../runtime/contract';
import { JanusClient, JanusSupervisor, debianJanusLibDir, newJanusSecret } from '../runtime/media/janus';
import type { JanusSession, VideoRoomHandle } from '../runtime/media/janus';
import { silentLogger } from '../runtime/node/log';
import { startNodeProcess, type NodeProcess } from '../local/node-process';
import { freePort, waitFor } from '../local/ports';
import { startRedisServer, type RedisServer } from '../local/redis-server';
import { launchBrowser, type TestBrowser } from '../test/support/browser';
import { serveSdkPage } from '../test/support/sdk-page';
import { LightPeerConnection, lightRtc, type RtpCount } from './support/light-subscriber';
import { namespaceIceAddress, runInTestNamespace } from './support/netns';
import { percentiles, progress, quick, writeBenchResult } from './support/report';

runInTestNamespace(__filename);

const ICE_ADDRESS = namespaceIceAddress();
const API_SECRET = 'rtc-ha-media-bench-api-secret-01';
const CONTROL_SECRET = 'rtc-ha-media-bench-control-secret-0123';
/** Publish-to-first-frame runs. */
const FIRST_FRAME_RUNS = quick ? 5 : 24;
/** The publisher's video cap (RTCRtpSender maxBitrate), the issue's 0.8 Mbps stream. */
const PUBLISH_BITRATE = 800_000;
/** Janus's CPU line, as a share of one core. */
const CPU_LIMIT = 0.7;
/** A step counts only while the publisher sends at least this share of its cap. */
const PUBLISHER_FLOOR = 0.5;
/** Subscribers added per step, the most ever, and each step's settle time and measuring window. */
const STEP = quick ? 40 : 20;
const MAX_SUBSCRIBERS = 200;
const SETTLE_MS = quick ? 2_000 : 3_000;
const WINDOW_MS = quick ? 3_000 : 6_000;
/** Longest a whole capacity ramp may take, and the wait for one step's subscribers to receive media. */
const RAMP_TIMEOUT_MS = quick ? 150_000 : 420_000;
const STEP_MEDIA_TIMEOUT_MS = 30_000;
/** The RTP range of both Janus runs (one media node's worth; the agent's default is 40000-49999). */
const RTP_PORTS = { min: 40_000, max: 44_999 };
const NOBODY = { uid: 65534, gid: 65534 };
const USER_HZ = 100;

// ---- the page ----------------------------------------------------------------------------------

/**
 * The page both paths use: the SDK (bundled runtime/client) for rtc-ha, a bare RTCPeerConnection
 * for the direct Janus run, and a first-frame watcher over the page's recorded connections.
 */
const PAGE = `<!doctype html><meta charset="utf-8"><script src="/sdk.js"></script><script>
let session;
const marks = {};
window.marks = () => marks;
window.join = async (url, token) => {
  session = new RtcHa.RtcHaSession({ url, token });
  session.on('trackAdded', ({ stream }) => {
    marks.trackAdded ??= Date.now();
    const video = document.createElement('video');
    video.autoplay = true; video.muted = true; video.srcObject = stream;
    document.body.append(video);
  });
  await session.connect();
};
async function capVideo(pc, maxBitrate) {
  for (const sender of pc.getSenders()) {
    if (sender.track?.kind !== 'video') continue;
    const parameters = sender.getParameters();
    parameters.encodings = (parameters.encodings?.length ? parameters.encodings : [{}]).map((e) => ({ ...e, maxBitrate }));
    // The machine is shared: keep the 720p stream rather than let CPU adaptation shrink it.
    parameters.degradationPreference = 'maintain-resolution';
    await sender.setParameters(parameters);
  }
}
const capture = (hd) => navigator.mediaDevices.getUserMedia({ audio: true, video: hd ? { width: 1280, height: 720 } : true });
window.publish = async (maxBitrate, hd) => {
  const stream = await capture(hd);
  marks.publish = Date.now();
  const publication = await session.publish(stream);
  marks.published = Date.now();
  if (maxBitrate) for (const pc of window.__rtcTestPeers) await capVideo(pc, maxBitrate);
  return publication.feedId;
};
window.leave = () => session?.leave();
window.firstFrame = (timeoutMs) => new Promise((resolve, reject) => {
  const deadline = Date.now() + timeoutMs;
  const poll = async () => {
    for (const pc of window.__rtcTestPeers) {
      let decoded = 0;
      (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded || 0; });
      if (decoded > 0) return resolve(Date.now());
    }
    if (Date.now() > deadline) return reject(new Error('no decoded frame within ' + timeoutMs + ' ms'));
    setTimeout(poll, 5);
  };
  poll();
});
let bare;
window.bareOffer = async (hd) => {
  const stream = await capture(hd);
  bare = new RTCPeerConnection();
  for (const track of stream.getTracks()) bare.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  await bare.setLocalDescription(await bare.createOffer());
  // Host candidates only: gathering ends in milliseconds, and the offer then carries them all.
  await new Promise((done) => { if (bare.iceGatheringState === 'complete') done(); else bare.onicegatheringstatechange = () => bare.iceGatheringState === 'complete' && done(); });
  return bare.localDescription.sdp;
};
window.bareAnswer = async (sdp, maxBitrate) => {
  await bare.setRemoteDescription({ type: 'answer', sdp });
  await capVideo(bare, maxBitrate);
};
window.sentVideo = async () => {
  let bytes = 0;
  for (const pc of window.__rtcTestPeers) (await pc.getStats()).forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video') bytes += r.bytesSent || 0; });
  return { bytes, at: Date.now() };
};
</script>`;

interface BenchPage {
  join(url: string, token: string): Promise<void>;
  publish(maxBitrate: number, hd: boolean): Promise<string>;
  leave(): Promise<void>;
  marks(): { publish?: number; published?: number; trackAdded?: number };
  firstFrame(timeoutMs: number): Promise<number>;
  bareOffer(hd: boolean): Promise<string>;
  bareAnswer(sdp: string, maxBitrate: number): Promise<void>;
  sentVideo(): Promise<{ bytes: number; at: number }>;
}
type PageCall = <K extends keyof BenchPage>(
  page: Page,
  method: K,
  ...args: Parameters<BenchPage[K]>
) => Promise<Awaited<ReturnType<BenchPage[K]>>>;
const call: PageCall = (page, method, ...args) =>
  page.evaluate(
    (m, a) => (window as unknown as Record<string, (...x: unknown[]) => unknown>)[m](...a),
    method,
    args as unknown[],
  ) as never;

// ---- CPU from /proc ----------------------------------------------------------------------------

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** Measures processes' CPU over a window, each as a share of ONE core (1.0 = a core busy). */
function cpuMeter(pids: Record<string, number>): () => Record<string, number> {
  const start = performance.now();
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, safeCpu(pid)]));
  return () => {
    const seconds = (performance.now() - start) / 1000;
    return Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, round((safeCpu(pid) - before[name]) / seconds, 3)]),
    );
  };
}
function safeCpu(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0;
  }
}

/** The `janus` process whose parent is `parent` (the media agent runs Janus as its child). */
async function janusChildOf(parent: number): Promise<number> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'janus' && ppid === parent) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no janus process under pid ${parent}`);
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the capacity ramp (shared by both paths) ----------------------------------------------------

/** One light subscriber as the ramp sees it. */
interface Subscriber {
  rtp(): RtpCount;
  close(): void;
}

interface Step {
  subscribers: number;
  /** Janus's CPU as a share of one core over the window. */
  janusCpu: number;
  /** Bare Janus only: the same in a second window with the agent's 1 Hz load read running. */
  janusCpuWithLoadRead?: number;
  /** Other processes' CPU over the same window (share of one core each). */
  otherCpu: Record<string, number>;
  /** Subscribers that received video RTP during the window (all of them, or the step failed). */
  receiving: number;
  /** Per subscriber, RTP packets per second over the window (video, audio): min and mean. */
  videoPps: { min: number; mean: number };
  audioPps: { min: number; mean: number };
  /** The publisher's video bitrate over the window (bps, from its outbound-rtp bytesSent). */
  publishBps: number;
  /** RTP packets per second Janus forwarded to the subscribers (all of them, audio and video). */
  forwardedPps: number;
  /** The publisher sent under PUBLISHER_FLOOR of its cap: the step does not count. */
  publisherCollapsed?: boolean;
  /** Janus's CPU (share of a core) per 1000 forwarded packets a second: the cost with the publisher's rate taken out. */
  cpuPerKpps?: number;
  loadAverage: number;
}

interface Ramp {
  steps: Step[];
  /** Most subscribers measured with Janus at or under CPU_LIMIT of one core. */
  streams: number;
  /** Where Janus's CPU crosses CPU_LIMIT, interpolated between the two steps around it. */
  crossing?: number;
  /** Bare Janus only: the figure with the agent's 1 Hz load read running against it. */
  streamsWithLoadRead?: number;
  /** Median over the steps with subscribers of Janus's CPU per 1000 forwarded packets a second. */
  cpuPerKpps?: number;
  /** Why the ramp ended. */
  ended: string;
}

/** Waits (bounded) until the publisher sends at 85 % of its cap: Chromium's bandwidth estimate ramps up. */
async function warmUp(publisher: Page): Promise<number> {
  const deadline = Date.now() + 30_000;
  let bps = 0;
  while (Date.now() < deadline) {
    const a = await call(publisher, 'sentVideo');
    await sleep(1_000);
    const b = await call(publisher, 'sentVideo');
    bps = ((b.bytes - a.bytes) * 8 * 1000) / (b.at - a.at);
    if (bps >= 0.85 * PUBLISH_BITRATE) break;
  }
  progress(`publisher sends ${round(bps / 1e6, 2)} Mbps of video`);
  return bps;
}

async function ramp(
  name: string,
  janusPid: number,
  others: Record<string, number>,
  publisher: Page,
  addSubscriber: (index: number) => Promise<Subscriber>,
  /** Starts the agent's load read (bare Janus): a second window per step runs with it; returns its stop. */
  loadRead?: () => () => void,
): Promise<Ramp> {
  const subscribers: Subscriber[] = [];
  const steps: Step[] = [];
  await warmUp(publisher);
  const started = Date.now();
  let ended = `reached ${MAX_SUBSCRIBERS} subscribers (the bound) under ${CPU_LIMIT * 100} %`;
  try {
    // Step 0: the publisher alone (its ingest is Janus's base load).
    for (let target = 0; target <= MAX_SUBSCRIBERS; target += STEP) {
      if (Date.now() - started > RAMP_TIMEOUT_MS) {
        ended = `time bound (${RAMP_TIMEOUT_MS / 1000} s) reached`;
        break;
      }
      const joining: Promise<Subscriber>[] = [];
      for (let i = subscribers.length; i < target; i++) joining.push(addSubscriber(i));
      const joined = await Promise.allSettled(joining);
      for (const j of joined) if (j.status === 'fulfilled') subscribers.push(j.value);
      const failed = joined.find((j): j is PromiseRejectedResult => j.status === 'rejected');
      if (failed) {
        ended = `a subscriber failed to join at ${target}: ${String(failed.reason?.message ?? failed.reason)}`;
        break;
      }
      await waitFor(
        `every one of ${subscribers.length} subscribers to receive video`,
        () => subscribers.every((s) => s.rtp().video > 0),
        STEP_MEDIA_TIMEOUT_MS,
        100,
      );
      await sleep(SETTLE_MS);
      const before = subscribers.map((s) => ({ ...s.rtp() }));
      const sentBefore = await call(publisher, 'sentVideo');
      const meter = cpuMeter({ janus: janusPid, ...others });
      await sleep(WINDOW_MS);
      const cpu = meter();
      const sentAfter = await call(publisher, 'sentVideo');
      const seconds = WINDOW_MS / 1000;
      const video = subscribers.map((s, i) => (s.rtp().video - before[i].video) / seconds);
      const audio = subscribers.map((s, i) => (s.rtp().audio - before[i].audio) / seconds);
      const stats = (v: number[]) =>
        v.length === 0
          ? { min: 0, mean: 0 }
          : { min: round(Math.min(...v)), mean: round(v.reduce((a, b) => a + b, 0) / v.length) };
      let janusCpuWithLoadRead: number | undefined;
      if (loadRead) {
        const stopReading = loadRead();
        await sleep(1_000);
        const second = cpuMeter({ janus: janusPid });
        await sleep(WINDOW_MS);
        janusCpuWithLoadRead = second().janus;
        stopReading();
      }
      const { janus, ...otherCpu } = cpu;
      const step: Step = {
        subscribers: subscribers.length,
        janusCpu: janus,
        ...(janusCpuWithLoadRead !== undefined && { janusCpuWithLoadRead }),
        otherCpu,
        receiving: video.filter((pps) => pps > 0).length,
        videoPps: stats(video),
        audioPps: stats(audio),
        publishBps: Math.round(
          ((sentAfter.bytes - sentBefore.bytes) * 8 * 1000) / (sentAfter.at - sentBefore.at),
        ),
        forwardedPps: Math.round([...video, ...audio].reduce((a, b) => a + b, 0)),
        loadAverage: round(loadavg()[0]),
      };
      if (step.forwardedPps > 0) step.cpuPerKpps = round((janus * 1000) / step.forwardedPps, 4);
      steps.push(step);
      progress(
        `${name}: ${step.subscribers} subscribers, janus ${round(janus * 100)} % of a core` +
          (janusCpuWithLoadRead === undefined
            ? ', '
            : ` (${round(janusCpuWithLoadRead * 100)} % with the load read), `) +
          `${step.receiving} receiving (video ${step.videoPps.min}-${step.videoPps.mean} pps), ` +
          `publisher ${round(step.publishBps / 1e6, 2)} Mbps, ${JSON.stringify(otherCpu)}, load ${step.loadAverage}`,
      );
      if (step.subscribers > 0 && step.publishBps < PUBLISHER_FLOOR * PUBLISH_BITRATE) {
        step.publisherCollapsed = true;
        ended =
          `the publisher fell to ${round(step.publishBps / 1e6, 2)} Mbps at ${step.subscribers} subscribers (under ` +
          `${PUBLISHER_FLOOR * 100} % of its cap): the shared machine or the load generator saturated, so the streams no ` +
          `longer carry the workload; that step does not count`;
        break;
      }
      if (step.receiving < subscribers.length) {
        ended = `only ${step.receiving} of ${subscribers.length} subscribers received video in the window`;
        break;
      }
      if (janus > CPU_LIMIT) {
        ended = `Janus passed ${CPU_LIMIT * 100} % of a core`;
        break;
      }
    }
  } finally {
    for (const s of subscribers) s.close();
  }
  const valid = steps.filter((s) => !s.publisherCollapsed && s.receiving === s.subscribers);
  const under = valid.filter((s) => s.janusCpu <= CPU_LIMIT);
  const streams = under.length ? Math.max(...under.map((s) => s.subscribers)) : 0;
  const above = valid.find((s) => s.janusCpu > CPU_LIMIT);
  const below = [...valid].reverse().find((s) => above && s.subscribers < above.subscribers);
  const crossing =
    above && below
      ? round(
          below.subscribers +
            ((CPU_LIMIT - below.janusCpu) / (above.janusCpu - below.janusCpu)) *
              (above.subscribers - below.subscribers),
        )
      : undefined;
  const read = valid.filter(
    (s) => s.janusCpuWithLoadRead !== undefined && s.janusCpuWithLoadRead <= CPU_LIMIT,
  );
  const streamsWithLoadRead =
    loadRead && read.length ? Math.max(...read.map((s) => s.subscribers)) : undefined;
  const costs = valid
    .flatMap((s) => (s.cpuPerKpps === undefined ? [] : [s.cpuPerKpps]))
    .sort((a, b) => a - b);
  const cpuPerKpps = costs.length ? costs[Math.floor((costs.length - 1) / 2)] : undefined;
  return { steps, streams, crossing, streamsWithLoadRead, cpuPerKpps, ended };
}

// ---- rtc-ha: redis, a master, a media agent with Janus --------------------------------------------

interface RtcHa {
  redis: RedisServer;
  master: NodeProcess;
  agent: NodeProcess;
  agentTmp: string;
  admin: RtcHaAdmin;
  stop(): Promise<void>;
}

async function startRtcHa(): Promise<RtcHa> {
  const redis = await startRedisServer();
  const common = { RTC_REDIS_URL: redis.url, RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET };
  // Janus runs as nobody (the agent runs as root here): its folder's parent must let it through.
  const agentTmp = await mkdtemp('/tmp/rtc-ha-bench-agent-');
  await chmod(agentTmp, 0o711);
  const nodes: NodeProcess[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop(2_000)));
    await redis.stop();
    await rm(agentTmp, { recursive: true, force: true });
  };
  try {
    nodes.push(
      await startNodeProcess({
        kind: 'media',
        env: {
          ...common,
          RTC_NODE_ID: 'media-1',
          RTC_MEDIA_ICE_ADDRESS: ICE_ADDRESS,
          RTC_MEDIA_PORT_MIN: String(RTP_PORTS.min),
          RTC_MEDIA_PORT_MAX: String(RTP_PORTS.max),
          TMPDIR: agentTmp,
        },
        startTimeoutMs: 30_000,
      }),
    );
    nodes.push(
      await startNodeProcess({
        kind: 'master',
        env: { ...common, RTC_NODE_ID: 'master-1', RTC_API_SECRET: API_SECRET },
      }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const [agent, master] = nodes;
  return {
    redis,
    master,
    agent,
    agentTmp,
    admin: new RtcHaAdmin({ baseUrl: master.url, secret: API_SECRET }),
    stop,
  };
}

const wsUrl = (master: NodeProcess) => `${master.url.replace(/^http/, 'ws')}/ws`;

async function openPage(browser: TestBrowser, url: string, label: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => progress(`${label}: ${String(err)}`));
  await page.goto(url);
  return page;
}

async function joinPage(
  rtcha: RtcHa,
  browser: TestBrowser,
  url: string,
  sessionId: string,
  participantId: string,
) {
  const page = await openPage(browser, url, participantId);
  const { token } = await rtcha.admin.createConnection(sessionId, participantId);
  await call(page, 'join', wsUrl(rtcha.master), token);
  return page;
}

interface FirstFrameRun {
  /** publish() called -> first frame decoded by the subscriber page. */
  firstFrameMs: number;
  /** publish() called -> its promise resolved (the media node's answer applied). */
  answerMs: number;
  /** publish() called -> the subscriber's trackAdded (subscribed: its answer confirmed). */
  trackAddedMs: number;
}

async function firstFrames(rtcha: RtcHa, browser: TestBrowser, url: string): Promise<FirstFrameRun[]> {
  const runs: FirstFrameRun[] = [];
  for (let run = 0; run < FIRST_FRAME_RUNS; run++) {
    const sessionId = `first-frame-${run}-${Date.now().toString(36)}`;
    await rtcha.admin.createSession(sessionId);
    const subscriber = await joinPage(rtcha, browser, url, sessionId, 'viewer');
    const publisher = await joinPage(rtcha, browser, url, sessionId, 'camera');
    try {
      const frame = call(subscriber, 'firstFrame', 20_000);
      await call(publisher, 'publish', 0, false);
      const frameAt = await frame;
      const pub = await call(publisher, 'marks');
      const sub = await call(subscriber, 'marks');
      const result = {
        firstFrameMs: frameAt - pub.publish!,
        answerMs: pub.published! - pub.publish!,
        trackAddedMs: sub.trackAdded! - pub.publish!,
      };
      runs.push(result);
      progress(`first frame run ${run + 1}/${FIRST_FRAME_RUNS}: ${JSON.stringify(result)}`);
    } catch (err) {
      progress(`first frame run ${run + 1}: ${(err as Error).message}`);
    } finally {
      await Promise.all([publisher, subscriber].map((p) => call(p, 'leave').catch(() => undefined)));
      await Promise.all([publisher, subscriber].map((p) => p.close()));
      await rtcha.admin.deleteSession(sessionId).catch(() => undefined);
    }
  }
  return runs;
}

async function rtcHaRamp(rtcha: RtcHa, browser: TestBrowser, url: string): Promise<Ramp> {
  const sessionId = `capacity-${Date.now().toString(36)}`;
  await rtcha.admin.createSession(sessionId);
  const publisher = await joinPage(rtcha, browser, url, sessionId, 'camera');
  await call(publisher, 'publish', PUBLISH_BITRATE, true);
  const janusPid = await janusChildOf(rtcha.agent.pid);
  const sessions: RtcHaNodeSession[] = [];
  try {
    return await ramp(
      'rtc-ha',
      janusPid,
      { agent: rtcha.agent.pid, master: rtcha.master.pid, loadGenerator: process.pid },
      publisher,
      async (i) => {
        const peers: LightPeerConnection[] = [];
        class Counted extends LightPeerConnection {
          constructor(configuration: object) {
            super(configuration);
            peers.push(this);
          }
        }
        const { token } = await rtcha.admin.createConnection(sessionId, `light-${i}`);
        const session = new RtcHaNodeSession({
          url: wsUrl(rtcha.master),
          token,
          rtc: { ...lightRtc, RTCPeerConnection: Counted } as unknown as RtcImplementation,
        });
        sessions.push(session);
        const added = new Promise<void>((done, fail) => {
          session.on('trackAdded', () => done());
          session.on('mediaError', (e) => fail(new Error(`${e.code}: ${e.message}`)));
        });
        await session.connect();
        await withTimeout(added, 20_000, `light-${i}'s subscription`);
        return {
          rtp: () =>
            peers.reduce(
              (sum, pc) => ({ audio: sum.audio + pc.rtp.audio, video: sum.video + pc.rtp.video }),
              {
                audio: 0,
                video: 0,
              },
            ),
          close: () => session.close(),
        };
      },
    );
  } finally {
    for (const s of sessions) s.close();
    await call(publisher, 'leave').catch(() => undefined);
    await publisher.close();
  }
}

// ---- bare Janus: the agent's spec, driven directly -----------------------------------------------

async function bareJanusRamp(browser: TestBrowser, url: string): Promise<Ramp> {
  const configRoot = await mkdtemp('/tmp/rtc-ha-bench-janus-');
  await chmod(configRoot, 0o711);
  // The spec MediaNode.start gives its Janus (runtime/media/media-node.ts), ports aside.
  const supervisor = new JanusSupervisor({
    spec: {
      configDir: join(configRoot, 'janus'),
      libDir: debianJanusLibDir(),
      apiPort: await freePort(),
      apiSecret: newJanusSecret(),
      adminPort: await freePort(),
      adminSecret: newJanusSecret(),
      rtpPortMin: RTP_PORTS.min,
      rtpPortMax: RTP_PORTS.max,
      iceAddress: ICE_ADDRESS,
      sessionTimeoutSeconds: 60,
      serverName: 'bare-janus',
      logLevel: 4,
    },
    log: silentLogger,
    runAs: process.getuid?.() === 0 ? NOBODY : undefined,
  });
  await supervisor.start();
  let client: JanusClient | undefined;
  let publisher: Page | undefined;
  try {
    client = await supervisor.connectClient();
    const session = await client.createSession();
    const manager = await session.attachVideoRoom();
    const room = 'bare-capacity';
    await manager.createRoom(room, { publishers: LIMITS.maxParticipantsPerSession });

    publisher = await openPage(browser, url, 'bare publisher');
    const pubHandle = await session.attachVideoRoom();
    await pubHandle.joinAsPublisher(room, 'camera');
    const offer = await call(publisher, 'bareOffer', true);
    const up = pubHandle.waitFor('webrtcup', 20_000);
    const answer = await pubHandle.publish({ type: 'offer', sdp: offer });
    await pubHandle.trickleCompleted();
    await call(publisher, 'bareAnswer', answer.sdp, PUBLISH_BITRATE);
    await up;

    const pid = supervisor.pid;
    if (pid === undefined) throw new Error('bare Janus is not running');
    // What the media agent does to its Janus every heartbeat (DEFAULT_TIMINGS.heartbeatIntervalMs): read
    // the load figures through the admin API (a handle_info per handle) and /proc.
    const loadRead = () => {
      const timer = setInterval(
        () => void supervisor.load().catch(() => undefined),
        DEFAULT_TIMINGS.heartbeatIntervalMs,
      );
      return () => clearInterval(timer);
    };
    return await ramp(
      'bare Janus',
      pid,
      { loadGenerator: process.pid },
      publisher,
      (i) => bareSubscriber(session, room, 'camera', i),
      loadRead,
    );
  } finally {
    await publisher?.close();
    client?.close();
    await supervisor.stop();
    await rm(configRoot, { recursive: true, force: true });
  }
}

/** A light subscriber on `room`'s `feed`, negotiated with Janus directly (no master, no agent). */
async function bareSubscriber(
  session: JanusSession,
  room: string,
  feed: string,
  index: number,
): Promise<Subscriber> {
  const handle: VideoRoomHandle = await session.attachVideoRoom();
  const pc = new LightPeerConnection();
  try {
    const candidates: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }[] = [];
    let started = false;
    let trickling = Promise.resolve();
    const send = (c: (typeof candidates)[number] | null) => {
      trickling = trickling
        .then(() => (c ? handle.trickle(c) : handle.trickleCompleted()))
        .catch(() => undefined);
    };
    pc.onicecandidate = ({ candidate }) => {
      const init = candidate
        ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
        : null;
      if (started) send(init);
      else candidates.push(init as never);
    };
    const offer = await handle.joinAsSubscriber(room, [feed]);
    await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await handle.start({ type: 'answer', sdp: pc.localDescription!.sdp });
    started = true;
    for (const c of candidates.splice(0)) send(c);
    await withTimeout(
      new Promise<void>((done) => {
        if (pc.connectionState === 'connected') done();
        pc.connectionStateChange.subscribe((state) => state === 'connected' && done());
      }),
      20_000,
      `bare subscriber ${index}'s connection`,
    );
  } catch (err) {
    await pc.close();
    await handle.detach().catch(() => undefined);
    throw err;
  }
  return {
    rtp: () => pc.rtp,
    close: () => {
      void pc.close();
      void handle.detach().catch(() => undefined);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]);
}

// ---- main ------------------------------------------------------------------------------------------

async function main(): Promise<boolean> {
  const startedAt = Date.now();
  const site = await serveSdkPage(PAGE);
  const { url } = site;
  const browser = await launchBrowser();
  let rtcha: RtcHa | undefined;
  try {
    progress('rtc-ha: starting redis-server, a media agent with Janus and a master');
    rtcha = await startRtcHa();
    progress(`first frame: ${FIRST_FRAME_RUNS} runs`);
    const runs = await firstFrames(rtcha, browser, url);
    progress(`capacity through rtc-ha: +${STEP} light subscribers a step, up to ${MAX_SUBSCRIBERS}`);
    const rtcHa = await rtcHaRamp(rtcha, browser, url);
    await rtcha.stop();
    rtcha = undefined;
    progress('capacity of a bare Janus (same spec, same publisher and subscribers)');
    const bare = await bareJanusRamp(browser, url);
    report(runs, rtcHa, bare, Date.now() - startedAt);
    return runs.length > 0 && rtcHa.streams > 0 && bare.streams > 0;
  } finally {
    await rtcha?.stop();
    await browser.close();
    await site.close();
  }
}

function report(runs: FirstFrameRun[], rtcHa: Ramp, bare: Ramp, elapsedMs: number): void {
  const first = percentiles(runs.map((r) => r.firstFrameMs));
  const answer = percentiles(runs.map((r) => r.answerMs));
  const added = percentiles(runs.map((r) => r.trackAddedMs));
  const ratio = bare.streams > 0 ? round(rtcHa.streams / bare.streams, 2) : undefined;
  const costRatio =
    rtcHa.cpuPerKpps && bare.cpuPerKpps ? round(bare.cpuPerKpps / rtcHa.cpuPerKpps, 2) : undefined;
  const crossingRatio =
    rtcHa.crossing !== undefined && bare.crossing !== undefined
      ? round(rtcHa.crossing / bare.crossing, 2)
      : undefined;
  const result = {
    firstFrameMs: { p50: first.p50, p99: first.p99, max: first.max, n: first.n, runs: FIRST_FRAME_RUNS },
    streamsPerNode: rtcHa.streams,
    bareJanusStreams: bare.streams,
    ratio,
    crossing: { rtcHa: rtcHa.crossing, bareJanus: bare.crossing, ratio: crossingRatio },
    bareJanusStreamsWithLoadRead: bare.streamsWithLoadRead,
    janusCpuPerKpps: { rtcHa: rtcHa.cpuPerKpps, bareJanus: bare.cpuPerKpps, ratio: costRatio },
    publishAnswerMs: { p50: answer.p50, p99: answer.p99 },
    trackAddedMs: { p50: added.p50, p99: added.p99 },
    cpuLimit: `${CPU_LIMIT} of one core (Janus process, /proc utime+stime)`,
    publishBitrate: PUBLISH_BITRATE,
    step: STEP,
    windowMs: WINDOW_MS,
    rampEnded: { rtcHa: rtcHa.ended, bareJanus: bare.ended },
    steps: { rtcHa: rtcHa.steps, bareJanus: bare.steps },
    loadAverage: loadavg().map((v) => round(v, 2)),
    elapsedS: Math.round(elapsedMs / 1000),
  };
  const table = (ramp: Ramp) =>
    ramp.steps
      .map(
        (s) =>
          `| ${s.subscribers} | ${round(s.janusCpu * 100)} %${s.janusCpuWithLoadRead === undefined ? '' : ` (${round(s.janusCpuWithLoadRead * 100)} %)`} | ` +
          `${s.receiving} | ${s.videoPps.min} / ${s.videoPps.mean} | ${s.forwardedPps} | ${s.cpuPerKpps ?? ''} | ` +
          `${s.audioPps.min} / ${s.audioPps.mean} | ${round(s.publishBps / 1e6, 2)} | ` +
          `${Object.entries(s.otherCpu)
            .map(([k, v]) => `${k} ${round(v * 100)} %`)
            .join(', ')} | ${s.loadAverage} |`,
      )
      .join('\n');
  const header =
    '| subscribers | Janus CPU, one core (bare: with the load read) | receiving video | video pps per subscriber, min / mean | forwarded pps | Janus CPU per kpps | audio pps, min / mean | publisher Mbps | other processes (one core each) | load avg |\n|---|---|---|---|---|---|---|---|---|---|';
  writeBenchResult(
    'media',
    result,
    `
Real Janus (Debian's \`janus\`, VideoRoom), Debian's Chromium with a fake camera, inside a fresh network namespace
(\`scripts/netns-run.sh\`: Janus never gathers ICE candidates on loopback). Everything shares the machine's cores:
Janus, the media agent, the master, redis-server, Chromium and the light subscribers.

| figure | value | aim / anchor |
|---|---|---|
| publish -> first decoded frame, p50 / p99 (${first.n} runs) | ${first.p50} / ${first.p99} ms (max ${first.max}) | test harness, raw VideoRoom: 370-660 ms |
| of which publish -> answer applied, p50 / p99 | ${answer.p50} / ${answer.p99} ms | |
| of which publish -> subscriber's trackAdded, p50 / p99 | ${added.p50} / ${added.p99} ms | |
| subscriber streams one media node carries under ${CPU_LIMIT * 100} % of a core (rtc-ha) | ${rtcHa.streams} (crossing ~${rtcHa.crossing ?? 'not reached'}) | issue 11: ~1.5 % of a core per 0.8 Mbps stream, so ~45 |
| the same, bare Janus driven directly | ${bare.streams} (crossing ~${bare.crossing ?? 'not reached'}) | |
| ratio rtc-ha / bare | ${ratio ?? 'n/a'} (interpolated crossings: ${crossingRatio ?? 'n/a'}) | 0.95 or better |
| bare Janus with the agent's 1 Hz load read running | ${bare.streamsWithLoadRead ?? 'n/a'} | |
| Janus CPU per 1000 forwarded packets/s (median of steps), rtc-ha / bare | ${rtcHa.cpuPerKpps ?? 'n/a'} / ${bare.cpuPerKpps ?? 'n/a'} (bare/rtc-ha ${costRatio ?? 'n/a'}) | ~1 |
| load average (1, 5, 15 min) at the end | ${result.loadAverage.join(', ')} | 2 cores, shared |

**Publish to first frame.** ${FIRST_FRAME_RUNS} runs, each a new session with two fresh pages in one Chromium: the
subscriber page joins first (the SDK, autoSubscribe), then the publisher page calls \`session.publish(camera)\`. The
clock starts at that call (in the page, after getUserMedia) and stops when the subscriber page's \`getStats()\` (polled
every 5 ms) shows \`framesDecoded > 0\`. It covers the publish request through the master and the agent, ICE and DTLS to
Janus, \`webrtcup\`, \`trackPublished\` through Redis to the subscriber, its subscribe / offer / answer round trips,
its ICE and DTLS, and the first keyframe. No bitrate cap (the SDK's default).

**Streams per node.** One Chromium publisher (fake camera 640x480, audio and video, VP8 capped at
${PUBLISH_BITRATE / 1e6} Mbps with the video sender's \`maxBitrate\`) and light subscribers added ${STEP} at a time (at most
${MAX_SUBSCRIBERS}, ${RAMP_TIMEOUT_MS / 1000} s per ramp). After each step: every subscriber must receive video RTP
(bounded ${STEP_MEDIA_TIMEOUT_MS / 1000} s), ${SETTLE_MS / 1000} s settle, then a ${WINDOW_MS / 1000} s window in which
Janus's CPU is read from \`/proc/<pid>/stat\` (utime + stime) and every subscriber's RTP packets are counted. A
subscriber stream is the publisher's audio and video to one subscriber (one Janus subscriber handle, one
PeerConnection). The figure is the most subscribers measured with Janus at or under ${CPU_LIMIT * 100} %, every one of
them receiving video; the crossing interpolates linearly between the steps around the line.

- **CPU as a share of ONE core**, Janus's process only: the load generator (Chromium encoding, werift's SRTP and the
  benchmark) runs on the same 2 cores, so the machine's CPU would measure the generator. 70 % of one core leaves the
  other 1.3 cores to the generator, and a per-core figure carries over to a media node of any size (Janus runs a
  loop thread per handle: it spreads over cores). The agent's own \`janusCpu\` (contract: share of the machine) is
  this figure divided by the core count.
- **Light subscribers**: werift 0.25.2 (pure TypeScript WebRTC) doing ICE, DTLS and SRTP and counting RTP packets by
  kind without decoding them (\`bench/support/light-subscriber.ts\`). Chromium decoding dozens of VP8 streams would
  saturate the 2 cores by itself and measure the browser, not the media node. Through rtc-ha each is an
  \`RtcHaNodeSession\` with \`rtc: { RTCPeerConnection, MediaStream }\` from werift: werift's API is close enough to the
  standard for the SDK (\`onicecandidate\`, \`ontrack\`, \`onconnectionstatechange\`, \`connectionState\`, the
  description calls), so they join, get \`trackPublished\`, subscribe and answer through the master exactly like a
  browser. Bare, each is the same werift class negotiated with \`VideoRoomHandle.joinAsSubscriber\` / \`start\` /
  \`trickle\` on one Janus session.
- **Bare Janus**: \`JanusSupervisor\` with the media agent's spec (\`runtime/media/media-node.ts\`: VideoRoom and
  WebSockets only, log level 4, session timeout 60 s, as nobody, same RTP range), one \`JanusClient\` session, the
  room created with the agent's options, the same Chromium publisher negotiated directly.

- **Validity**: a step counts only when every subscriber received video in its window and the publisher still sent at
  least ${PUBLISHER_FLOOR * 100} % of its cap; a publisher whose bandwidth estimate collapsed (loss on an overloaded
  machine) no longer offers the workload, and the ramp ends there, saying so below.
- **Reading the ratio**: both ramps run one after the other on a machine shared with other work (see the load
  averages per step), and the publisher's rate and keyframes (every new subscriber asks for one) move Janus's CPU
  from step to step. So the benchmark also reports Janus's CPU per 1000 RTP packets it forwards a second, which takes
  the publisher's rate out, and measures on the bare Janus a second window per step with the agent's own work on
  Janus running (its 1 Hz load read: a \`handle_info\` per handle over the admin API): the media agent adds nothing
  else to Janus (the master never talks to it, and signaling is done before the window), so a ratio away from 1 is
  noise unless one of those two figures differs.

### rtc-ha (master + media agent)

Ended: ${rtcHa.ended}.

${header}
${table(rtcHa)}

### Bare Janus

Ended: ${bare.ended}.

${header}
${table(bare)}

Anchors (issue 11): Janus idle costs ~22 MB and 0.5 % of a core; about 1.5 % of a core per extra 0.8 Mbps subscriber
stream (VP8 640x480) on this machine. Total run time ${Math.round(elapsedMs / 1000)} s.
`,
  );
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    process.stderr.write(
      `media bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
