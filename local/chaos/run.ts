/**
 * Runs one chaos scenario on a fresh local cluster: clients join through HAProxy and exchange
 * numbered messages, the scenario breaks something, the cluster recovers (or the watchdog holds),
 * traffic goes on, then the run settles and counts: sessions lost, messages lost or duplicated,
 * how long clients went without hearing from the cluster, time to flag, time until the
 * replacement was ready, and flags of nodes nothing happened to. A media scenario adds real media
 * (local/chaos/media.ts): a camera per session, the clients subscribed to it counting frames.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, ClusterEvent, ClusterTimings, DEFAULT_CLUSTER_TIMINGS, startCluster } from '../cluster';
import type { FleetMember } from '../fleet';
import { waitFor } from '../ports';
import { MediaRun, type MediaFigures, type MediaTools } from './media';
import { Workload, WorkloadReport } from './workload';

/** The timings a run uses: the cluster's (nodes, watchdog) and the SDK's (ping, dead socket). */
export interface ChaosProfile {
  readonly name: 'fast' | 'default';
  readonly timings: ClusterTimings;
  readonly client: { readonly pingIntervalMs: number; readonly deadSocketTimeoutMs: number };
}

export const PROFILES: Readonly<Record<ChaosProfile['name'], ChaosProfile>> = {
  /** Short timings through the environment: heartbeat 250 ms, TTL 750 ms, watchdog cycle 500 ms. */
  fast: {
    name: 'fast',
    timings: {
      ...DEFAULT_CLUSTER_TIMINGS,
      heartbeatIntervalMs: 250,
      heartbeatTtlMs: 750,
      watchdogCycleMs: 500,
      watchdogGraceMs: 1_500,
    },
    client: { pingIntervalMs: 500, deadSocketTimeoutMs: 1_500 },
  },
  /** runtime/contract's defaults, as deployed. */
  default: {
    name: 'default',
    timings: DEFAULT_CLUSTER_TIMINGS,
    client: { pingIntervalMs: 2_000, deadSocketTimeoutMs: 5_000 },
  },
};

/** What a scenario gets to break the cluster with. */
export interface ScenarioContext {
  readonly cluster: Cluster;
  readonly workload: Workload;
  readonly profile: ChaosProfile;
  /** A media scenario's media: the cameras, the subscribers' frames, the failed node's Janus. */
  readonly media?: MediaRun;
  /** Records that `targets` are hit now: their flags are expected, their replacements timed. */
  fault(targets: readonly FleetMember[]): void;
  /** The master with the most client connections (HAProxy's count). */
  busiestMaster(): Promise<FleetMember>;
  /** Waits until each target has a ready replacement (at most `timeoutMs`). */
  untilReplaced(targets: readonly FleetMember[], timeoutMs: number): Promise<void>;
  /** Waits until every master is ready and routed again (at most `timeoutMs`). */
  untilAllReady(timeoutMs: number): Promise<void>;
  log(message: string): void;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** @default 3 */
  readonly masters?: number;
  /** @default 2 */
  readonly media?: number;
  /**
   * Real media: Janus beside every media agent (RunOptions.media), every session's room on one
   * agent (the others start once the rooms are placed), a camera per session and every client
   * subscribed to it. @default false
   */
  readonly withMedia?: boolean;
  /** Whether the targets must be flagged by the watchdog (false: replaced some other way, or held). */
  readonly expectFlags: boolean;
  /** Whether every target must be replaced. */
  readonly expectReplacement: boolean;
  /** Whether the watchdog must hold (a safety rail) and flag nothing. */
  readonly expectHold?: boolean;
  /** Breaks the cluster and waits for it to recover. */
  inject(ctx: ScenarioContext): Promise<void>;
}

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly profile: ChaosProfile['name'];
  readonly masters: number;
  readonly media: number;
  readonly sessions: number;
  readonly participants: number;
  readonly messagesSent: number;
  readonly deliveriesExpected: number;
  readonly sessionsLost: number;
  /** Sessions left on a dead media node (or none) at the end although a live one could take them. */
  readonly sessionsOnDeadMedia: number;
  readonly messagesLost: number;
  readonly lostSample: readonly string[];
  readonly messagesDuplicated: number;
  readonly joinsFailed: number;
  readonly clientsFailed: number;
  readonly reconnects: number;
  /** Each client's interruptions (ms): reconnects, and silences over GAP_THRESHOLD_MS with the socket up. */
  readonly interruptionsMs: readonly number[];
  /** Fault -> watchdog flag, per target (null: never flagged; empty: none expected, none came). */
  readonly timeToFlagMs: ReadonlyArray<number | null>;
  /** Fault -> replacement ready and routed, per target (null: not replaced; empty: none expected, none came). */
  readonly replacementReadyMs: ReadonlyArray<number | null>;
  readonly flags: number;
  /** Flags of nodes no fault touched: must be 0. */
  readonly falseFlags: number;
  readonly holds: number;
  /** A media scenario's frames, recoveries, duplicate feeds and what the failed node's Janus kept. */
  readonly mediaFigures?: MediaFigures;
  readonly durationMs: number;
  /** Every must-be-zero figure is zero and every expected flag and replacement happened. */
  readonly passed: boolean;
  readonly problems: readonly string[];
}

