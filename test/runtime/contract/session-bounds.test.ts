import Redis from 'ioredis';
import {
  Keys,
  NodeRegistration,
  RegistryReader,
  SessionStore,
  createRedis,
  isRedisOutOfMemory,
  newResumeToken,
  untilReady,
} from '../../../runtime/contract';
import { RedisServer, startRedisServer } from '../../../local/redis-server';

// Issue 10, registry side: bounded mailboxes and senders, announcements once, session lifecycle,
// atomic media reservations, a full Redis. Each test reproduces the attack against a real Redis.

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = await untilReady(createRedis({ url: server.url }));
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function connected(store: SessionStore, sessionId: string, participantId: string, node = 'master-a') {
  const created = await store.createParticipant(sessionId, participantId);
  const incarnation = 'incarnation' in created ? created.incarnation : undefined;
  const claim = await store.claim(
    sessionId,
    participantId,
    node,
    newResumeToken(sessionId, participantId).hash,
    undefined,
    incarnation,
  );
  if (!claim.ok) throw new Error(claim.reason);
  return claim.epoch;
}

describe('mailbox fan-out', () => {
  test('a broadcast flood keeps each mailbox within its byte budget and reports the trimmed as missed', async () => {
    const store = new SessionStore(redis, { prefix: 'flood', mailboxMaxBytes: 4_000 });
    await store.createSession('room', undefined, null);
    const epoch = await connected(store, 'room', 'sender');
    await connected(store, 'room', 'away');
    for (let i = 1; i <= 40; i++) {
      const sent = await store.deliverToOthers(
        'room',
        { participantId: 'sender', epoch, cseq: i },
        { type: 'message', from: 'sender', data: 'x'.repeat(300) },
      );
      expect(sent).toEqual({ ok: true, value: 1 });
    }
    const mailbox = store.keys.mailbox('room', 'away');
    const frames = await redis.zrange(mailbox, 0, -1);
    const bytes = frames.reduce((sum, f) => sum + f.length, 0);
    expect(bytes).toBeLessThanOrEqual(4_000);
    expect(Number(await redis.hget(store.keys.participant('room', 'away'), 'mbytes'))).toBe(bytes);
    const replay = (await store.replay('room', 'away', 0))!;
    expect(replay.frames.length + replay.missed).toBe(40);
    expect(replay.missed).toBeGreaterThan(0);
  });

  test('participants that never connected get no mailbox', async () => {
    const store = new SessionStore(redis, { prefix: 'pending' });
    await store.createSession('room', undefined, null);
    const epoch = await connected(store, 'room', 'sender');
    for (let i = 0; i < 48; i++) await store.createParticipant('room', `never-${i}`);
    const sent = await store.deliverToOthers(
      'room',
      { participantId: 'sender', epoch, cseq: 1 },
      { type: 'message', from: 'sender', data: 'x'.repeat(60_000) },
    );
    expect(sent).toEqual({ ok: true, value: 0 });
    expect(await redis.keys('pending:{s:room}:mailbox:*')).toEqual([]);
  });

  test('a sender over its rate is refused with rate_limited, nothing stored, and takes up again later', async () => {
    const store = new SessionStore(redis, {
      prefix: 'rate',
      senderRate: { bytesPerSecond: 2_000, burstBytes: 3_000, minFrameCost: 1_000 },
    });
    await store.createSession('room', undefined, null);
    const epoch = await connected(store, 'room', 'sender');
    await connected(store, 'room', 'peer');
    const send = (cseq: number) =>
      store.deliverToOthers(
        'room',
        { participantId: 'sender', epoch, cseq },
        { type: 'message', from: 'sender', data: cseq },
      );
    expect(await send(1)).toEqual({ ok: true, value: 1 });
    expect(await send(2)).toEqual({ ok: true, value: 1 });
    expect(await send(3)).toEqual({ ok: true, value: 1 });
    expect(await send(4)).toEqual({ ok: false, reason: 'rate_limited' });
    expect((await store.replay('room', 'peer', 0))!.frames).toHaveLength(3);
    await sleep(600);
    expect(await send(4)).toEqual({ ok: true, value: 1 });
  });
});

describe('presence', () => {
  test('each claim is announced once: joined the first time, reconnected after; never to the pending', async () => {
    const store = new SessionStore(redis, { prefix: 'presence' });
    await store.createSession('room', undefined, null);
    await connected(store, 'room', 'alice');
    await store.createParticipant('room', 'pending-one');
    const bob = await connected(store, 'room', 'bob');
    const notice = (epoch: number) => ({
      participantId: 'bob',
      epoch,
      summary: { participantId: 'bob', state: 'connected' as const, metadata: { name: 'B' } },
    });
    expect(await store.announce('room', [notice(bob)])).toBe(1);
    expect(await store.announce('room', [notice(bob)])).toBe(0); // a retry of the same claim
    const again = await store.claim('room', 'bob', 'master-b', newResumeToken('room', 'bob').hash);
    expect(await store.announce('room', [notice(bob)])).toBe(0); // superseded by the newer claim
    expect(await store.announce('room', [notice(again.ok ? again.epoch : 0)])).toBe(1);
    const frames = (await store.replay('room', 'alice', 0))!.frames;
    expect(frames).toEqual([
      { seq: 1, type: 'participantJoined', participant: notice(bob).summary },
      { seq: 2, type: 'participantReconnected', participantId: 'bob' },
    ]);
    expect(await redis.exists(store.keys.mailbox('room', 'pending-one'))).toBe(0);
  });
});

