/**
 * Watchdog benchmark: how fast is a crashed master flagged, and does a Redis outage flag anything?
 *
 * The local cluster (local/cluster: redis-server, three real master processes, the watchdog
 * with the local fleet adapter, default timings: heartbeat 1 s, TTL 3 s, cycle 2 s). Part 1: SIGKILL
 * one master at a random moment, time kill -> flag, wait for its replacement; repeat. Part 2: pause
 * Redis (SIGSTOP) for 15 s, then watch 10 s more, and count the flags: every one is false, since no
 * master died.
 *
 * Run: npx tsx bench/watchdog.ts [--quick]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type Cluster, type ClusterEvent } from '../local/cluster';
import { waitFor } from '../local/ports';
import { percentiles, progress, quick, writeBenchResult } from './support/report';

const KILLS = quick ? 3 : 20;
const PAUSE_MS = 15_000;
/** After Redis resumes: time for heartbeats to return and several cycles to judge them. */
const AFTER_PAUSE_MS = quick ? 6_000 : 10_000;
/** A kill that is not flagged by then counts as missed. */
const FLAG_TIMEOUT_MS = 15_000;

interface Line {
  readonly at: number;
  readonly action?: string;
  readonly rail?: string;
  readonly node?: { readonly instanceId: string };
}

async function main(): Promise<void> {
  const lines: Line[] = [];
  const onEvent = (event: ClusterEvent) => {
    if (event.type === 'watchdog') lines.push({ at: event.at, ...(event.line as Omit<Line, 'at'>) });
  };
  progress('starting redis-server, HAProxy and 3 masters');
  const cluster = await startCluster({ masters: 3, media: 0, port: 0, statsPort: 0, onEvent });
  try {
    const flagMs = await killTrials(cluster, lines);
    const outage = await redisOutage(cluster, lines);
    const flag = percentiles(flagMs);
    const result = {
      flagMs: { p50: flag.p50, p99: flag.p99, max: flag.max, n: flag.n },
      falseFlags: outage.flags,
      missedKills: KILLS - flagMs.length,
      outage: { pauseMs: PAUSE_MS, afterMs: AFTER_PAUSE_MS, holds: outage.holds, suspects: outage.suspects },
      timings: cluster.timings,
    };
    writeBenchResult('watchdog', result, markdown(result));
  } finally {
    await cluster.stop();
  }
}

/** SIGKILLs the longest-running master, KILLS times; kill -> flag for each. */
async function killTrials(cluster: Cluster, lines: Line[]): Promise<number[]> {
  const flagMs: number[] = [];
  for (let trial = 1; trial <= KILLS; trial++) {
    await untilSettled(cluster);
    // A random phase against the heartbeat (1 s) and the watchdog cycle (2 s).
    await sleep(Math.random() * cluster.timings.watchdogCycleMs);
    const [victim] = cluster.fleet.members('master').sort((a, b) => a.launchedAt - b.launchedAt);
    const killedAt = Date.now();
    victim.handle.kill('SIGKILL');
    const flagged = () =>
      lines.find((l) => l.action === 'flag' && l.node?.instanceId === victim.instanceId && l.at >= killedAt);
    await waitFor(`the flag of ${victim.nodeId}`, () => flagged() !== undefined, FLAG_TIMEOUT_MS, 10).catch(
      () => undefined,
    );
    const flag = flagged();
    if (flag) flagMs.push(flag.at - killedAt);
    progress(
      `kill ${trial}/${KILLS}: ${victim.nodeId} ${flag ? `flagged after ${flag.at - killedAt} ms` : 'NOT flagged'}`,
    );
  }
  await untilSettled(cluster);
  return flagMs;
}

/** Three masters up (a replacement joins once ready), the oldest past the watchdog's grace period. */
async function untilSettled(cluster: Cluster): Promise<void> {
  const { watchdogGraceMs } = cluster.timings;
  await waitFor(
    'three masters, the oldest past its grace',
    () => {
      const masters = cluster.fleet.members('master');
      return masters.length === 3 && masters.some((m) => Date.now() - m.launchedAt > watchdogGraceMs);
    },
    60_000,
    50,
  );
}

/** Pauses redis-server for PAUSE_MS and counts the watchdog's decisions until AFTER_PAUSE_MS after. */
async function redisOutage(cluster: Cluster, lines: Line[]) {
  const redis = cluster.redisServer;
  if (!redis) throw new Error('the cluster runs its own redis-server');
  progress(`pausing Redis for ${PAUSE_MS / 1000} s`);
  const from = Date.now();
  redis.pause();
  await sleep(PAUSE_MS);
  redis.resume();
  progress(`Redis resumed; watching ${AFTER_PAUSE_MS / 1000} s more`);
  await sleep(AFTER_PAUSE_MS);
  const during = lines.filter((l) => l.at >= from);
  const count = (action: string) => during.filter((l) => l.action === action).length;
  return { flags: count('flag'), holds: count('hold'), suspects: count('suspect') };
}

function markdown(r: {
  flagMs: { p50: number; p99: number; max: number; n: number };
  falseFlags: number;
  missedKills: number;
  outage: { holds: number; suspects: number };
  timings: Cluster['timings'];
}): string {
  const t = r.timings;
  return `
Three real master processes, redis-server and the watchdog with the local fleet adapter (the local
cluster of local/). Heartbeat every ${t.heartbeatIntervalMs} ms, TTL ${t.heartbeatTtlMs} ms,
watchdog cycle ${t.watchdogCycleMs} ms, grace ${t.watchdogGraceMs} ms.

| measure | value |
|---|---|
| SIGKILL -> flag, p50 | ${r.flagMs.p50} ms |
| SIGKILL -> flag, p99 | ${r.flagMs.p99} ms |
| SIGKILL -> flag, max | ${r.flagMs.max} ms |
| kills flagged | ${r.flagMs.n} of ${r.flagMs.n + r.missedKills} |
| false flags while Redis was paused ${PAUSE_MS / 1000} s (and ${AFTER_PAUSE_MS / 1000} s after) | ${r.falseFlags} |
| hold decisions in that window | ${r.outage.holds} |
| suspect decisions in that window | ${r.outage.suspects} |

Aim: a flag within 5 s (TTL ${t.heartbeatTtlMs / 1000} s plus a ${t.watchdogCycleMs / 1000} s cycle) and no false flag.
A flag needs two signals: the expired heartbeat, then a refused \`/live\` and the process gone.
While Redis is paused the registry cannot be read, so every cycle holds (rail
\`registry-unreachable\`). Right after it resumes, a heartbeat that looks expired before its master
writes again comes with a \`/live\` that answers: one signal, at most a suspect. The p99 includes
the worst phase: a heartbeat just before the kill (expiry 3 s later) and a cycle just before that.
For scale: ELB-only detection in OpenVidu Enterprise HA takes about 40 s, after a 180 s grace.
`;
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
