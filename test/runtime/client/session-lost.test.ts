import type Redis from 'ioredis';
import { RtcHaNodeSession } from '../../../runtime/client/node';
import type { RtcHaSessionEvents } from '../../../runtime/client/session';
import { CLOSE_CODES, createRedis, untilReady } from '../../../runtime/contract';
import { waitFor } from '../../../local/ports';
import { RedisServer, startRedisServer } from '../../../local/redis-server';
import type { MasterHandle } from '../../../runtime/master/master';
import { Api, FakeMediaNode, startTestMaster } from '../master/support/harness';

/**
 * Issue 10 item 9, reproduced: Redis restarted empty (every session gone). Clients used to be
 * closed with 4009 "another connection took this participant over" and the SDK gave up silently
 * with its unsent messages. Now it is data loss reported as such: close 4011 `session_lost`, and
 * the SDK's `sessionLost` event with every frame it had not seen accepted.
 */
let server: RedisServer;
let redis: Redis;
let media: FakeMediaNode;
let master: MasterHandle;
const sessions: RtcHaNodeSession[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  redis = await untilReady(createRedis({ url: server.url }));
  media = await new FakeMediaNode(redis, 'media-a').start();
  master = await startTestMaster(server.url);
});
afterAll(async () => {
  sessions.forEach((s) => s.close());
  media?.stop();
  await master?.close();
  redis?.disconnect();
  await server?.stop();
});

async function participant(api: Api, participantId: string) {
  const session = new RtcHaNodeSession({
    url: `${master.url.replace(/^http/, 'ws')}/ws`,
    token: await api.token('lost', participantId),
  });
  sessions.push(session);
  const events: { [K in keyof RtcHaSessionEvents]?: RtcHaSessionEvents[K][] } = {};
  for (const name of ['sessionLost', 'failed', 'message', 'error'] as const) {
    session.on(name, (payload) => ((events[name] ??= []) as unknown[]).push(payload));
  }
  await session.connect();
  return { session, events };
}

test('Redis restarted empty: close 4011 and sessionLost with the unsent messages, never superseded', async () => {
  const api = new Api(master.url);
  await api.createSession('lost');
  const alice = await participant(api, 'alice');
  const bob = await participant(api, 'bob');
  alice.session.sendMessage('before');
  await waitFor('before', () => bob.events.message?.length === 1);

  await server.stop();
  const unsent = Array.from({ length: 5 }, (_, i) => alice.session.sendMessage(`during ${i}`));
  server = await startRedisServer({ port: server.port });

  for (const p of [alice, bob]) {
    await waitFor('sessionLost', () => p.events.failed !== undefined, 15_000);
    expect(p.events.sessionLost).toHaveLength(1);
    expect(p.events.failed).toEqual([expect.objectContaining({ closeCode: CLOSE_CODES.sessionLost })]);
    expect(p.events.error?.map((e) => e.code)).not.toContain('superseded');
    expect(p.session.state).toBe('failed');
  }
  expect(alice.events.sessionLost![0].unsent.map((f) => f.cseq)).toEqual(unsent);
  expect(alice.events.sessionLost![0].unsent.map((f) => f.type === 'message' && f.data)).toEqual(
    unsent.map((_, i) => `during ${i}`),
  );
  expect(bob.events.sessionLost![0].unsent).toEqual([]);
  expect(alice.session.pendingCount).toBe(0);
}, 30_000);
