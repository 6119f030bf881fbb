import { RtcHaNodeSession } from '../../../runtime/client/node';
import { NodeProcess, httpStatus } from '../../../local/node-process';
import { waitFor } from '../../../local/ports';
import { sessionState } from '../master/support/harness';
import { TestParticipant } from '../master/support/participant';
import { CLUSTER_ENV, ProcessCluster } from './support/cluster';

/**
 * Masters as real processes, crashed (SIGKILL), hung (SIGSTOP) and drained (SIGTERM) under
 * connected clients: sessions survive, nothing is lost or delivered twice, and a stale master
 * can write nothing.
 */
let cluster: ProcessCluster;
const participants: TestParticipant[] = [];

beforeAll(async () => {
  cluster = await ProcessCluster.start(2);
});
afterEach(() => participants.splice(0).forEach((p) => p.stop()));
afterAll(() => cluster.stop());

function participant(id: string): TestParticipant {
  const p = new TestParticipant(id);
  participants.push(p);
  return p;
}

/** alice joined on `aliceOn`, bob on `bobOn`, in a new session. */
async function aliceAndBob(sessionId: string, aliceOn: NodeProcess, bobOn: NodeProcess) {
  const api = cluster.api(cluster.masters[0]);
  await api.createSession(sessionId);
  const alice = participant('alice');
  const bob = participant('bob');
  await alice.join(aliceOn.url, await api.token(sessionId, 'alice'));
  await bob.join(bobOn.url, await api.token(sessionId, 'bob'));
  return { api, alice, bob };
}

/** Seqs a participant saw: each once, in order, none skipped. */
function expectExactlyOnce(p: TestParticipant): void {
  const seqs = p.numbered.map((f) => f.seq as number);
  expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
}

test('clients on different masters exchange messages', async () => {
  const [a, b] = cluster.masters;
  const { alice, bob } = await aliceAndBob('cross', a, b);
  alice.message('hi bob');
  bob.message('hi alice');
  await waitFor(
    'both delivered',
    () => bob.messagesFrom('alice').length === 1 && alice.messagesFrom('bob').length === 1,
  );
  expect(bob.messagesFrom('alice')).toEqual(['hi bob']);
  expect(alice.messagesFrom('bob')).toEqual(['hi alice']);
});

test('SIGKILL: the client resumes on another master; nothing lost, nothing twice', async () => {
  const [a, b] = cluster.masters;
  const doomed = await cluster.addMaster();
  const { api, alice, bob } = await aliceAndBob('crash', doomed, a);
  await alice.socket!.next({ type: 'participantJoined' });

  alice.message('last words'); // may or may not be accepted before the crash
  doomed.kill('SIGKILL');
  await alice.socket!.closed;
  bob.message('while you were out 1');
  bob.message('while you were out 2');
  await waitFor('bob accepted', () => bob.pending === 0);

  const resumed = await alice.resume(b.url);
  expect(resumed).toMatchObject({ epoch: 2, replayed: 2, missed: 0 });
  await bob.socket!.next({ type: 'participantReconnected', participantId: 'alice' });
  await waitFor('alice resent', () => alice.pending === 0);
  await waitFor('bob got the last words', () => bob.messagesFrom('alice').length === 1);
  bob.message('welcome back');
  await waitFor('live after replay', () => alice.messagesFrom('bob').length === 3);

  expect(alice.messagesFrom('bob')).toEqual(['while you were out 1', 'while you were out 2', 'welcome back']);
  expect(bob.messagesFrom('alice')).toEqual(['last words']);
  expectExactlyOnce(alice);
  expectExactlyOnce(bob);
  const session = await api.call('GET', '/v1/sessions/crash');
  // GET tells which master holds each participant: alice's resume moved her to b.
  const bobOwner = (await cluster.registry.store.getParticipant('crash', 'bob'))?.owner;
  expect(session.body.participants).toEqual([
    { participantId: 'alice', state: 'connected', master: b.nodeId },
    { participantId: 'bob', state: 'connected', master: bobOwner },
  ]);
  expect(bobOwner).toEqual(expect.any(String));
  expect(await cluster.registry.store.getParticipant('crash', 'alice')).toMatchObject({ owner: b.nodeId });
  expect(await cluster.crashed()).toEqual([]);
});

