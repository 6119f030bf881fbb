/**
 * Media failover benchmark (issue 12): the longest gap between decoded frames at each subscriber
 * while a part of the platform dies, beside an undisturbed run's longest gap.
 *
 * Two masters, four media agents each running real Janus (Debian's `janus`), redis-server, Debian's
 * Chromium pages on the bundled SDK (test/media/fixtures/sdk-media.html, as the recovery test
 * uses). Each run is a fresh room: one publisher and two viewers (one per master). Every page
 * samples `framesDecoded` (all its connections, getStats) every ~20 ms; a subscriber's gap is the
 * longest time between two samples that saw a new decoded frame, over a window from 1 s before the
 * fault until every subscriber recovered (mediaRestored) and decoded 2 s more.
 *
 * - baseline: nothing happens (a 6 s window).
 * - master SIGKILL: the master the publisher and one viewer signal through dies (masters hold no
 *   media: the gap should be the baseline's); a new master replaces it for the next run.
 * - Janus SIGKILL on the media node hosting the room: the platform moves the room to another agent.
 * - the whole media node SIGSTOPped (agent and Janus): detected by the master-agent ping, the room
 *   moves; then the node is resumed.
 * - path broken (the safety net): Janus hangs one viewer's subscription up behind its back (admin
 *   API `hangup_webrtc`); nobody tells the client, whose SDK notices no media for 2 s, reports it,
 *   and renegotiates that subscription when the master finds the node healthy.
 * - drain (make-before-break): the agent hosting the room gets SIGTERM (what the termination
 *   lifecycle hook and an instance refresh do); the masters move the room while it still flows, the
 *   SDK switches each connection once the new one decodes; a new agent replaces it for the next run.
 *
 * Media needs a non-loopback address: re-runs itself inside a network namespace
 * (scripts/netns-run.sh, as root) unless RTC_TEST_NETNS says it is in one.
 *
 * Run: npx tsx bench/media-failover.ts [--quick]
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'puppeteer-core';
import { RtcHaAdmin } from '../runtime/client';
import { DEFAULT_TIMINGS } from '../runtime/contract';
import { janusProcess } from '../local/chaos/janus';
import { startNodeProcess, type NodeProcess } from '../local/node-process';
import { JanusAdmin } from '../runtime/media/janus';
import { waitFor } from '../local/ports';
import { startRedisServer, type RedisServer } from '../local/redis-server';
import { launchBrowser, type TestBrowser } from '../test/support/browser';
import { serveSdkPage } from '../test/support/sdk-page';
import { namespaceIceAddress, runInTestNamespace } from './support/netns';
import { percentiles, progress, quick, writeBenchResult } from './support/report';

const ROOT = resolve(__dirname, '..');

runInTestNamespace(__filename);

const ICE_ADDRESS = namespaceIceAddress();
const API_SECRET = 'rtc-ha-media-failover-api-secret-01';
const CONTROL_SECRET = 'rtc-ha-media-failover-control-secret-0123';
const RUNS = quick ? 2 : 8;
const AGENTS = 4;
/** Page sampling period of framesDecoded. */
const SAMPLE_MS = 20;
/** Window before the fault, and after every subscriber recovered. */
const BEFORE_MS = 1_000;
const AFTER_MS = 2_000;
/** Undisturbed / master-kill window after the fault instant. */
const QUIET_WINDOW_MS = 6_000;
/** No recovery within this: the run's gap is the window (a failure, reported). */
const RECOVERY_TIMEOUT_MS = 45_000;
const NOT_RECOVERED = 'not recovered';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the page glue ---------------------------------------------------------------------------------

interface PageEvent {
  name: string;
  gapMs?: number;
  tookMs?: number;
  mediaNodeId?: string | null;
}
interface GapReading {
  maxGapMs: number;
  /** When the longest gap started (page clock = this clock). */
  maxGapFrom: number;
  lastProgressAt: number;
  samples: number;
  /** Longest interval between two samples: the sampling's own resolution in this run. */
  maxSampleIntervalMs: number;
}
type Win = Record<string, (...args: unknown[]) => unknown>;

/**
 * The page's frame-gap monitor, as source text: tsx's esbuild would wrap named functions in a
 * function handed to page.evaluate with a `__name` helper the page does not have.
 */
