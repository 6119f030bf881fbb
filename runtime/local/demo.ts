/**
 * `npm run demo`: a session survives the crash of a master, in about ten seconds on one machine.
 *
 * Starts redis-server, two masters and a media agent as real processes, creates a session with
 * the admin client, joins Alice on master 1 and Bob on master 2, exchanges a message, SIGKILLs
 * Alice's master, and shows her client resuming on master 2 with nothing lost. Exits 0 when the
 * session resumed and every message arrived once, 1 otherwise; every child is stopped either way.
 *
 * It also exports the small cluster it runs on (startSmallCluster) for bench/failover.ts and
 * bench/capacity.ts: no HAProxy and no watchdog, so clients list the masters' URLs themselves.
 */
import { RtcHaAdmin } from '../client';
import { RtcHaNodeSession } from '../client/node';
import type { RtcHaSession, RtcHaSessionEvents } from '../client/session';
import { NodeProcess, startNodeProcess } from './node-process';
import { RedisServer, startRedisServer } from './redis-server';

const SESSION = 'demo-room';
/** Longest wait for any one step; the demo as a whole takes well under 20 s. */
const STEP_TIMEOUT_MS = 8_000;

const startedAt = Date.now();
function say(line: string): void {
  process.stdout.write(`${((Date.now() - startedAt) / 1000).toFixed(2).padStart(6)} s  ${line}\n`);
}

/** Resolves with the next `event` payload that satisfies `match`, or rejects after STEP_TIMEOUT_MS. */
function next<K extends keyof RtcHaSessionEvents>(
  session: RtcHaSession,
  event: K,
  match: (payload: RtcHaSessionEvents[K]) => boolean = () => true,
): Promise<RtcHaSessionEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} within ${STEP_TIMEOUT_MS} ms`));
    }, STEP_TIMEOUT_MS);
    const off = session.on(event, (payload) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Sends `text` from one participant and resolves with the ms until the other one received it. */
async function relay(from: RtcHaSession, to: RtcHaSession, text: string): Promise<number> {
  const sentAt = Date.now();
  const received = next(to, 'message', (m) => m.data === text);
  from.sendMessage(text);
  await received;
  return Date.now() - sentAt;
}

/** redis-server, masters and one media agent as real processes: the cluster of the demo and the benchmarks. */
export interface SmallCluster {
  readonly redis: RedisServer;
  readonly masters: readonly NodeProcess[];
  readonly media: NodeProcess;
  readonly apiSecret: string;
  /** Runs `action` (closing clients, killing load generators) first thing in stop(). */
  onStop(action: () => void): void;
  /**
   * Stops the nodes, then redis-server (so the nodes drain against a live registry). A node gets
   * 1 s: a media agent with sessions placed on it and no other to move them to drains no faster.
   */
  stop(): Promise<void>;
}

/**
 * Starts redis-server, `masters` masters (`master-1`, ...) and one media agent (`media-1`), all on
 * loopback, and resolves once every node is ready; on any failure stops what started and throws.
 * `env` adds RTC_* variables for every node.
 */
export async function startSmallCluster(
  masters: number,
  env: Readonly<Record<string, string>> = {},
): Promise<SmallCluster> {
  const apiSecret = 'rtc-ha-small-cluster-secret-0123';
  const redis = await startRedisServer();
  const nodeEnv = { RTC_REDIS_URL: redis.url, RTC_API_SECRET: apiSecret, ...env };
  const started = await Promise.allSettled([
    ...Array.from({ length: masters }, (_, i) =>
      startNodeProcess({ kind: 'master', env: { ...nodeEnv, RTC_NODE_ID: `master-${i + 1}` } }),
    ),
    startNodeProcess({ kind: 'media', env: { ...nodeEnv, RTC_NODE_ID: 'media-1' } }),
  ]);
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const actions: (() => void)[] = [];
  const stop = async () => {
    for (const action of actions.splice(0)) action();
    await Promise.all(nodes.map((node) => node.stop(1_000)));
    await redis.stop();
  };
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) {
    await stop();
    throw failure.reason;
  }
  return {
    redis,
    masters: nodes.slice(0, masters),
    media: nodes[masters],
    apiSecret,
    onStop: (action) => actions.push(action),
    stop,
  };
}

/**
 * The entry of the demo and the benchmarks: starts a small cluster, runs `body` on it, stops every
 * child whatever happens, and exits 0 when `body` resolves true, 1 when it resolves false or throws.
 * `body` registers what else to stop with cluster.onStop.
 */
export async function runWithSmallCluster(
  name: string,
  masters: number,
  env: Readonly<Record<string, string>>,
  body: (cluster: SmallCluster) => Promise<boolean>,
): Promise<never> {
  let code = 1;
  let cluster: SmallCluster | undefined;
  try {
    cluster = await startSmallCluster(masters, env);
    code = (await body(cluster)) ? 0 : 1;
  } catch (err) {
    process.stderr.write(`${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    await cluster?.stop();
  }
  process.exit(code);
}

