/**
 * Active-standby pair benchmark: how long from a fault on the active node until the standby serves,
 * how long clients go without hearing from the pair, what is lost, and how long the preferred node
 * takes to come back (automatic failback). The pair of test/standby/pair.test.ts (network
 * namespaces, keepalived, redis-server, the runtime, as root), with clients exchanging numbered
 * messages through the floating address throughout. Per run, one scenario:
 *
 * - kill: SIGKILL every process of the active node; then start it again (failback);
 * - hang: SIGSTOP the active node's runtime (keepalived lives); then SIGCONT it (failback);
 * - cut: cut the pair link for 8 s, then heal it (the active must keep serving alone).
 *
 * Takeover and failback are read off the clients' samples (every 100 ms: who holds the address and
 * answers ready). Run: npx tsx bench/standby.ts [--quick]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withClients, type ClientsReport } from '../local/standby/clients';
import { StandbyPair, pairUnavailable } from '../local/standby/pair';
import { STANDBY_DEFAULTS } from '../runtime/standby/defaults';
import { percentiles, progress, quick, writeBenchResult } from './support/report';

const RUNS = quick ? 2 : 5;
const SESSIONS = quick ? 4 : 10;
const MESSAGE_INTERVAL_MS = 200;
const STEP_TIMEOUT_MS = 60_000;
/** How long the pair link stays cut: well past VRRP's master-down interval (~3.6 s). */
const CUT_MS = 8_000;
const PREEMPT_DELAY_S = 2;

type Scenario = 'kill' | 'hang' | 'cut';

interface Run {
  readonly scenario: Scenario;
  /** Fault to the standby serving (undefined: it never took over). */
  readonly takeoverMs?: number;
  /** Recovery (restart, SIGCONT) to the preferred node serving again. */
  readonly failbackMs?: number;
  readonly result: ClientsReport;
}

/** When the timeline first shows `node` serving alone at or after `from`. */
function servingSince(result: ClientsReport, node: string, from: number): number | undefined {
  return result.timeline.find((s) => s.t >= from && s.serving.length === 1 && s.serving[0] === node)?.t;
}

async function runScenario(pair: StandbyPair, scenario: Scenario, index: number): Promise<Run> {
  let recoveredAt = 0;
  const result = await withClients(
    pair,
    {
      runId: `${scenario}${index}`,
      sessions: SESSIONS,
      messageIntervalMs: MESSAGE_INTERVAL_MS,
      beforeMs: 2_000,
      afterMs: 2_000,
    },
    async () => {
      if (scenario === 'cut') {
        await pair.cutLink('b', true);
        await new Promise((r) => setTimeout(r, CUT_MS));
        recoveredAt = Date.now();
        await pair.cutLink('b', false);
        await new Promise((r) => setTimeout(r, 3_000));
      } else {
        if (scenario === 'kill') pair.killNode('a');
        else pair.runtime('a').kill('SIGSTOP');
        await pair.waitUntilServing('b', STEP_TIMEOUT_MS);
        recoveredAt = Date.now();
        if (scenario === 'kill') await pair.startNode('a');
        else pair.runtime('a').kill('SIGCONT');
      }
      await pair.waitUntilServing('a', STEP_TIMEOUT_MS);
    },
  );
  const tookOver = servingSince(result, 'b', result.faultAt);
  const back = servingSince(result, 'a', recoveredAt);
  return {
    scenario,
    takeoverMs: tookOver === undefined ? undefined : tookOver - result.faultAt,
    failbackMs: scenario === 'cut' || back === undefined ? undefined : back - recoveredAt,
    result,
  };
}

function summary(runs: readonly Run[]) {
  const reports = runs.map((r) => r.result.report);
  const sum = (pick: (r: (typeof reports)[number]) => number) => reports.reduce((n, r) => n + pick(r), 0);
  return {
    runs: runs.length,
    takeoverMs: percentiles(runs.flatMap((r) => (r.takeoverMs === undefined ? [] : [r.takeoverMs]))),
    takeovers: runs.filter((r) => r.takeoverMs !== undefined).length,
    interruptionMs: percentiles(reports.flatMap((r) => r.interruptionsMs)),
    failbackMs: percentiles(runs.flatMap((r) => (r.failbackMs === undefined ? [] : [r.failbackMs]))),
    sessions: sum((r) => r.sessions),
    joinsFailed: sum((r) => r.joinsFailed),
    messagesSent: sum((r) => r.messagesSent),
    sessionsLost: sum((r) => r.sessionsLost),
    messagesLost: sum((r) => r.messagesLost),
    messagesDuplicated: sum((r) => r.messagesDuplicated),
    clientsFailed: sum((r) => r.clientsFailed),
    /** Samples in which both nodes held the address and answered ready. */
    overlaps: runs.reduce((n, r) => n + r.result.overlaps, 0),
  };
}

