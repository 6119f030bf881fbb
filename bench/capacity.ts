/**
 * Capacity benchmark: how many WebSocket connections one master process holds, what each costs in
 * memory, and how fast a message crosses from a client on one master to a client on another.
 *
 * 1. Relay: 10 senders on master-2 send to 10 receivers on master-3 at a steady 1,000 msg/s in
 *    all; latency is measured send -> receive in this one process.
 * 2. Connections: 10,000 participants (quick: 2,000) in sessions of 4 join master-1 through the
 *    client SDK, opened by two load-generator processes (this file with --generator) so that the
 *    load does not run in the bench's event loop. They hold (pinging every 2 s) for a while;
 *    memory per connection is master-1's RSS delta over the connections. REST goes to master-2,
 *    so master-1 holds the sockets and little else.
 *
 * Run: npx tsx bench/capacity.ts [--quick]
 */
import { ChildProcess, fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { RtcHaAdmin } from '../runtime/client';
import { RtcHaNodeSession } from '../runtime/client/node';
import { runWithSmallCluster, SmallCluster, wsUrl } from '../local/small-cluster';
import { waitFor } from '../local/ports';
import { percentiles, progress, quick, writeBenchResult } from './support/report';

const TARGET_CONNECTIONS = quick ? 2_000 : 10_000;
const GENERATORS = 2;
const PER_SESSION = 4;
/** REST calls in flight while creating sessions and tokens; joins in flight per generator. */
const REST_CONCURRENCY = 32;
const JOIN_CONCURRENCY = 100;
const HOLD_MS = quick ? 3_000 : 10_000;
const CONNECT_TIMEOUT_MS = quick ? 30_000 : 180_000;
const RELAY_PAIRS = 10;
const RELAY_RATE_PER_S = 1_000;
const RELAY_WARMUP_MS = 1_000;
const RELAY_MS = quick ? 4_000 : 10_000;
/** File descriptors the bench's processes need beyond one per connection (redis, logs, node). */
const FD_MARGIN = 1_024;

/** Messages between the bench and its generators (over the fork IPC channel). */
interface GeneratorTask {
  url: string;
  tokens: string[];
}
interface GeneratorStatus {
  connected: number;
  failed: number;
  /** `reconnecting` events: a connection the master dropped or stopped answering. */
  reconnects: number;
}

// ---- the generator process -------------------------------------------------------------------

/** Joins every token at `url`, JOIN_CONCURRENCY at a time, reports its status twice a second, holds until killed. */
function runGenerator(): void {
  const status: GeneratorStatus = { connected: 0, failed: 0, reconnects: 0 };
  process.once('message', async (m: GeneratorTask) => {
    setInterval(() => process.send?.(status), 500);
    const queue = [...m.tokens];
    await Promise.all(
      Array.from({ length: JOIN_CONCURRENCY }, async () => {
        for (let token = queue.pop(); token !== undefined; token = queue.pop()) {
          const session = new RtcHaNodeSession({ url: m.url, token, reconnect: { maxReconnectMs: 5_000 } });
          session.on('reconnecting', () => status.reconnects++);
          await session.connect().then(
            () => status.connected++,
            () => status.failed++,
          );
        }
      }),
    );
  });
}

// ---- the bench ---------------------------------------------------------------------------------

/** Soft and hard limits on open files, as children of this process inherit them. */
function fileLimits(): { soft: number; hard: number } {
  const out = spawnSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n');
  const parse = (v: string | undefined) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: parse(out[0]), hard: parse(out[1]) };
}

/** VmRSS of a process, KiB (Linux). */
function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** Runs `task` for each item, `concurrency` at a time, in order of the items. */
async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await task(items[i]);
    }),
  );
  return results;
}