describe('incarnations', () => {
  test('a connection token of a deleted and re-created participant does not claim the new one', async () => {
    const store = new SessionStore(redis, { prefix: 'inc' });
    await store.createSession('room', undefined, null);
    const first = await store.createParticipant('room', 'alice');
    await store.removeParticipant('room', 'alice');
    const second = await store.createParticipant('room', 'alice');
    const old = 'incarnation' in first ? first.incarnation : '';
    const now = 'incarnation' in second ? second.incarnation : '';
    expect(old).not.toBe(now);
    const hash = newResumeToken('room', 'alice').hash;
    expect(await store.claim('room', 'alice', 'm', hash, undefined, old)).toEqual({
      ok: false,
      reason: 'unknown_participant',
    });
    expect((await store.claim('room', 'alice', 'm', hash, undefined, now)).ok).toBe(true);
  });
});

describe('session lifecycle', () => {
  const timeouts = {
    reconnectWindowMs: 300,
    pendingParticipantTimeoutMs: 300,
    emptySessionTimeoutMs: 300,
    sessionSweepEveryMs: 0,
  };

  async function sweepAll(store: SessionStore, live: string[]) {
    const results = [];
    for (const sessionId of await store.dueSessions(1_000))
      results.push({ sessionId, ...(await store.sweepSession(sessionId, live)) });
    return results;
  }

  test('abandoned sessions, never-connected participants and dead owners leave no key behind', async () => {
    const store = new SessionStore(redis, { prefix: 'life', ...timeouts });
    const media = { nodeId: 'media-x', address: 'm' };
    for (let i = 0; i < 20; i++) {
      const sessionId = `s${i}`;
      await store.indexSession(sessionId);
      await redis.sadd(store.keys.mediaSessions('media-x'), sessionId);
      await store.createSession(sessionId, undefined, media);
      await store.createParticipant(sessionId, 'never');
      const epoch = await connected(store, sessionId, 'orphan', 'dead-master');
      await store.deliverToOthers(
        sessionId,
        { participantId: 'orphan', epoch, cseq: 1 },
        {
          type: 'message',
          from: 'orphan',
          data: 1,
        },
      );
    }
    // The dead owner's participants start their reconnect window; the never-connected one expires.
    await sleep(350);
    await sweepAll(store, ['live-master']);
    expect((await store.getParticipant('s0', 'orphan'))?.state).toBe('disconnected');
    expect(await store.getParticipant('s0', 'never')).toBeUndefined();
    await sleep(350);
    const removed = await sweepAll(store, ['live-master']);
    expect(removed.every((r) => r.outcome === 'kept' && r.removed.includes('orphan'))).toBe(true);
    // The sweep that removed the last participant started the empty-session timeout.
    await sleep(350);
    const ended = await sweepAll(store, ['live-master']);
    expect(ended.map((r) => r.outcome)).toEqual(Array(20).fill('deleted'));
    expect(await redis.keys('life:*')).toEqual([]);
    expect(await store.sessionsOnMediaNode('media-x')).toEqual([]);
  });

  test('a live owner keeps its participant, and a session with one is never empty', async () => {
    const store = new SessionStore(redis, { prefix: 'kept', ...timeouts });
    await store.indexSession('room');
    await store.createSession('room', undefined, null);
    await connected(store, 'room', 'alice', 'live-master');
    await sleep(700);
    await sweepAll(store, ['live-master']);
    await sleep(350);
    expect(await sweepAll(store, ['live-master'])).toEqual([
      { sessionId: 'room', outcome: 'kept', removed: [] },
    ]);
    expect((await store.getParticipant('room', 'alice'))?.state).toBe('connected');
  });
});

describe('media reservations', () => {
  test('a burst of 1,000 concurrent placements never puts more than capacity on a node', async () => {
    const reader = new RegistryReader(redis, 'burst');
    await new NodeRegistration(
      redis,
      { nodeId: 'm1', role: 'media', instanceId: 'm1', address: 'm1', version: '1', startedAt: 0 },
      'burst',
    ).heartbeat({ state: 'active', load: { cpu: 0, sessions: 0, connections: 0, capacity: 100 } });
    const placed = await Promise.all(Array.from({ length: 1_000 }, (_, i) => reader.reserveMedia(`s${i}`)));
    expect(placed.filter((n) => n !== undefined)).toHaveLength(100);
    expect(await redis.scard(new Keys('burst').mediaSessions('m1'))).toBe(100);
  });
});

describe('a full Redis', () => {
  test('OOM is told apart from unavailability, and heartbeats (liveness) still go through', async () => {
    const store = new SessionStore(redis, { prefix: 'oom' });
    const registration = new NodeRegistration(
      redis,
      { nodeId: 'n1', role: 'master', instanceId: 'n1', address: 'a', version: '1', startedAt: 0 },
      'oom',
    );
    await redis.config('SET', 'maxmemory', '1');
    try {
      const err = await store.createSession('full', undefined, null).catch((e: unknown) => e);
      expect(isRedisOutOfMemory(err)).toBe(true);
      const beat = { state: 'active' as const, load: { cpu: 0, sessions: 0, connections: 0, capacity: 1 } };
      await expect(registration.heartbeat(beat)).resolves.toEqual(expect.any(Number));
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
    expect(await redis.pttl(new Keys('oom').node('n1'))).toBe(-1); // nothing eviction would pick
  });
});