/** This project's cluster failover, from its own benchmark's committed result. */
function clusterFailover(): { p50: number; p99: number } | undefined {
  try {
    const failover = JSON.parse(readFileSync(join(__dirname, 'results', 'failover.json'), 'utf8')) as {
      ms?: { p50: number; p99: number };
    };
    return failover.ms;
  } catch {
    return undefined;
  }
}

async function main(): Promise<boolean> {
  const unavailable = pairUnavailable();
  if (unavailable) throw new Error(`the standby pair cannot run here: ${unavailable}`);
  progress(`standby pair: ${RUNS} runs each of kill, hang and cut, ${SESSIONS} sessions of 2`);
  const pair = await StandbyPair.start({
    failback: 'automatic',
    preemptDelayS: PREEMPT_DELAY_S,
    apiSecret: 'rtc-ha-standby-bench-secret-0123',
  });
  const runs: Run[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const scenario of ['kill', 'hang', 'cut'] as const) {
        const run = await runScenario(pair, scenario, i);
        runs.push(run);
        const r = run.result.report;
        progress(
          `${scenario} #${i + 1}: ${r.sessions} sessions joined (${r.joinsFailed} failed), takeover ${run.takeoverMs ?? '-'} ms, ` +
            `failback ${run.failbackMs ?? '-'} ms, lost ${r.sessionsLost} sessions / ${r.messagesLost} messages, ` +
            `overlaps ${run.result.overlaps}`,
        );
      }
    }
  } finally {
    await pair.stop();
  }

  const by = (s: Scenario) => summary(runs.filter((r) => r.scenario === s));
  const scenarios = { kill: by('kill'), hang: by('hang'), cut: by('cut') };
  const all = summary(runs);
  const failovers = summary(runs.filter((r) => r.scenario !== 'cut'));
  const cluster = clusterFailover();
  const anchors = {
    telephonyPairMaxMs: 300_000,
    haproxyBackupDetectMs: 3 * 2_000,
    clusterFailoverMs: cluster ?? null,
  };
  const ms = (p: { p50: number; p99: number }) => `p50 ${p.p50} ms, p99 ${p.p99} ms`;
  const row = (name: string, s: ReturnType<typeof summary>) =>
    `| ${name} | ${s.runs} | ${s.takeovers ? ms(s.takeoverMs) : 'none (as it must)'} | ${s.interruptionMs.n ? `${s.interruptionMs.p99} ms` : '-'} | ` +
    `${s.failbackMs.n ? ms(s.failbackMs) : '-'} | ${s.sessionsLost} of ${s.sessions} | ${s.messagesLost} of ${s.messagesSent} | ${s.messagesDuplicated} | ${s.overlaps} |`;
  const markdown = `
Two node namespaces and a client namespace on one machine: keepalived (unicast VRRP, advert ${STANDBY_DEFAULTS.advertIntervalS} s),
redis-server, the master runtime, the media agent and the standby agent per node; ${SESSIONS} sessions of 2 clients per
run, each client sending a numbered message every ${MESSAGE_INTERVAL_MS} ms through the floating address. Automatic failback,
preempt delay ${PREEMPT_DELAY_S} s. Takeover: the fault until the standby holds the address and answers ready (100 ms
samples). Interruption: each client's longest silence around a loss, takeover and failback together.

| scenario | runs | fault to the standby serving | client interruption p99 | back to the preferred node | sessions lost | messages lost | duplicated | both serving (samples) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${row('kill: SIGKILL every process of the active node', scenarios.kill)}
${row('hang: SIGSTOP the active runtime', scenarios.hang)}
${row(`cut: the pair link cut for ${CUT_MS / 1000} s`, scenarios.cut)}

Anchors: an IP telephony master/slave pair promises failover in "never more than 5 minutes"; HAProxy's
defaults (\`inter 2s\`, \`fall 3\`) send traffic to a \`backup\` server about 6 s after its primary died;
this project's cluster resumes clients of a SIGKILLed master in ${cluster ? ms(cluster) : '(no bench/results/failover.json)'}
(bench/results/failover.json): the pair trades that for two instances and no load balancer.
`;
  writeBenchResult(
    'standby',
    {
      takeoverMs: { p50: failovers.takeoverMs.p50, p99: failovers.takeoverMs.p99 },
      sessionsLost: all.sessionsLost,
      messagesLost: all.messagesLost,
      messagesDuplicated: all.messagesDuplicated,
      overlaps: all.overlaps,
      interruptionMs: { p50: failovers.interruptionMs.p50, p99: failovers.interruptionMs.p99 },
      failbackMs: { p50: failovers.failbackMs.p50, p99: failovers.failbackMs.p99 },
      scenarios,
      anchors,
    },
    markdown,
  );
  return (
    all.sessionsLost + all.messagesLost + all.overlaps + all.joinsFailed === 0 &&
    scenarios.cut.takeovers === 0
  );
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    process.stderr.write(`standby benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
