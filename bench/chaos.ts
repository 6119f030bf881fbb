/**
 * Chaos benchmark: every scenario of issue 5 on a fresh local cluster (redis-server, HAProxy,
 * master and media processes, the watchdog with the local fleet), with clients exchanging
 * numbered messages through HAProxy throughout. One row per scenario: sessions lost, messages
 * lost or duplicated, client-visible interruption, time to flag, time until the replacement was
 * ready, false flags. The media scenarios add real media: Janus beside each media agent, a
 * Chromium camera per session and the clients subscribed to it with werift, counting frames; per
 * row also the longest frame gap at each subscriber, subscribers that never recovered, feeds
 * published twice and what the failed node's Janus kept.
 *
 * Media needs a non-loopback address: with a media scenario selected, the benchmark re-runs itself
 * inside a network namespace (scripts/netns-run.sh, as root) unless RTC_TEST_NETNS says it is in one.
 *
 * Run: npx tsx bench/chaos.ts [--quick] [--profile fast|default|both] [--scenario id,id] [--keep-logs]
 * (npm run chaos runs it in full: both profiles.)
 */
import { parseArgs } from 'node:util';
import {
  GAP_THRESHOLD_MS,
  PROFILES,
  ScenarioResult,
  runScenario,
  type ChaosProfile,
} from '../local/chaos/run';
import { HOLD_SCENARIOS, MEDIA_SCENARIOS, SCENARIOS } from '../local/chaos/scenarios';
import { chaosMediaTools, type ChaosMediaTools } from './support/chaos-media';
import { runInTestNamespace } from './support/netns';
import { percentiles, progress, quick, writeBenchResult } from './support/report';

/**
 * The short profile (about 75 s): a master crashed, hung and drained, and a media agent crashed
 * (signaling only); short timings. Of the media scenarios only the Janus kill: the others wait for
 * the watchdog and a new agent, or a drain.
 */
const QUICK_SCENARIOS = ['kill-master', 'hang-master', 'kill-media', 'drain-master', 'kill-janus'];
const ALL_SCENARIOS = [...SCENARIOS, ...HOLD_SCENARIOS, ...MEDIA_SCENARIOS];
const SESSIONS = 4;
const PARTICIPANTS = 3;
/** Media scenarios: sessions, each with a Chromium camera and this many werift subscribers (the clients). */
const MEDIA_SESSIONS = 2;
const MEDIA_SUBSCRIBERS = 4;
const MESSAGE_INTERVAL_MS = 200;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'string', default: quick ? 'fast' : 'both' },
    scenario: { type: 'string' },
    'keep-logs': { type: 'boolean', default: false },
  },
});