const MONITOR = `(() => {
  const state = {
    running: true, lastProgressAt: Date.now(), maxGapMs: 0, maxGapFrom: Date.now(),
    samples: 0, lastSampleAt: Date.now(), maxSampleIntervalMs: 0, decoded: new Map(),
  };
  if (window.__gapMonitor) window.__gapMonitor.running = false;
  window.__gapMonitor = state;
  const sample = async () => {
    if (!state.running) return;
    let progressed = false;
    for (const peer of window.__rtcTestPeers) {
      let frames = 0;
      try {
        (await peer.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'video' && typeof r.framesDecoded === 'number') frames += r.framesDecoded;
        });
      } catch {
        continue;
      }
      const before = state.decoded.get(peer);
      if (before !== undefined && frames > before) progressed = true;
      if (before === undefined && frames > 0 && state.samples > 0) progressed = true;
      state.decoded.set(peer, Math.max(before ?? 0, frames));
    }
    const now = Date.now();
    state.samples++;
    state.maxSampleIntervalMs = Math.max(state.maxSampleIntervalMs, now - state.lastSampleAt);
    state.lastSampleAt = now;
    if (progressed) {
      if (now - state.lastProgressAt > state.maxGapMs) {
        state.maxGapMs = now - state.lastProgressAt;
        state.maxGapFrom = state.lastProgressAt;
      }
      state.lastProgressAt = now;
    }
    setTimeout(sample, ${SAMPLE_MS});
  };
  sample();
})()`;

/** Starts the page's frame-gap monitor (replacing any earlier one). */
async function startMonitor(page: Page): Promise<void> {
  await page.evaluate(MONITOR);
}

/** The monitor's figures; `stop` ends it. A gap still open counts up to now. */
function readMonitor(page: Page, stop = false): Promise<GapReading> {
  return page.evaluate((end: boolean) => {
    const s = (window as unknown as { __gapMonitor: Record<string, number> & { running: boolean } })
      .__gapMonitor;
    if (end) s.running = false;
    const open = Date.now() - s.lastProgressAt;
    return {
      maxGapMs: Math.max(s.maxGapMs, open),
      maxGapFrom: open > s.maxGapMs ? s.lastProgressAt : s.maxGapFrom,
      lastProgressAt: s.lastProgressAt,
      samples: s.samples,
      maxSampleIntervalMs: s.maxSampleIntervalMs,
    };
  }, stop);
}

const pageEvents = (page: Page) =>
  page.evaluate(() => (window as unknown as { events(): PageEvent[] }).events());

// ---- the platform ------------------------------------------------------------------------------------

class Platform {
  masters: NodeProcess[] = [];
  agents: NodeProcess[] = [];
  private all: NodeProcess[] = [];
  private nextPorts = 40_000;

  private constructor(
    readonly redis: RedisServer,
    readonly agentTmp: string,
  ) {}

  static async start(): Promise<Platform> {
    const redis = await startRedisServer();
    const agentTmp = await mkdtemp('/tmp/rtc-ha-bench-failover-');
    await chmod(agentTmp, 0o711); // Janus runs as nobody
    const p = new Platform(redis, agentTmp);
    try {
      for (let i = 0; i < 2; i++) await p.startMaster();
      // One after the other: an agent's control port must not be taken by another's Janus.
      for (let i = 0; i < AGENTS; i++) await p.startAgent();
    } catch (err) {
      await p.stop();
      throw err;
    }
    return p;
  }

  async startMaster(): Promise<NodeProcess> {
    const master = await startNodeProcess({
      kind: 'master',
      env: {
        RTC_REDIS_URL: this.redis.url,
        RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
        RTC_API_SECRET: API_SECRET,
      },
    });
    this.all.push(master);
    this.masters.push(master);
    return master;
  }

  async startAgent(): Promise<NodeProcess> {
    const min = this.nextPorts;
    this.nextPorts += 1_000;
    const agent = await startNodeProcess({
      kind: 'media',
      env: {
        RTC_REDIS_URL: this.redis.url,
        RTC_MEDIA_CONTROL_SECRET: CONTROL_SECRET,
        RTC_MEDIA_ICE_ADDRESS: ICE_ADDRESS,
        RTC_MEDIA_PORT_MIN: String(min),
        RTC_MEDIA_PORT_MAX: String(min + 999),
        TMPDIR: this.agentTmp,
      },
      startTimeoutMs: 30_000,
    });
    this.all.push(agent);
    this.agents.push(agent);
    return agent;
  }