/** Creates sessions of PER_SESSION through the admin client and returns one token per participant. */
async function tokensFor(admin: RtcHaAdmin, connections: number, prefix: string): Promise<string[]> {
  const sessionIds = Array.from({ length: Math.ceil(connections / PER_SESSION) }, (_, i) => `${prefix}-${i}`);
  await pool(sessionIds, REST_CONCURRENCY, (id) => admin.createSession(id));
  const participants = Array.from({ length: connections }, (_, i) => ({
    sessionId: sessionIds[Math.floor(i / PER_SESSION)],
    participantId: `p${i % PER_SESSION}`,
  }));
  const created = await pool(participants, REST_CONCURRENCY, (p) =>
    admin.createConnection(p.sessionId, p.participantId),
  );
  return created.map((c) => c.token);
}

/** Opens `tokens` on `url` from GENERATORS processes; resolves once all are joined (or failed). */
async function openConnections(
  generators: ChildProcess[],
  url: string,
  tokens: string[],
): Promise<() => GeneratorStatus> {
  const latest = generators.map(() => ({ connected: 0, failed: 0, reconnects: 0 }));
  generators.forEach((g, i) => {
    g.on('message', (m: GeneratorStatus) => (latest[i] = m));
    const share = tokens.filter((_, t) => t % generators.length === i);
    g.send({ url, tokens: share } satisfies GeneratorTask);
  });
  const total = (): GeneratorStatus =>
    latest.reduce((a, b) => ({
      connected: a.connected + b.connected,
      failed: a.failed + b.failed,
      reconnects: a.reconnects + b.reconnects,
    }));
  let lastReport = 0;
  await waitFor(
    `${tokens.length} connections`,
    () => {
      const t = total();
      if (Date.now() - lastReport > 2_000) {
        lastReport = Date.now();
        progress(`${t.connected} connected, ${t.failed} failed`);
      }
      return t.connected + t.failed >= tokens.length;
    },
    CONNECT_TIMEOUT_MS,
    100,
  );
  return total;
}

/** 1,000 msg/s from RELAY_PAIRS senders on `from` to receivers on `to`; latencies after the warm-up. */
async function relayLatencies(
  admin: RtcHaAdmin,
  from: string,
  to: string,
): Promise<{ ms: number[]; rate: number }> {
  const tokens = await tokensFor(admin, RELAY_PAIRS * 2, 'relay');
  const pairs = await Promise.all(
    Array.from({ length: RELAY_PAIRS }, async (_, i) => {
      const sender = new RtcHaNodeSession({ url: from, token: tokens[2 * i] });
      const receiver = new RtcHaNodeSession({ url: to, token: tokens[2 * i + 1] });
      await Promise.all([sender.connect(), receiver.connect()]);
      return { sender, receiver };
    }),
  );
  const latencies: number[] = [];
  const measureFrom = performance.now() + RELAY_WARMUP_MS;
  for (const { receiver } of pairs) {
    receiver.on('message', (m) => {
      const sentAt = m.data as number;
      if (sentAt >= measureFrom) latencies.push(performance.now() - sentAt);
    });
  }
  // One tick every 10 ms sends one message per pair; a late tick catches up, so the rate holds.
  const intervalMs = (1_000 * RELAY_PAIRS) / RELAY_RATE_PER_S;
  const started = performance.now();
  let ticks = 0;
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - started) / intervalMs);
    for (; ticks < due; ticks++) for (const { sender } of pairs) sender.sendMessage(performance.now());
  }, intervalMs);
  await new Promise((r) => setTimeout(r, RELAY_WARMUP_MS + RELAY_MS));
  clearInterval(timer);
  const rate = Math.round((ticks * RELAY_PAIRS * 1_000) / (performance.now() - started));
  await new Promise((r) => setTimeout(r, 500));
  for (const { sender, receiver } of pairs) {
    sender.close();
    receiver.close();
  }
  return { ms: latencies, rate };
}