function selected(): { profiles: ChaosProfile[]; ids: string[] } {
  const all = ALL_SCENARIOS.map((s) => s.id);
  const ids = values.scenario?.split(',') ?? (quick ? QUICK_SCENARIOS : all);
  const unknown = ids.filter((id) => !all.includes(id));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${all.join(', ')}`);
  const profile = values.profile;
  if (profile !== 'fast' && profile !== 'default' && profile !== 'both') {
    throw new Error(`--profile must be fast, default or both, got ${profile}`);
  }
  const profiles = profile === 'both' ? [PROFILES.fast, PROFILES.default] : [PROFILES[profile]];
  return { profiles, ids };
}

type Row = Omit<ScenarioResult, 'interruptionsMs'> & {
  interruptionMs: ReturnType<typeof percentiles>;
  /** Media scenarios: each subscriber's longest frame gap around the fault, and before it. */
  frameGapMs?: ReturnType<typeof percentiles>;
  baselineFrameGapMs?: ReturnType<typeof percentiles>;
};

const ms = (v: number | null) => (v === null ? 'never' : `${(v / 1000).toFixed(2)} s`);
const list = (values: ReadonlyArray<number | null>) => (values.length ? values.map(ms).join(', ') : '-');

function table(rows: readonly Row[]): string {
  const header =
    '| scenario | sessions lost | messages lost / duplicated (of deliveries) | interruption p50 / p99 / max (n) | time to flag | replacement ready | false flags | holds | result |\n' +
    '|---|---|---|---|---|---|---|---|---|\n';
  return (
    header +
    rows
      .map((r) => {
        const i = r.interruptionMs;
        const interruption = i.n ? `${i.p50} / ${i.p99} / ${i.max} ms (${i.n})` : 'none';
        return `| ${r.title} | ${r.sessionsLost} | ${r.messagesLost} / ${r.messagesDuplicated} (${r.deliveriesExpected}) | ${interruption} | ${list(r.timeToFlagMs)} | ${list(r.replacementReadyMs)} | ${r.falseFlags} | ${r.holds} | ${r.passed ? 'pass' : `FAIL: ${r.problems.join('; ')}`} |`;
      })
      .join('\n')
  );
}

/** A drain's end: its outcome and when the drained node's Janus held nothing any more. */
function drained(left: NonNullable<NonNullable<Row['mediaFigures']>['leftBehind']>): string {
  if (left.drainOutcome === undefined) return '';
  const empty =
    left.emptyAfterMs == null ? 'never empty' : `empty ${ms(left.emptyAfterMs)} after the SIGTERM`;
  return ` (drain ${left.drainOutcome}; ${empty})`;
}

function mediaTable(rows: readonly Row[]): string {
  const header =
    '| scenario | sessions lost | messages lost / duplicated (of deliveries) | longest frame gap per subscriber p50 / p99 / max (n) | undisturbed: max | not recovered | duplicate publishers | left on the failed node | time to flag | replacement ready | false flags | result |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  return (
    header +
    rows
      .map((r) => {
        const m = r.mediaFigures;
        const g = r.frameGapMs;
        const gap = g?.n ? `${g.p50} / ${g.p99} / ${g.max} ms (${g.n})` : 'none';
        const left = m?.leftBehind;
        const leftText = !left
          ? '-'
          : `${left.rooms ?? '?'} rooms, ${left.handles ?? '?'} handles${drained(left)}`;
        return `| ${r.title} | ${r.sessionsLost} | ${r.messagesLost} / ${r.messagesDuplicated} (${r.deliveriesExpected}) | ${gap} | ${r.baselineFrameGapMs?.max ?? '-'} ms | ${m?.notRecovered ?? '-'} of ${m?.subscribers ?? '-'} | ${m?.duplicatePublishers ?? '-'} | ${leftText} | ${list(r.timeToFlagMs)} | ${list(r.replacementReadyMs)} | ${r.falseFlags} | ${r.passed ? 'pass' : `FAIL: ${r.problems.join('; ')}`} |`;
      })
      .join('\n')
  );
}

function mediaText(): string {
  return `
**Media scenarios** (M1-M4) run inside a network namespace (scripts/netns-run.sh: Janus needs a non-loopback
address) on 2 masters and 2 media agents, each agent running Debian's Janus. ${MEDIA_SESSIONS} sessions are created
while only the first agent runs, so every room is on it; then the second agent starts, with room for them. Each session
has a camera (a Debian Chromium page publishing its fake camera, VP8, with the bundled SDK, through HAProxy) and
${MEDIA_SUBSCRIBERS} participants, each a Node SDK client subscribed to the camera with werift
(bench/support/light-subscriber.ts) that counts the video frames it receives (RTP packets with a new timestamp) and
sends numbered messages as above. The fault hits the agent hosting the rooms: M1 SIGKILL (its Janus dies with it),
M2 SIGKILL of its Janus only (the agent restarts it), M3 SIGSTOP of the agent and its Janus, left stopped (no RST;
the fleet SIGKILLs it once flagged), M4 SIGTERM (a drain: the rooms move make-before-break).

- **longest frame gap per subscriber**: each subscriber's longest time without a new video frame, from 1 s before
  the fault to the end of the traffic (an open gap counts to the end), then p50 / p99 / max over the subscribers;
  **undisturbed** is the same measure over the steady state before the fault (the frame interval and its jitter).
- **not recovered**: subscribers with no frame since the failed node's media was gone (the fault; for a drain, the
  drained agent's exit), or none in the last second; must be 0.
- **duplicate publishers**: publisher handles beyond one per feed (room and feed id) over every running Janus at
  the end, asked of Janus's admin API; must be 0, and every camera's feed must be published somewhere.
- **left on the failed node**: rooms and publisher or subscriber handles in the failed node's Janus at the end (its
  admin API): after a Janus kill the restarted Janus, after an agent crash or stop an orphaned Janus if any; for a
  drain, the last reading before its Janus stopped, less the rooms its agent's log says it tore down since, with the
  drain's outcome (\`empty\`: nothing placed there any more) and when the drained Janus held nothing; must be 0.