  admin(): RtcHaAdmin {
    return new RtcHaAdmin({
      baseUrl: this.masters.filter((m) => !m.hasExited()).map((m) => m.url),
      secret: API_SECRET,
    });
  }

  async stop(): Promise<void> {
    for (const node of this.all) if (!node.hasExited()) node.kill('SIGCONT');
    await Promise.all(this.all.map((n) => n.stop(2_000)));
    await this.redis.stop();
    await rm(this.agentTmp, { recursive: true, force: true });
  }
}

const wsUrl = (master: NodeProcess) => `${master.url.replace(/^http/, 'ws')}/ws`;

function janusPid(agent: NodeProcess): number | undefined {
  const up = agent.events().filter((e) => e.event === 'janus_up');
  return up[up.length - 1]?.pid as number | undefined;
}

// ---- one run -----------------------------------------------------------------------------------------

type Scenario = 'baseline' | 'masterKill' | 'janusKill' | 'nodeStop' | 'pathBreak' | 'drain';

interface Run {
  scenario: Scenario;
  /** The longest gap at any subscriber in the window (ms). */
  gapMs: number;
  /** Per subscriber: viewer-0, viewer-1, and the publisher (it subscribes to nothing: not counted). */
  subscriberGapsMs: number[];
  /** Fault -> every subscriber's mediaRestored (mediaMoved for a drain). */
  restoredMs?: number;
  /** The SDK's own gapMs in mediaRestored, per subscriber. */
  sdkGapMs?: number[];
  fromNode?: string;
  toNode?: string;
  maxSampleIntervalMs: number;
  error?: string;
}