export interface RunOptions {
  readonly sessions?: number;
  readonly participantsPerSession?: number;
  readonly messageIntervalMs?: number;
  /** Traffic after recovery, before settling. */
  readonly afterMs?: number;
  readonly log?: (message: string) => void;
  /** Keep each cluster's logs (their folder is logged). */
  readonly keepLogs?: boolean;
  /** What media scenarios publish and subscribe with (needs a network namespace's address). */
  readonly media?: MediaTools;
}

interface Timed {
  readonly at: number;
  readonly event: ClusterEvent;
}

/** A client that hears nothing (message, accepted) for longer than this, its socket up, was interrupted. */
export const GAP_THRESHOLD_MS = 1_000;
const SETTLE_TIMEOUT_MS = 20_000;
/** Media must flow to every subscriber within this before the fault. */
const MEDIA_FLOWING_TIMEOUT_MS = 30_000;

export async function runScenario(
  scenario: Scenario,
  profile: ChaosProfile,
  options: RunOptions = {},
): Promise<ScenarioResult> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const masters = scenario.masters ?? 3;
  const media = scenario.media ?? 2;
  const tools = scenario.withMedia ? options.media : undefined;
  if (scenario.withMedia && !tools)
    throw new Error(`${scenario.id} carries media: it needs RunOptions.media (and a network namespace)`);
  const events: Timed[] = [];
  const cluster = await startCluster({
    masters,
    // With media, one agent takes every room; the rest start once the rooms are placed.
    media: tools ? 1 : media,
    iceAddress: tools?.iceAddress,
    port: 0,
    statsPort: 0,
    timings: profile.timings,
    keepLogs: options.keepLogs,
    onEvent: (event) => events.push({ at: Date.now(), event }),
  });
  const mediaRun = tools && new MediaRun(tools, cluster, log);
  const workload = new Workload({
    baseUrl: cluster.haproxy.url,
    apiSecret: cluster.apiSecret,
    runId: scenario.id,
    participantsPerSession: options.participantsPerSession ?? 3,
    messageIntervalMs: options.messageIntervalMs ?? 200,
    gapThresholdMs: GAP_THRESHOLD_MS,
    client: profile.client,
    media: mediaRun?.workloadMedia(),
  });
  const faults = new Map<string, { member: FleetMember; at: number }>();
  if (options.keepLogs) log(`${scenario.id}: logs in ${cluster.logDir}`);
  try {
    await workload.addSessions(options.sessions ?? 4);
    workload.startSending();
    if (mediaRun) await startMedia(mediaRun, cluster, workload, media - 1, log);
    // Past the watchdog's grace for every node, with traffic flowing.
    const launched = Math.max(...cluster.fleet.members().map((m) => m.launchedAt));
    await sleep(Math.max(1_000, launched + profile.timings.watchdogGraceMs + 500 - Date.now()));
    const context = scenarioContext(cluster, workload, profile, events, faults, log, mediaRun);
    log(`${scenario.id}: injecting`);
    await scenario.inject(context);
    await sleep(options.afterMs ?? 2_000);
    workload.stopSending();
    const mediaFigures = await mediaRun?.figures(workload.members(), Date.now());
    const report = await workload.settle(SETTLE_TIMEOUT_MS);
    const liveMedia = (await cluster.registry.nodes('media'))
      .filter((v) => !v.expired)
      .map((v) => v.identity.nodeId);
    // Stranded sessions: on a dead media node although a live one could take them. With no live
    // media node at all (the hold scenario) a session has nowhere to go and keeps its placement.
    const sessionsOnDeadMedia =
      liveMedia.length === 0
        ? 0
        : report.mediaNodes.filter((id) => id === null || !liveMedia.includes(id)).length;
    return result(scenario, profile, {
      masters,
      media,
      started,
      report,
      events,
      faults,
      sessionsOnDeadMedia,
      mediaFigures,
    });
  } finally {
    await mediaRun?.close();
    workload.close();
    await cluster.stop();
  }
}