- A Janus kill keeps the agent alive: nothing to flag or replace (a flag would be a false one).
`;
}

function timingsTable(profiles: readonly ChaosProfile[]): string {
  const line = (label: string, pick: (p: ChaosProfile) => string) =>
    `| ${label} | ${profiles.map(pick).join(' | ')} |`;
  return [
    `| timing | ${profiles.map((p) => p.name).join(' | ')} |`,
    `|---|${profiles.map(() => '---').join('|')}|`,
    line('node heartbeat / TTL', (p) => `${p.timings.heartbeatIntervalMs} / ${p.timings.heartbeatTtlMs} ms`),
    line('watchdog cycle / grace', (p) => `${p.timings.watchdogCycleMs} / ${p.timings.watchdogGraceMs} ms`),
    line(
      'client ping / dead socket',
      (p) => `${p.client.pingIntervalMs} / ${p.client.deadSocketTimeoutMs} ms`,
    ),
    line('drain deadline', (p) => `${p.timings.drainDeadlineMs} ms`),
    line('HAProxy check on /ready', () => 'inter 1 s, fall 2, rise 2 (DEFAULT_TIMINGS.localCheck)'),
  ].join('\n');
}

function anchors(rows: readonly Row[]): string {
  const ours = (profile: string) => {
    const of = rows.filter((r) => r.profile === profile);
    const flags = percentiles(of.flatMap((r) => r.timeToFlagMs).filter((v): v is number => v !== null));
    const nodeFailures = of.filter((r) => r.id !== 'redis-pause');
    const worst = Math.max(0, ...nodeFailures.map((r) => r.interruptionMs.p99));
    const redis = of.find((r) => r.id === 'redis-pause');
    const stall = redis
      ? `; Redis paused 10 s: deliveries stall up to ${redis.interruptionMs.max} ms, ${redis.reconnects} reconnects`
      : '';
    const lost = of.reduce((n, r) => n + r.sessionsLost, 0);
    return `| rtc-ha, ${profile} timings (this run) | watchdog flag p50 ${ms(flags.p50)}, max ${ms(flags.max)} | node failures: worst p99 ${worst} ms${stall} | resumed from the registry; ${lost} lost |`;
  };
  return [
    '| system | a dead master is noticed | what clients see | sessions |',
    '|---|---|---|---|',
    '| OpenVidu Enterprise HA (published) | ~40 s of ELB health checks | the application rebuilds the session | rebuilt by the app |',
    '| LiveKit (published) | a node counts as unavailable after 5 s | a full reconnect | joined again |',
    '| Wazo HA (published) | - | up to 5 minutes of downtime | - |',
    ...[...new Set(rows.map((r) => r.profile))].map(ours),
  ].join('\n');
}

async function main(): Promise<number> {
  const { profiles, ids } = selected();
  const scenarios = ALL_SCENARIOS.filter((s) => ids.includes(s.id));
  let media: ChaosMediaTools | undefined;
  if (scenarios.some((s) => s.withMedia)) {
    runInTestNamespace(__filename); // returns inside the namespace; outside, runs this there and exits
    media = await chaosMediaTools(process.env.RTC_TEST_ICE_ADDRESS as string);
  }
  const rows: Row[] = [];
  try {
    for (const profile of profiles) {
      for (const scenario of scenarios) {
        progress(`${profile.name} timings: ${scenario.title}`);
        const withMedia = scenario.withMedia;
        const result = await runScenario(scenario, profile, {
          sessions: withMedia ? MEDIA_SESSIONS : SESSIONS,
          participantsPerSession: withMedia ? MEDIA_SUBSCRIBERS : PARTICIPANTS,
          messageIntervalMs: MESSAGE_INTERVAL_MS,
          keepLogs: values['keep-logs'],
          log: (message) => progress(`  ${message}`),
          media,
        });
        const { interruptionsMs, ...rest } = result;
        const figures = result.mediaFigures;
        rows.push({
          ...rest,
          interruptionMs: percentiles(interruptionsMs),
          ...(figures && {
            frameGapMs: percentiles(figures.frameGapsMs),
            baselineFrameGapMs: percentiles(figures.baselineGapsMs),
          }),
        });
        progress(
          `  ${result.passed ? 'pass' : `FAIL: ${result.problems.join('; ')}`} in ${(result.durationMs / 1000).toFixed(1)} s`,
        );
        if (figures) progress(`  media: ${JSON.stringify(figures)}`);
        for (const sample of result.lostSample) progress(`  lost: ${sample}`);
      }
    }
  } finally {
    await media?.close();
  }
  const sum = (key: 'sessionsLost' | 'messagesLost' | 'messagesDuplicated' | 'falseFlags') =>
    rows.reduce((n, r) => n + r[key], 0);
  const mediaRows = rows.filter((r) => r.mediaFigures);
  const mediaSum = (pick: (r: Row) => number) => mediaRows.reduce((n, r) => n + pick(r), 0);
  const summary = {
    scenarios: rows.length,
    sessionsLost: sum('sessionsLost'),
    messagesLost: sum('messagesLost'),
    worstP99Ms: Math.max(0, ...rows.map((r) => r.interruptionMs.p99)),
    messagesDuplicated: sum('messagesDuplicated'),
    falseFlags: sum('falseFlags'),
    failed: rows.filter((r) => !r.passed).map((r) => `${r.profile}:${r.id}`),
    media: {
      scenarios: mediaRows.length,
      subscribersNotRecovered: mediaSum((r) => r.mediaFigures?.notRecovered ?? 0),
      duplicatePublishers: mediaSum((r) => r.mediaFigures?.duplicatePublishers ?? 0),
      roomsLeftBehind: mediaSum((r) => r.mediaFigures?.leftBehind?.rooms ?? 0),
      /** Per scenario and profile: the longest frame gap at any subscriber (ms). */
      worstFrameGapMs: Object.fromEntries(
        mediaRows.map((r) => [`${r.profile}:${r.id}`, r.frameGapMs?.max ?? null]),
      ),
    },
    workload: {
      sessions: SESSIONS,
      participantsPerSession: PARTICIPANTS,
      messageIntervalMs: MESSAGE_INTERVAL_MS,
      media: { sessions: MEDIA_SESSIONS, subscribersPerSession: MEDIA_SUBSCRIBERS, camerasPerSession: 1 },
    },
    timings: Object.fromEntries(profiles.map((p) => [p.name, { ...p.timings, client: p.client }])),
    rows,
  };
  const byProfile = profiles
    .map((p) => {
      const of = rows.filter((r) => r.profile === p.name);
      const signaling = of.filter((r) => !r.mediaFigures);
      const withMedia = of.filter((r) => r.mediaFigures);
      return [
        `## ${p.name} timings`,
        ...(signaling.length ? [table(signaling)] : []),
        ...(withMedia.length ? [`### media scenarios, ${p.name} timings`, mediaTable(withMedia)] : []),
      ].join('\n\n');
    })
    .join('\n\n');
  writeBenchResult(
    'chaos',
    summary,
    `
Each scenario runs on a fresh local cluster (redis-server, HAProxy, 3 masters and 2 media agents unless the scenario
says otherwise, the watchdog with the local fleet). ${SESSIONS} sessions of ${PARTICIPANTS} participants join through
HAProxy with the SDK; each participant sends a numbered message to the rest of its session every ${MESSAGE_INTERVAL_MS} ms
before, during and after the fault. Then sending stops and the run waits (at most 20 s) for every message to be
accepted and delivered.

- **sessions lost**: sessions gone, missing a participant, or with a client that gave up; must be 0.
- **messages lost / duplicated**: per receiver and sender, every number sent must arrive exactly once (the delivery
  semantics of docs/contract.md); must be 0.
- **interruption**: per client, each time it lost its connection (from the last frame it heard before the loss to
  the resume), or went more than ${GAP_THRESHOLD_MS} ms without hearing anything with its socket up; n counts them.
- **time to flag**: fault -> the watchdog's flag; **replacement ready**: fault -> the new node answers /ready and is
  in HAProxy (for the rolling restart: start of each refresh -> its new master ready).
- **false flags**: flags of nodes no fault touched; must be 0 (scenario 6 above all).
${mediaRows.length ? mediaText() : ''}
Timings used (node timings reach the processes as RTC_* environment variables):

${timingsTable(profiles)}

${byProfile}

## Beside the anchors' published behaviour

${anchors(rows)}

Notes:
- Scenario 7 runs 5 masters: the watchdog flags a master only while a strict majority of the masters has a fresh
  heartbeat, so with 3 masters two killed within a second are replaced or held depending on whether their heartbeats
  expire in the same watchdog cycle. Media nodes are flagged while at least half of them is healthy: one of two dead
  is replaced (3), both dead is held (3b).
- The rolling restart is an instance refresh by the local fleet (launch the new master, drain the old one); the
  watchdog flags nothing, so it has no time to flag.
`,
  );
  return summary.failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench/chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
