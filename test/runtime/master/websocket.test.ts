import { randomBytes } from 'node:crypto';
import { LIMITS, signConnectionToken, tokenKeyFrom } from '../../../runtime/contract';
import { waitFor } from '../../../local/ports';
import type { MasterHandle } from '../../../runtime/master/master';
import {
  API_SECRET,
  inProcessMaster,
  recordingLogger,
  sessionState,
  startTestMaster,
} from './support/harness';
import { TestParticipant } from './support/participant';
import { Frame, TestSocket } from './support/ws-client';

const world = inProcessMaster({ joinTimeoutMs: 400 });
const open: TestSocket[] = [];
afterEach(() => open.splice(0).forEach((s) => s.terminate()));

async function socket(on = world.master): Promise<TestSocket> {
  const s = await TestSocket.open(on.url);
  open.push(s);
  return s;
}

/** A session with joined participants, each on its own socket. */
async function room(sessionId: string, ...participants: string[]): Promise<TestSocket[]>;
async function room(on: MasterHandle, sessionId: string, ...participants: string[]): Promise<TestSocket[]>;
async function room(...args: [MasterHandle | string, ...string[]]): Promise<TestSocket[]> {
  const on = typeof args[0] === 'string' ? world.master : (args.shift() as MasterHandle);
  const [sessionId, ...participants] = args as string[];
  await world.api.createSession(sessionId);
  const sockets: TestSocket[] = [];
  for (const pid of participants) {
    const s = await socket(on);
    s.send({ type: 'join', token: await world.api.token(sessionId, pid, { name: pid }) });
    await s.next({ type: 'joined' });
    sockets.push(s);
  }
  return sockets;
}

