import { RtcHaAdmin } from '../../../runtime/client';
import { RtcHaNodeSession } from '../../../runtime/client/node';
import type { RtcHaSession, RtcHaSessionEvents } from '../../../runtime/client/session';
import { SmallCluster, startSmallCluster, wsUrl } from '../../../local/small-cluster';
import { waitFor } from '../../../local/ports';

/**
 * The SDK against real masters (redis-server, two masters and a media agent as processes): a hung
 * master is detected by silence alone, a draining one hands its clients over, and messages sent
 * meanwhile arrive once.
 */
let cluster: SmallCluster;
let admin: RtcHaAdmin;
const sessions: RtcHaSession[] = [];

beforeAll(async () => {
  cluster = await startSmallCluster(2);
  admin = new RtcHaAdmin({ baseUrl: cluster.masters.map((m) => m.url), secret: cluster.apiSecret });
});
afterAll(async () => {
  for (const s of sessions) s.close();
  await cluster?.stop();
});

async function participant(sessionId: string, participantId: string, urls: string[]) {
  const { token } = await admin.createConnection(sessionId, participantId);
  const session = new RtcHaNodeSession({ url: urls, token, deadSocketTimeoutMs: 1_000, pingIntervalMs: 250 });
  sessions.push(session);
  const events: { [K in keyof RtcHaSessionEvents]?: RtcHaSessionEvents[K][] } = {};
  for (const name of ['reconnecting', 'resumed', 'failed', 'message'] as const) {
    session.on(name, (payload) => ((events[name] ??= []) as unknown[]).push(payload));
  }
  await session.connect();
  return { session, events };
}

test('a hung master (SIGSTOP) is left after the dead-socket timeout, a draining one at once; nothing lost', async () => {
  // GIVEN alice on master-1, bob on master-2
  const [master1, master2] = cluster.masters;
  await admin.createSession('hung');
  const alice = await participant('hung', 'alice', [wsUrl(master1), wsUrl(master2)]);
  const bob = await participant('hung', 'bob', [wsUrl(master2), wsUrl(master1)]);

  // WHEN master-1 hangs with its sockets open, and bob keeps writing to alice
  master1.kill('SIGSTOP');
  const hungAt = Date.now();
  bob.session.sendMessage('one');
  await waitFor('alice resumed', () => (alice.events.resumed?.length ?? 0) === 1, 5_000);
  const resumeMs = Date.now() - hungAt;
  master1.kill('SIGCONT');
  bob.session.sendMessage('two');

  // THEN
  expect(alice.events.reconnecting?.[0].reason).toMatch(/dead socket/);
  expect(resumeMs).toBeGreaterThanOrEqual(900);
  expect(resumeMs).toBeLessThan(3_000);
  expect(alice.session.url).toBe(wsUrl(master2));
  await waitFor('both messages', () => (alice.events.message?.length ?? 0) >= 2, 3_000);

  // WHEN master-2 drains (SIGTERM): both are told to reconnect and resume on master-1, which woke up
  const drainedAt = Date.now();
  master2.kill('SIGTERM');
  await waitFor(
    'both resumed again',
    () => alice.events.resumed?.length === 2 && bob.events.resumed?.length === 1,
    5_000,
  );
  const drainMs = Date.now() - drainedAt;
  alice.session.sendMessage('three');
  await waitFor('bob got three', () => bob.events.message?.some((m) => m.data === 'three') ?? false, 3_000);

  // THEN
  expect(drainMs).toBeLessThan(1_000);
  expect(alice.session.url).toBe(wsUrl(master1));
  expect(alice.events.message?.map((m) => m.data)).toEqual(['one', 'two']);
  expect(bob.events.message?.map((m) => m.data)).toEqual(['three']);
  expect(alice.events.failed).toBeUndefined();
  expect(bob.events.failed).toBeUndefined();
});