async function run(cluster: SmallCluster): Promise<boolean> {
  const generators: ChildProcess[] = [];
  cluster.onStop(() => generators.forEach((g) => g.kill('SIGKILL')));
  const [master1, master2, master3] = cluster.masters;
  const admin = new RtcHaAdmin({ baseUrl: master2.url, secret: cluster.apiSecret });

  progress(`relay: ${RELAY_RATE_PER_S} msg/s from master-2 to master-3 for ${RELAY_MS} ms`);
  const loadAverage = Math.round(loadavg()[0] * 10) / 10;
  const relay = await relayLatencies(admin, wsUrl(master2), wsUrl(master3));
  const relayMs = percentiles(relay.ms);

  const limits = fileLimits();
  const connections = Math.min(TARGET_CONNECTIONS, limits.soft - FD_MARGIN);
  if (connections < TARGET_CONNECTIONS) {
    progress(
      `ulimit -n is ${limits.soft}: measuring ${connections} connections instead of ${TARGET_CONNECTIONS}`,
    );
  }
  progress(`creating ${Math.ceil(connections / PER_SESSION)} sessions and ${connections} connection tokens`);
  const tokens = await tokensFor(admin, connections, 'cap');
  // Started only now: their start-up must not compete with the relay.
  for (let i = 0; i < GENERATORS; i++)
    generators.push(fork(__filename, ['--generator'], { stdio: 'inherit' }));
  const rssBefore = rssKiB(master1.pid);
  const connectStarted = Date.now();
  const status = await openConnections(generators, wsUrl(master1), tokens);
  const connectMs = Date.now() - connectStarted;
  progress(`${status().connected} connections in ${connectMs} ms; holding for ${HOLD_MS} ms`);
  await new Promise((r) => setTimeout(r, HOLD_MS));
  const rssAfter = rssKiB(master1.pid);
  const { connected, failed, reconnects } = status();
  const kibPerConnection = Math.round(((rssAfter - rssBefore) / Math.max(1, connected)) * 10) / 10;

  writeBenchResult(
    'capacity',
    {
      connections: connected,
      target: TARGET_CONNECTIONS,
      failed,
      reconnects,
      connectMs,
      masterRssMiB: { before: Math.round(rssBefore / 1024), after: Math.round(rssAfter / 1024) },
      kibPerConnection,
      relayMs: { p50: relayMs.p50, p99: relayMs.p99, max: relayMs.max },
      relayRate: relay.rate,
      relayMessages: relayMs.n,
      loadAverage,
    },
    `
Three masters (master-1 holds the connections; master-2 and master-3 carry the relay), one media agent and one
redis-server, all on this machine.

| metric | value |
|---|---|
| WebSocket connections held by one master | ${connected} of ${TARGET_CONNECTIONS} (${failed} failed; ${reconnects} reconnects while holding ${HOLD_MS / 1000} s) |
| time to open them (2 generator processes, ${JOIN_CONCURRENCY} joins in flight each) | ${connectMs} ms |
| master RSS before / after | ${Math.round(rssBefore / 1024)} / ${Math.round(rssAfter / 1024)} MiB |
| memory per connection | ${kibPerConnection} KiB |
| relay master-2 -> master-3, p50 / p99 / max | ${relayMs.p50} / ${relayMs.p99} / ${relayMs.max} ms |
| relay rate (measured) / messages timed | ${relay.rate} msg/s / ${relayMs.n} |
| 1-minute load average before the relay (2 cores, shared) | ${loadAverage} |

Participants join in sessions of ${PER_SESSION} and ping every 2 s while held, as real clients do (${reconnects} reconnects
means no socket was dropped or went silent). The relay runs first, on an idle cluster: ${RELAY_PAIRS} senders on master-2,
each to one receiver on master-3; every message is numbered, stored in the receiver's mailbox in Redis, published,
forwarded by master-3 and acked. The load generators, the masters, the media agent and redis-server share the
machine's cores.
`,
  );
  return true;
}

if (process.argv.includes('--generator')) runGenerator();
else
  void runWithSmallCluster(
    'capacity bench',
    3,
    { RTC_MEDIA_CAPACITY: String(TARGET_CONNECTIONS + RELAY_PAIRS) },
    run,
  );
