/**
 * Chaos benchmark: every scenario of issue 5 on a fresh local cluster (redis-server, HAProxy,
 * master and media processes, the watchdog with the local fleet), with clients exchanging
 * numbered messages through HAProxy throughout. One row per scenario: sessions lost, messages
 * lost or duplicated, client-visible interruption, time to flag, time until the replacement was
 * ready, false flags.
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
import { HOLD_SCENARIOS, SCENARIOS } from '../local/chaos/scenarios';
import { percentiles, progress, quick, writeBenchResult } from './support/report';

/** The short profile (under 60 s): a master crashed, hung and drained, and a media agent crashed; short timings. */
const QUICK_SCENARIOS = ['kill-master', 'hang-master', 'kill-media', 'drain-master'];
const SESSIONS = 4;
const PARTICIPANTS = 3;
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
  const all = [...SCENARIOS, ...HOLD_SCENARIOS].map((s) => s.id);
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

type Row = Omit<ScenarioResult, 'interruptionsMs'> & { interruptionMs: ReturnType<typeof percentiles> };

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
  const scenarios = [...SCENARIOS, ...HOLD_SCENARIOS].filter((s) => ids.includes(s.id));
  const rows: Row[] = [];
  for (const profile of profiles) {
    for (const scenario of scenarios) {
      progress(`${profile.name} timings: ${scenario.title}`);
      const result = await runScenario(scenario, profile, {
        sessions: SESSIONS,
        participantsPerSession: PARTICIPANTS,
        messageIntervalMs: MESSAGE_INTERVAL_MS,
        keepLogs: values['keep-logs'],
        log: (message) => progress(`  ${message}`),
      });
      const { interruptionsMs, ...rest } = result;
      rows.push({ ...rest, interruptionMs: percentiles(interruptionsMs) });
      progress(
        `  ${result.passed ? 'pass' : `FAIL: ${result.problems.join('; ')}`} in ${(result.durationMs / 1000).toFixed(1)} s`,
      );
      for (const sample of result.lostSample) progress(`  lost: ${sample}`);
    }
  }
  const sum = (key: 'sessionsLost' | 'messagesLost' | 'messagesDuplicated' | 'falseFlags') =>
    rows.reduce((n, r) => n + r[key], 0);
  const summary = {
    scenarios: rows.length,
    sessionsLost: sum('sessionsLost'),
    messagesLost: sum('messagesLost'),
    worstP99Ms: Math.max(0, ...rows.map((r) => r.interruptionMs.p99)),
    messagesDuplicated: sum('messagesDuplicated'),
    falseFlags: sum('falseFlags'),
    failed: rows.filter((r) => !r.passed).map((r) => `${r.profile}:${r.id}`),
    workload: {
      sessions: SESSIONS,
      participantsPerSession: PARTICIPANTS,
      messageIntervalMs: MESSAGE_INTERVAL_MS,
    },
    timings: Object.fromEntries(profiles.map((p) => [p.name, { ...p.timings, client: p.client }])),
    rows,
  };
  const byProfile = profiles
    .map((p) => `## ${p.name} timings\n\n${table(rows.filter((r) => r.profile === p.name))}`)
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