/**
 * A camera into each session (their rooms all on the one media agent), the other agents started
 * beside it, then media flowing to every subscriber; a failure to flow is in the figures.
 */
async function startMedia(
  mediaRun: MediaRun,
  cluster: Cluster,
  workload: Workload,
  spares: number,
  log: (message: string) => void,
): Promise<void> {
  // A camera that fails to publish leaves its subscribers short of frames: the figures say so.
  await mediaRun.publish(workload.sessionIds()).catch((err: Error) => log(`a camera failed: ${err.message}`));
  if (spares > 0) await cluster.fleet.start({ media: spares });
  await mediaRun
    .untilFlowing(workload.members(), MEDIA_FLOWING_TIMEOUT_MS)
    .catch((err: Error) => log(`media did not flow: ${err.message}`));
}

function scenarioContext(
  cluster: Cluster,
  workload: Workload,
  profile: ChaosProfile,
  events: readonly Timed[],
  faults: Map<string, { member: FleetMember; at: number }>,
  log: (message: string) => void,
  media: MediaRun | undefined,
): ScenarioContext {
  const replaced = (target: FleetMember) =>
    events.some(({ event }) => event.type === 'launched' && event.replaces === target.nodeId);
  return {
    cluster,
    workload,
    profile,
    log,
    media,
    fault: (targets) => {
      for (const member of targets) faults.set(member.instanceId, { member, at: Date.now() });
    },
    busiestMaster: async () => {
      const slots = await cluster.haproxy.slots();
      const connections = (m: FleetMember) => slots.find((s) => s.key === m.nodeId)?.connections ?? 0;
      return cluster.fleet.members('master').sort((a, b) => connections(b) - connections(a))[0];
    },
    untilReplaced: (targets, timeoutMs) =>
      waitFor('the replacements', () => targets.every(replaced), timeoutMs, 50).catch((err: Error) =>
        log(err.message),
      ),
    untilAllReady: (timeoutMs) =>
      waitFor(
        'every master ready and routed',
        async () =>
          (await cluster.status()).every(
            (row) =>
              row.process === 'gone' ||
              (row.registry === 'active' && (row.role !== 'master' || row.lb === 'UP')),
          ),
        timeoutMs,
        100,
      ).catch((err: Error) => log(err.message)),
  };
}

interface Observed {
  readonly masters: number;
  readonly media: number;
  readonly started: number;
  readonly report: WorkloadReport;
  readonly events: readonly Timed[];
  readonly faults: ReadonlyMap<string, { member: FleetMember; at: number }>;
  readonly sessionsOnDeadMedia: number;
  readonly mediaFigures?: MediaFigures;
}