async function oneRun(
  platform: Platform,
  browser: TestBrowser,
  url: string,
  scenario: Scenario,
  index: number,
): Promise<Run> {
  const admin = platform.admin();
  const sessionId = `failover-${scenario}-${index}-${Date.now().toString(36)}`;
  await admin.createSession(sessionId);
  const [m0, m1] = platform.masters.slice(-2);
  const pages: Page[] = [];
  const join = async (participantId: string, first: NodeProcess, second: NodeProcess) => {
    const page = await browser.newPage();
    pages.push(page);
    page.on('pageerror', (err) => progress(`${participantId}: ${String(err)}`));
    await page.goto(url);
    const { token } = await admin.createConnection(sessionId, participantId);
    // Both masters, the SDK moves to the next after losing one.
    await page.evaluate(
      (u, t) => (window as unknown as Win).join(u, t),
      [wsUrl(first), wsUrl(second)],
      token,
    );
    return page;
  };
  try {
    const publisher = await join('camera', m0, m1);
    const viewers = [await join('viewer-0', m0, m1), await join('viewer-1', m1, m0)];
    await publisher.evaluate(() => (window as unknown as Win).publish());
    for (const [i, v] of viewers.entries()) {
      await startMonitor(v);
      await waitFor(
        `viewer-${i} decoding`,
        async () => (await readMonitor(v)).lastProgressAt > 0,
        20_000,
        50,
      );
    }
    // Decoding steadily: restart the monitors so the join's own start-up is not in the window.
    await waitFor(
      'viewers decoding',
      async () => {
        const r = await Promise.all(viewers.map((v) => readMonitor(v)));
        return r.every((x) => x.samples > 10 && Date.now() - x.lastProgressAt < 200);
      },
      20_000,
      50,
    );
    await Promise.all(viewers.map((v) => startMonitor(v)));
    await sleep(BEFORE_MS);

    const fromNode = (await admin.getSession(sessionId)).mediaNode?.nodeId;
    const hosting = platform.agents.find((a) => a.nodeId === fromNode);
    const faultAt = Date.now();
    let resume: (() => void) | undefined;
    const killedJanus = hosting && janusPid(hosting);
    if (scenario === 'masterKill') {
      m0.kill('SIGKILL');
    } else if (scenario === 'janusKill') {
      const pid = hosting && janusPid(hosting);
      if (!pid) throw new Error(`no Janus pid for ${fromNode}`);
      process.kill(pid, 'SIGKILL');
    } else if (scenario === 'nodeStop') {
      const pid = hosting && janusPid(hosting);
      if (!hosting || !pid) throw new Error(`no Janus pid for ${fromNode}`);
      hosting.kill('SIGSTOP');
      process.kill(pid, 'SIGSTOP');
      resume = () => {
        process.kill(pid, 'SIGCONT');
        hosting.kill('SIGCONT');
      };
    } else if (scenario === 'drain') {
      if (!hosting) throw new Error(`no agent hosts ${fromNode}`);
      hosting.kill('SIGTERM');
    } else if (scenario === 'pathBreak') {
      if (!hosting) throw new Error(`no agent hosts ${fromNode}`);
      await hangUpOneSubscription(hosting);
    }

    let restoredMs: number | undefined;
    let sdkGapMs: number[] | undefined;
    let error: string | undefined;
    try {
      if (scenario === 'janusKill' || scenario === 'nodeStop' || scenario === 'drain') {
        const restored: PageEvent[] = [];
        const done = scenario === 'drain' ? 'mediaMoved' : 'mediaRestored';
        await waitFor(
          `${scenario}: ${done} at every subscriber`,
          async () => {
            restored.length = 0;
            for (const v of viewers) {
              const e = (await pageEvents(v)).find((x) => x.name === done);
              if (!e) return false;
              restored.push(e);
            }
            return true;
          },
          RECOVERY_TIMEOUT_MS,
          20,
        );
        restoredMs = Date.now() - faultAt;
        sdkGapMs = restored.map((e) => e.gapMs ?? e.tookMs ?? NaN);
        // Decoding again at every subscriber, then AFTER_MS more.
        await waitFor(
          `${scenario}: frames again`,
          async () =>
            (await Promise.all(viewers.map((v) => readMonitor(v)))).every(
              (r) => r.lastProgressAt > faultAt + 50 && Date.now() - r.lastProgressAt < 200,
            ),
          RECOVERY_TIMEOUT_MS,
          20,
        );
        await sleep(AFTER_MS);
      } else if (scenario === 'pathBreak') {
        const renegotiated = () =>
          platform.masters.flatMap((m) => m.events()).filter((e) => e.event === 'media_renegotiate');
        const before = renegotiated().length;
        await waitFor(
          'pathBreak: a master answered renegotiate',
          async () => renegotiated().length > before,
          RECOVERY_TIMEOUT_MS,
          20,
        );
        const at = Date.now();
        await waitFor(
          'pathBreak: frames again',
          async () =>
            (await Promise.all(viewers.map((v) => readMonitor(v)))).every(
              (r) => r.lastProgressAt > at && Date.now() - r.lastProgressAt < 200,
            ),
          RECOVERY_TIMEOUT_MS,
          20,
        );
        restoredMs = Date.now() - faultAt;
        await sleep(AFTER_MS);
      } else {
        await sleep(QUIET_WINDOW_MS);
      }
    } catch (err) {
      error = `${NOT_RECOVERED}: ${(err as Error).message}`;
    } finally {
      resume?.();
    }
    const readings = await Promise.all(viewers.map((v) => readMonitor(v, true)));
    const subscriberGapsMs = readings.map((r) => r.maxGapMs);
    const toNode = (await admin.getSession(sessionId).catch(() => undefined))?.mediaNode?.nodeId;

    // Leave the platform ready for the next run.
    if (scenario === 'masterKill') {
      await platform.startMaster();
    } else if (scenario === 'janusKill' && hosting) {
      await waitFor('Janus restarted', async () => janusPid(hosting) !== killedJanus, 30_000, 100).catch(
        () => undefined,
      );
    } else if (scenario === 'drain' && hosting) {
      await waitFor('the drained agent exits', async () => hosting.hasExited(), 30_000, 100).catch(
        () => undefined,
      );
      platform.agents = platform.agents.filter((a) => a !== hosting);
      await platform.startAgent();
    }
    return {
      scenario,
      gapMs: Math.max(...subscriberGapsMs),
      subscriberGapsMs,
      restoredMs,
      sdkGapMs,
      fromNode,
      toNode,
      maxSampleIntervalMs: Math.max(...readings.map((r) => r.maxSampleIntervalMs)),
      error,
    };
  } finally {
    await Promise.all(
      pages.map((p) => p.evaluate(() => (window as unknown as Win).leave()).catch(() => undefined)),
    );
    await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
    await admin.deleteSession(sessionId).catch(() => undefined);
  }
}