describe('join, deliver, resume', () => {
  test('join answers joined with the room, and the room gets participantJoined', async () => {
    const [alice] = await room('ws-1', 'alice');
    const bob = await socket();
    bob.send({ type: 'join', token: await world.api.token('ws-1', 'bob') });
    const joined = await bob.next({ type: 'joined' });
    expect(joined).toMatchObject({
      sessionId: 'ws-1',
      participantId: 'bob',
      epoch: 1,
      acceptedCseq: 0,
      mediaNode: { nodeId: 'media-a', address: 'media-a.media.example' },
      resumeToken: expect.any(String),
    });
    expect(joined.participants).toEqual([
      { participantId: 'alice', state: 'connected', metadata: { name: 'alice' } },
      { participantId: 'bob', state: 'connected' },
    ]);
    expect(await alice.next({ type: 'participantJoined' })).toMatchObject({
      seq: 1,
      participant: { participantId: 'bob', state: 'connected' },
    });
  });

  test('signal and message reach their recipients numbered; the sender gets accepted', async () => {
    const [alice, bob, carol] = await room('ws-2', 'alice', 'bob', 'carol');
    alice.send({ type: 'signal', cseq: 1, to: 'bob', kind: 'offer', data: { sdp: 'v=0' } });
    await alice.next({ type: 'accepted', cseq: 1 });
    expect(await bob.next({ type: 'signal' })).toMatchObject({
      from: 'alice',
      kind: 'offer',
      data: { sdp: 'v=0' },
    });

    alice.send({ type: 'message', cseq: 2, data: 'hello all' });
    await alice.next({ type: 'accepted', cseq: 2 });
    for (const s of [bob, carol])
      expect(await s.next({ type: 'message' })).toMatchObject({ from: 'alice', data: 'hello all' });

    alice.send({ type: 'message', cseq: 3, to: ['carol'], data: 'just you' });
    expect(await carol.next({ type: 'message' })).toMatchObject({ data: 'just you' });
    await alice.next({ type: 'accepted', cseq: 3 });
    expect(bob.ofType('message')).toHaveLength(1);
    // No participant sees its own message, and seqs per participant are 1, 2, 3...
    expect(alice.ofType('message')).toHaveLength(0);
    const seqs = bob.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  test('a resent cseq is accepted again and delivered once', async () => {
    const [alice, bob] = await room('ws-3', 'alice', 'bob');
    for (let i = 0; i < 3; i++) alice.send({ type: 'message', cseq: 1, data: 'once' });
    for (let i = 0; i < 3; i++) await alice.next({ type: 'accepted', cseq: 1 });
    alice.send({ type: 'message', cseq: 2, data: 'twice?' });
    await bob.next({ type: 'message', data: 'twice?' });
    expect(bob.ofType('message').map((f) => f.data)).toEqual(['once', 'twice?']);
  });

  test('frames reach the registry in cseq order: a later one waits for the earlier one', async () => {
    const [alice, bob] = await room('ws-order', 'alice', 'bob');
    alice.send({ type: 'message', cseq: 2, data: 'second' });
    expect(await alice.next({ type: 'error' })).toMatchObject({
      code: 'out_of_order',
      cseq: 2,
      message: expect.stringMatching(/waits for cseq 1/),
    });
    alice.send({ type: 'message', cseq: 1, data: 'first' });
    alice.send({ type: 'message', cseq: 2, data: 'second' });
    await alice.next({ type: 'accepted', cseq: 2 });
    await bob.next({ type: 'message', data: 'second' });
    expect(bob.ofType('message').map((f) => f.data)).toEqual(['first', 'second']);
  });

  test('resume replays what was missed exactly once, then live frames; the room gets participantReconnected', async () => {
    const alice = new TestParticipant('alice');
    const bob = new TestParticipant('bob');
    await world.api.createSession('ws-4');
    await alice.join(world.master.url, await world.api.token('ws-4', 'alice'));
    await bob.join(world.master.url, await world.api.token('ws-4', 'bob'));
    try {
      alice.message('before');
      await waitFor('bob got "before"', () => bob.messagesFrom('alice').length === 1);
      bob.socket!.terminate();
      await waitFor(
        'bob disconnected',
        async () => (await world.registry.store.getParticipant('ws-4', 'bob'))?.state === 'disconnected',
      );
      alice.message('while away 1');
      alice.message('while away 2');
      await waitFor('accepted', () => alice.pending === 0);

      const resumed = await bob.resume(world.master.url);
      expect(resumed).toMatchObject({ type: 'resumed', epoch: 2, replayed: 2, missed: 0 });
      await alice.socket!.next({ type: 'participantReconnected', participantId: 'bob' });
      alice.message('after');
      await waitFor('bob got "after"', () => bob.messagesFrom('alice').length === 4);
      expect(bob.messagesFrom('alice')).toEqual(['before', 'while away 1', 'while away 2', 'after']);
      const seqs = bob.numbered.map((f) => f.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    } finally {
      alice.stop();
      bob.stop();
    }
  });

  test('ack trims the mailbox; a resume after it replays only what was not acked', async () => {
    const [alice, bob] = await room('ws-5', 'alice', 'bob');
    const bobToken = (bob.frames[0] as Frame).resumeToken as string;
    for (let cseq = 1; cseq <= 3; cseq++) alice.send({ type: 'message', cseq, data: cseq });
    const third = await bob.next({ type: 'message', data: 3 });
    bob.send({ type: 'ack', seq: third.seq - 1 });
    await waitFor(
      'mailbox trimmed',
      async () => (await world.registry.redis.zcard(world.registry.store.keys.mailbox('ws-5', 'bob'))) === 1,
    );
    bob.terminate();
    const again = await socket();
    again.send({ type: 'resume', resumeToken: bobToken, lastSeq: third.seq - 1 });
    expect(await again.next({ type: 'resumed' })).toMatchObject({ replayed: 1, missed: 0 });
    expect(await again.next({ type: 'message' })).toMatchObject({ data: 3, seq: third.seq });
    alice.close();
  });

  test('a resume after frames were trimmed reports them as missed', async () => {
    const [alice, bob] = await room('ws-6', 'alice', 'bob');
    const bobToken = (bob.frames[0] as Frame).resumeToken as string;
    bob.terminate();
    const total = LIMITS.mailboxMaxMessages + 3;
    for (let cseq = 1; cseq <= total; cseq++) alice.send({ type: 'message', cseq, data: cseq });
    await alice.next({ type: 'accepted', cseq: total }, 10_000);
    const again = await socket();
    again.send({ type: 'resume', resumeToken: bobToken, lastSeq: 0 });
    expect(await again.next({ type: 'resumed' })).toMatchObject({
      replayed: LIMITS.mailboxMaxMessages,
      missed: 3,
    });
  });

  test('a resume after a seq the registry never numbered (it lost frames the client saw): session_lost, 4011, nothing claimed', async () => {
    const [alice, bob] = await room('ws-behind', 'alice', 'bob');
    const bobToken = (bob.frames[0] as Frame).resumeToken as string;
    for (let cseq = 1; cseq <= 3; cseq++) alice.send({ type: 'message', cseq, data: cseq });
    const third = await bob.next({ type: 'message', data: 3 });
    bob.terminate();
    const { redis, store } = world.registry;
    await waitFor(
      'bob disconnected',
      async () => (await store.getParticipant('ws-behind', 'bob'))?.state === 'disconnected',
    );
    // The registry lost bob's two newest frames, as a pair's store promoted before the old active's
    // newest writes reached it would have: its sequence and mailbox rewound to an older copy's.
    await redis.hset(store.keys.participant('ws-behind', 'bob'), 'seq', third.seq - 2);
    await redis.zremrangebyscore(store.keys.mailbox('ws-behind', 'bob'), third.seq - 1, '+inf');
    const bobRecord = () => redis.hgetall(store.keys.participant('ws-behind', 'bob'));
    const before = await bobRecord();

    const again = await socket();
    again.send({ type: 'resume', resumeToken: bobToken, lastSeq: third.seq });
    expect(await again.next({ type: 'error' })).toMatchObject({
      code: 'session_lost',
      message: expect.stringContaining(`seq ${third.seq - 1} to ${third.seq}`),
    });
    await again.closedWith(4011);
    expect(again.ofType('resumed')).toEqual([]);
    // Nothing claimed (same epoch, same resume token): the app joins again with a connection token.
    expect(await bobRecord()).toEqual(before);
    const rejoined = await socket();
    rejoined.send({ type: 'join', token: await world.api.token('ws-behind', 'bob') });
    expect(await rejoined.next({ type: 'joined' })).toMatchObject({ participantId: 'bob' });
    alice.close();
  });

  test('a reused resume token (after a takeover) gets invalid_resume_token and close 4001', async () => {
    const [, bob] = await room('ws-7', 'alice', 'bob');
    const token = (bob.frames[0] as Frame).resumeToken as string;
    bob.terminate();
    const first = await socket();
    first.send({ type: 'resume', resumeToken: token, lastSeq: 0 });
    await first.next({ type: 'resumed' });
    const before = await sessionState(world.registry.redis);
    const reuse = await socket();
    reuse.send({ type: 'resume', resumeToken: token, lastSeq: 0 });
    expect(await reuse.next({ type: 'error' })).toMatchObject({ code: 'invalid_resume_token' });
    await reuse.closedWith(4001);
    expect(await sessionState(world.registry.redis)).toEqual(before);
    await first.roundTrip();
  });

  test('a second socket for the same participant supersedes the first (4009)', async () => {
    const [alice] = await room('ws-8', 'alice');
    const second = await socket();
    second.send({ type: 'join', token: await world.api.token('ws-8', 'alice') });
    expect(await second.next({ type: 'joined' })).toMatchObject({ epoch: 2 });
    expect(await alice.next({ type: 'error' })).toMatchObject({ code: 'superseded' });
    await alice.closedWith(4009);
    expect(await world.registry.store.getParticipant('ws-8', 'alice')).toMatchObject({
      epoch: 2,
      state: 'connected',
    });
  });

  test('leave removes the participant for good: 4010, and the room gets participantLeft', async () => {
    const [alice, bob] = await room('ws-9', 'alice', 'bob');
    bob.send({ type: 'leave' });
    await bob.closedWith(4010);
    await alice.next({ type: 'participantLeft', participantId: 'bob' });
    expect(await world.registry.store.getParticipant('ws-9', 'bob')).toBeUndefined();
  });
});

describe('the event subscriber', () => {
  test('after it reconnects, every socket gets what was published while it was away', async () => {
    const { log, events } = recordingLogger();
    const own = await startTestMaster(world.registry.server.url, {}, true, log);
    try {
      const [alice, bob] = await room(own, 'resync', 'alice', 'bob');
      const { redis, store } = world.registry;
      await redis.client('KILL', 'TYPE', 'pubsub'); // the master's subscriber drops
      // Another master delivers now (the subscriber reconnects after 50 ms at the earliest): the
      // publish reaches nobody here, the mailbox keeps it.
      expect(await redis.pubsub('NUMSUB', store.keys.sessionChannel('resync'))).toEqual([
        store.keys.sessionChannel('resync'),
        0,
      ]);
      await store.deliver('resync', ['bob'], { type: 'message', from: 'carol', data: 'while away' });
      expect(await bob.next({ type: 'message' })).toMatchObject({ from: 'carol', data: 'while away' });
      expect(events).toContain('channels_resynced');
      // And live frames flow again, once each.
      alice.send({ type: 'message', cseq: 1, data: 'live again' });
      await bob.next({ type: 'message', data: 'live again' });
      const seqs = bob.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq);
      expect(seqs).toEqual([1, 2]);
    } finally {
      await own.close();
    }
  });
});

describe('fencing', () => {
  test('a socket whose epoch went stale cannot write: superseded, 4009, registry unchanged', async () => {
    const [alice, bob] = await room('fence-1', 'alice', 'bob');
    // Another master took alice over, and its takeover notice never reached this one.
    await world.registry.redis.hincrby(world.registry.store.keys.participant('fence-1', 'alice'), 'epoch', 1);
    const before = await sessionState(world.registry.redis);
    alice.send({ type: 'message', cseq: 1, data: 'stale' });
    expect(await alice.next({ type: 'error' })).toMatchObject({ code: 'superseded' });
    await alice.closedWith(4009);
    expect(await sessionState(world.registry.redis)).toEqual(before);
    expect(bob.ofType('message')).toHaveLength(0);
    // The close of a superseded socket does not mark the participant disconnected either.
    expect(await world.registry.store.getParticipant('fence-1', 'alice')).toMatchObject({
      state: 'connected',
    });
  });

  test.each([
    ['ack', { type: 'ack', seq: 1 }],
    ['leave', { type: 'leave' }],
    ['signal', { type: 'signal', cseq: 1, to: 'bob', kind: 'candidate', data: {} }],
  ])('a stale %s is refused the same way', async (_name, frame) => {
    const sessionId = `fence-${_name}`;
    const [alice] = await room(sessionId, 'alice', 'bob');
    await world.registry.redis.hincrby(world.registry.store.keys.participant(sessionId, 'alice'), 'epoch', 1);
    const before = await sessionState(world.registry.redis);
    alice.send(frame);
    await alice.closedWith(4009);
    expect(await sessionState(world.registry.redis)).toEqual(before);
  });
});

describe('tokens and timeouts', () => {
  const key = tokenKeyFrom(API_SECRET);

  test.each([
    ['a garbage token', () => 'not-a-token', 'unauthorized'],
    [
      'a forged token',
      () =>
        signConnectionToken(Buffer.from('another-key-entirely'), {
          sessionId: 'tok',
          participantId: 'alice',
          expiresAt: Date.now() + 60_000,
        }),
      'unauthorized',
    ],
    [
      'an expired token',
      () => signConnectionToken(key, { sessionId: 'tok', participantId: 'alice', expiresAt: Date.now() - 1 }),
      'token_expired',
    ],
    [
      'a token for a participant that does not exist',
      () =>
        signConnectionToken(key, {
          sessionId: 'tok',
          participantId: 'ghost',
          expiresAt: Date.now() + 60_000,
        }),
      'unknown_participant',
    ],
  ])('%s: error and close 4001, nothing changed', async (_name, token, code) => {
    await world.api.createSession('tok');
    await world.api.token('tok', 'alice');
    const before = await sessionState(world.registry.redis);
    const s = await socket();
    s.send({ type: 'join', token: token() });
    expect(await s.next({ type: 'error' })).toMatchObject({ code });
    await s.closedWith(4001);
    expect(await sessionState(world.registry.redis)).toEqual(before);
  });

  test('a malformed resume token: invalid_resume_token and close 4001', async () => {
    const s = await socket();
    s.send({ type: 'resume', resumeToken: 'abc.def', lastSeq: 0 });
    expect(await s.next({ type: 'error' })).toMatchObject({ code: 'invalid_resume_token' });
    await s.closedWith(4001);
  });

  test('a socket that never joins is closed with 4000 after the join timeout', async () => {
    const s = await socket();
    s.send({ type: 'ping' }); // frames other than join/resume do not count
    await s.closedWith(4000, 2_000);
    expect(s.ofType('error')).toEqual([expect.objectContaining({ code: 'not_joined' })]);
  });
});

describe('lost sockets and the reconnect window', () => {
  let short: MasterHandle;
  beforeAll(async () => {
    short = await startTestMaster(world.registry.server.url, {
      silentSocketTimeoutMs: 800,
      reconnectWindowMs: 600,
    });
  });
  afterAll(() => short.close());

  test('a silent socket is dropped; after the reconnect window its participant leaves the room', async () => {
    const [alice, bob] = await room(short, 'silent', 'alice', 'bob');
    const keepAlive = setInterval(() => alice.send({ type: 'ping' }), 100);
    try {
      // bob sends nothing: after silentSocketTimeoutMs the master drops the socket...
      await bob.closedWith(1006, 3_000);
      expect((await world.registry.store.getParticipant('silent', 'bob'))?.state).toBe('disconnected');
      // ...and after reconnectWindowMs removes him.
      await alice.next({ type: 'participantLeft', participantId: 'bob' }, 3_000);
      expect(await world.registry.store.getParticipant('silent', 'bob')).toBeUndefined();
      expect((await world.registry.store.getParticipant('silent', 'alice'))?.state).toBe('connected');
    } finally {
      clearInterval(keepAlive);
    }
  });

  test('a participant that resumes within the reconnect window stays', async () => {
    const [alice, bob] = await room(short, 'window', 'alice', 'bob');
    const token = (bob.frames[0] as Frame).resumeToken as string;
    bob.terminate();
    const again = await socket(short);
    again.send({ type: 'resume', resumeToken: token, lastSeq: 0 });
    await again.next({ type: 'resumed' });
    const stayed = Date.now() + 1_000; // past the 600 ms window of the lost socket
    while (Date.now() < stayed) {
      alice.send({ type: 'ping' });
      again.send({ type: 'ping' });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await world.registry.store.getParticipant('window', 'bob')).toMatchObject({
      state: 'connected',
      epoch: 2,
    });
    expect(alice.ofType('participantLeft')).toHaveLength(0);
  });
});

describe('bad frames get an error frame, keep the socket open and change nothing', () => {
  const big = JSON.stringify({ type: 'message', cseq: 1, data: 'x'.repeat(LIMITS.maxFrameBytes) });
  const deep = `{"type":"message","cseq":1,"data":${'['.repeat(40)}${']'.repeat(40)}}`;
  // Every row has four entries: jest passes `done` in place of a missing one.
  const cases: Array<[string, string | Buffer, string, RegExp | undefined]> = [
    ['malformed JSON', '{"type": "ping"', 'bad_json', undefined],
    ['an unknown type', '{"type":"shout"}', 'bad_frame', /Invalid discriminator value/],
    [
      'a wrong field type',
      '{"type":"signal","cseq":"1","to":"bob","kind":"offer"}',
      'bad_frame',
      /cseq: Expected number/,
    ],
    [
      'a bad kind and a bad id',
      '{"type":"signal","cseq":1,"to":"b b","kind":"hello"}',
      'bad_frame',
      /to: ids are.*kind: Invalid enum value/,
    ],
    ['not an object', '[1,2,3]', 'bad_frame', undefined],
    ['a binary frame', Buffer.from([1, 2, 3]), 'bad_frame', /binary/],
    ['a frame over 64 KiB', big, 'frame_too_large', /exceeds 65536/],
    ['JSON nested 40 deep', deep, 'bad_frame', /nested deeper/],
    ['a second join', '{"type":"join","token":"x"}', 'already_joined', undefined],
  ];

  test.each(cases)('%s', async (_name, frame, code, message) => {
    const [alice] = await room('bad-frames', 'alice');
    const before = await sessionState(world.registry.redis);
    alice.send(frame);
    const error = await alice.next({ type: 'error' });
    expect(error.code).toBe(code);
    if (message) expect(error.message).toMatch(message);
    await alice.roundTrip();
    expect(alice.closeInfo).toBeUndefined();
    expect(await sessionState(world.registry.redis)).toEqual(before);
  });

  test('frames before join get not_joined; a join without a token is a bad frame', async () => {
    const s = await socket();
    s.send({ type: 'message', cseq: 1, data: 'early' });
    expect(await s.next({ type: 'error' })).toMatchObject({ code: 'not_joined' });
    s.send({ type: 'join' });
    expect(await s.next({ type: 'error' })).toMatchObject({ code: 'bad_frame', message: 'token: Required' });
    await s.roundTrip();
  });

  test('a frame over 1 MiB closes that socket (1009), and only that socket', async () => {
    const [alice] = await room('huge', 'alice');
    const other = await socket();
    alice.send(Buffer.alloc(2 * 1024 * 1024, 0x61));
    await alice.closedWith(1009);
    await other.roundTrip();
  });

  test('fuzz: thousands of garbage frames crash nothing and each gets one error', async () => {
    const [alice, bob] = await room('fuzz', 'alice', 'bob');
    const before = await sessionState(world.registry.redis);
    const frames = Array.from({ length: 3_000 }, (_, i) => garbage(i));
    for (const frame of frames) alice.send(frame);
    await waitFor(`${frames.length} errors`, () => alice.ofType('error').length >= frames.length, 20_000);
    expect(alice.ofType('error')).toHaveLength(frames.length);
    expect(new Set(alice.ofType('error').map((e) => e.code))).toEqual(
      new Set(['bad_json', 'bad_frame', 'frame_too_large']),
    );
    expect(await sessionState(world.registry.redis)).toEqual(before);
    // The socket, the session and the master still work.
    alice.send({ type: 'message', cseq: 1, data: 'still here' });
    await bob.next({ type: 'message', data: 'still here' });
    expect((await world.api.call('GET', '/live', undefined, { auth: null })).status).toBe(200);
  });
});

/** Invalid frames of many shapes: random bytes, broken and wrong-typed JSON, deep, binary, big. */
function garbage(i: number): string | Buffer {
  const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];
  // None of these is a valid cseq or seq, so no frame below is valid.
  const values = [null, true, -1, 1.5, '', 'x', [], {}, [1, 'a'], { a: { b: 1 } }];
  switch (i % 8) {
    case 0:
      return randomBytes(1 + Math.floor(Math.random() * 64)); // binary
    case 1:
      return randomBytes(1 + Math.floor(Math.random() * 64)).toString('latin1'); // text, not JSON
    case 2:
      return JSON.stringify({
        type: pick(['signal', 'message', 'ack', 'join', 'resume']),
        cseq: pick(values),
        seq: pick(values),
      });
    case 3:
      return JSON.stringify(pick(values));
    case 4: {
      const depth = 33 + Math.floor(Math.random() * 5_000);
      return `{"type":"message","cseq":1,"data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    }
    case 5:
      return JSON.stringify({
        type: 'signal',
        cseq: 1,
        to: pick(['', '../x', 'a b', 'x'.repeat(200)]),
        kind: 'offer',
      });
    case 6:
      return i % 48 === 6
        ? 'x'.repeat(LIMITS.maxFrameBytes + 1 + Math.floor(Math.random() * 1000))
        : '{"type":';
    default:
      return JSON.stringify({ type: 'message', cseq: pick([0, -1, 'a', null]), data: pick(values) });
  }
}