function result(scenario: Scenario, profile: ChaosProfile, observed: Observed): ScenarioResult {
  const { report, events, faults } = observed;
  const flags = events.flatMap(({ at, event }) =>
    event.type === 'watchdog' && event.line.action === 'flag'
      ? [{ at, instanceId: (event.line.node as { instanceId: string }).instanceId }]
      : [],
  );
  const targets = [...faults.values()];
  // Where none was expected and none came, there is nothing to time.
  const timed = (values: Array<number | null>, expected: boolean) =>
    expected || values.some((v) => v !== null) ? values : [];
  const timeToFlagMs = timed(
    targets.map(({ member, at }) => {
      const flag = flags.find((f) => f.instanceId === member.instanceId);
      return flag ? flag.at - at : null;
    }),
    scenario.expectFlags,
  );
  const replacementReadyMs = timed(
    targets.map(({ member, at }) => {
      const launched = events.find(
        ({ event }) => event.type === 'launched' && event.replaces === member.nodeId,
      );
      return launched?.event.type === 'launched' ? launched.event.member.readyAt - at : null;
    }),
    scenario.expectReplacement,
  );
  const falseFlags = flags.filter((f) => !faults.has(f.instanceId)).length;
  const holds = events.filter(
    ({ event }) => event.type === 'watchdog' && event.line.action === 'hold',
  ).length;

  const problems = [
    ...(
      ['sessionsLost', 'messagesLost', 'messagesDuplicated', 'joinsFailed', 'clientsFailed'] as const
    ).flatMap((key) => (report[key] > 0 ? [`${key}: ${report[key]}`] : [])),
    ...(falseFlags > 0 ? [`falseFlags: ${falseFlags}`] : []),
    ...(observed.sessionsOnDeadMedia > 0 ? [`sessionsOnDeadMedia: ${observed.sessionsOnDeadMedia}`] : []),
    ...(scenario.expectFlags && timeToFlagMs.some((t) => t === null) ? ['a target was never flagged'] : []),
    ...(scenario.expectReplacement && replacementReadyMs.some((t) => t === null)
      ? ['a target was never replaced']
      : []),
    ...(targets.length === 0 && scenario.expectReplacement ? ['no fault was recorded'] : []),
    ...(scenario.expectHold && (holds === 0 || flags.length > 0) ? ['the watchdog did not hold'] : []),
    ...(observed.mediaFigures ? mediaProblems(observed.mediaFigures, report.sessions) : []),
  ];
  return {
    id: scenario.id,
    title: scenario.title,
    profile: profile.name,
    masters: observed.masters,
    media: observed.media,
    sessions: report.sessions,
    participants: report.participants,
    messagesSent: report.messagesSent,
    deliveriesExpected: report.deliveriesExpected,
    sessionsLost: report.sessionsLost,
    sessionsOnDeadMedia: observed.sessionsOnDeadMedia,
    messagesLost: report.messagesLost,
    lostSample: report.lostSample,
    messagesDuplicated: report.messagesDuplicated,
    joinsFailed: report.joinsFailed,
    clientsFailed: report.clientsFailed,
    reconnects: report.reconnects,
    interruptionsMs: report.interruptionsMs,
    timeToFlagMs,
    replacementReadyMs,
    flags: flags.length,
    falseFlags,
    holds,
    ...(observed.mediaFigures && { mediaFigures: observed.mediaFigures }),
    durationMs: Date.now() - observed.started,
    passed: problems.length === 0,
    problems,
  };
}

/** A media scenario's must-hold figures. */
function mediaProblems(media: MediaFigures, sessions: number): string[] {
  const left = media.leftBehind;
  return [
    ...(media.setupError ? [`media never flowed before the fault: ${media.setupError}`] : []),
    ...(media.publishers < sessions ? [`cameras: ${media.publishers} of ${sessions}`] : []),
    ...(media.notRecovered > 0
      ? [`subscribers not recovered: ${media.notRecovered} of ${media.subscribers}`]
      : []),
    ...(media.duplicatePublishers > 0 ? [`duplicatePublishers: ${media.duplicatePublishers}`] : []),
    ...(media.feedsLive < sessions ? [`feeds published at the end: ${media.feedsLive} of ${sessions}`] : []),
    ...(left && (left.rooms === null || left.handles === null)
      ? [`${left.nodeId}'s Janus still runs and does not answer`]
      : []),
    ...(left && ((left.rooms ?? 0) > 0 || (left.handles ?? 0) > 0)
      ? [`left behind on ${left.nodeId}: ${left.rooms} rooms, ${left.handles} handles`]
      : []),
  ];
}