/** The WebSocket URL of a master. */
export const wsUrl = (node: NodeProcess): string => `${node.url.replace(/^http/, 'ws')}/ws`;

async function story(cluster: SmallCluster): Promise<boolean> {
  const sessions: RtcHaSession[] = [];
  cluster.onStop(() => sessions.forEach((session) => session.close()));
  const [master1, master2] = cluster.masters;
  const masterNames = new Map([
    [wsUrl(master1), 'master-1'],
    [wsUrl(master2), 'master-2'],
  ]);
  say(`redis-server on port ${cluster.redis.port} (the registry: sessions, mailboxes, node heartbeats)`);
  say(`master-1 (${master1.url}), master-2 (${master2.url}) and media-1 are ready`);

  const admin = new RtcHaAdmin({ baseUrl: [master1.url, master2.url], secret: cluster.apiSecret });
  const room = await admin.createSession(SESSION);
  say(`session ${SESSION} created, media on ${room.mediaNode?.nodeId ?? 'none'}`);

  // Each client lists its own master first and the other as its backup.
  const join = async (participantId: string, urls: string[]) => {
    const { token } = await admin.createConnection(SESSION, participantId);
    const session = new RtcHaNodeSession({ url: urls, token });
    sessions.push(session);
    const received: unknown[] = [];
    session.on('message', (m) => received.push(m.data));
    await session.connect();
    return { session, received };
  };
  const { session: alice, received: toAlice } = await join('alice', [wsUrl(master1), wsUrl(master2)]);
  const { session: bob, received: toBob } = await join('bob', [wsUrl(master2), wsUrl(master1)]);
  say('alice joined on master-1, bob joined on master-2');

  const before = await relay(alice, bob, 'hello bob');
  say(`alice -> bob "hello bob" crossed masters in ${before} ms`);

  alice.on('reconnecting', (r) =>
    say(`alice: reconnecting (attempt ${r.attempt} in ${r.delayMs} ms): ${r.reason}`),
  );
  const resumed = next(alice, 'resumed');
  // Bob writes while Alice is cut off: the message waits in her mailbox.
  const duringOutage = next(alice, 'message', (m) => m.data === 'are you still there?');
  const killedAt = Date.now();
  master1.kill('SIGKILL');
  say('master-1 SIGKILLed (a crash: no drain, no goodbye)');
  bob.sendMessage('are you still there?');
  say('bob -> alice "are you still there?" sent while alice is disconnected');

  const { replayed, missed } = await resumed;
  const resumeMs = Date.now() - killedAt;
  say(
    `alice: resumed on ${masterNames.get(alice.url)} ${resumeMs} ms after the kill (${replayed} replayed, ${missed} missed)`,
  );
  await duringOutage;
  say('alice received "are you still there?" (from her mailbox, once)');

  const after = await relay(alice, bob, 'yes, still here');
  say(`alice -> bob "yes, still here" in ${after} ms`);

  const info = await admin.getSession(SESSION);
  const present = info.participants.map((p) => `${p.participantId} ${p.state}`).join(', ');
  say(`registry: ${SESSION} has ${present}`);

  // Every message exactly once: anything missing is lost, anything twice a duplicate.
  const expected = [
    { got: toBob, want: ['hello bob', 'yes, still here'] },
    { got: toAlice, want: ['are you still there?'] },
  ];
  const lost = expected.reduce((n, e) => n + e.want.filter((w) => !e.got.includes(w)).length, 0);
  const duplicates = expected.reduce((n, e) => n + e.got.length - new Set(e.got).size, 0);
  process.stdout.write(
    `\nsession resumed in ${resumeMs} ms; 0 sessions lost, ${lost} messages lost, ${duplicates} duplicated\n`,
  );
  return lost === 0 && duplicates === 0;
}

if (require.main === module) void runWithSmallCluster('demo', 2, {}, story);
