/**
 * `npm run demo`: a session survives the crash of a master, in about ten seconds on one machine.
 *
 * Starts redis-server, two masters and a media agent as real processes, creates a session with
 * the admin client, joins Alice on master 1 and Bob on master 2, exchanges a message, SIGKILLs
 * Alice's master, and shows her client resuming on master 2 with nothing lost. Exits 0 when the
 * session resumed and every message arrived once, 1 otherwise; every child is stopped either way.
 * It runs on the small cluster of local/small-cluster.ts.
 */
import { RtcHaAdmin } from '../runtime/client';
import { RtcHaNodeSession } from '../runtime/client/node';
import type { RtcHaSession, RtcHaSessionEvents } from '../runtime/client/session';
import { runWithSmallCluster, SmallCluster, wsUrl } from './small-cluster';

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