test('SIGSTOP: the client resumes elsewhere on ping timeout; on SIGCONT the stale master writes nothing and drops its socket (4009)', async () => {
  const [a, b] = cluster.masters;
  const hung = await cluster.addMaster();
  const { alice, bob } = await aliceAndBob('hang', hung, a);
  const stale = alice.socket!;
  const pinger = setInterval(() => stale.send({ type: 'ping' }), 100);
  try {
    hung.kill('SIGSTOP');
    // A hung master sends no RST: the client notices the silence (the SDK's dead-socket timeout).
    await waitFor('silence', () => Date.now() - stale.lastFrameAt > 1_000, 5_000);
    const resumed = await alice.resume(b.url, { keepOld: true });
    expect(resumed.epoch).toBe(2);
    await bob.socket!.next({ type: 'participantReconnected', participantId: 'alice' });

    // The old socket, unaware, tries to write as alice; its frames wait in the hung master.
    stale.send({ type: 'message', cseq: 1, data: 'from the past' });
    stale.send({ type: 'ack', seq: 1_000 });
    stale.send({ type: 'leave' });
    bob.message('to the new alice');
    await waitFor('delivered to the new socket', () => alice.messagesFrom('bob').length === 1);
    const before = await sessionState(cluster.registry.redis);

    hung.kill('SIGCONT');
    await stale.closedWith(4009, 5_000);
    expect(stale.ofType('error')).toContainEqual(expect.objectContaining({ code: 'superseded' }));
    expect(await sessionState(cluster.registry.redis)).toEqual(before);
    expect(await cluster.registry.store.getParticipant('hang', 'alice')).toMatchObject({
      epoch: 2,
      owner: b.nodeId,
      state: 'connected',
    });
    expect(bob.messagesFrom('alice')).toEqual([]);
    expect(hung.events().some((e) => e.event === 'participant_superseded')).toBe(true);
    await waitFor(
      'the woken master is ready again',
      async () => (await httpStatus(`${hung.url}/ready`)) === 200,
    );
    expect(await cluster.crashed()).toEqual([]);
  } finally {
    clearInterval(pinger);
  }
});

test('SIGTERM: clients get reconnect and 4503, resume elsewhere; the master exits before its deadline', async () => {
  const [a] = cluster.masters;
  const draining = await cluster.addMaster();
  const api = cluster.api(a);
  await api.createSession('drain');
  const carol = participant('carol');
  await carol.join(draining.url, await api.token('drain', 'carol'));
  const old = carol.socket!;

  const t0 = Date.now();
  draining.kill('SIGTERM');
  expect(await old.next({ type: 'reconnect' })).toMatchObject({ reason: 'draining' });
  await old.closedWith(4503);
  // Drained, not lost: the participant was never marked disconnected.
  expect((await cluster.registry.store.getParticipant('drain', 'carol'))?.state).toBe('connected');
  expect(await carol.resume(a.url)).toMatchObject({ type: 'resumed', epoch: 2 });

  expect(await draining.exited).toEqual({ code: 0, signal: null });
  expect(Date.now() - t0).toBeLessThan(Number(CLUSTER_ENV.RTC_DRAIN_DEADLINE_MS));
  // It left: its live record is gone at once (no session is placed on it), while its identity stays
  // for the watchdog to judge a node that left with its instance still running.
  const live = await cluster.registry.redis.exists(cluster.registry.store.keys.node(draining.nodeId));
  expect(live).toBe(0);
});

test('the client SDK resumes on another master after SIGKILL, with nothing lost or twice', async () => {
  const [a, b] = cluster.masters;
  const doomed = await cluster.addMaster();
  const api = cluster.api(a);
  await api.createSession('sdk');
  const ws = (m: { url: string }) => `${m.url.replace(/^http/, 'ws')}/ws`;
  const alice = new RtcHaNodeSession({ url: [ws(doomed), ws(b)], token: await api.token('sdk', 'alice') });
  const bob = new RtcHaNodeSession({ url: ws(a), token: await api.token('sdk', 'bob') });
  const got: unknown[] = [];
  alice.on('message', (m) => got.push(m.data));
  try {
    await alice.connect();
    await bob.connect();
    const resumed = new Promise((resolve) => alice.once('resumed', resolve));
    doomed.kill('SIGKILL');
    for (let i = 1; i <= 5; i++) bob.sendMessage(i);
    await resumed;
    await waitFor('all five', () => got.length >= 5);
    await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive by now
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(alice.url).toBe(ws(b));
  } finally {
    alice.close();
    bob.close();
  }
});
