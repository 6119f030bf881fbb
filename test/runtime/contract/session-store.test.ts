import Redis from 'ioredis';
import {
  Keys,
  NodeRegistration,
  RegistryReader,
  SessionStore,
  createRedis,
  newResumeToken,
  numberedFrameSeq,
  untilReady,
} from '../../../runtime/contract';
import { RedisServer, startRedisServer } from '../../../local/redis-server';

let server: RedisServer;
let redis: Redis;
let store: SessionStore;

beforeAll(async () => {
  server = await startRedisServer();
  redis = await untilReady(createRedis({ url: server.url }));
  store = new SessionStore(redis, { prefix: 'test', mailboxMaxMessages: 5 });
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const media = { nodeId: 'media-1', address: '10.0.0.9' };

async function joinedParticipant(sessionId: string, participantId: string, node = 'master-a') {
  await store.createSession(sessionId, undefined, media);
  await store.createParticipant(sessionId, participantId);
  const token = newResumeToken(sessionId, participantId);
  const claim = await store.claim(sessionId, participantId, node, token.hash);
  if (!claim.ok) throw new Error(claim.reason);
  return { epoch: claim.epoch, token };
}

describe('sessions', () => {
  test('create is idempotent: a retry returns the first session', async () => {
    const first = await store.createSession('room-1', { topic: 'a' }, media);
    const again = await store.createSession('room-1', { topic: 'b' }, null);
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.session).toEqual(first.session);
    expect(again.session.metadata).toEqual({ topic: 'a' });
  });

  test('participants need an existing session, and are created once', async () => {
    expect(await store.createParticipant('nope', 'alice')).toEqual({ outcome: 'no_session' });
    await store.createSession('room-2', undefined, null);
    const created = await store.createParticipant('room-2', 'alice', { name: 'A' });
    expect(created).toEqual({ outcome: 'created', incarnation: expect.any(String) });
    expect(await store.createParticipant('room-2', 'alice')).toEqual({ ...created, outcome: 'exists' });
    expect(await store.getParticipant('room-2', 'alice')).toMatchObject({
      state: 'pending',
      epoch: 0,
      seq: 0,
    });
  });

  test('deleting a session removes its participants and tells their masters', async () => {
    await joinedParticipant('room-3', 'alice');
    const sub = await untilReady(redis.duplicate());
    const removed: string[] = [];
    sub.on('message', (_c, m) => removed.push(JSON.parse(m).participantId));
    await sub.subscribe(store.keys.sessionChannel('room-3'));
    expect(await store.deleteSession('room-3')).toBe(true);
    expect(await store.getSession('room-3')).toBeUndefined();
    expect(await store.getParticipant('room-3', 'alice')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(removed).toEqual(['alice']);
    sub.disconnect();
  });
});

describe('ownership and fencing', () => {
  test('a takeover bumps the epoch, rotates the resume token and publishes a takeover notice', async () => {
    const { epoch, token } = await joinedParticipant('room-4', 'bob');
    const next = newResumeToken('room-4', 'bob');
    const claim = await store.claim('room-4', 'bob', 'master-b', next.hash, token.hash);
    expect(claim).toMatchObject({
      ok: true,
      epoch: epoch + 1,
      previousOwner: 'master-a',
      previousState: 'connected',
    });
    // The old resume token was single-use.
    const reuse = await store.claim(
      'room-4',
      'bob',
      'master-c',
      newResumeToken('room-4', 'bob').hash,
      token.hash,
    );
    expect(reuse).toEqual({ ok: false, reason: 'invalid_resume_token' });
  });

  test('the old owner cannot write the participant state after a takeover', async () => {
    const { epoch, token } = await joinedParticipant('room-5', 'carol');
    await store.claim('room-5', 'carol', 'master-b', newResumeToken('room-5', 'carol').hash, token.hash);
    const before = await store.getParticipant('room-5', 'carol');
    expect(await store.markDisconnected('room-5', 'carol', epoch)).toEqual({
      ok: false,
      reason: 'stale_epoch',
    });
    expect(await store.ack('room-5', 'carol', epoch, 10)).toEqual({ ok: false, reason: 'stale_epoch' });
    expect(
      await store.deliver(
        'room-5',
        ['carol'],
        { type: 'message', from: 'carol', data: 1 },
        { participantId: 'carol', epoch, cseq: 1 },
      ),
    ).toEqual({
      ok: false,
      reason: 'stale_epoch',
    });
    expect(await store.removeParticipant('room-5', 'carol', { epoch })).toEqual({
      ok: false,
      reason: 'stale_epoch',
    });
    expect(await store.getParticipant('room-5', 'carol')).toEqual(before);
  });

  test('removal after the reconnect window only happens if nobody resumed', async () => {
    const { epoch, token } = await joinedParticipant('room-6', 'dave');
    expect(await store.markDisconnected('room-6', 'dave', epoch)).toEqual({ ok: true, value: true });
    await store.claim('room-6', 'dave', 'master-b', newResumeToken('room-6', 'dave').hash, token.hash);
    expect(
      await store.removeParticipant('room-6', 'dave', { epoch: epoch + 1, onlyIfDisconnected: true }),
    ).toEqual({
      ok: false,
      reason: 'stale_epoch',
    });
    expect(await store.getParticipant('room-6', 'dave')).toMatchObject({ state: 'connected' });
  });
});

describe('mailboxes', () => {
  test('frames are numbered per participant, replayed after a seq, and trimmed on ack', async () => {
    await joinedParticipant('room-7', 'erin');
    await joinedParticipant('room-7', 'fred');
    for (let i = 1; i <= 3; i++) {
      await store.deliver('room-7', ['erin', 'fred', 'ghost'], { type: 'message', from: 'x', data: i });
    }
    const replay = await store.replay('room-7', 'erin', 1);
    expect(replay).toEqual({
      seq: 3,
      missed: 0,
      frames: [
        { seq: 2, type: 'message', from: 'x', data: 2 },
        { seq: 3, type: 'message', from: 'x', data: 3 },
      ],
    });
    const { epoch } = (await store.getParticipant('room-7', 'erin'))!;
    expect(await store.ack('room-7', 'erin', epoch, 2)).toEqual({ ok: true, value: 2 });
    expect((await store.replay('room-7', 'erin', 0))!.frames.map((f) => f.seq)).toEqual([3]);
  });

  test('a resent frame (same cseq) is accepted again but delivered once', async () => {
    const { epoch } = await joinedParticipant('room-10', 'ivy');
    await joinedParticipant('room-10', 'jon');
    const send = (cseq: number) =>
      store.deliver(
        'room-10',
        ['jon'],
        { type: 'message', from: 'ivy', data: cseq },
        { participantId: 'ivy', epoch, cseq },
      );
    expect(await send(1)).toEqual({ ok: true, value: 1 });
    expect(await send(1)).toEqual({ ok: true, value: 0, duplicate: true });
    expect(await send(2)).toEqual({ ok: true, value: 1 });
    expect(
      (await store.replay('room-10', 'jon', 0))!.frames.map((f) => f.type === 'message' && f.data),
    ).toEqual([1, 2]);
    const claim = await store.claim('room-10', 'ivy', 'master-b', newResumeToken('room-10', 'ivy').hash);
    expect(claim).toMatchObject({ ok: true, acceptedCseq: 2 });
  });

  test('numberedFrameSeq reads back the seq the deliver script wrote into each stored frame', async () => {
    await joinedParticipant('room-11', 'kim');
    for (const data of [1, '{"seq":99,', { seq: 98 }])
      await store.deliver('room-11', ['kim'], { type: 'message', from: 'x', data });
    const stored = await redis.zrange(store.keys.mailbox('room-11', 'kim'), 0, -1, 'WITHSCORES');
    const pairs = stored.flatMap((raw, i) =>
      i % 2 === 0 ? [[numberedFrameSeq(raw), Number(stored[i + 1])]] : [],
    );
    expect(pairs).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(numberedFrameSeq('{"type":"message","seq":1}')).toBeUndefined();
    expect(numberedFrameSeq('not json')).toBeUndefined();
  });

  test('deliverToOthers with a sender: fenced, deduplicated, and its cseq taken even when alone', async () => {
    const { epoch } = await joinedParticipant('room-12', 'lea');
    const message = { type: 'message', from: 'lea', data: 'hi' } as const;
    const as = (cseq: number, e = epoch) => ({ participantId: 'lea', epoch: e, cseq });
    expect(await store.deliverToOthers('room-12', as(1), message)).toEqual({ ok: true, value: 0 });
    await joinedParticipant('room-12', 'max');
    await joinedParticipant('room-12', 'ned');
    expect(await store.deliverToOthers('room-12', as(1), message)).toEqual({
      ok: true,
      value: 0,
      duplicate: true,
    });
    expect(await store.deliverToOthers('room-12', as(2), message)).toEqual({ ok: true, value: 2 });
    expect(await store.deliverToOthers('room-12', as(3, epoch + 1), message)).toEqual({
      ok: false,
      reason: 'stale_epoch',
    });
    expect((await store.replay('room-12', 'lea', 0))!.frames).toEqual([]); // never to the sender
    expect((await store.replay('room-12', 'max', 0))!.frames).toEqual([{ seq: 1, ...message }]);
    const claim = await store.claim('room-12', 'lea', 'master-b', newResumeToken('room-12', 'lea').hash);
    expect(claim).toMatchObject({ ok: true, acceptedCseq: 2 });
  });

  test('frames trimmed past the mailbox limit are reported as missed, never silently', async () => {
    await joinedParticipant('room-8', 'gina');
    for (let i = 1; i <= 8; i++)
      await store.deliver('room-8', ['gina'], { type: 'message', from: 'x', data: i });
    const replay = (await store.replay('room-8', 'gina', 0))!;
    expect(replay.frames.map((f) => f.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(replay.missed).toBe(3);
  });

  test('a delivery is published once on the session channel with each recipient frame', async () => {
    await joinedParticipant('room-9', 'hal');
    const sub = await untilReady(redis.duplicate());
    const got: unknown[] = [];
    sub.on('message', (_c, m) => got.push(JSON.parse(m)));
    await sub.subscribe(store.keys.sessionChannel('room-9'));
    await store.deliverToOthers('room-9', undefined, { type: 'participantLeft', participantId: 'zed' });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([
      { kind: 'deliver', frames: [['hal', '{"seq":1,"type":"participantLeft","participantId":"zed"}']] },
    ]);
    sub.disconnect();
  });
});

describe('registry', () => {
  test('heartbeats are read back live, then expired once the TTL passes, identity kept', async () => {
    const identity = {
      nodeId: 'm1',
      role: 'master' as const,
      instanceId: 'i-1',
      address: '127.0.0.1:1',
      version: '1',
      startedAt: 1,
    };
    const registration = new NodeRegistration(redis, identity, 'test');
    const reader = new RegistryReader(redis, 'test', 200);
    await registration.heartbeat({
      state: 'active',
      load: { cpu: 0.1, sessions: 0, connections: 0, capacity: 10 },
    });
    const [live] = await reader.nodes('master');
    expect(live).toMatchObject({ identity, expired: false, live: { state: 'active' } });
    await new Promise((r) => setTimeout(r, 300));
    const [stale] = await reader.nodes('master');
    expect(stale).toMatchObject({ identity, expired: true, live: undefined });
    expect(stale.heartbeatAgeMs).toBeGreaterThanOrEqual(200);
    // A clean exit drops the live record at once but keeps the node in the watchdog's view.
    await registration.heartbeat({
      state: 'active',
      load: { cpu: 0.1, sessions: 0, connections: 0, capacity: 10 },
    });
    await registration.deregister();
    expect(await reader.nodes('master')).toEqual([
      expect.objectContaining({ identity, expired: true, live: undefined }),
    ]);
  });

  test('placement reserves the least-loaded ready media node; draining and full nodes never are', async () => {
    const reader = new RegistryReader(redis, 'pick');
    const beat = (id: string, state: 'active' | 'draining') =>
      new NodeRegistration(
        redis,
        { nodeId: id, role: 'media', instanceId: id, address: id, version: '1', startedAt: 0 },
        'pick',
      ).heartbeat({ state, load: { cpu: 0, sessions: 0, connections: 0, capacity: 4 } });
    const keys = new Keys('pick');
    await beat('busy', 'active');
    await beat('idle-but-draining', 'draining');
    await beat('full', 'active');
    await beat('quiet', 'active');
    await redis.sadd(keys.mediaSessions('busy'), 'b1', 'b2', 'b3');
    await redis.sadd(keys.mediaSessions('full'), 'f1', 'f2', 'f3', 'f4');
    await redis.sadd(keys.mediaSessions('quiet'), 'q1');
    expect((await reader.reserveMedia('s1'))?.identity.nodeId).toBe('quiet');
    expect((await reader.reserveMedia('s1'))?.identity.nodeId).toBe('quiet'); // idempotent
    expect((await reader.reserveMedia('s2', ['quiet']))?.identity.nodeId).toBe('busy');
    expect(await reader.reserveMedia('s3', ['quiet'])).toBeUndefined(); // busy is full now
    await reader.releaseMedia('s2', 'busy');
    expect((await reader.reserveMedia('s3', ['quiet']))?.identity.nodeId).toBe('busy');
  });

  test('an unreachable registry rejects instead of reporting every node stale', async () => {
    server.pause();
    try {
      await expect(new RegistryReader(redis, 'test').nodes()).rejects.toThrow();
    } finally {
      server.resume();
    }
  });
});