/** Hangs up the first subscriber connection in `agent`'s Janus, as a broken path would end it. */
async function hangUpOneSubscription(agent: NodeProcess): Promise<void> {
  const pid = janusPid(agent);
  const janus = pid === undefined ? undefined : janusProcess(pid);
  if (!janus) throw new Error(`no readable admin API for ${agent.nodeId}'s Janus`);
  const admin = await JanusAdmin.connect(janus.adminUrl, janus.adminSecret);
  try {
    for (const session of await admin.listSessions()) {
      for (const handle of await admin.listHandles(session)) {
        if ((await admin.handleInfo(session, handle)).plugin_specific?.type !== 'subscriber') continue;
        await admin.hangUp(session, handle);
        return;
      }
    }
    throw new Error(`no subscriber handle in ${agent.nodeId}'s Janus`);
  } finally {
    admin.close();
  }
}

// ---- main --------------------------------------------------------------------------------------------

const SCENARIOS: Scenario[] = ['baseline', 'masterKill', 'janusKill', 'nodeStop', 'pathBreak', 'drain'];

async function main(): Promise<boolean> {
  const startedAt = Date.now();
  const site = await serveSdkPage(await readFile(join(ROOT, 'test/media/fixtures/sdk-media.html')));
  const { url } = site;
  const browser = await launchBrowser();
  let platform: Platform | undefined;
  const runs: Run[] = [];
  try {
    progress(`starting redis-server, 2 masters, ${AGENTS} media agents with Janus`);
    platform = await Platform.start();
    for (let i = 0; i < RUNS; i++) {
      for (const scenario of SCENARIOS) {
        try {
          const run = await oneRun(platform, browser, url, scenario, i);
          runs.push(run);
          progress(`${scenario} ${i + 1}/${RUNS}: ${JSON.stringify(run)}`);
        } catch (err) {
          progress(`${scenario} ${i + 1}/${RUNS} failed: ${(err as Error).message}`);
          runs.push({
            scenario,
            gapMs: NaN,
            subscriberGapsMs: [],
            maxSampleIntervalMs: NaN,
            error: (err as Error).message,
          });
        }
        // A node stopped, then resumed: let it drop its stale room and come back before the next run.
        if (scenario === 'nodeStop') await sleep(3_000);
      }
    }
  } finally {
    await platform?.stop();
    await browser.close();
    await site.close();
  }
  report(runs, Date.now() - startedAt);
  return SCENARIOS.every((s) => runs.some((r) => r.scenario === s && !r.error));
}

