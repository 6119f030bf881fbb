import { httpStatus } from '../../../local/node-process';
import { waitFor } from '../../../local/ports';
import { TestParticipant } from '../master/support/participant';
import { ProcessCluster } from './support/cluster';

/**
 * Redis hangs (SIGSTOP: sockets stay open, nothing answers), as a stalled primary does, then
 * comes back. Masters must turn not-ready, keep their sockets, crash on nothing, and recover by
 * themselves; what clients send meanwhile arrives once Redis is back, once.
 */
let cluster: ProcessCluster;
const alice = new TestParticipant('alice');
const bob = new TestParticipant('bob');

beforeAll(async () => {
  cluster = await ProcessCluster.start(2);
});
afterAll(async () => {
  alice.stop();
  bob.stop();
  await cluster.stop();
});

const ready = async (url: string) => (await httpStatus(`${url}/ready`, 300)) === 200;

test('Redis paused for ~3.5 s: not ready, then ready again; no process dies, no session or message lost', async () => {
  const [a, b] = cluster.masters;
  const api = cluster.api(a);
  const created = await api.createSession('paused');
  await alice.join(a.url, await api.token('paused', 'alice'));
  await bob.join(b.url, await api.token('paused', 'bob'));
  alice.message('before');
  await waitFor('before', () => bob.messagesFrom('alice').length === 1);

  cluster.registry.server.pause();
  const pausedAt = Date.now();
  try {
    alice.message('during 1');
    bob.message('during 2');
    await waitFor('masters and media not ready', async () => {
      const states = await Promise.all([a, b, cluster.media].map((n) => ready(n.url)));
      return states.every((r) => !r);
    });
    // A master whose registry hangs still answers its clients at once.
    await alice.socket!.roundTrip();
    await bob.socket!.roundTrip();
    alice.message('during 3');
    await new Promise((r) => setTimeout(r, Math.max(0, 3_500 - (Date.now() - pausedAt))));
  } finally {
    cluster.registry.server.resume();
  }

  await waitFor(
    'ready again',
    async () => (await Promise.all([a, b, cluster.media].map((n) => ready(n.url)))).every(Boolean),
    10_000,
  );
  await waitFor(
    'everything delivered',
    () => bob.messagesFrom('alice').length === 3 && alice.messagesFrom('bob').length === 1,
    10_000,
  );
  expect(bob.messagesFrom('alice')).toEqual(['before', 'during 1', 'during 3']);
  expect(alice.messagesFrom('bob')).toEqual(['during 2']);
  alice.message('after');
  await waitFor('after', () => bob.messagesFrom('alice').length === 4);
  await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive by now
  expect(bob.messagesFrom('alice')).toEqual(['before', 'during 1', 'during 3', 'after']);

  // Nothing was dropped: the same sockets, the same session, the same media node.
  expect([alice.socket!.closeInfo, bob.socket!.closeInfo]).toEqual([undefined, undefined]);
  const session = await api.call('GET', '/v1/sessions/paused');
  expect(session.body).toMatchObject({
    mediaNode: created.body.mediaNode,
    participants: [
      { participantId: 'alice', state: 'connected' },
      { participantId: 'bob', state: 'connected' },
    ],
  });
  expect([a, b, cluster.media].map((n) => n.hasExited())).toEqual([false, false, false]);
  for (const master of [a, b]) {
    const events = master.events().map((e) => e.event);
    expect(events).toContain('heartbeat_failed');
    expect(events).toContain('heartbeat_recovered');
  }
});