function report(runs: Run[], elapsedMs: number): void {
  const of = (s: Scenario) => runs.filter((r) => r.scenario === s && !r.error && Number.isFinite(r.gapMs));
  const stats = (s: Scenario) => ({ ...percentiles(of(s).map((r) => r.gapMs)), runs: RUNS });
  const failed = (s: Scenario) => runs.filter((r) => r.scenario === s && r.error).length;
  const baseline = stats('baseline');
  const master = stats('masterKill');
  const janus = stats('janusKill');
  const stop = stats('nodeStop');
  const drain = stats('drain');
  const pathBreak = stats('pathBreak');
  const restored = (s: Scenario) =>
    percentiles(of(s).flatMap((r) => (r.restoredMs === undefined ? [] : [r.restoredMs])));
  const sampling = percentiles(
    runs.filter((r) => Number.isFinite(r.maxSampleIntervalMs)).map((r) => r.maxSampleIntervalMs),
  );
  const result = {
    masterKillGapMs: master.max,
    janusKillRecoverMs: { p50: janus.p50, p99: janus.p99 },
    silentDeathRecoverMs: { p99: stop.p99 },
    drainGapMs: drain.max,
    baselineGapMs: baseline.max,
    safetyNetRecoverMs: { p50: pathBreak.p50, p99: pathBreak.p99 },
    gapsMs: { baseline, masterKill: master, janusKill: janus, nodeStop: stop, pathBreak, drain },
    failedRuns: Object.fromEntries(SCENARIOS.map((s) => [s, failed(s)])),
    faultToMediaRestoredMs: { janusKill: restored('janusKill'), nodeStop: restored('nodeStop') },
    drainToMediaMovedMs: restored('drain'),
    mediaControlPingIntervalMs: DEFAULT_TIMINGS.mediaControlPingIntervalMs,
    sampleMs: SAMPLE_MS,
    longestSampleIntervalMs: sampling,
    runs,
    loadAverage: loadavg().map((v) => Math.round(v * 100) / 100),
    elapsedS: Math.round(elapsedMs / 1000),
  };
  const row = (label: string, s: ReturnType<typeof stats>, scenario: Scenario, anchor: string) =>
    `| ${label} | ${s.n}/${RUNS}${failed(scenario) ? ` (${failed(scenario)} failed)` : ''} | ${s.p50} | ${s.p99} | ${s.max} | ${anchor} |`;
  writeBenchResult(
    'media-failover',
    result,
    `
Longest gap between decoded frames at any subscriber, per run, then p50 / p99 / max over the runs (ms). Real Janus
(Debian's \`janus\`, VideoRoom) behind 4 media agents, 2 masters, redis-server, Debian's Chromium pages on the bundled
SDK (fake camera), inside a fresh network namespace (\`scripts/netns-run.sh\`). Each run: a new room, one publisher and
two viewers (one signaling through each master); each viewer page reads \`framesDecoded\` over all its connections
with \`getStats()\` every ${SAMPLE_MS} ms. Window: ${BEFORE_MS / 1000} s before the fault until every viewer got
\`mediaRestored\` and decodes again, plus ${AFTER_MS / 1000} s (undisturbed and master kill: ${QUIET_WINDOW_MS / 1000} s
after). Everything shares the machine's cores.

| scenario | runs | p50 | p99 | max | anchor |
|---|---|---|---|---|---|
${row('undisturbed (baseline)', baseline, 'baseline', 'the frame interval itself')}
${row('master SIGKILL while media flows', master, 'masterKill', 'should equal the baseline: masters hold no media')}
${row('Janus SIGKILL on the hosting media node (room moves)', janus, 'janusKill', 'OpenVidu ~5 s; feasibility run 330 ms; browser alone 6.5 s')}
${row('whole media node SIGSTOPped (agent + Janus; ping detection)', stop, 'nodeStop', 'Jitsi 10-15 s detection; browser alone 16.5 s')}
${row("one viewer's subscription hung up in Janus behind its back (safety net)", pathBreak, 'pathBreak', 'nothing else heals it; browser alone: disconnected ~6.5 s, failed ~16.5 s, then nothing')}
${row('drain of the hosting media node (SIGTERM; make-before-break)', drain, 'drain', 'OpenVidu and LiveKit wait for rooms to end; should equal the baseline')}

- Fault -> \`mediaRestored\` at every viewer, p50 / p99: Janus SIGKILL ${result.faultToMediaRestoredMs.janusKill.p50} / ${result.faultToMediaRestoredMs.janusKill.p99};
  node SIGSTOP ${result.faultToMediaRestoredMs.nodeStop.p50} / ${result.faultToMediaRestoredMs.nodeStop.p99} (master-agent ping every ${DEFAULT_TIMINGS.mediaControlPingIntervalMs} ms).
- Sampling resolution: the longest interval between two samples in a run, p50 / max ${sampling.p50} / ${sampling.max} ms
  (the gaps include up to that much).
- Master SIGKILL: the master the publisher and viewer-0 signal through; the SDK moves to the other one; a new master
  replaces the dead one before the next run. Janus SIGKILL: the agent restarts its Janus (empty, out of placement for a
  while) and the room is rebuilt on another agent. Node SIGSTOP: the agent and its Janus stopped; resumed once every
  viewer recovered.
- Path broken: Janus hangs up one viewer's subscriber connection (admin API \`hangup_webrtc\`) and nobody tells the
  viewer; its SDK sees no byte for ${DEFAULT_TIMINGS.mediaStallMs / 1000} s, sends \`mediaStalled\`, the master has the agent check the node (healthy),
  answers \`renegotiate\`, and the SDK subscribes again. The gap is the stall window plus the renegotiation.
- Drain: the agent hosting the room gets SIGTERM; it tells the masters, who move the room to another agent with a
  handover; each viewer subscribes there, plays the new connection until it decodes, then switches and closes the old
  one; the publisher keeps sending to the old node ${DEFAULT_TIMINGS.mediaHandoverMs / 1000} s after its new connection is up. SIGTERM ->
  \`mediaMoved\` at every viewer, p50 / p99: ${result.drainToMediaMovedMs.p50} / ${result.drainToMediaMovedMs.p99}. The drained agent then exits
  (its drain complete) and a new one replaces it. \`framesDecoded\` counts the SDK's own sink too, which plays a new
  stream before the switch (browsers decode only what a sink consumes).

Total run time ${Math.round(elapsedMs / 1000)} s; load average at the end ${result.loadAverage.join(', ')}.
`,
  );
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    process.stderr.write(
      `media-failover bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
